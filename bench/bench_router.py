#!/usr/bin/env python3
"""`router <vm> commit` latency: from the command to the configuration
applied in the guest (the cc response of `minirouter -u`, which answers once
the addresses are set, dnsmasq restarted and bird started or reconfigured).

One router container of the router image (built into the image cache as
tests/integration/test_router.py does) on two VLANs with DHCP and a static
route. The first commit sets the addresses and starts dnsmasq and bird; each
later one changes a DNS record (dnsmasq restart, bird reconfigure). Prints
the first, then min / median / max of the others.

usage: bench/bench_router.py [--commits N]   (root)
"""

import argparse
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from herdtest import Daemon, guest_console, wait_for  # noqa: E402
from test_router import commit, router_image  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--commits", type=int, default=20)
    args = ap.parse_args()
    image = router_image()
    with Daemon() as d:
        c = d.client()
        c.ok("vm config filesystem " + image)
        c.ok("vm config preinit " + os.path.join(image, "preinit"))
        c.ok("vm config net 101 102")
        c.ok("vm launch container r")
        c.ok("vm start r")
        con = guest_console(d, c, "r")
        wait_for(lambda: int(c.table("cc")[0]["clients"]) >= 1, timeout=60)
        for cmd in ("interface 0 10.71.1.1/24", "interface 1 10.71.2.1/24",
                    "dhcp 10.71.1.1 range 10.71.1.10 10.71.1.50",
                    "dhcp 10.71.1.1 router 10.71.1.1",
                    "route static 10.71.9.0/24 10.71.2.20"):
            c.ok("router r " + cmd)
        first, _ = commit(c, "r")
        times = []
        for i in range(args.commits):
            c.ok("router r dns 10.71.1.%d host%d.example" % (100 + i % 100, i))
            took, _ = commit(c, "r")
            times.append(took)
        con.close()
    print("router commit, first (addresses, dnsmasq and bird start): %.1f ms" % (first * 1000))
    print("router commit x%d (dnsmasq restart, bird reconfigure): min %.1f ms, "
          "median %.1f ms, max %.1f ms" % (len(times), min(times) * 1000,
                                          statistics.median(times) * 1000, max(times) * 1000))


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("bench_router: needs root")
    main()
