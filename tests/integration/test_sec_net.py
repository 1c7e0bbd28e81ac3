#!/usr/bin/env python3
"""Attack tests of the address snooper (`vm info` ip column), run as root.

Guests v (the victim) and m on VLAN 7, x on VLAN 0. m and x are hostile: a
static program (dhcp_forge.c, in a volume) sends raw frames from inside them
that lie about v's address: DHCP ACKs leasing v's MAC an address (with a
matching DHCPREQUEST from v's MAC first), from their own MAC or from the
server's MAC and IP; gratuitous ARP from v's MAC; and a real lease from
herd's own dnsmasq asked for in v's name. None of it may show as v's address;
the lease v itself gets from `dnsmasq start` on a host tap of VLAN 7 shows
within a few seconds of the server starting; the daemon answers throughout.

On the kernel bridge, and on Open vSwitch when it is installed (a private
ovsdb-server and ovs-vswitchd, tests/integration/ovstest.py).
"""

import os
import re
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from herdtest import (assert_responsive, class_attackers, class_daemon,  # noqa: E402
                      close_consoles, free_subnet, guest_ipv4, launch_guests, wait_for)
from ovstest import available, class_ovs_daemon  # noqa: E402

FORGED = ["10.77.7.77", "10.77.7.78", "10.77.7.79"]


class ForgedAddresses:
    """Mixed into a TestCase whose setUpClass calls boot(daemon, bridge)."""

    @classmethod
    def boot(cls, d, bridge):
        class_attackers(cls, "forge", "dhcp_forge")
        cls.d = d
        cls.c = d.client()
        cls.addClassCleanup(cls.c.close)
        cls.bridge = bridge
        cls.net = free_subnet()
        cls.c.ok("vm config volume /forge " + cls.tmp)
        pre = bridge + "," if bridge else ""
        cls.cons = launch_guests(d, cls.c, [(pre + "7", "v,m"), (pre + "0", "x")])
        cls.addClassCleanup(lambda: close_consoles(cls.cons))

    @classmethod
    def mac(cls, name):
        out = cls.cons[name].sh("cat /sys/class/net/veth0/address")
        return out.strip().splitlines()[-1]

    def ip(self, name):
        return self.c.vm(name)["ip"]

    def forge(self, who, args, timeout=20):
        """Runs dhcp_forge in guest `who` in the background, checks that the
        daemon answers while it runs, and returns its output."""
        con = self.cons[who]
        con.sh("rm -f /tmp/forge.out; (/forge/dhcp_forge %s > /tmp/forge.out 2>&1;"
               " echo rc=$? >> /tmp/forge.out) & true" % args)
        assert_responsive(self.d)
        out = wait_for(lambda: (lambda o: o if "rc=" in o else None)(
            con.sh("cat /tmp/forge.out")), timeout, step=0.3)
        assert_responsive(self.d)
        return out

    def assert_never_shows(self, forged, wait=3.0):
        """v's ip column never shows any of `forged` for `wait` seconds."""
        deadline = time.time() + wait
        while time.time() < deadline:
            got = self.ip("v")
            for addr in forged:
                self.assertNotIn(addr, got, "v's ip column shows the forged %s" % addr)
            time.sleep(0.2)

    def test_1_forgeries_before_any_server(self):
        vmac = self.mac("v")
        attacks = [
            # From another VLAN: an ACK from x's own MAC leasing v an address.
            ("x", "ack veth0 %s %s" % (vmac, FORGED[0]), FORGED[0]),
            # From v's own VLAN: the same, claiming to be a server.
            ("m", "ack veth0 %s %s 02:00:00:00:00:fe %s.254" % (vmac, FORGED[1], self.net),
             FORGED[1]),
            # ARP from v's MAC, sent on m's port.
            ("m", "arp veth0 %s %s" % (vmac, FORGED[2]), FORGED[2]),
        ]
        for who, args, addr in attacks:
            out = self.forge(who, args)
            self.assertIn("rc=0", out)
            self.assert_never_shows([addr], wait=2.0)
        self.assertEqual(self.ip("v"), "[]")

    def test_2_lease_then_forgeries(self):
        vmac = self.mac("v")
        host = self.net + ".254"
        tap = self.c.plain("tap create 7 %sip %s/24" % (
            ("bridge %s " % self.bridge) if self.bridge else "", host))
        self.addCleanup(self.c.run, "tap delete " + tap)
        self.c.ok("dnsmasq start %s %s.10 %s.50" % (host, self.net, self.net))
        self.addCleanup(self.c.run, "dnsmasq kill all")
        t0 = time.time()
        in_range = re.compile(r"^\[%s\.(\d+)\]$" % re.escape(self.net))
        # The guest sends a discover every 5 s until answered.
        got = wait_for(lambda: in_range.match(self.ip("v")), 8, step=0.2)
        took = time.time() - t0
        self.assertTrue(got, "no lease in v's ip column after %.1f s: %s" % (took, self.ip("v")))
        lease = self.ip("v")
        sys.stderr.write("(lease shown %.1f s after dnsmasq start) " % took)
        # herd learns the lease from the ACK, which may come a moment before
        # the guest's DHCP client has put the address on veth0.
        addr = wait_for(lambda: guest_ipv4(self.cons["v"]), 5, step=0.2)
        self.assertEqual(lease, "[%s]" % addr)
        assert_responsive(self.d)
        with open("/sys/class/net/%s/address" % tap) as f:
            tapmac = f.read().strip()
        # The same forgeries once v has its lease, and one from the server's
        # own MAC and address.
        for who, args, addr in [
                ("x", "ack veth0 %s %s" % (vmac, FORGED[0]), FORGED[0]),
                ("m", "ack veth0 %s %s %s %s" % (vmac, FORGED[1], tapmac, host), FORGED[1]),
                ("m", "arp veth0 %s %s" % (vmac, FORGED[2]), FORGED[2])]:
            self.assertIn("rc=0", self.forge(who, args))
            self.assert_never_shows([addr], wait=2.0)
        # herd's own server, asked in v's name from v's MAC (with another
        # client id, so it leases a new address): a true ACK, but not an
        # answer to anything v asked.
        out = self.forge("m", "lease veth0 %s" % vmac)
        m = re.search(r"leased (\S+)", out)
        self.assertTrue(m, out)
        stolen = m.group(1)
        self.assertNotEqual("[%s]" % stolen, lease)
        self.assert_never_shows(FORGED + [stolen])
        self.assertEqual(self.ip("v"), lease)
        assert_responsive(self.d)


class KernelBridge(ForgedAddresses, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.boot(class_daemon(cls), "")


@unittest.skipUnless(available(), "Open vSwitch is not installed")
class OpenVSwitch(ForgedAddresses, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        d = class_ovs_daemon(cls)
        cls.boot(d, d.prefix + "br")


if __name__ == "__main__":
    unittest.main(verbosity=2)
