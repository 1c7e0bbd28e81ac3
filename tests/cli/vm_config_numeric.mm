vm config fifos
vm config fifos 3
vm config fifos
vm config fifos three
vm config fifos ""
clear vm config fifos
vm config fifos
vm config coschedule
vm config coschedule 0
vm config coschedule
vm config coschedule -7
vm config coschedule
vm config coschedule x
vm config coschedule 9223372036854775808
clear vm config coschedule
vm config coschedule
vm config serial-ports
vm config serial-ports 2
vm config serial-ports
vm config sockets 1.5
vm config cores 4
vm config cores
vm config threads
