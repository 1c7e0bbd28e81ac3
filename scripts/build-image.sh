#!/usr/bin/env bash
# Builds herd's default guest image (a busybox root filesystem) into a directory.
#
#   scripts/build-image.sh <dir> [herd-cc binary]
#
# The image comes from Debian's busybox-static (no download): /bin/busybox, a
# symlink per applet, a few /etc files and an /init that brings up lo, brings
# up every veth* interface and asks DHCP for an address (in the background,
# once every 5 s until a server answers),
# starts the herd-cc agent when the image has one, and keeps an interactive
# shell on the console.
set -euo pipefail

dir=${1:?usage: build-image.sh <dir> [herd-cc binary]}
agent=${2:-}
busybox=/bin/busybox
if ! "$busybox" --list >/dev/null 2>&1 || ! file -b "$busybox" 2>/dev/null | grep -q static; then
    [ -x /usr/bin/busybox-static ] && busybox=/usr/bin/busybox-static
fi
[ -x "$busybox" ] || { echo "build-image: busybox-static is not installed (apt-get install busybox-static)" >&2; exit 1; }

mkdir -p "$dir"
cd "$dir"
mkdir -p bin sbin usr/bin usr/sbin etc proc sys dev tmp root run var/run var/log home mnt
chmod 1777 tmp
install -m 0755 "$busybox" bin/busybox
for applet in $(bin/busybox --list-full); do
    [ "$applet" = bin/busybox ] && continue
    mkdir -p "$(dirname "$applet")"
    ln -sf /bin/busybox "$applet"
done

cat > etc/passwd <<'P'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
cat > etc/group <<'G'
root:x:0:
tty:x:5:
nogroup:x:65534:
G
echo "127.0.0.1 localhost" > etc/hosts
: > etc/resolv.conf

mkdir -p usr/share/udhcpc
cat > usr/share/udhcpc/default.script <<'S'
#!/bin/sh
# udhcpc hook: apply the lease to the interface. Only the leased address is
# added and removed (it is remembered in /run): addresses set by hand, before
# or after udhcpc starts, stay.
lease=/run/udhcpc.$interface
case "$1" in
deconfig)
    [ -f "$lease" ] && ip -4 addr del "$(cat "$lease")" dev "$interface" 2>/dev/null
    rm -f "$lease"
    ;;
bound|renew)
    new="$ip/${mask:-24}"
    old=$(cat "$lease" 2>/dev/null)
    [ -n "$old" ] && [ "$old" != "$new" ] && ip -4 addr del "$old" dev "$interface" 2>/dev/null
    ip addr add "$new" dev "$interface" 2>/dev/null
    echo "$new" > "$lease"
    if [ -n "$router" ]; then
        for r in $router; do ip route add default via "$r" dev "$interface" && break; done
    fi
    : > /etc/resolv.conf
    for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done
    ;;
esac
exit 0
S
chmod 0755 usr/share/udhcpc/default.script

cat > init <<'I'
#!/bin/sh
# herd default guest init: network up, agent, a shell on the console.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
# herd brings lo up itself; a container without NICs may not (no NET_ADMIN).
ip link set lo up 2>/dev/null
for path in /sys/class/net/veth*; do
    [ -e "$path" ] || continue
    nic=${path##*/}
    ip link set "$nic" up
    # One discover every 5 s until a server answers (udhcpc's default waits
    # 20 s after each burst: a server started after the guest took up to half
    # a minute to be heard), then udhcpc exits (-q) and the address stays.
    # Each waits 4 s for an offer: a server may ping a new address for 3 s
    # before offering it (herd's dnsmasq does not).
    udhcpc -i "$nic" -b -q -t 1 -T 4 -A 1 -s /usr/share/udhcpc/default.script >/dev/null 2>&1 &
done
# The agent only where herd made a backchannel (vm config backchannel true).
if [ -x /bin/herd-cc ] && [ -S /cc ]; then
    /bin/herd-cc >/dev/null 2>&1 &
fi
cd /root
# herd made the console the controlling terminal of init's session: a shell
# started here (same session) gets job control. `setsid -c` would try to take
# the terminal away from init and fail (EPERM), leaving the shell without it.
while :; do
    /bin/sh -l
done
I
chmod 0755 init
if [ -n "$agent" ]; then
    install -s -m 0755 "$agent" bin/herd-cc
fi
echo "built busybox guest image in $dir"
