#!/usr/bin/env python3
"""Integration tests of container networking (issue 4), run as root.

Real traffic between containers through the kernel-bridge backend: NICs on
VLAN 5 reach each other (ping, a TCP transfer), a NIC on VLAN 6 reaches
neither, and nothing with the daemon's prefix is left on the host after kill,
flush and quit. Addresses are set from inside the guests (10.55.0.0/24 only:
nothing is ever routed to the host's networks).
"""

import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herdtest import (Daemon, VlanTraffic, class_daemon, close_consoles,  # noqa: E402
                      guest_console, guest_ping, guest_transfer, launch_guests, link_exists,
                      links_with, master_of, quit_daemon, set_guest_address, wait_for,
                      wait_no_links)


class Guests:
    """A daemon with a, b on VLAN 5 and c on VLAN 6 of the kernel bridge, each
    with its address from the class's ADDR (/24) set inside."""

    @classmethod
    def setUpClass(cls):
        # Class cleanups (not tearDownClass) undo it: they run even when
        # setUpClass fails half-way.
        cls.d = class_daemon(cls)
        cls.c = cls.d.client()
        cls.addClassCleanup(cls.c.close)
        # The cc backchannel is not part of what is tested here.
        cls.cons = launch_guests(cls.d, cls.c, [("5", "a,b"), ("6", "c")])
        # Through the class: tests replace consoles (cons["a"] = ...).
        cls.addClassCleanup(lambda: close_consoles(cls.cons))
        for name in "abc":
            cls.address(name)

    @classmethod
    def address(cls, name):
        set_guest_address(cls.cons[name], cls.ADDR[name] + "/24")


class TwoVlans(Guests, VlanTraffic, unittest.TestCase):
    """a, b on VLAN 5; c on VLAN 6: pings and a TCP transfer (VlanTraffic)."""

    ADDR = {"a": "10.55.0.1", "b": "10.55.0.2", "c": "10.55.0.3"}

    def test_info_columns(self):
        info = self.c.vms()
        p = self.d.prefix
        for name, vlan in (("a", "5"), ("b", "5"), ("c", "6")):
            row = info[name]
            self.assertEqual(row["bridge"], "[mega_bridge]")
            self.assertEqual(row["vlan"], "[%s]" % vlan)
            self.assertEqual(row["tap"], "[%sv%sn0]" % (p, row["id"]))
            mac = self.cons[name].sh("cat /sys/class/net/veth0/address")
            self.assertEqual(row["mac"], "[%s]" % mac)
            self.assertRegex(mac, r"^00:16:3e(:[0-9a-f]{2}){3}$")
            tap = row["tap"][1:-1]
            # The host end is on the kernel bridge of its VLAN, and up.
            self.assertEqual(master_of(tap), "%sb%s" % (p, vlan))
            with open("/sys/class/net/%s/flags" % tap) as f:
                self.assertTrue(int(f.read(), 16) & 1)
        # Only veth<i> and lo inside; the host end's name is not.
        names = self.cons["a"].sh("ls /sys/class/net").split()
        self.assertEqual(sorted(names), ["lo", "veth0"])

    def test_z_relaunch_same_names_and_macs(self):
        before = self.c.vm("a")
        self.cons["a"].close()
        self.c.ok("vm kill a")
        # Right away: the killed namespace's veth may still be going away.
        self.c.ok("vm start a")
        after = self.c.vm("a")
        self.assertEqual(after["state"], "RUNNING")
        for col in ("tap", "mac", "vlan", "bridge"):
            self.assertEqual(after[col], before[col], col)
        self.cons["a"] = guest_console(self.d, self.c, "a")
        self.assertEqual(self.cons["a"].sh("cat /sys/class/net/veth0/address"),
                         before["mac"][1:-1])
        self.address("a")
        self.assertTrue(self.ping("a", "b"))
        self.assertFalse(self.ping("a", "c"))


