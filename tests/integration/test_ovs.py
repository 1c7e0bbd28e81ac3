#!/usr/bin/env python3
"""Integration tests of the Open vSwitch backend (issue 4), run as root.

Each test class starts its own ovsdb-server and ovs-vswitchd (userspace
datapath, ovstest.Ovs) and a herd daemon with `-switch ovs -ovsdb <socket>`.
Real traffic between containers: NICs on VLAN 5 (port tag 5) reach each other
(ping, a TCP transfer), a NIC on VLAN 6 reaches neither; the Port rows follow
the containers (killed: gone; relaunched: back); nothing of herd's is left in
the database or on the host after kill, flush, quit and nuke; a bridge made
before herd keeps existing with only herd's ports removed; an ovsdb that
stops answering makes `vm launch` fail clearly and leave nothing half-made;
herd's dnsmasq on a host tap leases addresses to the guests of its VLAN only,
and `vm info` shows them.
Bridge names carry the daemon's prefix: with the netdev datapath an OVS bridge
is a host interface too. Addresses: 10.56.0.0/24, set inside the guests.
"""

import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herdtest import (Daemon, VlanTraffic, close_consoles, free_subnet, guest_console,  # noqa: E402
                      guest_ipv4, guest_ping, host_ping, launch_guests, links_with, quit_daemon,
                      set_guest_address, wait_for)
from ovstest import Ovs, available  # noqa: E402

DATAPATH = "system" if os.path.exists("/sys/module/openvswitch") else "netdev"


def ovs_daemon(ovs):
    return Daemon(*ovs.herd_flags())


def nuke(d, ovs):
    return d.nuke(*ovs.herd_flags())


def stop_daemon(d, ovs):
    """Stops an OVS-backed daemon and removes its rows too (a cleanup)."""
    d.stop()
    nuke(d, ovs)


def herd_ports(ovs, prefix):
    """Port rows tagged with the daemon's prefix (and any named by it)."""
    out = []
    for r in ovs.rows("Port", "name", "external_ids"):
        ext = dict(r["external_ids"][1])
        if ext.get("herd-prefix") == prefix or r["name"].startswith(prefix + "v"):
            out.append(r["name"])
    return sorted(out)


