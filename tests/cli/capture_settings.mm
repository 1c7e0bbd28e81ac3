capture
capture pcap snaplen
capture pcap snaplen 128
capture pcap snaplen
capture pcap snaplen abc
capture pcap snaplen -1
capture pcap snaplen 4294967296
capture pcap snaplen 4294967295
capture pcap snaplen
capture pcap filter
capture pcap filter "tcp port 80"
capture pcap filter
capture netflow mode
capture netflow mode ascii
capture netflow mode
capture netflow mode raw
capture netflow mode
capture netflow gzip
capture netflow gzip true
capture netflow gzip
capture netflow timeout
capture netflow timeout 30
capture netflow timeout
capture netflow timeout x
namespace other capture pcap snaplen
namespace other capture pcap filter
namespace other capture netflow timeout
capture pcap snaplen
clear capture
capture pcap snaplen
