vm config filesystem $TESTFS
vm launch container n[0-11]
.sort
.columns id,name vm info
.columns name,id vm info
.columns memory,name vm info
.sort false
.sort
.sort true .columns name vm info
.sort true
vm config memory 64
vm launch container z
.columns memory,name vm info
.columns id,name .filter memory=64 vm info
