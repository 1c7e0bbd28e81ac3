#!/usr/bin/env python3
"""Capture throughput: how many frames a guest sends reach the pcap file of
`capture pcap vm` (and of `capture pcap bridge`), at given rates and sizes.

A daemon with the kernel bridge backend (or `ovs`: its own ovsdb-server and
ovs-vswitchd, userspace datapath), guests a and b on VLAN 5. Guest a runs
tests/integration/frame_flood.c (static, from a volume): COUNT numbered
frames (EtherType 0x88b5, a run id and a sequence number) of SIZE bytes to
b's MAC, paced at RATE frames/s (0 = as fast as it can). Each case gets a
fresh capture file; after the sender is done the capture is deleted (what
the rings hold is written) and the file is parsed here: the figure is the
number of distinct frames of that run found in it. Also shown: what the
host end of a's NIC received (its rx_packets: frames the kernel dropped
before any capture point are not the capture's loss) and the capture's
`dropped` column (frames the kernel ring dropped because the writer fell
behind).

usage: bench/bench_capture.py [--seconds S] [--what vm|bridge|both] [kernel] [ovs]
       (root; default: kernel)
"""

import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from herdtest import Daemon, close_consoles, launch_guests  # noqa: E402
from ovstest import Ovs, available  # noqa: E402

CASES = [  # (frame size, frames/s; 0 = unpaced)
    (64, 10000), (64, 50000), (64, 100000), (64, 200000), (64, 0),
    (1514, 10000), (1514, 50000), (1514, 100000), (1514, 0),
]


def count_run(path, run):
    """Distinct sequence numbers of run `run` in a pcap file."""
    seen = set()
    with open(path, "rb") as f:
        head = f.read(24)
        if len(head) < 24:
            return 0
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                break
            caplen = struct.unpack("<IIII", rec)[2]
            data = f.read(caplen)
            if len(data) < 29:
                continue
            off = 12
            if data[12:14] == b"\x81\x00":  # an OVS mirror keeps the VLAN tag
                off = 16
            if data[off:off + 2] != b"\x88\xb5" or data[off + 2:off + 9] != b"HERDSEQ":
                continue
            r, q = struct.unpack("!II", data[off + 9:off + 17])
            if r == run:
                seen.add(q)
    return len(seen)


def rx_packets(ifname):
    with open("/sys/class/net/%s/statistics/rx_packets" % ifname) as f:
        return int(f.read())


def bench(backend, what, seconds):
    tmp = tempfile.mkdtemp(prefix="herd-bench-capture-")
    ovs = None
    d = None
    cons = {}
    try:
        subprocess.run(["gcc", "-static", "-O2", "-o", os.path.join(tmp, "frame_flood"),
                        os.path.join(HERE, "..", "tests", "integration", "frame_flood.c")],
                       check=True)
        bridge = "mega_bridge"
        if backend == "ovs":
            ovs = Ovs().start()
            d = Daemon(*ovs.herd_flags())
        else:
            d = Daemon()
        d.start()
        c = d.client()
        pre = ""
        if backend == "ovs":
            bridge = d.prefix + "br"
            pre = bridge + ","
        c.ok("vm config volume /scratch " + tmp)
        cons = launch_guests(d, c, [(pre + "5", "a,b")])
        for con in cons.values():
            con.sh("ip link set veth0 up")
        bmac = cons["b"].sh("cat /sys/class/net/veth0/address").strip().splitlines()[-1]
        tap = c.vm("a")["tap"].strip("[]")
        print("\n%s backend, capture pcap %s, %s s per case" % (backend, what, seconds))
        print("%6s %9s | %9s %9s | %9s %9s | %9s %8s %7s" % (
            "size", "rate", "sent/s", "Mbit/s", "captured", "Mbit/s", "host rx", "dropped",
            "loss"))
        run = 0
        for size, rate in CASES:
            run += 1
            count = int((rate or 400000) * seconds)
            if size > 1000:
                count = min(count, 150000)  # keeps the file under ~230 MB
            path = os.path.join(tmp, "bench.pcap")
            if what == "vm":
                c.ok("capture pcap vm a 0 " + path)
            else:
                c.ok("capture pcap bridge %s %s" % (bridge, path))
            rx0 = rx_packets(tap)
            out = cons["a"].sh("/scratch/frame_flood veth0 %s %d %d %d seq %d"
                               % (bmac, count, size, rate, run), timeout=600)
            rx = rx_packets(tap) - rx0
            time.sleep(0.3)  # the last ring block is handed over after 100 ms
            row = c.table("capture")[0]
            c.ok("clear capture")
            sent_line = [l for l in out.splitlines() if l.startswith("sent ")][-1]
            sent, took = int(sent_line.split()[1]), float(sent_line.split()[3])
            got = count_run(path, run)
            os.unlink(path)
            bits = size * 8
            print("%6d %9s | %9.0f %9.1f | %9d %9.1f | %9d %8s %6.2f%%" % (
                size, rate or "max", sent / took, sent / took * bits / 1e6, got,
                got / took * bits / 1e6, rx, row["dropped"], 100.0 * (sent - got) / sent),
                flush=True)
    finally:
        close_consoles(cons)
        if d:
            d.stop()
            if ovs:
                d.nuke(*ovs.herd_flags())
        if ovs:
            ovs.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--what", choices=["vm", "bridge", "both"], default="both")
    ap.add_argument("backends", nargs="*", default=["kernel"])
    a = ap.parse_args()
    for b in a.backends:
        if b == "ovs" and not available():
            print("Open vSwitch is not installed: skipping ovs")
            continue
        for w in (["vm", "bridge"] if a.what == "both" else [a.what]):
            bench(b, w, a.seconds)


if __name__ == "__main__":
    main()
