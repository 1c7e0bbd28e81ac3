# What each getter prints for a fresh config
vm config disks
vm config disk
vm config networks
vm config bonds
vm config append
vm config qemu-append
vm config qemu-override
vm config tags
vm config volume
vm config uuid
vm config hostname
vm config filesystem
vm config preinit
vm config schedule
vm config colocate
vm config kernel
vm config initrd
vm config cdrom
vm config migrate
vm config state
vm config machine
vm config virtio-ports
vm config tpm-socket
vm config usb-use-xhci
vm config bidirectional-copy-paste

# `disk` is minimega's short name for `disks`, in clear too
vm config disk /images/a.qcow2
vm config disks
clear vm config disk
vm config disks
vm config state /images/saved
vm config migrate
clear vm config state
vm config migrate
