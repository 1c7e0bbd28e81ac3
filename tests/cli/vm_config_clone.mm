vm config uuid 11111111-2222-4333-8444-555555555555
vm config memory 512
vm config net 100,00:11:22:33:44:55 200
vm config tags role web
vm config qemu-append -k en-us
vm launch container src
clear vm config
vm config qemu-append -nographic
vm tag src extra yes
vm config clone src
vm config uuid
vm config hostname
vm config memory
vm config networks
vm config tags
vm config qemu-append
vm config clone nope
vm launch container dst
.columns name,hostname,memory vm info
