vm config net 5 6
vm launch container a,b
vm net connect a 0 7
vm net connect a 1 foo br1
.columns name,vlan,bridge vm info
vm net disconnect a 1
.columns name,vlan,bridge,ip vm info
vm net disconnect a 1
vm net connect a 1 8
.columns name,vlan,bridge vm info
vm net connect a 2 8
vm net connect a -1 8
vm net connect a x 8
vm net disconnect a 3
vm net connect a 0 5000
vm net connect nope 0 5
vm net disconnect nope 0
.columns name,vlan,bridge vm info
vm net connect all 0 bar
.columns name,vlan vm info
vm start a
vm net connect a 5 9
vm kill a
vm net connect a 5 9
vm net disconnect b 0
vm net connect b 0 10 br2
.columns name,vlan,bridge vm info
vm net connect a,b 1 11
.columns name,vlan,bridge vm info
