shell echo hello world
shell true
shell false
shell sh -c "exit 3"
shell sh -c "echo to stdout; echo to stderr >&2"
shell sh -c "echo only stderr >&2"
shell sh -c "echo out; echo err >&2; exit 2"
shell definitelynotarealcommand
.preprocess false shell sh -c "kill -9 $$"
shell printf "a\tb\n"
shell sh -c "printf 'line1\nline2\n'"
shell sh -c "printf '  padded  \n\n'"
shell echo "one arg with   spaces"
shell sh -c "echo $#" x y z
.preprocess false shell sh -c "echo $#" x y z
background definitelynotarealcommand
background true