@unittest.skipUnless(available(), "Open vSwitch is not installed")
class Traffic(VlanTraffic, unittest.TestCase):
    """a, b on VLAN 5 of bridge <P>br; c on VLAN 6; k on VLAN 5 of a bridge
    that existed before herd (<P>pre, with a port of its own). Pings and a
    TCP transfer as on the kernel bridge (VlanTraffic)."""

    ADDR = {"a": "10.56.0.1", "b": "10.56.0.2", "c": "10.56.0.3", "k": "10.56.0.4"}

    @classmethod
    def setUpClass(cls):
        # Undone by class cleanups, registered as each piece exists (LIFO): they
        # run even when setUpClass fails, which tearDownClass does not.
        cls.ovs = Ovs().start()
        cls.addClassCleanup(cls.ovs.stop)
        cls.d = ovs_daemon(cls.ovs)
        p = cls.d.prefix
        cls.br, cls.pre, cls.own = p + "br", p + "pre", p + "own"
        cls.addClassCleanup(cls.ovs.vsctl, "--if-exists", "del-br", cls.pre, check=False)
        cls.addClassCleanup(stop_daemon, cls.d, cls.ovs)
        cls.ovs.add_bridge_with_port(cls.pre, cls.own)
        cls.d.start()
        cls.c = cls.d.client()
        cls.addClassCleanup(cls.c.close)
        cls.cons = launch_guests(cls.d, cls.c, [(cls.br + ",5", "a,b"), (cls.br + ",6", "c"),
                                                (cls.pre + ",5", "k")])
        cls.addClassCleanup(lambda: close_consoles(cls.cons))
        for name in "abck":
            cls.address(name)

    @classmethod
    def address(cls, name):
        set_guest_address(cls.cons[name], cls.ADDR[name] + "/24")

    def ports(self):
        """name -> (bridge, tag) of every port of the test's bridges."""
        out = {}
        for br in (self.br, self.pre):
            for name in self.ovs.vsctl("list-ports", br).split():
                tag = self.ovs.vsctl("get", "Port", name, "tag")
                out[name] = (br, tag)
        return out

    def test_ports_rows(self):
        info, ports = self.c.vms(), self.ports()
        for name, br, vlan in (("a", self.br, "5"), ("b", self.br, "5"), ("c", self.br, "6"),
                               ("k", self.pre, "5")):
            row = info[name]
            self.assertEqual(row["bridge"], "[%s]" % br)
            self.assertEqual(row["vlan"], "[%s]" % vlan)
            tap = row["tap"][1:-1]
            self.assertEqual(tap, "%sv%sn0" % (self.d.prefix, row["id"]))
            self.assertEqual(ports[tap], (br, vlan), tap)
            ext = self.ovs.vsctl("get", "Port", tap, "external_ids:herd-prefix")
            self.assertEqual(ext.strip('"'), self.d.prefix)
        self.assertEqual(self.ovs.vsctl("get", "Bridge", self.br, "datapath_type"), DATAPATH)
        self.assertIn("switch ovs", self.d.logtext())

    def test_other_bridge_isolated(self):
        # Same VLAN number, other bridge: a separate switch.
        self.assertFalse(self.ping("k", "a"))

    def test_host_tap(self):
        """An internal port with the VLAN's tag, with an address, reaches
        the guests of its VLAN only; deleted, its row and interface go."""
        tap = self.c.plain("tap create 5 bridge %s ip 10.56.0.9/24" % self.br)
        try:
            self.assertEqual(self.ports()[tap], (self.br, "5"))
            self.assertEqual(self.ovs.vsctl("get", "Interface", tap, "type"), "internal")
            self.ADDR["tap"] = "10.56.0.9"
            self.assertTrue(self.ping("a", "tap"))
            self.assertTrue(self.ping("b", "tap"))
            self.assertFalse(self.ping("c", "tap"))
        finally:
            self.ADDR.pop("tap", None)
            self.c.ok("tap delete " + tap)
        self.assertNotIn(tap, self.ports())
        self.assertNotIn(tap, links_with(tap))

    def test_y_vm_net_connect_moves_the_tag(self):
        tap = self.c.vm("c")["tap"][1:-1]
        self.c.ok("vm net connect c 0 5 %s" % self.br)
        try:
            self.assertEqual(self.ports()[tap], (self.br, "5"))
            self.assertTrue(self.ping("c", "a"))
        finally:
            self.c.ok("vm net connect c 0 6 %s" % self.br)
        self.assertEqual(self.ports()[tap], (self.br, "6"))
        self.assertFalse(self.ping("c", "a"))
        self.c.ok("vm net disconnect c 0")
        self.assertNotIn(tap, self.ports())
        self.c.ok("vm net connect c 0 6 %s" % self.br)
        self.assertEqual(self.ports()[tap], (self.br, "6"))

    def test_z_kill_removes_port_relaunch_restores(self):
        before = self.c.vm("a")
        tap = before["tap"][1:-1]
        self.cons["a"].close()
        self.c.ok("vm kill a")
        self.assertNotIn(tap, self.ports())
        self.c.ok("vm start a")
        after = self.c.vm("a")
        self.assertEqual(after["state"], "RUNNING")
        for col in ("tap", "mac", "vlan", "bridge"):
            self.assertEqual(after[col], before[col], col)
        self.assertEqual(self.ports()[tap], (self.br, "5"))
        self.cons["a"] = guest_console(self.d, self.c, "a")
        self.address("a")
        self.assertTrue(self.ping("a", "b"))
        self.assertFalse(self.ping("a", "c"))


@unittest.skipUnless(available(), "Open vSwitch is not installed")
class Dhcp(unittest.TestCase):
    """herd's dnsmasq on a host tap (an internal port tagged 5) leases
    addresses to a, b on VLAN 5, which `vm info` then shows; c on VLAN 6 of
    the same bridge gets none. The subnet is one no host interface uses."""

    @classmethod
    def setUpClass(cls):
        # Class cleanups (LIFO) undo it, even when it fails half-way.
        cls.ovs = Ovs().start()
        cls.addClassCleanup(cls.ovs.stop)
        cls.d = ovs_daemon(cls.ovs)
        cls.addClassCleanup(stop_daemon, cls.d, cls.ovs)
        cls.d.start()
        cls.c = cls.d.client()
        cls.addClassCleanup(cls.c.close)
        br = cls.d.prefix + "br"
        cls.net = free_subnet()
        cls.host = cls.net + ".254"
        cls.cons = launch_guests(cls.d, cls.c, [(br + ",5", "a,b"), (br + ",6", "c")])
        cls.addClassCleanup(lambda: close_consoles(cls.cons))
        cls.tap = cls.c.plain("tap create 5 bridge %s ip %s/24" % (br, cls.host))
        cls.c.ok("dnsmasq start %s %s.10 %s.50" % (cls.host, cls.net, cls.net))

    def lease(self, name):
        """The guest's address if it is one of dnsmasq's range, else None."""
        addr = guest_ipv4(self.cons[name])
        if addr and addr.startswith(self.net + ".") and \
                10 <= int(addr.rsplit(".", 1)[1]) <= 50:
            return addr
        return None

    def test_guests_get_leases_that_vm_info_shows(self):
        self.assertEqual(self.ovs.vsctl("get", "Port", self.tap, "tag"), "5")
        leases = {}
        for name in "ab":
            # udhcpc retries every ~16 s once its first burst went unanswered
            # (the guests started before dnsmasq).
            leases[name] = wait_for(lambda n=name: self.lease(n), 60, step=1)
            self.assertTrue(leases[name], "%s: no lease; veth0 has %s"
                            % (name, guest_ipv4(self.cons[name])))
        self.assertNotEqual(leases["a"], leases["b"])
        with open(os.path.join(self.d.base, "dnsmasq_0", "dnsmasq.leases")) as f:
            recorded = f.read()
        for addr in leases.values():
            self.assertIn(addr, recorded)
            self.assertTrue(host_ping(addr), addr)  # through the switch; ARP both ways
        want = {name: "[%s]" % addr for name, addr in leases.items()}

        def ip_column():
            got = {name: row["ip"] for name, row in self.c.vms().items()}
            return got if all(got[n] == want[n] for n in "ab") else None

        got = wait_for(ip_column, 10, step=0.5)
        self.assertIsNotNone(got, {n: r["ip"] for n, r in self.c.vms().items()})
        # Nothing serves VLAN 6.
        self.assertIsNone(guest_ipv4(self.cons["c"]))
        self.assertEqual(got["c"], "[]")


