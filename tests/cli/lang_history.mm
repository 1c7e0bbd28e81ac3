echo one
# a comment is recorded
echo "two  words"
bogus line is not recorded
echo "unterminated
.alias say=echo
say three
.unalias say

history
clear history
history
write $TESTTMP/history.mm
shell cat $TESTTMP/history.mm
history
write /nonexistent/dir/history.mm
