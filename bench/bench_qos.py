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
  * `qos add all 0 loss 2`       (back to loss alone)
and checks with `tc` that the last VM's host end has what was asked each time.
On a kernel without netem (CONFIG_NET_SCH_NETEM) the delay steps make and
change herd's delay lines (a tap and a BPF filter each, no root qdisc) and
loss alone is an htb root with a BPF filter.

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


def egress_bpf(tap):
    out = subprocess.run(["tc", "-j", "filter", "show", "dev", tap, "egress"],
                         capture_output=True, text=True).stdout
    return [f["options"].get("bpf_name") for f in json.loads(out or "[]")
            if f.get("kind") == "bpf" and "options" in f]


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
        netem = kernel_has_qdisc("netem")
        delayed = "netem" if netem else "noqueue"  # without netem: a delay line
        steps = [("qos add all 0 rate 10 mbit", "tbf"), ("qos add all 0 rate 20 mbit", "tbf"),
                 ("qos add all 0 delay 10ms", delayed), ("qos add all 0 loss 1", delayed),
                 ("clear qos all all", "noqueue"), ("qos add all 0 loss 2", "netem" if netem
                                                    else "htb"),
                 ("clear qos all all", "noqueue")]
        for line, kind in steps:
            t = timed(c, line)
            got = root_kind(last)
            if got != kind:
                raise AssertionError("%s: %s has %s, not %s" % (line, last, got, kind))
            line_filter = egress_bpf(last)
            if not netem and (kind == "noqueue" and "delay" not in line and "loss 1" not in line):
                if line_filter:
                    raise AssertionError("%s: %s still has %s" % (line, last, line_filter))
            elif not netem and kind == "noqueue" and line_filter != ["herd_delay"]:
                raise AssertionError("%s: %s has egress filters %s" % (line, last, line_filter))
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
