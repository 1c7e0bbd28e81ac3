# router: every error, and that a refused setting changes nothing
router foo
router foo interface 0 1.2.3.4/24
clear router foo
vm config net 100
vm launch container foo
router foo interface 0 1.2.3.4/24/8
router foo
router foo interface 1 1.2.3.4/24
router foo interface x 1.2.3.4/24
router foo interface 0 300.2.3.4/24
router foo interface 0 1.2.3.4
router foo interface 0 dhcp lo
router foo rid 1.2.3
router foo fw accept in 1 1.2.3.4:80 tcp
router foo fw accept in x 1.2.3.4:80 tcp
router foo fw accept in 0 1.2.3.4:http tcp
router foo fw accept in 0 1.2.3.4:80:1 tcp
router foo fw accept in 0 1.2.3.4:99999 tcp
router foo fw accept in 0 1.2.3.4:80 icmp
router foo fw accept in 0 1.2.3.4 gre
router foo fw accept in 0 web.example tcp
router foo fw accept in 0 2001:db8::1 tcp
router foo fw accept in 0 1.2.3.4/40 1.2.3.4 tcp
router foo fw chain a.b action drop 1.2.3.4 tcp
router foo fw chain nope apply in 0
router foo
router foo fw chain c default action drop
router foo fw chain c apply in 3
router foo fw chain c apply out x
router foo interface 0 1.2.3.4/24
router foo interface 0 1.2.3.4/24
router foo interface 7 10.0.0.1/32 lo
router foo interface 8 10.0.0.1/32 lo
clear router bar
clear router foo interface 0 9.9.9.9/24
clear router foo interface 0 nonsense
clear router foo interface 3
clear router foo interface x
clear router foo dhcp 1.1.1.1
router foo dhcp 1.1.1.1 range 1.1.1.2 1.1.1.3
clear router foo dhcp 1.1.1.1 static 00:00:00:00:00:01
clear router foo dns 1.1.1.1
clear router foo ra 2001::
clear router foo route static 1.0.0.0/8
clear router foo route static 1.0.0.0/8 nope
router foo route static 1.0.0.0/8 0 named
clear router foo route static 2.0.0.0/8 named
clear router foo route ospf 0
router foo route ospf 0 0
clear router foo route ospf 0 1
clear router foo route ospf 0 export nope
clear router foo route bgp nope
clear router foo route bgp nope rrclient
clear router foo interface 7 whatever lo
clear router foo fw
router foo rid 9.9.9.9
clear router foo rid
router foo
vm launch container bar
router bar
namespace other router foo
