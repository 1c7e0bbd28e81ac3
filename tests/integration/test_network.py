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
from herdtest import Console, Daemon  # noqa: E402


def links_with(prefix):
    """Host interfaces whose name starts with prefix."""
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True,
                         check=True).stdout
    names = []
    for line in out.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name.startswith(prefix):
            names.append(name)
    return names


def wait_no_links(prefix, timeout=5):
    """Network namespaces are freed asynchronously after their last process."""
    deadline = time.time() + timeout
    while time.time() < deadline and links_with(prefix):
        time.sleep(0.05)
    return links_with(prefix)


def quit(client):
    """`quit` ends the daemon, which may close the connection before replying."""
    try:
        client.run("quit")
    except ConnectionError:
        pass
    client.close()


def master_of(ifname):
    try:
        return os.path.basename(os.readlink("/sys/class/net/%s/master" % ifname))
    except OSError:
        return None


class TwoVlans(unittest.TestCase):
    """a, b on VLAN 5; c on VLAN 6."""

    ADDR = {"a": "10.55.0.1", "b": "10.55.0.2", "c": "10.55.0.3"}

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon().start()
        cls.c = cls.d.client()
        c = cls.c
        # The cc backchannel is not part of what is tested here.
        c.ok("vm config backchannel false")
        c.ok("vm config net 5")
        c.ok("vm launch container a,b")
        c.ok("vm config net 6")
        c.ok("vm launch container c")
        c.ok("vm start all")
        cls.cons = {}
        for name in "abc":
            cls.cons[name] = cls.console(name)
            cls.address(name)

    @classmethod
    def console(cls, name):
        row = [r for r in cls.c.table("vm info") if r["name"] == name][0]
        con = Console(os.path.join(cls.d.base, row["id"], "console"))
        con.sh("true", timeout=15)  # the shell is up
        return con

    @classmethod
    def address(cls, name):
        out = cls.cons[name].sh("ip addr add %s/24 dev veth0; ip link set veth0 up; echo rc=$?"
                                % cls.ADDR[name])
        assert "rc=0" in out, out

    @classmethod
    def tearDownClass(cls):
        for con in cls.cons.values():
            con.close()
        cls.c.close()
        cls.d.stop()

    def ping(self, src, dst):
        out = self.cons[src].sh("ping -c 1 -W 2 %s >/dev/null 2>&1; echo rc=$?" % self.ADDR[dst],
                                timeout=10)
        return "rc=0" in out

    def info(self):
        return {r["name"]: r for r in self.c.table("vm info")}

    def test_info_columns(self):
        info = self.info()
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

    def test_same_vlan_pings(self):
        self.assertTrue(self.ping("a", "b"))
        self.assertTrue(self.ping("b", "a"))

    def test_other_vlan_isolated(self):
        self.assertFalse(self.ping("c", "a"))
        self.assertFalse(self.ping("c", "b"))
        self.assertFalse(self.ping("a", "c"))

    def test_tcp_transfer(self):
        a, b = self.cons["a"], self.cons["b"]
        want = a.sh("head -c 2000000 /dev/urandom > /tmp/data; md5sum < /tmp/data | cut -c1-32")
        b.sock.sendall(b"nc -l -p 5555 > /tmp/got; echo R$((6*7))R\n")
        time.sleep(0.3)  # the listener is up
        a.sh("nc 10.55.0.2 5555 < /tmp/data; true", timeout=30)
        b.read_until("R42R", timeout=30)
        self.assertEqual(b.sh("md5sum < /tmp/got | cut -c1-32"), want)

    def test_z_relaunch_same_names_and_macs(self):
        before = self.info()["a"]
        self.cons["a"].close()
        self.c.ok("vm kill a")
        # Right away: the killed namespace's veth may still be going away.
        self.c.ok("vm start a")
        after = self.info()["a"]
        self.assertEqual(after["state"], "RUNNING")
        for col in ("tap", "mac", "vlan", "bridge"):
            self.assertEqual(after[col], before[col], col)
        self.cons["a"] = self.console("a")
        self.assertEqual(self.cons["a"].sh("cat /sys/class/net/veth0/address"),
                         before["mac"][1:-1])
        self.address("a")
        self.assertTrue(self.ping("a", "b"))
        self.assertFalse(self.ping("a", "c"))


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
            quit(c)
            d.proc.wait(20)
            self.assertEqual(wait_no_links(d.prefix), [])
        finally:
            d.stop()

    def test_existing_bridge_is_kept(self):
        d = Daemon()
        bridge = d.prefix + "b8"
        # Made by someone else before herd starts (the test may use ip; herd never does).
        subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
        try:
            d.start()
            c = d.client()
            c.ok("vm config backchannel false")
            c.ok("vm config net 8")
            c.ok("vm launch container k")
            row = c.table("vm info")[0]
            self.assertEqual(master_of(row["tap"][1:-1]), bridge)
            quit(c)
            d.proc.wait(20)
            deadline = time.time() + 5
            while time.time() < deadline and links_with(d.prefix) != [bridge]:
                time.sleep(0.05)
            self.assertEqual(links_with(d.prefix), [bridge])
        finally:
            subprocess.run(["ip", "link", "del", bridge])
            d.stop()
        self.assertEqual(wait_no_links(d.prefix), [])

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
            r = subprocess.run([os.environ.get("HERD", "build/herd"), "-base", d.base,
                                "-prefix", d.prefix, "-nuke"], capture_output=True, text=True)
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
