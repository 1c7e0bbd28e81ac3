# The whole `vm config` block with every section's values set
vm config bonds 0,1,active-backup
vm config disks /images/a.qcow2 /images/b.qcow2
vm config append console=ttyS0
vm config usb-use-xhci false
vm config bidirectional-copy-paste true
vm config tpm-socket /run/tpm.sock
vm config volume /scratch /tmp/minivolume
vm config
