#!/usr/bin/env python3
"""Launch benchmark (issue 3): N containers through a real herd daemon.

For each N it prints: time for `vm launch container N`, for `vm start all`
until every container is RUNNING, for `vm kill all` + `vm flush`; host
memory per container while BUILDING and while RUNNING (MemAvailable deltas);
daemon RSS idle, loaded and after flush. minimega's figures on this machine
kind (MEASUREMENTS.md) are printed beside them, with the ratio.

usage: bench/bench_launch.py [--cc] [--net] [--disk-limit X] [N ...]
       (default: 10 100 500 1000; root)

Without --cc the containers run with `vm config backchannel false` (the
runtime alone, as issue 3's targets are stated); with --cc each container also
runs the herd-cc agent connected to the daemon. With --net each container has
one NIC (`vm config net 5`): a veth pair, its host end on VLAN 5's switch
(issue 4's with-network mode; target: 500 launched in at most 5 s).
HERD_BENCH_QUIESCE=<s> sets the pause before each run (default 10 s) that
lets the kernel finish tearing down the previous run's namespaces.
--disk-limit sets `vm config disk-limit` (default: herd's, 1024 MiB); with
`unlimited` the containers have no disk tmpfs, to compare its cost.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from herdtest import Daemon, rss_kib  # noqa: E402

MINIMEGA = {  # N: (launch s, start s, kill+flush s, MiB/container BUILDING, RUNNING)
    10: (0.57, 0.12, 0.25, 10.0, 4.4),
    100: (7.8, 0.28, 0.56, 10.8, 2.0),
    500: (45.7, 1.79, 2.25, 11.1, 1.9),
}


def mem_available_kib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return 0


def settle():
    # Let freed memory show up in MemAvailable before reading it.
    time.sleep(1.0)


def quiesce():
    # The kernel frees network namespaces in the background (cleanup_net),
    # holding the lock that creating one needs: a run right after a big
    # teardown would measure the previous run's cleanup. After thousands of
    # containers 10 s is not enough; HERD_BENCH_QUIESCE sets the pause.
    time.sleep(float(os.environ.get("HERD_BENCH_QUIESCE", "10")))


def run(n, cc, net, disk_limit):
    quiesce()
    with Daemon() as d:
        c = d.client()
        if not cc:
            c.ok("vm config backchannel false")
        if disk_limit:
            c.ok("vm config disk-limit " + disk_limit)
        if net:
            c.ok("vm config net 5")
        c.ok("echo warm")
        settle()
        cold_rss = rss_kib(d.proc.pid)
        # One container through its whole life first: the code it runs is
        # then resident (file-backed pages, never given back), so "idle"
        # compares memory an experiment leaves behind, not code warm-up.
        c.ok("vm launch container warmup")
        c.ok("vm start warmup")
        c.ok("vm kill warmup")
        c.ok("vm flush")
        settle()
        idle_rss = rss_kib(d.proc.pid)
        before = mem_available_kib()

        t0 = time.time()
        c.ok("vm launch container %d" % n)
        t_launch = time.time() - t0
        settle()
        building = (before - mem_available_kib()) / n / 1024.0

        t0 = time.time()
        c.ok("vm start all")
        while True:
            states = c.ok(".annotate false .headers false .columns state vm info").split()
            if states.count("RUNNING") == n:
                break
            time.sleep(0.01)
        t_start = time.time() - t0
        settle()
        running = (before - mem_available_kib()) / n / 1024.0
        loaded_rss = rss_kib(d.proc.pid)

        t0 = time.time()
        c.ok("vm kill all")
        c.ok("vm flush")
        t_kill = time.time() - t0
        settle()
        flushed_rss = rss_kib(d.proc.pid)
        c.close()
    return t_launch, t_start, t_kill, building, running, cold_rss, idle_rss, loaded_rss, flushed_rss


def ratio(ours, theirs):
    return "%.1fx" % (theirs / ours) if ours > 0 else "-"


def main():
    args = sys.argv[1:]
    disk_limit = None
    if "--disk-limit" in args:
        i = args.index("--disk-limit")
        disk_limit = args[i + 1]
        del args[i:i + 2]
    cc = "--cc" in args
    net = "--net" in args
    sizes = [int(a) for a in args if a not in ("--cc", "--net")] or [10, 100, 500, 1000]
    print("backchannel (herd-cc agents): %s" % ("on" if cc else "off"))
    print("disk-limit: %s" % (disk_limit or "default"))
    print("network: %s" % ("one NIC per container, VLAN 5" if net else "none"))
    print("%6s %22s %22s %22s %16s %16s %38s" % (
        "N", "launch s (minimega)", "start all s (mm)", "kill+flush s (mm)", "MiB/ct BUILDING",
        "MiB/ct RUNNING", "daemon RSS MiB cold/idle/load/flush"))
    for n in sizes:
        la, st, kf, b, r, cold, i, lo, fl = run(n, cc, net, disk_limit)
        mm = MINIMEGA.get(n)
        def col(v, k):
            return "%.3f" % v + (" (%.2f, %s)" % (mm[k], ratio(v, mm[k])) if mm else "")
        print("%6d %22s %22s %22s %16s %16s %38s" % (
            n, col(la, 0), col(st, 1), col(kf, 2),
            "%.2f" % b + (" (%.1f)" % mm[3] if mm else ""),
            "%.2f" % r + (" (%.1f)" % mm[4] if mm else ""),
            "%.1f / %.1f / %.1f / %.1f (%+.0f%%)" % (cold / 1024.0, i / 1024.0, lo / 1024.0,
                                                    fl / 1024.0, 100.0 * (fl - i) / i)),
            flush=True)


if __name__ == "__main__":
    main()
