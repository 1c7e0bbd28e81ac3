vm config uuid 11111111-2222-4333-8444-555555555555
vm launch container foo
vm launch container bar
vm launch container a,b
clear vm config uuid
vm launch container foo
vm launch container foo,bad/x
vm launch container bad/x,foo
vm launch container foo nope
ns queueing
ns queueing true
vm launch container q1
vm config uuid 22222222-2222-4333-8444-555555555555
vm launch container q2
vm launch container q1
vm launch container q3
.columns name vm info
vm launch
.columns name,state .filter name~q vm info
.columns uuid .filter name=q2 vm info
ns queueing false
