#!/usr/bin/env python3
"""qos benchmark (issue 13): the time to shape N containers' NICs.

Launches N containers with one NIC each on VLAN 5 (`vm config backchannel
false`; they stay BUILDING, which is enough: their veths exist), then times,
through the control socket:
  * `qos add all 0 rate 10 mbit` (a tbf root qdisc on each host end)
  * `qos add all 0 rate 20 mbit` (the same tbf changed in place)
  * `qos add all 0 delay 10ms`   (tbf swapped for a netem)
  * `qos add all 0 loss 1`       (the netem changed in place)
  * `clear qos all all`          (back to the veths' default)
and checks with `tc` that the last VM's host end has what was asked each time.
The netem steps run only when the kernel has netem (CONFIG_NET_SCH_NETEM).

usage: bench/bench_qos.py [--switch kernel|ovs] [N ...]   (default: 500; root)
With ovs, a private ovsdb-server and ovs-vswitchd are started (userspace
datapath), as the OVS tests do.
"""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from herdtest import Daemon, kernel_has_qdisc  # noqa: E402


def root_kind(tap):
    out = subprocess.run(["tc", "-j", "qdisc", "show", "dev", tap], capture_output=True,
                         text=True, check=True).stdout
    for q in json.loads(out or "[]"):
        if q.get("root"):
            return q["kind"]
    return None


def timed(c, line):
    t0 = time.time()
    c.ok(line)
    return time.time() - t0


def run(n, flags):
    # The kernel frees network namespaces of earlier runs in the background.
    time.sleep(2)
    with Daemon(*flags) as d:
        c = d.client()
        c.ok("vm config backchannel false")
        c.ok("vm config net 5")
        t0 = time.time()
        c.ok("vm launch container %d" % n)
        launch = time.time() - t0
        last = c.table("vm info")[-1]["tap"][1:-1]
        out = []
        steps = [("qos add all 0 rate 10 mbit", "tbf"), ("qos add all 0 rate 20 mbit", "tbf")]
        if kernel_has_qdisc("netem"):
            steps += [("qos add all 0 delay 10ms", "netem"), ("qos add all 0 loss 1", "netem")]
        for line, kind in steps + [("clear qos all all", "noqueue")]:
            t = timed(c, line)
            got = root_kind(last)
            if got != kind:
                raise AssertionError("%s: %s has %s, not %s" % (line, last, got, kind))
            out.append((line, t))
        c.ok("vm kill all")
        c.ok("vm flush")
        c.close()
    return launch, out


def main():
    args = sys.argv[1:]
    switch = "kernel"
    if "--switch" in args:
        i = args.index("--switch")
        switch = args[i + 1]
        del args[i:i + 2]
    sizes = [int(a) for a in args] or [500]
    ovs = None
    flags = ["-switch", switch]
    if switch == "ovs":
        from ovstest import Ovs
        ovs = Ovs().start()
        flags = ovs.herd_flags()
    try:
        print("switch: %s" % switch)
        for n in sizes:
            launch, out = run(n, flags)
            print("N=%d (launch with NICs: %.2f s)" % (n, launch))
            for line, t in out:
                print("  %-28s %7.3f s  %6.1f us per VM" % (line, t, t / n * 1e6))
            sys.stdout.flush()
    finally:
        if ovs:
            ovs.stop()


if __name__ == "__main__":
    main()
