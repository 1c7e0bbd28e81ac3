#!/usr/bin/env python3
"""Integration tests of host taps, `bridge` and dnsmasq (issue 4), run as root.

Real traffic between the host and containers through a host tap on the
kernel-bridge backend: the host reaches guests on its VLAN (ping, TCP both
ways) and not a guest on another VLAN; dnsmasq on the tap gives the guests
(and a DHCP host tap) addresses; bad input leaves nothing; after tap delete,
clear tap, quit and nuke (also after SIGKILL) no tap, veth, bridge, udhcpc or
dnsmasq of the daemon's remains.

Each test class uses its own random 10.55.<n>.0/24 so that runs on the same
host at the same time do not share a subnet (nothing is routed anywhere).
"""

import hashlib
import os
import random
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herdtest import (Daemon, class_daemon, close_consoles, guest_ipv4,  # noqa: E402
                      guest_ping, host_ping, launch_guests, link_exists, links_with,
                      master_of, quit_daemon, set_guest_address, wait_for, wait_no_links)


def addresses(ifname):
    """The host interface's IPv4 addresses (cidr)."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", ifname],
                         capture_output=True, text=True).stdout
    return re.findall(r"inet (\S+)", out)


def procs_mentioning(text):
    """Pids whose command line contains text (our base dir: dnsmasq, udhcpc)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if text in cmd:
            found.append(int(pid))
    return found


def subnet():
    return "10.55.%d" % random.randint(100, 250)


class Guests:
    """A daemon with containers a, b on VLAN 5 and c on VLAN 6."""

    @classmethod
    def boot(cls):
        """Called by setUpClass. Undone by class cleanups, registered as each
        piece exists: they run even when setUpClass fails after this."""
        cls.net = subnet()
        cls.d = class_daemon(cls)
        cls.c = cls.d.client()
        cls.addClassCleanup(cls.c.close)
        cls.cons = launch_guests(cls.d, cls.c, [("5", "a,b"), ("6", "c")])
        cls.addClassCleanup(lambda: close_consoles(cls.cons))


