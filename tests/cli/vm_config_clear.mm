vm config memory 1
vm config hostname h
vm config tags k v
vm config volume /a /b
vm config save keep
clear vm config mem
vm config memory
vm config hostname
clear vm config
vm config
vm config restore
clear vm config bogus
