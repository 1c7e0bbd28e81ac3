vm config schedule
vm config schedule nosuchhost
vm config schedule
vm config schedule localhost
vm config schedule
vm config colocate foo
clear vm config schedule
vm config colocate foo
vm config colocate
vm config schedule localhost
clear vm config colocate
vm config colocate
