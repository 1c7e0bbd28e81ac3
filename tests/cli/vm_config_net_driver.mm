# A netspec's driver (a QEMU NIC model) is told apart from a bridge and a VLAN
vm config net 100,e1000
vm config net
vm config net 100,virtio-net-pci
vm config net
vm config net mybr,100,00:11:22:33:44:55,e1000
vm config net
vm config net mybr,100,00:11:22:33:44:55,i82559c,qinq
vm config net
vm config net 100,00:11:22:33:44:55,rtl8139
vm config net
vm config net 100,00:11:22:33:44:55,rtl8139,QINQ
vm config net
vm config net mybr,100,rtl8139
vm config net
vm config net mybr,100,rtl8139,qinq
vm config net
vm config net 100,rtl8139,qinq
vm config net

# an unknown model is not a driver
vm config net mybr,100,nosuchnic
vm config net mybr,100,00:11:22:33:44:55,nosuchnic
vm config net

# the driver is kept in the NIC and shown where netspecs are; containers ignore it
vm config net 100,00:11:22:33:44:55,virtio-net-pci mybr,200,00:11:22:33:44:66,e1000
vm launch container a
.columns name,vlan,bridge,mac vm info
vm config clone a
vm config net