@unittest.skipUnless(available(), "Open vSwitch is not installed")
class Cleanup(unittest.TestCase):
    def setUp(self):
        self.ovs = Ovs().start()
        self.addCleanup(self.ovs.stop)

    def assert_nothing_left(self, d, kept_bridges=()):
        self.assertEqual(herd_ports(self.ovs, d.prefix), [])
        self.assertEqual(self.ovs.bridge_names(),
                         sorted(b for b in kept_bridges if b.endswith("pre")))
        deadline = time.time() + 5
        while time.time() < deadline and set(links_with(d.prefix)) - set(kept_bridges):
            time.sleep(0.05)
        self.assertEqual(sorted(set(links_with(d.prefix)) - set(kept_bridges)), [])

    def test_kill_flush_quit_keeps_existing_bridge(self):
        d = ovs_daemon(self.ovs)
        pre, own = d.prefix + "pre", d.prefix + "own"
        self.ovs.add_bridge_with_port(pre, own)
        try:
            d.start()
            c = d.client()
            c.ok("vm config backchannel false")
            c.ok("vm config net %sbr,5 %sbr,7 %s,5" % (d.prefix, d.prefix, pre))
            c.ok("vm launch container 3")
            c.ok("vm start all")
            self.assertEqual(len(herd_ports(self.ovs, d.prefix)), 9)
            self.assertEqual(self.ovs.bridge_names(), sorted([d.prefix + "br", pre]))
            self.assertEqual(len(self.ovs.vsctl("list-ports", pre).split()), 4)
            c.ok("vm kill all")
            # Killed: the veths died with the containers, the rows go too.
            self.assertEqual(herd_ports(self.ovs, d.prefix), [])
            c.ok("vm flush")
            quit_daemon(c)
            d.proc.wait(20)
            # The bridge herd made is gone; the one it found keeps its own port.
            # (own is the pre-existing bridge's internal port, a host interface too.)
            self.assert_nothing_left(d, kept_bridges=[pre, own])
            self.assertEqual(self.ovs.vsctl("list-ports", pre).split(), [own])
        finally:
            d.stop()
            self.assertEqual(nuke(d, self.ovs).returncode, 0)
            self.ovs.vsctl("--if-exists", "del-br", pre, check=False)

    def test_sigkill_then_nuke(self):
        d = ovs_daemon(self.ovs).start()
        try:
            c = d.client()
            c.ok("vm config backchannel false")
            c.ok("vm config net %sbr,5" % d.prefix)
            c.ok("vm launch container 2")
            c.ok("vm start all")
            c.close()
            d.kill9()
            self.assertEqual(len(herd_ports(self.ovs, d.prefix)), 2)
            r = nuke(d, self.ovs)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assert_nothing_left(d)
        finally:
            d.stop()

    def test_nuke_command(self):
        d = ovs_daemon(self.ovs).start()
        try:
            c = d.client()
            c.ok("vm config backchannel false")
            c.ok("vm config net %sbr,9" % d.prefix)
            c.ok("vm launch container 2")
            self.assertEqual(len(herd_ports(self.ovs, d.prefix)), 2)
            c.run("nuke")
            self.assert_nothing_left(d)
            c.close()
        finally:
            d.stop()

    def test_restart_after_sigkill_adopts(self):
        """A daemon killed with SIGKILL leaves its containers; the next one
        adopts them (docs/durability.md) and puts their ports back on the
        bridge with their tags: the guests reach each other again."""
        d = ovs_daemon(self.ovs).start()
        try:
            c = d.client()
            c.ok("vm config backchannel false")
            c.ok("vm config net %sbr,5" % d.prefix)
            c.ok("vm launch container g1,g2")
            c.ok("vm start all")
            cons = {n: guest_console(d, c, n) for n in ("g1", "g2")}
            set_guest_address(cons["g1"], "10.56.0.11/24")
            set_guest_address(cons["g2"], "10.56.0.12/24")
            self.assertTrue(guest_ping(cons["g1"], "10.56.0.12", tries=3))
            close_consoles(cons)
            c.close()
            d.kill9()
            d.start()
            c = d.client()
            self.assertEqual({r["name"]: r["state"] for r in c.table("vm info")},
                             {"g1": "RUNNING", "g2": "RUNNING"})
            self.assertEqual(len(herd_ports(self.ovs, d.prefix)), 2)
            con = guest_console(d, c, "g1")
            self.assertTrue(guest_ping(con, "10.56.0.12", tries=3))
            con.close()
            c.ok("vm kill all")
            c.ok("vm flush")
            self.assertEqual(herd_ports(self.ovs, d.prefix), [])
            c.close()
        finally:
            d.stop()
            nuke(d, self.ovs)

    def test_restart_after_sigkill_cleans_leftovers(self):
        """A daemon with the same prefix removes what a killed one left."""
        d = ovs_daemon(self.ovs).start()
        try:
            c = d.client()
            c.ok("vm config backchannel false")
            c.ok("vm config net %sbr,5" % d.prefix)
            c.ok("vm launch container 1")
            c.close()
            d.kill9()
            r = d.nuke("-switch", "kernel")  # containers and links only
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(len(herd_ports(self.ovs, d.prefix)), 1)
            d.start()
            self.assertEqual(herd_ports(self.ovs, d.prefix), [])
            c = d.client()
            c.ok("vm config backchannel false")
            c.ok("vm config net %sbr,5" % d.prefix)
            c.ok("vm launch container 1")  # the same names again
            self.assertEqual(len(herd_ports(self.ovs, d.prefix)), 1)
            c.close()
        finally:
            d.stop()
            nuke(d, self.ovs)


