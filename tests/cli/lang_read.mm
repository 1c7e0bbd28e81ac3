echo first
echo "second line"
# a comment
.record false
.record true
write $TESTTMP/script.mm
read $TESTTMP/script.mm
history
read $TESTTMP/script.mm check
history
shell sh -c "printf 'echo before\nbogus line\necho after\n' > $TESTTMP/bad.mm"
read $TESTTMP/bad.mm
read $TESTTMP/bad.mm check
shell sh -c "printf 'echo fine\necho \"broken\n' > $TESTTMP/quote.mm"
read $TESTTMP/quote.mm
shell sh -c "printf 'echo outer\nread /dev/null\necho unreachable\n' > $TESTTMP/nested.mm"
read $TESTTMP/nested.mm
read /nonexistent/herd-golden.mm
shell sh -c "printf '\n# only comments\n\n   \n' > $TESTTMP/blank.mm"
read $TESTTMP/blank.mm
shell sh -c "printf 'shell false\necho continues after a failing command\n' > $TESTTMP/fail.mm"
read $TESTTMP/fail.mm
shell sh -c "printf 'echo no final newline' > $TESTTMP/nonl.mm"
read $TESTTMP/nonl.mm
.annotate true read $TESTTMP/nonl.mm
