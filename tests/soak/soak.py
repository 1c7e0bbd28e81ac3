#!/usr/bin/env python3
"""Soak: many cycles of `vm launch container N; vm start all; vm kill all;
vm flush` on one daemon must leave nothing behind, ever.

After every cycle the daemon has no VM; at the end, compared with what it
had after the first cycles (the warm-up: the VLAN's bridge, caches, pools):
  * no more descriptors open in the daemon or the keeper;
  * no zombie child of the daemon or the keeper;
  * no mount under its base or with its prefix;
  * no cgroup below its prefix's cgroups;
  * no host interface with its prefix but the ones it had (the bridge);
  * its resident memory at most 10 % above.

usage: tests/soak/soak.py [--cycles N] [--per M]   (root; HERD = the binary)
Defaults: 10,000 cycles of 10 containers (issue 15's figure); CI runs a
short count (HERD_SOAK_CYCLES). Prints the figures; exits 1 on a leak.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from herdtest import (Daemon, keeper_pid, links_with, rss_kib, wait_for,  # noqa: E402
                      wait_no_links, zombies_of)

WARMUP = 3


def fds_of(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def mounts_of(d):
    found = []
    with open("/proc/mounts") as f:
        for line in f:
            target = line.split()[1]
            if target.startswith(d.tmp + "/") or d.prefix in target:
                found.append(target)
    return found


def cgroups_below(prefix):
    """Directories below the daemon's cgroups (one per container while it
    lives; none once flushed)."""
    found = []
    for top in ("/sys/fs/cgroup", *[os.path.join("/sys/fs/cgroup", t)
                                    for t in os.listdir("/sys/fs/cgroup")]):
        path = os.path.join(top, prefix)
        if os.path.isdir(path):
            for root, dirs, _ in os.walk(path):
                found += [os.path.join(root, x) for x in dirs]
    return found


def snapshot(d):
    keeper = keeper_pid(d.base)
    return {
        "fds": fds_of(d.proc.pid),
        "keeper fds": fds_of(keeper) if keeper else 0,
        "rss": rss_kib(d.proc.pid),
        "zombies": zombies_of(d.proc.pid) + (zombies_of(keeper) if keeper else []),
        "mounts": mounts_of(d),
        "cgroups": cgroups_below(d.prefix),
        "links": sorted(links_with(d.prefix)),
    }


def cycle(c, per):
    c.ok("vm launch container %d" % per)
    c.ok("vm start all")
    c.ok("vm kill all")
    c.ok("vm flush")
    if c.table("vm info"):
        raise AssertionError("VMs left after vm flush: %r" % c.table("vm info"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=int(os.environ.get("HERD_SOAK_CYCLES", 10000)))
    ap.add_argument("--per", type=int, default=10)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("soak: needs root", file=sys.stderr)
        return 1
    failures = []
    with Daemon() as d:
        c = d.client()
        # The soak's own commands stay out of `history`, which keeps every
        # command a client runs, without bound, as minimega's does (40,000
        # lines over 10,000 cycles, 2.7 MiB of the daemon).
        c.ok(".record false")
        c.ok("vm config net 100")  # one NIC each: veths, a bridge port
        for _ in range(WARMUP):
            cycle(c, args.per)
        # The veths go with the namespaces, asynchronously.
        wait_for(lambda: not [l for l in links_with(d.prefix) if "v" in l[len(d.prefix):][:1]],
                 timeout=10)
        base = snapshot(d)
        t = time.monotonic()
        for i in range(args.cycles):
            cycle(c, args.per)
            if (i + 1) % 500 == 0:
                s = snapshot(d)
                print("soak: %d cycles, %.1f ms a cycle, fds %d, rss %d KiB"
                      % (i + 1, (time.monotonic() - t) * 1000 / (i + 1), s["fds"], s["rss"]),
                      flush=True)
        took = time.monotonic() - t
        wait_for(lambda: sorted(links_with(d.prefix)) == base["links"], timeout=10)
        wait_for(lambda: not cgroups_below(d.prefix), timeout=10)
        # The daemon tells the keeper to drop a flushed console's copy without
        # waiting for an answer: the last few may still be in the keeper's
        # queue when `vm flush` returns. A leak does not settle.
        keeper = keeper_pid(d.base)
        if keeper:
            wait_for(lambda: fds_of(keeper) <= base["keeper fds"], timeout=5)
        end = snapshot(d)
        print("soak: %d cycles of %d containers in %.1f s (%.1f ms a cycle); daemon fds %d -> %d, "
              "rss %d -> %d KiB (%+.1f%%)"
              % (args.cycles, args.per, took, took * 1000 / max(args.cycles, 1), base["fds"],
                 end["fds"], base["rss"], end["rss"],
                 100.0 * (end["rss"] - base["rss"]) / max(base["rss"], 1)))
        for key in ("fds", "keeper fds"):
            if end[key] > base[key]:
                failures.append("%s: %d after warm-up, %d at the end" % (key, base[key], end[key]))
        if end["rss"] > base["rss"] * 1.10:
            failures.append("resident memory grew over 10%%: %d -> %d KiB"
                            % (base["rss"], end["rss"]))
        for key in ("zombies", "mounts", "cgroups"):
            if end[key]:
                failures.append("%s left: %r" % (key, end[key][:10]))
        if end["links"] != base["links"]:
            failures.append("links: %r after warm-up, %r at the end" % (base["links"], end["links"]))
        c.close()
    left = wait_no_links(d.prefix)
    if left:
        failures.append("links left after the daemon stopped: %r" % left)
    for f in failures:
        print("soak: LEAK: " + f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
