.json
.json true echo hello
.json true echo "with \"quotes\" and\ttab"
.json true echo a<b&c>d
.json true .alias
.alias e=echo hi
.json true .alias
.json true shell false
.json
.json true
.json
echo global json
e
.json false echo back to text
.csv true
.json
.csv
echo csv now
.csv false
.json
.unalias e
