vm config uuid 11111111-2222-4333-8444-555555555555
vm config net 10,b4:b6:76:69:68:68 test_bridge,100,13:37:13:37:00:01
vm config vcpus 4
vm config memory 1024
vm config snapshot false
vm config coschedule 2
vm config backchannel false
vm config tags color red
vm config tags a b
vm config qemu-append -k en-us
vm config filesystem /srv/fs
vm config hostname box
vm config init /sbin/init single
vm config preinit /bin/prep
vm config fifos 2
vm config volume /scratch /tmp/minivolume
vm config volume /a /tmp/a
vm config
