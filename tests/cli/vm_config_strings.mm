vm config hostname
vm config hostname box
vm config hostname
clear vm config hostname
vm config hostname
vm config uuid
vm config uuid foo
vm config uuid
clear vm config uuid
vm config uuid
vm config filesystem /srv/rootfs
vm config filesystem
clear vm config filesystem
vm config filesystem
vm config preinit /usr/local/bin/prep.sh
vm config preinit
clear vm config preinit
vm config preinit
vm config init
vm config init /bin/sh -c "sleep 10"
vm config init
clear vm config init
vm config init
