# Host taps, bridges and dnsmasq on the dry runtime: listings and every
# error that is found before any kernel work (nothing is made).
tap
tap create 5000
tap create -1
tap create 5 ip 10.0.0.300/24
tap create 5 ip 10.0.0.1/
tap create 5 ip 10.0.0.300
tap create 5 ip 10.0.0.1/33
tap create 5 ip fd00::1/129
tap create 5 name thisnameistoolong
tap create 5 name all
tap create 5 name a/b
tap create 5 ip 10.0.0.1/24 name bad:name
tap create 5 bridge all
tap create 5
tap create 5 dhcp
tap create 5 bridge br0 ip 10.0.0.1/24 mytap
tap create 10 bridge mybr ip 192.168.100.1 mytap
tap create 10 ip fd00::1
tap
tap delete nosuchtap
tap delete all
clear tap
bridge
dnsmasq
dnsmasq start 10.55.0.256 10.55.0.10 10.55.0.50
dnsmasq start 10.55.0.254 10.55.0 10.55.0.50
dnsmasq start 10.55.0.254 10.55.0.10 fd00::5
dnsmasq start 10.55.0.254 10.55.0.50 10.55.0.10
dnsmasq start 203.0.113.254 203.0.113.10 203.0.113.50
dnsmasq start /nonexistent/dnsmasq.conf
dnsmasq kill 0
dnsmasq kill x
dnsmasq kill all
dnsmasq
