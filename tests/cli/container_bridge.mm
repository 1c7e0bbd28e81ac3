# `bridge trunk|tunnel|config|destroy` on the kernel-bridge backend: the
# checks on the interface named, the listing's columns, and removal.
bridge trunk mega_bridge lo
bridge trunk mega_bridge nosuchif0
bridge notrunk mega_bridge eth9
bridge notunnel mega_bridge eth9
bridge tunnel gre mega_bridge 10.0.0.1
bridge tunnel vxlan mega_bridge 10.0.0.x
bridge tunnel vxlan mega_bridge 10.0.0.1 16777216
bridge config mega_bridge stp_enable=true
bridge destroy nosuch
shell ip link add hgtrk0 type veth peer name hgtrk1
shell ip link add hgtrk2 type bridge
shell ip link set hgtrk1 master hgtrk2
bridge trunk mega_bridge hgtrk1
bridge trunk mega_bridge hgtrk2
tap create 5 ip 10.253.77.1/24 hgtrk9
bridge trunk mega_bridge hgtrk0
bridge trunk mega_bridge hgtrk0
.columns bridge,preexisting,vlans,trunks,tunnels,bonds,config bridge
bridge notrunk mega_bridge hgtrk0
bridge notrunk mega_bridge hgtrk0
.columns bridge,trunks bridge
bridge trunk mega_bridge hgtrk0
bridge destroy mega_bridge
bridge
tap
shell ip link del hgtrk0
shell ip link del hgtrk2
