.annotate
.annotate true
.annotate
echo annotated
.annotate false
echo plain
.annotate true echo once
echo plain again
.annotate t
.annotate
.annotate f
.annotate
.annotate true echo
vm config filesystem $TESTFS
vm launch container foo,bar
.columns name vm info
.annotate true .columns name vm info
.annotate true .columns id,name vm info
.annotate true .columns nosuch vm info
.annotate true .annotate false echo outer wins
.annotate false .annotate true echo outer wins
