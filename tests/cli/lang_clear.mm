namespace foo
echo in foo
.alias keep=echo aliases survive clear all
clear all
history
namespace
keep
.unalias keep
vm config filesystem $TESTFS
vm launch container a,b
clear all
.columns name vm info
vm config filesystem $TESTFS
vm launch container a,b
.columns id,name vm info
