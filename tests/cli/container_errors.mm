# A missing init or filesystem is refused when the launch is queued, with
# the path and errno, and no VM is created (minimega only logs launch errors).
vm config init /no/such/init
vm launch container broken
.columns name,state,tags vm info
vm start broken
.columns name,state vm info
vm flush
.columns name,state vm info
clear vm config init
# A filesystem that does not exist.
vm config filesystem /no/such/rootfs
vm launch container nofs
.columns name,state vm info
vm flush
clear vm config filesystem
# Running containers: state errors for a single target.
vm launch container a
vm start a
vm start a
vm stop a
vm stop a
vm kill a
vm kill a
vm flush a
vm flush a
# The same with snapshot false.
vm config filesystem /no/such/shared-rootfs
vm config snapshot false
vm launch container s1
vm launch container s2
.columns name,state vm info
