vm launch container [0]
vm launch container all
vm launch container foo,[0]
vm launch container foo,all
vm launch container a,all,a
vm launch container 99999999999
.columns name vm info
