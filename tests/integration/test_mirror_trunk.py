#!/usr/bin/env python3
"""Integration tests of `tap mirror` (issue 13), run as root.

Guests a, b on VLAN 5 ping each other; guest m (same bridge) is made the
destination of a mirror of a's NIC. tcpdump, run by the test inside m's
network namespace on its veth0, sees the ICMP echo requests and replies
between a and b while the mirror exists, and none after `clear tap mirror`.
Killing m removes the mirror (`clear tap mirror` then says it is not a
valid mirror). The minimega error texts are checked against the live
daemon. On the kernel bridge (tc mirred filters on the source's host end)
and on Open vSwitch when it is installed (a Mirror row; a private
ovsdb-server and ovs-vswitchd, tests/integration/ovstest.py).
"""

import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from herdtest import (class_daemon, close_consoles, launch_guests,  # noqa: E402
                      set_guest_address, wait_for)
from ovstest import available, class_ovs_daemon  # noqa: E402

ADDR = {"a": "10.58.0.1", "b": "10.58.0.2", "m": "10.58.0.3"}


def guest_pid(con):
    """A host pid of a process inside the guest of Console con (a sleep the
    test starts there with a number no one else uses)."""
    n = random.randint(10**8, 10**9)
    con.sh("sleep %d >/dev/null 2>&1 & true" % n)
    want = ("sleep\0%d\0" % n).encode()

    def find():
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % p, "rb") as f:
                    if f.read() == want:
                        return int(p)
            except OSError:
                pass
        return None
    pid = wait_for(find, 5)
    assert pid, "the guest's sleep did not show up"
    return pid


