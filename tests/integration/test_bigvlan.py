#!/usr/bin/env python3
"""A VLAN larger than one kernel bridge (issue 15), run as root.

A kernel bridge holds at most 1023 ports (BR_MAX_PORTS). 1100 containers
with one NIC on VLAN 5 of the kernel backend: the VLAN spans its first bridge
(P b5) and an overflow bridge (P o0) joined to it by the veth pair P d0 / P e0.
A container on the first bridge and one on the overflow bridge ping each
other; a container on VLAN 6 reaches neither. A whole-bridge capture sees the
traffic of both bridges. After `vm kill all; vm flush` no container veth, no
overflow bridge and no uplink of the test's prefix is left (the VLANs' first
bridges stay until the daemon quits, as minimega keeps its bridges), and after
`quit` nothing at all. The launch and start times are printed.

Addresses are set inside the guests (10.55.0.0/24 only: nothing is routed to
the host's networks).
"""

import os
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herdtest import (Daemon, guest_console, guest_ping, links_with, master_of,  # noqa: E402
                      quit_daemon, set_guest_address, wait_for)

N = 1100
# Ports of the first bridge kept for uplinks and trunks (runtime/bridge.h).
FIRST_BRIDGE_PORTS = 1023 - 32


def log(text):
    print("\n" + text, file=sys.stderr, flush=True)


class BigVlan(unittest.TestCase):

    def setUp(self):
        self.d = Daemon().start()
        self.addCleanup(self.d.stop)
        self.c = self.d.client()
        self.addCleanup(self.c.close)
        # Before stop(), whose SIGTERM gets 30 s: killing 1100 containers on
        # a loaded host may take longer.
        self.addCleanup(self.kill_all)
        self.cons = {}
        self.addCleanup(lambda: [con.close() for con in self.cons.values()])

    def kill_all(self):
        if self.d.proc.poll() is not None:
            return  # quit already
        try:
            c = self.d.client()
        except OSError:
            return
        try:
            c.sock.settimeout(600)
            c.run("vm kill all")
            c.run("vm flush")
        except (OSError, ConnectionError):
            pass
        finally:
            c.close()

    def console(self, name, addr):
        con = guest_console(self.d, self.c, name)
        self.cons[name] = con
        set_guest_address(con, addr + "/24")
        return con

    def test_vlan_over_two_bridges(self):
        c, p = self.c, self.d.prefix
        c.ok("vm config backchannel false")
        # A shell on the console and nothing else: the image's init would
        # run a DHCP client in each guest, 1100 broadcasts every 5 s.
        c.ok("vm config init /bin/sh")
        c.ok("vm config net 6")
        c.ok("vm launch container iso")
        c.ok("vm config net 5")
        t0 = time.time()
        c.ok("vm launch container %d" % N)
        launched = time.time() - t0
        t0 = time.time()
        c.ok("vm start all")
        started = time.time() - t0
        log("launch of %d containers: %.1f s; vm start all: %.1f s" % (N, launched, started))

        first, over = p + "b5", p + "o0"
        info = c.vms()
        self.assertEqual(len(info), N + 1)
        on = {}
        for name, row in info.items():
            self.assertEqual(row["state"], "RUNNING", name)
            if name == "iso":
                continue
            on.setdefault(master_of(row["tap"].strip("[]")), []).append(name)
        self.assertEqual(sorted(on), sorted([first, over]), on.keys())
        self.assertEqual(len(on[first]), FIRST_BRIDGE_PORTS)
        self.assertEqual(len(on[over]), N - FIRST_BRIDGE_PORTS)
        # The star's one uplink.
        self.assertEqual(master_of(p + "d0"), first)
        self.assertEqual(master_of(p + "e0"), over)
        self.assertEqual(master_of(info["iso"]["tap"].strip("[]")), p + "b6")
        row = c.table("bridge")[0]
        self.assertEqual(row["bridge"], "mega_bridge")
        self.assertEqual(row["preexisting"], "false")
        self.assertEqual(row["vlans"], "[5 6]")
        self.assertEqual(row["switches"], "[%s %s %s]" % (first, p + "b6", over))

        log("VLAN 5 spans %s and %s" % (first, over))
        a, b = on[first][0], on[over][-1]
        ca = self.console(a, "10.55.0.1")
        cb = self.console(b, "10.55.0.2")
        ci = self.console("iso", "10.55.0.3")

        # A whole-bridge capture reads the overflow bridge too.
        tmp = tempfile.mkdtemp(prefix="herd-bigvlan-")
        self.addCleanup(subprocess.run, ["rm", "-rf", tmp])
        pcap = os.path.join(tmp, "vlan.pcap")
        c.ok("capture pcap bridge mega_bridge " + pcap)
        self.assertTrue(guest_ping(ca, "10.55.0.2", tries=3), "first -> overflow bridge")
        self.assertTrue(guest_ping(cb, "10.55.0.1", tries=3), "overflow -> first bridge")
        # Between two containers of the overflow bridge: frames that never
        # reach the first bridge.
        cb2 = self.console(on[over][0], "10.55.0.4")
        self.assertTrue(guest_ping(cb2, "10.55.0.2", tries=3), "within the overflow bridge")
        want = ["%s > %s: ICMP echo request" % pair for pair in (
            ("10.55.0.1", "10.55.0.2"), ("10.55.0.2", "10.55.0.1"), ("10.55.0.4", "10.55.0.2"))]

        def captured():
            # The kernel hands frames over in batches: give the last one time.
            seen = subprocess.run(["tcpdump", "-nr", pcap, "icmp"], capture_output=True,
                                  text=True).stdout
            return seen if all(w in seen for w in want) else None
        seen = wait_for(captured, timeout=10, step=0.3)
        c.ok("capture pcap delete bridge mega_bridge")
        self.assertTrue(seen, subprocess.run(["tcpdump", "-nr", pcap], capture_output=True,
                                             text=True).stdout)

        log("pings and capture seen")
        # VLAN 6 reaches neither bridge of VLAN 5.
        self.assertFalse(guest_ping(ci, "10.55.0.1"))
        self.assertFalse(guest_ping(ci, "10.55.0.2"))
        self.assertFalse(guest_ping(ca, "10.55.0.3"))
        self.assertFalse(guest_ping(cb, "10.55.0.3"))

        for con in self.cons.values():
            con.close()
        self.cons = {}
        t0 = time.time()
        c.ok("vm kill all")
        c.ok("vm flush")
        log("kill and flush: %.1f s" % (time.time() - t0))
        # The overflow bridge and its uplink go with the last container port;
        # the dead containers' veths with their network namespaces.
        left = wait_for(lambda: sorted(links_with(p)) == sorted([first, p + "b6"]), timeout=60)
        self.assertTrue(left, links_with(p))
        self.assertEqual(c.table("bridge")[0]["switches"], "[%s %s]" % (first, p + "b6"))
        quit_daemon(c)
        self.d.proc.wait(30)
        self.assertEqual(links_with(p), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
