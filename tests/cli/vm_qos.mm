# qos on the dry runtime: the checks, how values combine, the vm info column.
vm config net 5 6
vm launch container a,b
vm config net 5
vm launch container c
.columns name,qos vm info
qos add a 0 loss 5
.columns name,qos vm info
qos add a 0 delay 100ms
.columns name,qos vm info
qos add a 0 loss 0.50
qos add a 1 delay 20
.columns name,qos vm info
qos add a 0 rate 1 mbit
.columns name,qos vm info
qos add a 0 delay 1.5s
.columns name,qos vm info
qos add all 0 rate 10 kbit
.columns name,qos vm info
clear qos a 0
.columns name,qos vm info
clear qos all all
.columns name,qos vm info

# Bad input: the error says what is allowed, and nothing changes.
qos add a 0 loss 2
qos add a all loss 5
qos add a x loss 5
qos add a -1 loss 5
qos add a 4294967296 loss 5
qos add a 0 loss 100
qos add a 0 loss -1
qos add a 0 loss five
qos add a 0 delay 100xbit
qos add a 0 delay -5
qos add a 0 delay -5ms
qos add a 0 rate 2x mbit
qos add a 0 rate 0 mbit
qos add a 0 rate 18446744074 gbit
qos add a 0 rate 1 xbit
qos add all 1 loss 5
qos add nope 0 loss 5
clear qos a
clear qos a x
clear qos c 1
.columns name,qos vm info

# A VM without its interfaces has no qos, and takes none.
qos add c 0 delay 10ms
vm kill c
.columns name,qos vm info
qos add c 0 delay 10ms
qos add all 0 delay 10ms
clear qos c all
vm start c
qos add c 0 delay 10ms
.columns name,state,qos vm info
