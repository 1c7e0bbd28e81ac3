#!/usr/bin/env python3
"""Restart benchmark (issue 15): how long a new daemon takes to adopt N
running containers a killed one left (docs/durability.md).

One daemon launches and starts N containers (default 1000) with one NIC on
VLAN 5 and the cc backchannel on (so the keeper holds a console and a cc
socket per container); it is killed with SIGKILL. Then a new daemon is
started on the same base and prefix, and the bench prints:
  - start:  from exec to its control socket answering (adoption is done by
            then: it runs before the socket listens),
  - info:   the first `vm info` answering with all N RUNNING,
  - cc:     until every agent has reconnected (`cc` clients = N),
and the same start time for an empty base, for comparison. It then checks
that every init pid is the one from before the kill, and cleans up.

usage: bench/bench_restart.py [N]   (root)
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from herdtest import Daemon, cc_clients, wait_for  # noqa: E402


def timed_start(d):
    t0 = time.monotonic()
    d.start(timeout=600)
    return time.monotonic() - t0


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with Daemon() as empty:
        t_empty = 0.0
        empty.kill9()
        t_empty = timed_start(empty)
    with Daemon() as d:
        c = d.client()
        c.ok("vm config net 5")
        t0 = time.monotonic()
        c.ok("vm launch container %d" % n)
        c.ok("vm start all")
        t_launch = time.monotonic() - t0
        wait_for(lambda: cc_clients(c) == n, timeout=300)
        before = {r["name"]: r["pid"] for r in c.table(".columns name,pid vm info")}
        c.close()
        d.kill9()
        t_start = timed_start(d)
        t0 = time.monotonic()
        c = d.client()
        rows = c.table(".columns name,state,pid vm info")
        t_info = time.monotonic() - t0
        after = {r["name"]: r["pid"] for r in rows}
        running = sum(1 for r in rows if r["state"] == "RUNNING")
        ok = wait_for(lambda: cc_clients(c) == n, timeout=300)
        t_cc = time.monotonic() - t0 + t_start
        print("containers            %d (launched and started in %.1f s)" % (n, t_launch))
        print("daemon start, empty   %.3f s" % t_empty)
        print("daemon start, adopt   %.3f s (%.2f ms per container)" %
              (t_start, 1000 * (t_start - t_empty) / n))
        print("first vm info         %.3f s, %d of %d RUNNING" % (t_info, running, n))
        print("all agents back       %s" % ("%.1f s after the start" % t_cc if ok else
                                            "NO: %d of %d" % (cc_clients(c), n)))
        print("same inits            %s" % ("yes" if after == before else "NO"))
        for line in d.logtext().splitlines():
            if "adopted" in line or "leftovers of a previous daemon" in line:
                print("daemon log:           " + line.split(": ", 1)[-1])
        c.ok("vm kill all")
        c.ok("vm flush")
        c.close()


if __name__ == "__main__":
    main()
