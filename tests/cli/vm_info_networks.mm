vm config net alpha 100 br1,200,00:11:22:33:44:55 alpha
vm config net
vm launch container foo
.columns name,vlan,bridge vm info
.columns tap,ip,ip6,qinq vm info
.columns name .filter mac~00:11:22:33:44:55 vm info
namespace other
vm config net alpha minimega//alpha
vm launch container bar
.columns name,vlan vm info