class VmNet(Guests, unittest.TestCase):
    """`vm net connect/disconnect` in every state, and the ip/ip6 columns.

    a, b on VLAN 5 with IPv4 and IPv6 addresses; c on VLAN 6; others are
    launched by the tests that need them (10.56.0.0/24, fd56::/64 only).
    """

    ADDR = {"a": "10.56.0.1", "b": "10.56.0.2", "c": "10.56.0.3", "d": "10.56.0.4",
            "e": "10.56.0.5"}
    ADDR6 = {"a": "fd56::1", "b": "fd56::2"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for name in "ab":
            out = cls.cons[name].sh("ip -6 addr add %s/64 dev veth0; echo rc=$?" % cls.ADDR6[name])
            assert "rc=0" in out, out

    def console(self, name):
        return guest_console(self.d, self.c, name)

    def row(self, name):
        return self.c.vm(name)

    def ping(self, src, dst):
        """Whether src reaches dst; a reachable one may take a few tries on a
        loaded machine (isolation is checked with the same tries)."""
        return guest_ping(self.cons[src], self.ADDR[dst], tries=3)

    def port_of(self, name):
        """(kernel bridge the host end is on, vm info vlan and bridge)."""
        row = self.row(name)
        return master_of(row["tap"][1:-1]), row["vlan"], row["bridge"]

    def test_connect_then_disconnect_running(self):
        p = self.d.prefix
        self.assertFalse(self.ping("c", "a"))
        self.assertFalse(self.ping("c", "b"))
        self.c.ok("vm net connect c 0 5")
        self.assertEqual(self.port_of("c"), (p + "b5", "[5]", "[mega_bridge]"))
        self.assertTrue(self.ping("c", "a"))
        self.assertTrue(self.ping("c", "b"))
        sent, got = guest_transfer(self.cons["c"], self.cons["a"], self.ADDR["a"], 5601,
                                   1000000)
        self.assertEqual(got, sent)
        self.c.ok("vm net disconnect c 0")
        self.assertEqual(self.port_of("c"), (None, "[disconnected]", "[]"))
        self.assertFalse(self.ping("c", "a"))
        self.assertFalse(self.ping("c", "b"))
        # Back on its own VLAN, still cut from a and b.
        self.c.ok("vm net connect c 0 6")
        self.assertEqual(self.port_of("c"), (p + "b6", "[6]", "[mega_bridge]"))
        self.assertFalse(self.ping("c", "a"))

    def test_errors_change_nothing(self):
        before = self.port_of("c")
        cases = [("vm net connect c 1 5", "no network 1, VM only has 1 networks"),
                 ("vm net connect c -1 5", "no network -1, VM only has 1 networks"),
                 ("vm net disconnect c 7", "no network 7, VM only has 1 networks"),
                 ("vm net connect c 0 4096", "invalid VLAN (0 <= vlan < 4096)"),
                 ("vm net connect c x 5", 'strconv.Atoi: parsing "x": invalid syntax'),
                 ("vm net connect nope 0 5", "vm not found: nope"),
                 ("vm net disconnect nope 0", "vm not found: nope")]
        for line, want in cases:
            _, errors = self.c.run(line)
            self.assertEqual(errors, [want], line)
            self.assertEqual(self.port_of("c"), before, line)

    def test_connect_while_building(self):
        c = self.c
        c.ok("vm config net 6")
        c.ok("vm launch container d")
        self.assertEqual(self.row("d")["state"], "BUILDING")
        c.ok("vm net connect d 0 5")
        # The port moved at once: no mismatch after start (reference §10.4).
        self.assertEqual(self.port_of("d"), (self.d.prefix + "b5", "[5]", "[mega_bridge]"))
        c.ok("vm start d")
        self.cons["d"] = self.console("d")
        self.address("d")
        self.assertEqual(self.port_of("d"), (self.d.prefix + "b5", "[5]", "[mega_bridge]"))
        self.assertTrue(self.ping("d", "a"))
        self.assertFalse(self.ping("d", "c"))

    def test_connect_quit_takes_effect_at_start(self):
        c = self.c
        c.ok("vm config net 6")
        c.ok("vm launch container e")
        c.ok("vm start e")
        c.ok("vm kill e")
        self.assertEqual(self.row("e")["state"], "QUIT")
        c.ok("vm net connect e 0 5")
        row = self.row("e")
        self.assertEqual((row["vlan"], row["bridge"]), ("[5]", "[mega_bridge]"))
        with open(os.path.join(self.d.base, row["id"], "config")) as f:
            self.assertIn("vm config networks 5,", f.read())
        c.ok("vm start e")
        self.cons["e"] = self.console("e")
        self.address("e")
        self.assertEqual(self.port_of("e"), (self.d.prefix + "b5", "[5]", "[mega_bridge]"))
        self.assertTrue(self.ping("e", "a"))
        # Disconnected while QUIT: the relaunch attaches it nowhere.
        self.cons.pop("e").close()
        c.ok("vm kill e")
        c.ok("vm net disconnect e 0")
        c.ok("vm start e")
        self.assertEqual(self.port_of("e"), (None, "[disconnected]", "[]"))
        self.assertEqual(self.row("e")["state"], "RUNNING")

    def wait_column(self, name, col, want, timeout=5):
        """The VM's `vm info` column once it is want (or after timeout)."""
        if wait_for(lambda: self.row(name)[col] == want, timeout):
            return want
        return self.row(name)[col]

    def test_ip_columns_learnt_from_the_wire(self):
        self.assertTrue(self.ping("a", "b"))  # ARP both ways
        self.assertEqual(self.wait_column("a", "ip", "[10.56.0.1]"), "[10.56.0.1]")
        self.assertEqual(self.wait_column("b", "ip", "[10.56.0.2]"), "[10.56.0.2]")
        # IPv6: neighbour solicitation/advertisement when a pings b.
        out = ""
        for _ in range(20):  # duplicate address detection first
            out = self.cons["a"].sh("ping -6 -c 1 -W 1 %s >/dev/null 2>&1; echo rc=$?"
                                    % self.ADDR6["b"], timeout=10)
            if "rc=0" in out:
                break
            time.sleep(0.2)
        self.assertIn("rc=0", out)
        self.assertEqual(self.wait_column("a", "ip6", "[fd56::1]"), "[fd56::1]")
        self.assertEqual(self.wait_column("b", "ip6", "[fd56::2]"), "[fd56::2]")


class Cleanup(unittest.TestCase):
    def test_kill_flush_quit_leaves_nothing(self):
        d = Daemon().start()
        try:
            c = d.client()
            c.ok("vm config backchannel false")
            c.ok("vm config net 5 7")
            c.ok("vm launch container 3")
            c.ok("vm start all")
            names = links_with(d.prefix)
            # 3 x 2 host veth ends and the bridges of VLANs 5 and 7.
            self.assertEqual(len(names), 8, names)
            self.assertIn(d.prefix + "b5", names)
            self.assertIn(d.prefix + "b7", names)
            c.ok("vm kill all")
            c.ok("vm flush")
            quit_daemon(c)
            d.proc.wait(20)
            self.assertEqual(wait_no_links(d.prefix), [])
        finally:
            d.stop()

    def test_existing_bridge_is_kept(self):
        d = Daemon()
        bridge = d.prefix + "b8"
        try:
            d.start()
            # Made by someone else once herd runs (the test may use ip; herd
            # never does). One there before herd starts is a dead daemon's
            # leftover and removed (test_leftovers_removed_at_start).
            subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
            c = d.client()
            c.ok("vm config backchannel false")
            c.ok("vm config net 8")
            c.ok("vm launch container k")
            row = c.table("vm info")[0]
            self.assertEqual(master_of(row["tap"][1:-1]), bridge)
            quit_daemon(c)
            d.proc.wait(20)
            deadline = time.time() + 5
            while time.time() < deadline and links_with(d.prefix) != [bridge]:
                time.sleep(0.05)
            self.assertEqual(links_with(d.prefix), [bridge])
        finally:
            subprocess.run(["ip", "link", "del", bridge])
            d.stop()
        self.assertEqual(wait_no_links(d.prefix), [])

    def test_leftovers_removed_at_start(self):
        """What a SIGKILLed daemon with this prefix left (its VLAN 8 bridge,
        with a host tap's veth pair on it holding an address) is removed when
        a daemon with the prefix starts: VLAN 8 gets a fresh bridge carrying
        only the new container, and nothing is left after quit."""
        d = Daemon()
        p = d.prefix
        bridge, peer, tap = p + "b8", p + "p0", p + "q0"  # q0: no name herd makes

        def ip(*args, check=True):
            subprocess.run(["ip"] + list(args), check=check, capture_output=True)

        try:
            ip("link", "add", bridge, "type", "bridge")
            ip("link", "add", peer, "type", "veth", "peer", "name", tap)
            ip("link", "set", peer, "master", bridge)
            ip("addr", "add", "10.55.77.254/24", "dev", tap)
            for name in (bridge, peer, tap):
                ip("link", "set", name, "up")
            d.start()
            c = d.client()
            c.ok("vm config backchannel false")
            c.ok("vm config net 8")
            c.ok("vm launch container k")
            c.ok("vm start k")
            self.assertFalse(link_exists(peer))
            self.assertFalse(link_exists(tap))
            host_end = c.vm("k")["tap"][1:-1]
            self.assertEqual(os.listdir("/sys/class/net/%s/brif" % bridge), [host_end])
            self.assertEqual(c.table("bridge")[0]["preexisting"], "false")
            quit_daemon(c)
            d.proc.wait(20)
            self.assertEqual(wait_no_links(p), [])
        finally:
            for name in (tap, bridge):
                ip("link", "del", name, check=False)
            d.stop()

    def test_prefix_of_a_live_daemon_refused(self):
        """A second daemon with a live daemon's prefix (another base) stops at
        start with the reason, and neither its attempt nor a `herd -nuke` with
        that prefix remove anything of the first one's."""
        with Daemon() as d:
            c = d.client()
            c.ok("vm config backchannel false")
            c.ok("vm config net 5")
            c.ok("vm launch container a")
            before = sorted(links_with(d.prefix))
            self.assertEqual(len(before), 2, before)
            d2 = Daemon(prefix=d.prefix)
            try:
                with self.assertRaises(RuntimeError) as cm:
                    d2.start()
                self.assertIn("prefix %s is in use by another live herd daemon" % d.prefix,
                              str(cm.exception))
                r = d2.nuke()
                self.assertEqual(r.returncode, 1)
                self.assertIn("in use by another live herd daemon", r.stderr)
            finally:
                d2.stop()
            self.assertEqual(sorted(links_with(d.prefix)), before)
            self.assertEqual(c.vm("a")["state"], "BUILDING")
            c.close()

    def test_sigkill_then_nuke_removes_links(self):
        d = Daemon().start()
        try:
            c = d.client()
            c.ok("vm config backchannel false")
            c.ok("vm config net 5")
            c.ok("vm launch container 2")
            c.ok("vm start all")  # running containers outlive a killed daemon
            self.assertEqual(len(links_with(d.prefix)), 3)
            c.close()
            d.kill9()
            self.assertEqual(len(links_with(d.prefix)), 3)
            r = d.nuke()
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(wait_no_links(d.prefix), [])
        finally:
            d.stop()

    def test_nuke_command(self):
        with Daemon() as d:
            c = d.client()
            c.ok("vm config backchannel false")
            c.ok("vm config net 9")
            c.ok("vm launch container 2")
            self.assertEqual(len(links_with(d.prefix)), 3)
            c.run("nuke")
            self.assertEqual(wait_no_links(d.prefix), [])
            c.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