@unittest.skipUnless(available(), "Open vSwitch is not installed")
class Unresponsive(unittest.TestCase):
    def setUp(self):
        # Cleanups, not tearDown: they run when setUp fails too.
        self.ovs = Ovs().start()
        self.addCleanup(self.ovs.stop)
        self.d = ovs_daemon(self.ovs).start()
        self.addCleanup(self.stop_daemon)
        self.c = self.d.client()
        self.addCleanup(self.c.close)
        self.c.ok("vm config backchannel false")
        self.c.ok("vm config net %sbr,5" % self.d.prefix)
        self.c.ok("vm launch container ok1")  # the bridge exists and is known

    def stop_daemon(self):
        self.d.stop()
        if "ovsdb-server" not in self.ovs.pids:
            self.ovs.start_db()
        nuke(self.d, self.ovs)

    def failed_launch(self, name, want):
        t0 = time.time()
        _, errors = self.c.run("vm launch container %s" % name)
        took = time.time() - t0
        self.assertEqual(len(errors), 1, errors)
        self.assertIn(want, errors[0])
        row = self.c.vm(name)
        self.assertEqual(row["state"], "ERROR")
        # No veth of the failed container is left (they die with its netns).
        tap = "%sv%sn0" % (self.d.prefix, row["id"])
        deadline = time.time() + 5
        while time.time() < deadline and tap in links_with(self.d.prefix):
            time.sleep(0.05)
        self.assertNotIn(tap, links_with(self.d.prefix))
        return took, tap

    def test_stopped_ovsdb_times_out(self):
        self.ovs.signal("ovsdb-server", signal.SIGSTOP)
        try:
            took, tap = self.failed_launch("late", "no answer within 5 s")
            self.assertLess(took, 15)
        finally:
            self.ovs.signal("ovsdb-server", signal.SIGCONT)
        # The next contact removes whatever the late transaction made.
        self.c.ok("vm launch container ok2")
        rows = herd_ports(self.ovs, self.d.prefix)
        self.assertNotIn(tap, rows)
        self.assertEqual(len(rows), 2, rows)

    def test_dead_ovsdb_refuses(self):
        self.ovs.stop_process("ovsdb-server")
        _, tap = self.failed_launch("dead", "ovsdb")
        self.ovs.start_db()  # same database; ovs-vswitchd reconnects by itself
        rows = herd_ports(self.ovs, self.d.prefix)
        self.assertNotIn(tap, rows)
        self.assertEqual(len(rows), 1, rows)
        self.c.ok("vm launch container ok2")
        self.assertEqual(len(herd_ports(self.ovs, self.d.prefix)), 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
