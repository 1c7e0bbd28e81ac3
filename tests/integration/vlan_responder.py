#!/usr/bin/env python3
"""The far side of a trunk in the trunk tests: answers ARP and ICMP echo
for addresses bound to 802.1Q VLANs, on one interface, with AF_PACKET (this
kernel has no 802.1Q links to do it with).

    vlan_responder.py <iface> <vlan>:<ipv4> [<vlan>:<ipv4> ...]
    vlan_responder.py --send <iface> <vlan> <src ipv4> <dst ipv4>

The second form is the attacker's: it sends one broadcast ARP request
carrying an 802.1Q tag of its own (VLAN hopping by double tagging).

A received frame's tag is in the packet's metadata (PACKET_AUXDATA), not in
its bytes; a reply is sent with its tag written into the frame. Every
ARP or IPv4 frame read is logged on stdout as `vlan=<v|none> <kind> <src>
> <dst>` (`vlan=<outer>/<inner>` for a frame with two tags), so the test can tell which VLANs reached the far side. Runs until
killed; prints `ready` once it reads.
"""

import socket
import struct
import sys

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_AUXDATA = 8
TP_STATUS_VLAN_VALID = 1 << 4


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return (~s) & 0xffff


def send_tagged(iface, vlan, src_ip, dst_ip):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    mac = s.getsockname()[4]
    arp = (struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + socket.inet_aton(src_ip)
           + b"\0" * 6 + socket.inet_aton(dst_ip))
    s.send(b"\xff" * 6 + mac + struct.pack("!HHH", 0x8100, vlan, 0x0806) + arp)


def main():
    if sys.argv[1] == "--send":
        send_tagged(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
        return
    iface = sys.argv[1]
    bound = {}
    for arg in sys.argv[2:]:
        v, ip = arg.split(":")
        bound[(int(v), socket.inet_aton(ip))] = True
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    s.bind((iface, 0))
    mac = s.getsockname()[4]
    print("ready", flush=True)
    while True:
        data, anc, _, addr = s.recvmsg(65535, socket.CMSG_SPACE(32))
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        vlan = None
        for level, typ, cdata in anc:
            if level == SOL_PACKET and typ == PACKET_AUXDATA and len(cdata) >= 20:
                status, _, _, _, _, tci = struct.unpack("IIIHHH", cdata[:18])
                if status & TP_STATUS_VLAN_VALID:
                    vlan = tci & 0xfff
        if len(data) < 14:
            continue
        dst, src, etype = data[:6], data[6:12], struct.unpack("!H", data[12:14])[0]
        shown = vlan
        if etype == 0x8100 and len(data) >= 18:  # a tag left in the bytes
            inner = struct.unpack("!H", data[14:16])[0] & 0xfff
            if vlan is None:
                vlan = shown = inner
            else:
                shown = "%d/%d" % (vlan, inner)
                vlan = None  # two tags: nothing here answers that
            etype = struct.unpack("!H", data[16:18])[0]
            data = data[:12] + data[16:]
        body = data[14:]
        tag = b"" if vlan is None else struct.pack("!HH", 0x8100, vlan)
        if etype == 0x0806 and len(body) >= 28:
            op = struct.unpack("!H", body[6:8])[0]
            spa, tpa = body[14:18], body[24:28]
            print("vlan=%s arp%d %s > %s" % (shown, op, socket.inet_ntoa(spa),
                                            socket.inet_ntoa(tpa)), flush=True)
            if op == 1 and (vlan, tpa) in bound:
                reply = (src + mac + tag + struct.pack("!H", 0x0806) + body[:6]
                         + struct.pack("!H", 2) + mac + tpa + body[8:14] + spa)
                s.send(reply)
        elif etype == 0x0800 and len(body) >= 20:
            body = body[:struct.unpack("!H", body[2:4])[0]]  # without the padding
            ihl = (body[0] & 0xf) * 4
            proto, sip, dip = body[9], body[12:16], body[16:20]
            kind = "icmp%d" % body[ihl] if proto == 1 and len(body) > ihl else "ip%d" % proto
            print("vlan=%s %s %s > %s" % (shown, kind, socket.inet_ntoa(sip),
                                         socket.inet_ntoa(dip)), flush=True)
            if proto == 1 and body[ihl] == 8 and (vlan, dip) in bound:
                icmp = bytearray(body[ihl:])
                icmp[0] = 0
                icmp[2:4] = b"\0\0"
                icmp[2:4] = struct.pack("!H", checksum(bytes(icmp)))
                ip = bytearray(body[:ihl])
                ip[12:16], ip[16:20] = dip, sip
                ip[8] = 64
                ip[10:12] = b"\0\0"
                ip[10:12] = struct.pack("!H", checksum(bytes(ip)))
                total = bytes(ip) + bytes(icmp)
                s.send(src + mac + tag + struct.pack("!H", 0x0800) + total)


if __name__ == "__main__":
    main()
