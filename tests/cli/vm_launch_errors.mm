vm launch container 0
vm launch container -3
vm launch container foo,foo
vm launch container foo[[1]]
vm launch container foo]
vm launch container foo[1
vm launch container foo[1]x
vm launch container foo[1-2-3]
vm launch container foo[a]
vm launch container foo[1-b]
vm launch container foo[3-1]
vm launch container foo,bad/name
vm launch container "has space"
vm launch container foo nope
vm launch kvm foo
vm launch
.columns name vm info