class Sniffer:
    """tcpdump on veth0 inside the network namespace of process pid,
    writing ICMP frames to a file until stop()."""

    def __init__(self, pid, path):
        self.path = path
        self.p = subprocess.Popen(
            ["nsenter", "-t", str(pid), "-n", "tcpdump", "-n", "-U", "-i", "veth0", "-w", path,
             "icmp"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        line = self.p.stderr.readline().decode()  # "listening on veth0 ..." once it reads
        assert "listening" in line, line

    def stop(self):
        self.p.terminate()
        self.p.wait(5)
        r = subprocess.run(["tcpdump", "-n", "-r", self.path], capture_output=True, text=True)
        return r.stdout.splitlines()


def echoes(lines, src, dst):
    req = any("%s > %s: ICMP echo request" % (src, dst) in l for l in lines)
    rep = any("%s > %s: ICMP echo reply" % (dst, src) in l for l in lines)
    return req and rep


class Mirrors:
    """Mixed into a TestCase whose setUpClass calls boot(daemon, bridge)."""

    @classmethod
    def boot(cls, d, bridge):
        cls.tmp = tempfile.mkdtemp(prefix="herd-it-mirror-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.d = d
        cls.c = d.client()
        cls.addClassCleanup(cls.c.close)
        cls.bridge = bridge or "mega_bridge"
        pre = bridge + "," if bridge else ""
        cls.cons = launch_guests(d, cls.c, [(pre + "5", "a,b,m")])
        cls.addClassCleanup(lambda: close_consoles(cls.cons))
        for name in ("a", "b", "m"):
            set_guest_address(cls.cons[name], ADDR[name] + "/24")
        cls.m_pid = guest_pid(cls.cons["m"])

    def ping(self, src, dst, n=3):
        out = self.cons[src].sh("ping -c %d -i 0.2 -W 2 %s >/dev/null 2>&1; echo rc=$?"
                                % (n, ADDR[dst]), timeout=15)
        self.assertIn("rc=0", out)

    def setUp(self):
        self.addCleanup(self.c.run, "clear tap mirror")

    def err(self, line):
        return "; ".join(self.c.run(line)[1])

    def tap(self, vm):
        return self.c.vm(vm)["tap"].strip("[]").split()[0]

    def sniff(self, name):
        return Sniffer(self.m_pid, os.path.join(self.tmp, name))

    def test_1_mirror_by_vm_sees_pings_until_cleared(self):
        s = self.sniff("before.pcap")
        self.ping("a", "b")
        self.assertFalse(echoes(s.stop(), ADDR["a"], ADDR["b"]), "frames before any mirror")

        self.c.ok("tap mirror a 0 m 0")
        # ovs-vswitchd puts a new Mirror row into effect shortly after the
        # transaction commits (`tap mirror` does not wait for it; nor does
        # minimega's ovs-vsctl call): ping until the frames show, 10 s at most.
        deadline = time.time() + 10
        while True:
            s = self.sniff("on.pcap")
            self.ping("a", "b")
            self.ping("b", "a")
            time.sleep(0.3)
            lines = s.stop()
            seen = echoes(lines, ADDR["a"], ADDR["b"]) and echoes(lines, ADDR["b"], ADDR["a"])
            if seen or time.time() > deadline:
                break
        self.assertTrue(echoes(lines, ADDR["a"], ADDR["b"]), lines)
        self.assertTrue(echoes(lines, ADDR["b"], ADDR["a"]), lines)
        self.assertEqual(self.err("version"), "")

        self.c.ok("clear tap mirror m 0")
        time.sleep(1.0)  # the removal takes effect in ovs-vswitchd the same way
        s = self.sniff("off.pcap")
        self.ping("a", "b")
        time.sleep(0.3)
        self.assertEqual([l for l in s.stop() if ADDR["a"] in l], [])

    def test_2_mirror_by_tap_names_and_errors(self):
        ta, tb, tm = self.tap("a"), self.tap("b"), self.tap("m")
        self.assertEqual(self.err("tap mirror %s %s" % (ta, ta)),
                         "cannot mirror tap to itself")
        self.assertEqual(self.err("tap mirror nosuch %s %s" % (tm, self.bridge)),
                         "source tap is not on bridge")
        self.assertEqual(self.err("tap mirror %s nosuch %s" % (ta, self.bridge)),
                         "destination tap is not on bridge")
        self.assertEqual(self.err("tap mirror a x m 0"),
                         "invalid interface number: `x`")
        self.assertEqual(self.err("tap mirror a 0 m 3"),
                         "no such interface 3 for m")
        self.assertEqual(self.err("tap mirror a 0 zz 0"),
                         "vms are not colocated or invalid vm name: zz")
        self.c.ok("tap mirror %s %s %s" % (tb, tm, self.bridge))
        self.assertEqual(self.err("tap mirror %s %s %s" % (ta, tm, self.bridge)),
                         "destination tap is already a mirror")
        # (Traffic through a mirror made by tap names is not asserted yet: a
        # mirror of b's NIC showed no frames in m here, open question.)
        self.c.ok("clear tap mirror " + tm)
        self.assertEqual(self.err("clear tap mirror " + tm), "not a valid mirror")
        # `clear tap` removes mirrors too.
        self.c.ok("tap mirror %s %s %s" % (tb, tm, self.bridge))
        self.c.ok("clear tap")
        self.assertEqual(self.err("clear tap mirror " + tm), "not a valid mirror")

    def test_3_destination_killed_removes_mirror(self):
        tm = self.tap("m")
        self.c.ok("tap mirror a 0 m 0")
        self.c.ok("vm kill m")
        self.assertEqual(self.err("clear tap mirror " + tm), "not a valid mirror")
        s = None  # a's traffic still flows
        self.ping("a", "b")
        del s
        self.assertEqual(self.err("version"), "")


class KernelMirrors(Mirrors, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.boot(class_daemon(cls), None)


@unittest.skipUnless(available(), "Open vSwitch is not installed")
class OvsMirrors(Mirrors, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        d = class_ovs_daemon(cls)
        cls.boot(d, d.prefix + "br")


if __name__ == "__main__":
    unittest.main()
