#!/usr/bin/env python3
"""Integration tests of the Open vSwitch backend (issue 4), run as root.

Each test class starts its own ovsdb-server and ovs-vswitchd (userspace
datapath, ovstest.Ovs) and a herd daemon with `-switch ovs -ovsdb <socket>`.
Real traffic between containers: NICs on VLAN 5 (port tag 5) reach each other
(ping, a TCP transfer), a NIC on VLAN 6 reaches neither; the Port rows follow
the containers (killed: gone; relaunched: back); nothing of herd's is left in
the database or on the host after kill, flush, quit and nuke; a bridge made
before herd keeps existing with only herd's ports removed; an ovsdb that
stops answering makes `vm launch` fail clearly and leave nothing half-made.
Bridge names carry the daemon's prefix: with the netdev datapath an OVS bridge
is a host interface too. Addresses: 10.56.0.0/24, set inside the guests.
"""

import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herdtest import HERD, Console, Daemon  # noqa: E402
from ovstest import Ovs, available  # noqa: E402
from test_network import links_with, quit, wait_no_links  # noqa: E402

DATAPATH = "system" if os.path.exists("/sys/module/openvswitch") else "netdev"


def ovs_daemon(ovs, prefix=None):
    return Daemon("-switch", "ovs", "-ovsdb", ovs.sock, prefix=prefix)


def nuke(d, ovs):
    r = subprocess.run([HERD, "-base", d.base, "-prefix", d.prefix, "-switch", "ovs", "-ovsdb",
                        ovs.sock, "-nuke"], capture_output=True, text=True)
    return r


def herd_ports(ovs, prefix):
    """Port rows tagged with the daemon's prefix (and any named by it)."""
    out = []
    for r in ovs.rows("Port", "name", "external_ids"):
        ext = dict(r["external_ids"][1])
        if ext.get("herd-prefix") == prefix or r["name"].startswith(prefix + "v"):
            out.append(r["name"])
    return sorted(out)


def console(d, c, name):
    row = [r for r in c.table("vm info") if r["name"] == name][0]
    con = Console(os.path.join(d.base, row["id"], "console"))
    con.sh("true", timeout=15)
    return con


