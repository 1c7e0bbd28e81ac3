vm config filesystem $TESTFS
vm launch container foo[1-3]
vm config tag colour red
vm config tag shape square
vm launch container bar
.csv
.csv true .columns name,id vm info
.csv
.csv true
.csv
.columns name,id vm info
.columns name,tags vm info
.alias x=echo a,b
.alias y=echo \"q\"
.alias z= leading space
.alias
echo simple output is unchanged, even with commas
.csv false .columns name,id vm info
.csv false
.csv
.columns name,tags vm info
.alias
.csv false
.csv
.json true
.csv false
.json false
.csv
.unalias x
.unalias y
.unalias z
