#!/usr/bin/env python3
"""TCP throughput between two guests on VLAN 5, on each switch backend
(issue 4): the kernel bridge, and Open vSwitch with the userspace datapath
(its own ovsdb-server and ovs-vswitchd, started and stopped here).

For each backend: a daemon with `-switch kernel` or `-switch ovs`, two
containers with one NIC on VLAN 5, addresses 10.57.0.1-2/24 set inside the
guests. Two figures, each the median of RUNS runs:

- busybox nc: guest b listens with `nc -l` piped to `wc -c`, guest a pushes
  MB MiB of zeros with `dd | nc`. The wall time is taken from the start of
  the sender until the receiver's shell reports the end of the stream
  (console round trips are a few ms against seconds); the receiver counts
  the bytes and a short transfer fails the run. Busybox's nc copies through
  small buffers, so this measures nc about as much as the switch.
- iperf3: the host's iperf3 run inside each guest's network namespace only
  (`nsenter -t <init pid> -n`, the pid column of `vm info`): the server in
  b's, the client in a's for SECONDS seconds; the figure is what the
  receiver got (end.sum_received). The traffic crosses exactly the veths and
  the switch the guests use. iperf3 (Debian package) is installed with
  apt-get when missing.

usage: bench/bench_net.py [--mb MB] [--runs RUNS] [--seconds S] [kernel] [ovs]
       (root; default: both backends)
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from herdtest import Daemon, guest_ping, launch_guests, set_guest_address  # noqa: E402
from ovstest import Ovs, available  # noqa: E402

ADDR = {"a": "10.57.0.1", "b": "10.57.0.2"}
IPERF_PORT = 5201


def ensure_iperf3():
    """The path of iperf3, installed from Debian's packages when missing."""
    path = shutil.which("iperf3")
    if path:
        return path
    print("iperf3 missing: apt-get install iperf3", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    r = subprocess.run(["apt-get", "install", "-y", "-q", "iperf3"], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:  # a stale package list
        subprocess.run(["apt-get", "update", "-q"], env=env, stdout=subprocess.DEVNULL)
        r = subprocess.run(["apt-get", "install", "-y", "-q", "iperf3"], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    path = shutil.which("iperf3")
    if not path:
        sys.exit("cannot install iperf3: " + r.stderr[-500:])
    return path


def nc_rates(cons, mb, runs):
    """MiB/s of `dd | nc` from a to b, one per run."""
    a, b = cons["a"], cons["b"]
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


def iperf3_rates(iperf3, pids, seconds, runs):
    """Gbit/s received by an iperf3 server in b's network namespace from a
    client in a's, one per run."""
    rates = []
    for _ in range(runs):
        server = subprocess.Popen(
            ["nsenter", "-t", pids["b"], "-n", iperf3, "-s", "-1", "-p", str(IPERF_PORT),
             "-B", ADDR["b"], "--forceflush"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            # The server says so once it listens (after a line of dashes).
            said = ""
            while "listening" not in said:
                line = server.stdout.readline()
                if not line:
                    raise RuntimeError("iperf3 server: %s" % said)
                said += line
            r = subprocess.run(
                ["nsenter", "-t", pids["a"], "-n", iperf3, "-c", ADDR["b"], "-p",
                 str(IPERF_PORT), "-t", str(seconds), "-J"],
                capture_output=True, text=True, timeout=seconds + 60)
            result = json.loads(r.stdout)
            if r.returncode != 0 or "error" in result:
                raise RuntimeError("iperf3 client: %s" % result.get("error", r.stderr))
            rates.append(result["end"]["sum_received"]["bits_per_second"] / 1e9)
            server.wait(30)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
    return rates


def measure(d, bridge, args, iperf3):
    """(nc MiB/s per run, iperf3 Gbit/s per run) between a and b on VLAN 5."""
    c = d.client()
    cons = {}
    try:
        cons = launch_guests(d, c, [("%s,5" % bridge, "a,b")])
        for name in "ab":
            set_guest_address(cons[name], ADDR[name] + "/24")
        assert guest_ping(cons["a"], ADDR["b"], tries=3)
        pids = {name: c.vm(name)["pid"] for name in "ab"}
        nc = nc_rates(cons, args.mb, args.runs)
        ip = iperf3_rates(iperf3, pids, args.seconds, args.runs) if iperf3 else []
        return nc, ip
    finally:
        for con in cons.values():
            con.close()
        c.close()


def spread(rates, fmt):
    return "(min %s, max %s; %d runs: %s)" % (
        fmt % min(rates), fmt % max(rates), len(rates), ", ".join(fmt % r for r in rates))


def report(name, nc, ip):
    print("%-32s nc %7.1f MiB/s median %s" % (name, statistics.median(nc), spread(nc, "%.1f")),
          flush=True)
    if ip:
        print("%-32s iperf3 %5.2f Gbit/s median %s" % ("", statistics.median(ip),
                                                      spread(ip, "%.2f")), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=5, help="length of each iperf3 run")
    ap.add_argument("--no-iperf3", action="store_true", help="only the busybox nc figure")
    ap.add_argument("backends", nargs="*", default=["kernel", "ovs"])
    args = ap.parse_args()
    for backend in args.backends:
        if backend not in ("kernel", "ovs"):
            sys.exit("unknown backend %s: expected kernel or ovs" % backend)
    iperf3 = None if args.no_iperf3 else ensure_iperf3()
    print("TCP between two guests on VLAN 5: %d MiB per run with dd | busybox nc%s; "
          "median of %d runs" % (args.mb, "" if not iperf3 else
                                 ", %d s per run with iperf3 in the guests' network namespaces"
                                 % args.seconds, args.runs))
    for backend in args.backends:
        if backend == "kernel":
            d = Daemon("-switch", "kernel").start()
            try:
                report("kernel bridge", *measure(d, "mega_bridge", args, iperf3))
            finally:
                d.stop()
        else:
            if not available():
                print("ovs: Open vSwitch is not installed, skipped")
                continue
            ovs = Ovs().start()
            d = Daemon(*ovs.herd_flags())
            try:
                d.start()
                tso = ovs.vsctl("get", "Open_vSwitch", ".", "other_config:userspace-tso-enable")
                result = measure(d, d.prefix + "br", args, iperf3)
                report("open vswitch (netdev, tso %s)" % tso.strip('"'), *result)
            finally:
                d.stop()
                d.nuke(*ovs.herd_flags())
                ovs.stop()


if __name__ == "__main__":
    main()