@unittest.skipUnless(available(), "Open vSwitch is not installed")
class Traffic(unittest.TestCase):
    """a, b on VLAN 5 of bridge <P>br; c on VLAN 6; k on VLAN 5 of a bridge
    that existed before herd (<P>pre, with a port of its own)."""

    ADDR = {"a": "10.56.0.1", "b": "10.56.0.2", "c": "10.56.0.3", "k": "10.56.0.4"}

    @classmethod
    def setUpClass(cls):
        cls.ovs = Ovs().start()
        cls.d = ovs_daemon(cls.ovs)
        p = cls.d.prefix
        cls.br, cls.pre, cls.own = p + "br", p + "pre", p + "own"
        cls.ovs.vsctl("add-br", cls.pre, "--", "set", "Bridge", cls.pre,
                      "datapath_type=netdev", "--", "add-port", cls.pre, cls.own, "--", "set",
                      "Interface", cls.own, "type=internal")
        try:
            cls.d.start()
            c = cls.c = cls.d.client()
            c.ok("vm config backchannel false")
            c.ok("vm config net %s,5" % cls.br)
            c.ok("vm launch container a,b")
            c.ok("vm config net %s,6" % cls.br)
            c.ok("vm launch container c")
            c.ok("vm config net %s,5" % cls.pre)
            c.ok("vm launch container k")
            c.ok("vm start all")
            cls.cons = {}
            for name in "abck":
                cls.cons[name] = console(cls.d, c, name)
                cls.address(name)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def address(cls, name):
        out = cls.cons[name].sh("ip addr add %s/24 dev veth0; ip link set veth0 up; echo rc=$?"
                                % cls.ADDR[name])
        assert "rc=0" in out, out

    @classmethod
    def tearDownClass(cls):
        for con in getattr(cls, "cons", {}).values():
            con.close()
        if hasattr(cls, "c"):
            cls.c.close()
        cls.d.stop()
        nuke(cls.d, cls.ovs)
        cls.ovs.vsctl("--if-exists", "del-br", cls.pre, check=False)
        cls.ovs.stop()

    def ping(self, src, dst):
        out = self.cons[src].sh("ping -c 1 -W 2 %s >/dev/null 2>&1; echo rc=$?" % self.ADDR[dst],
                                timeout=10)
        return "rc=0" in out

    def info(self):
        return {r["name"]: r for r in self.c.table("vm info")}

    def ports(self):
        """name -> (bridge, tag) of every port of the test's bridges."""
        out = {}
        for br in (self.br, self.pre):
            for name in self.ovs.vsctl("list-ports", br).split():
                tag = self.ovs.vsctl("get", "Port", name, "tag")
                out[name] = (br, tag)
        return out

    def test_ports_rows(self):
        info, ports = self.info(), self.ports()
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

    def test_same_vlan_pings(self):
        self.assertTrue(self.ping("a", "b"))
        self.assertTrue(self.ping("b", "a"))

    def test_other_vlan_isolated(self):
        self.assertFalse(self.ping("c", "a"))
        self.assertFalse(self.ping("c", "b"))
        self.assertFalse(self.ping("a", "c"))

    def test_other_bridge_isolated(self):
        # Same VLAN number, other bridge: a separate switch.
        self.assertFalse(self.ping("k", "a"))

    def test_tcp_transfer(self):
        a, b = self.cons["a"], self.cons["b"]
        want = a.sh("head -c 2000000 /dev/urandom > /tmp/data; md5sum < /tmp/data | cut -c1-32")
        b.sock.sendall(b"nc -l -p 5555 > /tmp/got; echo R$((6*7))R\n")
        time.sleep(0.3)
        a.sh("nc 10.56.0.2 5555 < /tmp/data; true", timeout=30)
        b.read_until("R42R", timeout=30)
        self.assertEqual(b.sh("md5sum < /tmp/got | cut -c1-32"), want)

    def test_host_tap(self):
        """An internal port with the VLAN's tag, with an address, reaches
        the guests of its VLAN only; deleted, its row and interface go."""
        tap = self.c.ok(".annotate false tap create 5 bridge %s ip 10.56.0.9/24"
                        % self.br).strip()
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
        tap = self.info()["c"]["tap"][1:-1]
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
        before = self.info()["a"]
        tap = before["tap"][1:-1]
        self.cons["a"].close()
        self.c.ok("vm kill a")
        self.assertNotIn(tap, self.ports())
        self.c.ok("vm start a")
        after = self.info()["a"]
        self.assertEqual(after["state"], "RUNNING")
        for col in ("tap", "mac", "vlan", "bridge"):
            self.assertEqual(after[col], before[col], col)
        self.assertEqual(self.ports()[tap], (self.br, "5"))
        self.cons["a"] = console(self.d, self.c, "a")
        self.address("a")
        self.assertTrue(self.ping("a", "b"))
        self.assertFalse(self.ping("a", "c"))


@unittest.skipUnless(available(), "Open vSwitch is not installed")
class Cleanup(unittest.TestCase):
    def setUp(self):
        self.ovs = Ovs().start()

    def tearDown(self):
        self.ovs.stop()

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
        self.ovs.vsctl("add-br", pre, "--", "set", "Bridge", pre, "datapath_type=netdev", "--",
                       "add-port", pre, own, "--", "set", "Interface", own, "type=internal")
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
            quit(c)
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
            subprocess.run([HERD, "-base", d.base, "-prefix", d.prefix, "-switch", "kernel",
                            "-nuke"], check=True)  # containers and links only
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
        self.ovs = Ovs().start()
        self.d = ovs_daemon(self.ovs).start()
        self.c = self.d.client()
        self.c.ok("vm config backchannel false")
        self.c.ok("vm config net %sbr,5" % self.d.prefix)
        self.c.ok("vm launch container ok1")  # the bridge exists and is known

    def tearDown(self):
        self.c.close()
        self.d.stop()
        if "ovsdb-server" not in self.ovs.pids:
            self.ovs.start_db()
        nuke(self.d, self.ovs)
        self.ovs.stop()

    def failed_launch(self, name, want):
        t0 = time.time()
        _, errors = self.c.run("vm launch container %s" % name)
        took = time.time() - t0
        self.assertEqual(len(errors), 1, errors)
        self.assertIn(want, errors[0])
        row = [r for r in self.c.table("vm info") if r["name"] == name][0]
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
