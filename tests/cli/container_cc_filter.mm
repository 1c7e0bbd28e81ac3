vm config uuid 11111111-1111-4111-8111-111111111111
vm launch container a
vm config uuid 22222222-2222-4222-8222-222222222222
vm launch container b
vm config uuid 33333333-3333-4333-8333-333333333333
vm launch container c
vm tag b role server
vm tag c role server
vm start all
shell sleep 1
.columns uuid,hostname cc clients
cc filter name=a
cc exec hostname
cc filter role=server
cc exec hostname
cc filter tag=role:server name=c
cc exec hostname
cc filter hostname=b
cc exec-once hostname
cc filter state=RUNNING
cc background hostname
cc filter bogus
cc filter
clear cc filter
cc filter
shell sleep 1
cc commands
cc responses all
cc prefix p1
cc exec echo hi
cc prefix
shell sleep 1
cc responses p1 raw
cc responses p2
