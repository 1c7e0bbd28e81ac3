#!/usr/bin/env python3
"""Density benchmark (issue 15): does a launch cost the same with 10,000
containers running as with 100?

One daemon; containers with one NIC on VLAN 5 (`vm config net 5`), without
the cc agent, running busybox's shell as init (`vm config init /bin/sh`): the
built-in image's init starts a DHCP client, and thousands of them on one VLAN
without a DHCP server broadcast to each other (every discover reaches every
port), which measures the guests' broadcast storm rather than herd. The containers are launched and started in steps up to each
total N (default 100 1000 5000 10000): for each step it prints the step's
size, the time per container of `vm launch container <step>` and of
`vm start all` for that step, host memory per running container
(MemAvailable delta over all running so far) and the kernel's unreclaimable
slab per container (SUnreclaim delta: namespaces, sockets, devices), the daemon's and the keeper's
RSS and descriptors, the median time of `vm info` and of `.columns
name,state vm info` from the client (bench_info.py separates the daemon's
share from the client's decoding), then the time for `vm kill all` + `vm flush` of
everything and the daemon's RSS after the flush.

A total the host cannot hold (kernel.pty.max, kernel.pid_max, descriptors)
is refused by herd before it launches anything; the bench prints herd's
error, which names the limit and how to raise it, and stops there.

usage: bench/bench_dense.py [--no-net] [N ...]   (root)
--no-net: containers without a NIC (separates the switch's share of the cost).
"""

import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from herdtest import Client, Daemon, keeper_pid, rss_kib  # noqa: E402
from bench_launch import mem_available_kib  # noqa: E402


def fds_of(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return 0


def timed(c, line, runs=3):
    """The median time of `line`, in ms, as the tests' client sees it (it
    decodes every reply: at 10,000 VMs most of `vm info`'s time is that)."""
    took = []
    for _ in range(runs):
        t = time.time()
        c.ok(line)
        took.append((time.time() - t) * 1000)
    return sorted(took)[len(took) // 2]


def meminfo_kib(field):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def guard_memory(d, floor_mib=1536):
    """The machine is shared: when MemAvailable falls below floor_mib, the
    daemon is stopped (SIGTERM: an orderly stop ends every container), before
    the kernel's OOM killer picks a victim."""
    while d.proc.poll() is None:
        if mem_available_kib() < floor_mib * 1024:
            print("memory: MemAvailable below %d MiB: stopping the daemon" % floor_mib,
                  flush=True)
            d.proc.send_signal(signal.SIGTERM)
            return
        time.sleep(0.5)


def main():
    args = sys.argv[1:]
    net = "--no-net" not in args
    totals = [int(a) for a in args if a != "--no-net"] or [100, 1000, 5000, 10000]
    print("%8s %7s %12s %12s %10s %10s %12s %10s %12s %10s %9s %9s" %
          ("running", "step", "launch ms/c", "start ms/c", "MiB/c", "slab MiB/c", "daemon MiB",
           "daemon fds", "keeper MiB", "keeper fds", "info ms", "cols ms"))
    with Daemon() as d:
        # A launch of thousands takes minutes: the client waits that long.
        c = Client(os.path.join(d.base, "minimega"), timeout=3600)
        watch = threading.Thread(target=guard_memory, args=(d,), daemon=True)
        watch.start()
        c.ok("vm config backchannel false")
        if net:
            c.ok("vm config net 5")
        c.ok("vm config init /bin/sh")
        idle_rss = rss_kib(d.proc.pid)
        mem0 = mem_available_kib()
        slab0 = meminfo_kib("SUnreclaim")
        running = 0
        for total in totals:
            step = total - running
            if step <= 0:
                continue
            t0 = time.time()
            _, errs = c.run("vm launch container %d" % step)
            if errs:
                print("stopped at %d: %s" % (total, errs[0]))
                break
            t1 = time.time()
            c.ok("vm start all")
            t2 = time.time()
            running = total
            time.sleep(2)
            mem = (mem0 - mem_available_kib()) / 1024.0 / running
            k = keeper_pid(d.base)
            slab = (meminfo_kib("SUnreclaim") - slab0) / 1024.0 / running
            print("%8d %7d %12.2f %12.2f %10.3f %10.3f %12.1f %10d %12.1f %10d %9.0f %9.0f" %
                  (running, step, (t1 - t0) * 1000 / step, (t2 - t1) * 1000 / step, mem, slab,
                   rss_kib(d.proc.pid) / 1024.0, fds_of(d.proc.pid),
                   rss_kib(k) / 1024.0 if k else 0, fds_of(k) if k else 0,
                   timed(c, "vm info"), timed(c, ".columns name,state vm info")))
            sys.stdout.flush()
        t0 = time.time()
        c.ok("vm kill all")
        c.ok("vm flush")
        t1 = time.time()
        time.sleep(2)
        print("kill+flush of %d: %.2f s; daemon RSS idle %.1f MiB, after flush %.1f MiB" %
              (running, t1 - t0, idle_rss / 1024.0, rss_kib(d.proc.pid) / 1024.0))
        c.close()


if __name__ == "__main__":
    main()
