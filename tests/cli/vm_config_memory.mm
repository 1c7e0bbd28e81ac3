vm config memory
vm config memory foo
vm config memory 1024
vm config memory
clear vm config memory
vm config memory
vm config memory -1
vm config memory 18446744073709551616
vm config memory 18446744073709551615
vm config memory
vm config mem 512
vm config memory

vm config vcpus
vm config vcpus foo
vm config vcpus +2
vm config vcpus 2
vm config vcpus
clear vm config vcpus
vm config vcpus
