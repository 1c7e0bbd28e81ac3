vm config filesystem $TESTFS
vm launch container foo[1-3],bar
.headers
.headers false .columns name vm info
.headers
.headers false
.columns name vm info
.columns name,id vm info
.headers
.headers true .columns name vm info
.headers true
.columns name vm info
.headers false .csv true .columns name,id vm info
.headers false .alias
.headers false echo simple output is unchanged
