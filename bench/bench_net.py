#!/usr/bin/env python3
"""TCP throughput between two guests on VLAN 5, on each switch backend
(issue 4): the kernel bridge, and Open vSwitch with the userspace datapath
(its own ovsdb-server and ovs-vswitchd, started and stopped here).

For each backend: a daemon with `-switch kernel` or `-switch ovs`, two
containers with one NIC on VLAN 5, addresses 10.57.0.1-2/24 set inside the
guests; then, RUNS times, guest b listens with busybox `nc -l` into
/dev/null and guest a pushes MB MiB of zeros with `dd | nc`. The wall time
is taken from the start of the sender until the receiver's shell reports the
end of the stream (console round trips are a few ms against seconds); the
receiver counts the bytes (`wc -c`) and a short transfer fails the run.

usage: bench/bench_net.py [--mb MB] [--runs RUNS] [kernel] [ovs]   (root; default: both)
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from herdtest import HERD, Console, Daemon  # noqa: E402
from ovstest import Ovs, available  # noqa: E402

ADDR = {"a": "10.57.0.1", "b": "10.57.0.2"}


def console(d, c, name):
    row = [r for r in c.table("vm info") if r["name"] == name][0]
    con = Console(os.path.join(d.base, row["id"], "console"))
    con.sh("true", timeout=15)
    return con


def measure(d, bridge, mb, runs):
    c = d.client()
    cons = {}
    try:
        c.ok("vm config backchannel false")
        c.ok("vm config net %s,5" % bridge)
        c.ok("vm launch container a,b")
        c.ok("vm start all")
        for name in "ab":
            cons[name] = console(d, c, name)
            out = cons[name].sh("ip addr add %s/24 dev veth0; ip link set veth0 up; echo rc=$?"
                                % ADDR[name])
            assert "rc=0" in out, out
        a, b = cons["a"], cons["b"]
        assert "rc=0" in a.sh("ping -c 1 -W 5 %s >/dev/null 2>&1; echo rc=$?" % ADDR["b"], 15)
        rates = []
        for i in range(runs):
            marker = "D%dD" % (i + 1)
            b.sock.sendall(("nc -l -p 5001 | wc -c; echo D$((%d))D\n" % (i + 1)).encode())
            time.sleep(0.3)  # the listener is up
            t0 = time.time()
            a.sock.sendall(("dd if=/dev/zero bs=1048576 count=%d 2>/dev/null | nc %s 5001\n"
                            % (mb, ADDR["b"])).encode())
            out = b.read_until(marker, timeout=300)
            took = time.time() - t0
            # Every byte arrived (wc's count is on the line before the marker).
            assert str(mb << 20) in out, out[-200:]
            rates.append(mb / took)
            a.sh("true", timeout=30)  # the sender's prompt is back
        return rates
    finally:
        for con in cons.values():
            con.close()
        c.close()


def report(name, rates):
    print("%-32s %8.1f MiB/s median  (min %.1f, max %.1f; %d runs: %s)" % (
        name, statistics.median(rates), min(rates), max(rates), len(rates),
        ", ".join("%.1f" % r for r in rates)), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("backends", nargs="*", default=["kernel", "ovs"])
    args = ap.parse_args()
    print("TCP between two guests on VLAN 5: %d MiB per run (dd | busybox nc)" % args.mb)
    for backend in args.backends:
        if backend == "kernel":
            d = Daemon("-switch", "kernel").start()
            try:
                report("kernel bridge", measure(d, "mega_bridge", args.mb, args.runs))
            finally:
                d.stop()
        elif backend == "ovs":
            if not available():
                print("ovs: Open vSwitch is not installed, skipped")
                continue
            ovs = Ovs().start()
            d = Daemon("-switch", "ovs", "-ovsdb", ovs.sock)
            try:
                d.start()
                dp = ovs.vsctl("get", "Open_vSwitch", ".", "other_config:userspace-tso-enable")
                result = measure(d, d.prefix + "br", args.mb, args.runs)
                report("open vswitch (netdev, tso %s)" % dp.strip('"'), result)
            finally:
                d.stop()
                subprocess.run([HERD, "-base", d.base, "-prefix", d.prefix, "-switch", "ovs",
                                "-ovsdb", ovs.sock, "-nuke"])
                ovs.stop()
        else:
            sys.exit("unknown backend %s: expected kernel or ovs" % backend)


if __name__ == "__main__":
    main()
