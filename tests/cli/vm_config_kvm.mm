vm config cdrom
vm config cdrom /images/boot.iso
vm config cdrom
clear vm config cdrom
vm config cdrom
vm config kernel /images/vmlinuz
vm config kernel
vm config initrd /images/initrd
vm config initrd
vm config migrate /images/state
vm config migrate
vm config qemu
vm config append
vm config append console=ttyS0 quiet
vm config append
clear vm config append
vm config append
vm config disks /images/a.qcow2 /images/b.qcow2
vm config disks
clear vm config disks
vm config disks
vm config qemu-append -k en-us
vm config qemu-append
vm config cpu
vm config vga
vm config vga cirrus
vm config vga
vm config virtio-ports foo,bar
vm config virtio-ports
vm config machine pc
vm config machine
clear vm config
vm config vga
vm config machine
vm config kernel
