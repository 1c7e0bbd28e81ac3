vm config restore
vm config restore nope
vm config uuid 11111111-2222-4333-8444-555555555555
vm config net 10,b4:b6:76:69:68:68
vm config vcpus 4
vm config memory 1024
vm config qemu-append -k en-us
vm config save test
vm config save other
vm config restore
clear vm config
vm config
vm config restore test
vm config

# changing the current config leaves the saved one alone
vm config memory 64
vm config restore test
vm config memory
