vm config networks
vm config net 100 200
vm config net
vm config networks br0,300
vm config networks
vm config networks mega_bridge,300,00:11:22:33:44:55
vm config networks
vm config networks 100,qinq
vm config networks
vm config networks 100 a,b,c
vm config networks
vm config networks 5000
vm config networks 1,2,3,4,5,6
clear vm config networks
vm config networks
