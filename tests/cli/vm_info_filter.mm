vm launch container foo[0-2]
vm start foo1
.columns name,state .filter state=running vm info
.columns name .filter state!=building vm info
.columns name .filter name~o vm info
.columns name .filter name!~1 vm info
.columns state,name vm info
.columns na,sta .filter name=foo2 vm info
.filter state=running .columns name vm info
.columns s vm info
.columns bogus vm info
.columns name .filter tags={} vm info
