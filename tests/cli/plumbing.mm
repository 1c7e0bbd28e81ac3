# Named pipes and pipelines: minimega's plumbing_basic tree (p0 -> p1, p2;
# p1 -> p3, p4; p2 -> p5, p6), the listings, settings and errors.
plumb p0 p1
plumb p0 p2
plumb p1 p3
plumb p1 p4
plumb p2 p5
plumb p2 p6
plumb
pipe p0 hello
pipe
pipe p0 mode round-robin
pipe p1 mode round-robin
pipe p2 mode round-robin
pipe p0 a
pipe p0 b
pipe p0 c
pipe p0 "d e"
# Which leaf was last depends on the readers' random ids: no `previous`.
.columns name,mode,readers,writers,count pipe
plumb p0 p1
clear plumb p0 p1
clear plumb minimega//p0 minimega//p1
plumb
clear pipe
clear plumb
plumb
clear pipe
pipe

# Settings and their reset.
pipe q log true
pipe q mode random
pipe q via tr a-z A-Z
pipe
clear pipe q via
clear pipe q mode
clear pipe q log
pipe
clear pipe q

# Bad input: the error says what is allowed, and nothing changes.
clear pipe nosuch
clear pipe nosuch mode
pipe ../x hello
pipe "a b" hello
pipe other//../x hello
plumb p0 ../p1
cc exec stdout=../x echo
cc exec stdin=other//b cat
cc exec stdin=q
pipe

# Other namespaces' pipes are listed there only; `clear pipe` clears them all.
namespace other pipe r hi
pipe minimega//s there
pipe
namespace other pipe
clear pipe
namespace other pipe
