vm config filesystem $TESTFS
.columns name vm info
vm launch container a
.columns name vm info
vm launch container a_very_long_vm_name_indeed
.columns name,id vm info
.columns id,name vm info
vm config memory 64
vm launch container b
.columns name,memory vm info
.columns memory,name vm info
.columns name,preinit,id vm info
vm config tags "key with space" "value, with comma"
vm launch container c
.filter name=c .columns name,tags vm info
.csv true .filter name=c .columns name,tags vm info
.alias a=
.alias b=echo b
.alias c=
.alias
.alias zz=
.columns alias .alias
.columns expansion .alias
.unalias a
.unalias b
.unalias c
.unalias zz
