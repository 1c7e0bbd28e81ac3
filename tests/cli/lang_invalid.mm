foo
foo bar baz
vm nosuchsub
ECHO upper case
""
''
   leading and trailing spaces   
.bogus
.annotate maybe
.annotate true nosuchcommand
.columns
.filter name=x
.unalias
.env a b c
shell
read
history now
clear
namespace foo bar
echo still works
history
