capture pcap vm foo x out.pcap
capture pcap vm foo 0 out.pcap
vm config net 5
vm launch container foo
capture pcap vm foo 1 out.pcap
capture pcap vm foo -1 out.pcap
capture pcap vm foo 99999999999 out.pcap
capture pcap vm foo 0 out.pcap
capture pcap bridge mega_bridge out.pcap
capture pcap delete vm foo
capture pcap delete vm all
capture pcap delete vm foo x
capture pcap delete vm foo 0
capture pcap delete bridge all
capture pcap delete bridge mega_bridge
capture netflow bridge mega_bridge out.nf
capture netflow bridge mega_bridge udp 127.0.0.1:9995
capture netflow delete bridge all
clear capture
clear capture pcap
clear capture netflow
capture
