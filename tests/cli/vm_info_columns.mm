vm config uuid 11111111-2222-4333-8444-555555555555
vm launch container foo
.columns name,state,type,uuid,cc_active,vlan,bridge,tap,mac,ip,ip6,qos,qinq,bond,memory,vcpus,disks,snapshot,initrd,kernel,cdrom,save,append,serial-ports,virtio-ports,vnc_port,usb-use-xhci,tpm-socket,bidirectional-copy-paste,android_avd,android_console_port,android_adb_port,android_serial,filesystem,hostname,init,preinit,fifo,volume,tags vm info

# id, uptime, pid and console_port exist but their values vary
.columns name .filter id!=x .filter uptime!=x .filter pid!=x .filter console_port!=x vm info

# fifo shows the configured count, volume and tags are JSON
clear vm config uuid
vm config fifos 3
vm config volume /data /srv/data
vm config tags color red
vm config memory 256
vm config vcpus 2
vm config snapshot false
vm config hostname box
vm config init /bin/sh -c true
vm config preinit /bin/prep
vm config filesystem /srv/fs
vm launch container bar
.columns fifo,volume,tags,memory,vcpus,snapshot,hostname,init,preinit,filesystem .filter name=bar vm info