class HostTapTraffic(Guests, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.boot()
        cls.ADDR = {"a": cls.net + ".1", "b": cls.net + ".2", "c": cls.net + ".3"}
        cls.host = cls.net + ".254"
        cls.tap = cls.c.plain("tap create 5 ip %s/24" % cls.host)
        for name in "abc":
            set_guest_address(cls.cons[name], cls.ADDR[name] + "/24")

    def test_tap_is_on_vlan5(self):
        p = self.d.prefix
        self.assertEqual(self.tap, p + "t0")
        self.assertEqual(addresses(self.tap), [self.host + "/24"])
        rows = self.c.table("tap")
        self.assertEqual(rows, [{"bridge": "mega_bridge", "tap": self.tap, "vlan": "5"}])
        # Its peer is on VLAN 5's kernel bridge.
        peers = [n for n in links_with(p + "p")]
        self.assertEqual(len(peers), 1, peers)
        self.assertEqual(master_of(peers[0]), p + "b5")
        with open("/sys/class/net/%s/carrier" % self.tap) as f:
            self.assertEqual(f.read().strip(), "1")

    def test_bridge_lists_switches_and_taps(self):
        rows = self.c.table("bridge")
        p = self.d.prefix
        self.assertEqual(len(rows), 1, rows)
        r = rows[0]
        self.assertEqual(r["bridge"], "mega_bridge")
        self.assertEqual(r["backend"], "kernel")
        self.assertEqual(r["preexisting"], "false")
        self.assertEqual(r["vlans"], "[5 6]")
        self.assertEqual(r["switches"], "[%sb5 %sb6]" % (p, p))
        self.assertEqual(r["taps"], "[%s]" % self.tap)

    def test_host_pings_vlan5_guests(self):
        self.assertTrue(host_ping(self.ADDR["a"]))
        self.assertTrue(host_ping(self.ADDR["b"]))
        self.assertTrue(guest_ping(self.cons["a"], self.host))

    def test_vlan6_guest_not_reached(self):
        self.assertFalse(host_ping(self.ADDR["c"]))
        out = self.cons["c"].sh("ping -c 1 -W 2 %s >/dev/null 2>&1; echo rc=$?" % self.host)
        self.assertIn("rc=1", out)

    def test_tcp_guest_to_host(self):
        data = os.urandom(1_000_000)
        want = hashlib.md5(data).hexdigest()
        srv = socket.socket()
        srv.bind((self.host, 0))
        srv.listen(1)
        srv.settimeout(30)
        port = srv.getsockname()[1]
        a = self.cons["a"]
        a.sh("head -c 1000000 /dev/urandom > /tmp/up")
        guest_sum = a.sh("md5sum < /tmp/up | cut -c1-32")
        got = []

        def accept():
            conn, _ = srv.accept()
            buf = b""
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                buf += chunk
            got.append(buf)
            conn.close()

        t = threading.Thread(target=accept)
        t.start()
        a.sh("nc %s %d < /tmp/up; true" % (self.host, port), timeout=30)
        t.join(30)
        srv.close()
        self.assertEqual(len(got), 1)
        self.assertEqual(hashlib.md5(got[0]).hexdigest(), guest_sum)
        # And host -> guest: the guest listens, the host sends.
        b = self.cons["b"]
        b.sock.sendall(b"nc -l -p 5556 > /tmp/down; echo R$((6*7))R\n")
        time.sleep(0.5)
        s = socket.create_connection((self.ADDR["b"], 5556), timeout=10)
        s.sendall(data)
        s.close()
        b.read_until("R42R", timeout=30)
        self.assertEqual(b.sh("md5sum < /tmp/down | cut -c1-32"), want)


class Dhcp(Guests, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.boot()
        cls.host = cls.net + ".254"
        cls.tap = cls.c.plain("tap create 5 ip %s/24" % cls.host)
        cls.c.ok("dnsmasq start %s %s.10 %s.50" % (cls.host, cls.net, cls.net))

    def guest_addr(self, name):
        return guest_ipv4(self.cons[name])

    def in_range(self, addr):
        if not addr or not addr.startswith(self.net + "."):
            return False
        return 10 <= int(addr.rsplit(".", 1)[1]) <= 50

    def test_dnsmasq_listed_and_ours(self):
        rows = self.c.table("dnsmasq")
        self.assertEqual(len(rows), 1, rows)
        r = rows[0]
        self.assertEqual(r["ID"], "0")
        self.assertEqual(r["Listening Address"], self.host)
        self.assertEqual(r["Min"], self.net + ".10")
        self.assertEqual(r["Max"], self.net + ".50")
        self.assertEqual(r["Path"], os.path.join(self.d.base, "dnsmasq_0"))
        pid = int(r["PID"])
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv = f.read().split(b"\0")
        self.assertEqual(argv[0], b"/usr/sbin/dnsmasq")
        self.assertIn(("--interface=" + self.tap).encode(), argv)
        self.assertIn(b"--bind-interfaces", argv)

    def test_guests_get_addresses(self):
        addrs = {}
        for name in "ab":
            # The guest's udhcpc retries every ~16 s once its first burst went
            # unanswered (it started before dnsmasq).
            addrs[name] = wait_for(lambda n=name: self.guest_addr(n) if self.in_range(
                self.guest_addr(n)) else None, 60, step=1)
            self.assertTrue(self.in_range(addrs[name]), addrs[name])
        self.assertNotEqual(addrs["a"], addrs["b"])
        for a in addrs.values():
            self.assertTrue(host_ping(a))
        # Nothing serves VLAN 6.
        self.assertIsNone(self.guest_addr("c"))
        with open(os.path.join(self.d.base, "dnsmasq_0", "dnsmasq.leases")) as f:
            leases = f.read()
        for a in addrs.values():
            self.assertIn(a, leases)
        # `vm info` shows the leased addresses (learnt from the DHCP ACKs and
        # ARP on the host ends).
        def ip_column():
            info = {r["name"]: r["ip"] for r in self.c.table("vm info")}
            want = {n: "[%s]" % addrs[n] for n in "ab"}
            return info if all(info[n] == want[n] for n in "ab") else None

        info = wait_for(ip_column, 10, step=0.5)
        self.assertIsNotNone(info, self.c.table("vm info"))
        self.assertEqual(info["c"], "[]")

    def test_host_tap_by_dhcp(self):
        name = "h" + secrets.token_hex(3)
        self.assertEqual(self.c.plain("tap create 5 dhcp %s" % name), name)
        try:
            got = wait_for(lambda: addresses(name), 30, step=0.5)
            self.assertEqual(len(got), 1, got)
            self.assertTrue(self.in_range(got[0].split("/")[0]), got)
            self.assertTrue(got[0].endswith("/24"), got)
            self.assertEqual(len(procs_mentioning(self.d.base + "/udhcpc.script")), 1)
        finally:
            self.c.ok("tap delete " + name)
        self.assertFalse(link_exists(name))
        self.assertEqual(procs_mentioning(self.d.base + "/udhcpc.script"), [])

    def test_z_dnsmasq_kill(self):
        pid = int(self.c.table("dnsmasq")[0]["PID"])
        _, errs = self.c.run("dnsmasq kill 7")
        self.assertEqual(errs, ["invalid id"])
        self.c.ok("dnsmasq kill 0")
        self.assertFalse(os.path.exists("/proc/%d" % pid))
        self.assertEqual(self.c.table("dnsmasq"), [])
        self.assertFalse(os.path.exists(os.path.join(self.d.base, "dnsmasq_0")))


class BadInput(unittest.TestCase):
    def test_errors_leave_nothing(self):
        with Daemon() as d:
            c = d.client()
            p = d.prefix
            other = "q" + secrets.token_hex(3)
            subprocess.run(["ip", "link", "add", other, "type", "veth", "peer", "name",
                            other + "p"], check=True)
            try:
                cases = [
                    ("tap create 4096", "invalid VLAN (0 <= vlan < 4096)"),
                    ("tap create 5 ip 10.55.0.300/24", "invalid CIDR address: 10.55.0.300/24"),
                    ("tap create 5 ip 10.55.0.1/24 abcdefghijklmnop",
                     "invalid tap name abcdefghijklmnop: longer than 15 bytes"),
                    ("tap create 5 name " + other,
                     "invalid tap name %s: an interface of that name exists" % other),
                    ("tap create 5 name %sb5" % p,
                     "invalid tap name %sb5: reserved for herd's own interfaces" % p),
                    ("tap delete nosuch", "unknown tap"),
                    ("dnsmasq start 203.0.113.254 203.0.113.1 203.0.113.9",
                     "no interface has address 203.0.113.254"),
                ]
                for line, want in cases:
                    _, errs = c.run(line)
                    self.assertEqual(errs, [want], line)
                self.assertEqual(links_with(p), [])
                self.assertEqual(c.table("tap"), [])
                self.assertEqual(c.table("dnsmasq"), [])
                self.assertEqual(procs_mentioning(d.base + "/"), [])
                # A tap twice; a VM's NIC is not a host tap.
                t = c.plain("tap create 5 name x%s" % p)
                _, errs = c.run("tap create 6 name x%s" % p)
                self.assertEqual(errs, ["tap already on bridge"])
                c.ok("vm config backchannel false")
                c.ok("vm config net 5")
                c.ok("vm launch container v")
                _, errs = c.run("tap delete %sv0n0" % p)
                self.assertEqual(errs, ["not a host tap"])
                # Another namespace's tap is not this one's.
                _, errs = c.run("namespace other tap delete " + t)
                self.assertEqual(errs, ["not a host tap in active namespace"])
                self.assertEqual(c.table("namespace other tap"), [])
                # A range outside the tap's network, on a real interface.
                c.ok("tap delete " + t)
                t = c.plain("tap create 5 ip 10.55.3.254/24")
                _, errs = c.run("dnsmasq start 10.55.3.254 10.55.4.1 10.55.4.9")
                self.assertEqual(errs, ["DHCP range 10.55.4.1-10.55.4.9 is outside %s's network "
                                        "10.55.3.254/24" % t])
                self.assertEqual(procs_mentioning(d.base + "/"), [])
                c.close()
            finally:
                subprocess.run(["ip", "link", "del", other])


class BareAddress(unittest.TestCase):
    def test_bare_address_gets_full_prefix(self):
        # minimega runs `ip addr add dev <tap> <ip>`, which takes a bare
        # address as /32 (/128); so does herd (issue 14).
        with Daemon() as d:
            c = d.client()
            net = subnet()
            name = "b" + secrets.token_hex(3)
            bridge = "mybr" + secrets.token_hex(2)
            self.assertEqual(c.plain("tap create 10 bridge %s ip %s.1 %s"
                                     % (bridge, net, name)), name)
            self.assertEqual(addresses(name), ["%s.1/32" % net])
            self.assertEqual(c.table("tap"), [{"bridge": bridge, "tap": name, "vlan": "10"}])
            c.ok("tap delete " + name)
            self.assertFalse(link_exists(name))
            # IPv6 too
            t = c.plain("tap create 10 ip fd00:55::%x" % random.randint(1, 0xffff))
            out = subprocess.run(["ip", "-6", "-o", "addr", "show", "dev", t],
                                 capture_output=True, text=True).stdout
            self.assertRegex(out, r"inet6 fd00:55::[0-9a-f]+/128")
            c.ok("clear tap")
            c.close()


class Cleanup(unittest.TestCase):
    def make(self, c, net, name):
        t0 = c.plain("tap create 5 ip %s.254/24" % net)
        c.ok("dnsmasq start %s.254 %s.10 %s.20" % (net, net, net))
        c.plain("tap create 5 bridge other dhcp " + name)
        return t0

    def test_delete_clear_quit(self):
        d = Daemon().start()
        try:
            c = d.client()
            p = d.prefix
            net = subnet()
            name = "u" + secrets.token_hex(3)
            t0 = self.make(c, net, name)
            self.assertEqual(len(procs_mentioning(d.base + "/")), 2)  # dnsmasq, udhcpc
            # t0, its peer, the DHCP tap, its peer, two bridges.
            self.assertEqual(len(links_with(p)), 5, links_with(p))
            c.ok("tap delete " + t0)
            self.assertFalse(link_exists(t0))
            self.assertEqual(len(links_with(p + "p")), 1)
            c.ok("clear tap")
            self.assertFalse(link_exists(name))
            self.assertEqual(links_with(p + "p"), [])
            self.assertEqual(c.table("tap"), [])
            self.assertEqual(len(procs_mentioning(d.base + "/")), 1)  # dnsmasq stays
            c.ok("dnsmasq kill all")
            self.assertEqual(procs_mentioning(d.base + "/"), [])
            # Again, then quit.
            self.make(c, net, name)
            self.assertEqual(len(procs_mentioning(d.base + "/")), 2)
            quit_daemon(c)
            d.proc.wait(30)
            self.assertEqual(wait_no_links(p), [])
            self.assertFalse(link_exists(name))
            self.assertEqual(procs_mentioning(d.base + "/"), [])
        finally:
            d.stop()

    def test_nuke_command(self):
        with Daemon() as d:
            c = d.client()
            name = "n" + secrets.token_hex(3)
            self.make(c, subnet(), name)
            c.run("nuke")
            self.assertEqual(wait_no_links(d.prefix), [])
            self.assertFalse(link_exists(name))
            self.assertEqual(procs_mentioning(d.base + "/"), [])
            c.close()

    def test_sigkill_then_nuke(self):
        d = Daemon().start()
        try:
            c = d.client()
            p = d.prefix
            name = "k" + secrets.token_hex(3)
            self.make(c, subnet(), name)
            c.close()
            d.kill9()
            self.assertTrue(link_exists(name))
            r = d.nuke()
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(wait_no_links(p), [])
            self.assertFalse(link_exists(name))
            self.assertEqual(wait_for(lambda: not procs_mentioning(d.base + "/"), 3) and
                             procs_mentioning(d.base + "/"), [])
        finally:
            d.stop()

    def test_nuke_keeps_foreign_link_with_a_recorded_name(self):
        """After a SIGKILL, a user-named tap is recorded in <base>/taps. If the
        tap went and someone else made a veth of that name, `herd -nuke`
        removes what is ours and keeps theirs."""
        d = Daemon().start()
        name = "f" + secrets.token_hex(3)
        try:
            c = d.client()
            c.plain("tap create 5 name " + name)
            c.close()
            d.kill9()
            subprocess.run(["ip", "link", "del", name], check=True)
            subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name",
                            name + "x"], check=True)
            r = d.nuke()
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue(link_exists(name))
            self.assertTrue(link_exists(name + "x"))
            self.assertEqual(wait_no_links(d.prefix), [])
        finally:
            subprocess.run(["ip", "link", "del", name], capture_output=True)
            d.stop()
        self.assertFalse(link_exists(name))


if __name__ == "__main__":
    unittest.main(verbosity=2)
