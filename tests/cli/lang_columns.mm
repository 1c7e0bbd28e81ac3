vm config filesystem $TESTFS
.columns name vm info
vm launch container foo[1-3],bar
.columns name vm info
.columns id,name vm info
.columns name,id vm info
.columns NAME vm info
.columns nam,i vm info
.columns na,vc,me vm info
.columns name,name vm info
.columns nosuch vm info
.columns s vm info
.columns name,s vm info
.columns name, vm info
.columns name echo not tabular
.columns name .columns id,name vm info
.columns id,name .columns name vm info
.columns name,id .filter name=bar vm info
.filter name=bar .columns name,id vm info
.columns name,tags,memory,vcpus vm info
.columns name,preinit,memory vm info
.columns name,memory,preinit vm info
.columns name vm info summary
.columns name,init vm info summary
.columns name .filter name=nosuch vm info
.columns type,name vm info
