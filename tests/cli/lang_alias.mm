.alias
.alias vmr=.columns name .filter name~foo vm info
.alias
vm config filesystem $TESTFS
vm launch container foo[1-2],bar
vmr
.alias hi=echo hello
hi
hi there
hi  extra   spaces
echo hi
hi2
.alias hi=echo replaced
hi
.alias noequals
.alias k=v=w
.alias two words=echo joined
.alias
.unalias k
.unalias "two words"
.alias qa=qb
.alias qb=echo chained
qb
qa
.unalias qa
.unalias qb
.alias zz=echo from alias
zz
shell sh -c "printf 'zz\n' > $TESTTMP/alias.mm"
read $TESTTMP/alias.mm
.unalias zz
.alias é=echo unicode
é
.alias
.unalias é
.unalias hi
.unalias vmr
.unalias nonexistent
.alias
vmr
