vm config disk-limit
vm config disk-limit 32
vm config disk-limit
vm config disk-limit 2G
vm config disk-limit
vm config disk-limit 512m
vm config disk-limit
vm config disk-limit 0
vm config disk-limit -1
vm config disk-limit lots
vm config disk-limit 1K
vm config disk-limit 16777217
vm config disk-limit
vm config disk-limit unlimited
vm config disk-limit
clear vm config disk-limit
vm config disk-limit
vm config disks
vm config uuid ../../../../tmp/x
vm config uuid 0B5C2A8E-3F1D-4C6B-9E7A-1D2C3B4A5F6
vm config uuid
vm config uuid 0B5C2A8E-3F1D-4C6B-9E7A-1D2C3B4A5F60
vm config uuid
vm config memory 0
vm config memory -5
vm config memory 18446744073709551615
vm config memory
vm config memory unlimited
vm config memory
vm config vcpus 0
vm config fifos 100000
vm config volume /h /
vm config volume /h //./
vm config volume /h /srv/..
vm config volume /h /srv/x:ro,exec
vm config volume /h /srv/x:
vm config volume /h /srv/x:ro,rw
vm config volume /h /srv/x:ro,suid
vm config volume
vm config disk-limit 64
vm config save s
clear vm config
vm config disk-limit
vm config restore s
vm config disk-limit
vm config
