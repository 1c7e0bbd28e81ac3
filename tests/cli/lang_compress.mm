.compress
.compress false
.compress
.compress true echo one host is never folded
.compress false echo still one line
.compress false .annotate true echo annotated
.compress true
.compress
.compr f
.compress
