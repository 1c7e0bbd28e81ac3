# a comment line
#no space
   # indented comment
echo visible # trailing comment
echo no#space
echo "quoted # hash" # real comment
echo 'single # hash'
echo \# escaped
echo a # "unterminated quote in a comment
#
# bogus command in a comment: vm nosuch
history
