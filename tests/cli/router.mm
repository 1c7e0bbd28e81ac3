# router: settings, summary, commit file and its cc commands (dry runtime)
router foo
vm config net 100 200
vm launch container foo
router foo
router foo interface 0 1.2.3.4/24
router foo interface 0 dhcp
router foo interface 1 5.6.7.8/24
router foo interface 2 10.0.0.1/32 lo
router foo log level debug
router foo dhcp 1.2.3.0 range 1.2.3.100 1.2.3.200
router foo dhcp 1.2.3.0 router 1.2.3.4
router foo dhcp 1.2.3.0 dns 8.8.8.8
router foo dhcp 1.2.3.0 static 00:11:22:33:44:55 1.2.3.10
router foo dhcp 1.2.3.0 static 00:11:22:33:44:56 1.2.3.11
router foo dns 1.2.3.4 foo.com
router foo dns 1.2.3.4 bar.com
router foo upstream 8.8.4.4
router foo gw 5.6.7.1
router foo ra 2001:1::
router foo route static 0.0.0.0/0 1.2.3.254
router foo route static 11.0.0.0/24 0 bar-route
router foo route static 12.0.0.0/24 5.6.7.9 bar-route
router foo route ospf 0 0
router foo route ospf 0 1 cost 10
router foo route ospf 0 export 10.0.0.0/24
router foo route ospf 0 export bar-route
router foo route bgp p1 local 1.2.3.4 100
router foo route bgp p1 neighbor 5.6.7.9 200
router foo route bgp p1 rrclient
router foo route bgp p1 export filter bar-route
router foo fw drop in 0 5.6.7.9:22 tcp
router foo fw reject out 1 1.2.3.0/24 5.6.7.0/24:53 udp
router foo fw chain web action accept 1.2.3.0/24 :80 tcp
router foo fw chain web default action reject
router foo fw chain web apply in 0
router foo fw default drop
router foo
.columns name,tags vm info
router foo commit
shell sort $TESTFILES/minirouter-foo
.columns id,prefix,command,sent cc commands
router foo commit
shell sort $TESTFILES/minirouter-foo
.columns id,prefix,command,sent cc commands
clear router foo fw
router foo
clear router foo
router foo
clear router
router foo
namespace lab
vm config net 100
vm config uuid 6a1c9a36-8e1e-4b43-9d3f-2f5e8f0b7c11
vm launch container r
router r interface 0 10.0.0.1/24
router r commit
shell cat $TESTFILES/lab/minirouter-r
.columns id,prefix,command,sent,filter cc commands
namespace minimega
