#!/usr/bin/env python3
"""`router` with the router image (scripts/herd-image router), run as root.

Builds the router image into the image cache ($HERD_IMAGE_CACHE, default
/var/cache/herd; rebuilt only when the builder, herd-cc or minirouter
changed, and herd-image keeps the debootstrap result, so only the first run
downloads). Then:

  * one router on VLANs A and B hands out DHCP leases to a client container
    on each (the default busybox image), with itself as their gateway, and
    routes between them: the clients ping each other across; a static route
    (bird) sends a third network to client B, which client A reaches;
  * two routers joined by a transit VLAN learn each other's client networks
    over OSPF (bird), and the clients on their far sides ping each other;
  * a firewall rule (`router r fw drop ...`, nftables in the guest) stops
    client A from connecting to one TCP port of client B while another port
    works, and the next commit without it lets the port through again;
  * `router <vm> commit` latency, from the command to the applied
    configuration (the cc response of `minirouter -u`), is printed;
  * the guest is not trusted: a router guest that answers the commit's
    commands with garbage (a hostile `minirouter`) leaves the daemon
    answering.
"""

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herdtest import (HERD, ROOT, Console, assert_responsive, class_daemon,  # noqa: E402
                      guest_console, guest_ipv4, guest_ping, wait_for)

BUILDER = os.path.join(ROOT, "scripts", "herd-image")
AGENT = os.path.join(os.path.dirname(HERD), "herd-cc")
MINIROUTER = os.path.join(os.path.dirname(HERD), "minirouter")
CACHE = os.environ.get("HERD_IMAGE_CACHE", "/var/cache/herd")


def router_image():
    """The router image for this builder, agent and minirouter; built when
    missing (herd-image renames a finished image into place, so an existing
    directory is complete). Images of older inputs are removed."""
    h = hashlib.sha256()
    for p in (BUILDER, AGENT, MINIROUTER):
        with open(p, "rb") as f:
            h.update(f.read())
    images = os.path.join(CACHE, "test-images")
    os.makedirs(images, exist_ok=True)
    name = "router-" + h.hexdigest()[:16]
    path = os.path.join(images, name)
    for old in os.listdir(images):
        if old.startswith("router-") and old != name and ".building-" not in old:
            shutil.rmtree(os.path.join(images, old), ignore_errors=True)
    t0 = time.time()
    if not os.path.isfile(os.path.join(path, "init")):
        r = subprocess.run([BUILDER, "router", path, "--agent", AGENT, "--router", MINIROUTER],
                           capture_output=True, text=True,
                           env=dict(os.environ, HERD_IMAGE_CACHE=CACHE))
        if r.returncode != 0 and not os.path.isfile(os.path.join(path, "init")):
            raise RuntimeError("herd-image router failed:\n" + r.stdout + r.stderr)
    print("\nrouter image in %.1f s: %s" % (time.time() - t0, path), file=sys.stderr)
    return path


def commit(c, vm, timeout=60):
    """`router <vm> commit`, then waits for the VM to answer the last of its
    two cc commands (minirouter -u); returns (seconds, its output)."""
    before = {r["id"] for r in c.table("cc commands")}
    t0 = time.time()
    c.ok("router %s commit" % vm)
    rows = [r for r in c.table("cc commands")
            if r["prefix"] == "minirouter-" + vm and r["id"] not in before]
    assert len(rows) == 2, rows
    last = max(rows, key=lambda r: int(r["id"]))["id"]

    def answered():
        for r in c.table("cc commands"):
            if r["id"] == last:
                return int(r["responses"]) >= 1
        return False
    wait_for(answered, timeout=timeout, step=0.01)
    took = time.time() - t0
    return took, c.ok(".annotate false cc responses %s raw" % last)


class RouterBase(unittest.TestCase):
    @classmethod
    def launch_router(cls, name, nets):
        c = cls.c
        c.ok("vm config filesystem " + cls.image)
        c.ok("vm config preinit " + os.path.join(cls.image, "preinit"))
        c.ok("vm config backchannel true")
        c.ok("vm config net " + nets)
        c.ok("vm launch container " + name)

    @classmethod
    def launch_client(cls, name, net):
        c = cls.c
        c.ok("clear vm config")
        c.ok("vm config backchannel false")
        c.ok("vm config net " + net)
        c.ok("vm launch container " + name)

    @classmethod
    def wait_agents(cls, n):
        wait_for(lambda: int(cls.c.table("cc")[0]["clients"]) >= n, timeout=60)

    def lease(self, name, timeout=60):
        got = []

        def leased():
            ip = guest_ipv4(self.cons[name])
            if ip:
                got.append(ip)
            return bool(ip)
        self.assertTrue(wait_for(leased, timeout=timeout, step=1),
                        "%s got no DHCP lease" % name)
        return got[-1]


class OneRouter(RouterBase):
    """Router r on VLANs 101 (10.71.1.0/24) and 102 (10.71.2.0/24), client a
    on 101 and b on 102, all addresses by the router's DHCP."""

    @classmethod
    def setUpClass(cls):
        cls.image = router_image()
        cls.d = class_daemon(cls)
        cls.c = c = cls.d.client()
        cls.launch_router("r", "101 102")
        cls.launch_client("a", "101")
        cls.launch_client("b", "102")
        c.ok("vm start all")
        cls.cons = {n: guest_console(cls.d, c, n) for n in ("r", "a", "b")}
        for con in cls.cons.values():
            cls.addClassCleanup(con.close)
        cls.wait_agents(1)
        cls.bmac = c.vm("b")["mac"].strip("[]").split(",")[0].strip()
        for cmd in ("interface 0 10.71.1.1/24", "interface 1 10.71.2.1/24",
                    "dhcp 10.71.1.1 range 10.71.1.10 10.71.1.50",
                    "dhcp 10.71.1.1 router 10.71.1.1",
                    "dhcp 10.71.2.1 range 10.71.2.10 10.71.2.50",
                    "dhcp 10.71.2.1 router 10.71.2.1",
                    "dhcp 10.71.2.1 static %s 10.71.2.20" % cls.bmac,
                    "dns 10.71.2.20 b.example",
                    "route static 10.71.9.0/24 10.71.2.20"):
            c.ok("router r " + cmd)
        cls.took, cls.out = commit(c, "r")
        print("\nrouter commit (first, addresses + dnsmasq + bird start): %.3f s" % cls.took,
              file=sys.stderr)

    def test_commit_applied(self):
        r = self.cons["r"]
        self.assertIn("10.71.1.1/24", r.sh("ip -4 -o addr show dev veth0"))
        self.assertIn("10.71.2.1/24", r.sh("ip -4 -o addr show dev veth1"))
        self.assertIn("dhcp-range=set:10.71.1.1,10.71.1.10,10.71.1.50",
                      r.sh("cat /etc/dnsmasq.conf"))
        self.assertEqual(r.sh("cat /proc/sys/net/ipv4/ip_forward"), "1")
        self.assertIn("IPs:\nNetwork: 0: [10.71.1.1/24]", self.c.ok("router r"))

    def test_dhcp_and_routing(self):
        a = self.lease("a")
        b = self.lease("b")
        self.assertTrue(a.startswith("10.71.1."), a)
        self.assertEqual(b, "10.71.2.20")  # the static lease, by MAC
        self.assertTrue(guest_ping(self.cons["a"], b, tries=5))
        self.assertTrue(guest_ping(self.cons["b"], a, tries=5))

    def test_dns(self):
        out = self.cons["a"].sh("nslookup b.example 10.71.1.1 2>&1", timeout=15)
        self.assertIn("10.71.2.20", out)

    def test_static_route(self):
        self.lease("a")
        self.lease("b")
        r = self.cons["r"]
        self.assertTrue(wait_for(lambda: "10.71.9.0/24 via 10.71.2.20" in r.sh("ip route"),
                                 timeout=30), r.sh("ip route"))
        self.cons["b"].sh("ip addr add 10.71.9.5/32 dev lo 2>/dev/null; true")
        self.assertTrue(guest_ping(self.cons["a"], "10.71.9.5", tries=5))

    def connects(self, addr, port):
        """Whether client a gets the greeting of b's listener on port (2 s)."""
        out = self.cons["a"].sh("nc -w 2 %s %d </dev/null 2>&1; true" % (addr, port),
                                timeout=15)
        return ("hi%d" % port) in out

    def test_fw_drops_one_port(self):
        self.lease("a")
        b = self.lease("b")
        # One-shot listeners on b: each greets the first client and exits.
        for port in (7001, 7002):
            self.cons["b"].sh("(echo hi%d | nc -l -p %d >/dev/null 2>&1 & echo $! >/tmp/nc%d)"
                              % (port, port, port))
        self.addCleanup(self.cons["b"].sh, "kill $(cat /tmp/nc7001 /tmp/nc7002) 2>/dev/null; true")
        self.c.ok("router r fw drop in 0 %s:7001 tcp" % b)

        def unfirewall():
            if "Firewall" in self.c.ok("router r"):
                self.c.ok("clear router r fw")
                commit(self.c, "r")
        self.addCleanup(unfirewall)
        took, out = commit(self.c, "r")
        print("\nrouter commit with a firewall rule: %.3f s" % took, file=sys.stderr)
        self.assertNotIn("minirouter:", out)
        self.assertIn("(iface 0) incoming: <any> --> %s:7001 via tcp -> drop" % b,
                      self.c.ok("router r"))
        self.assertIn("dport 7001 drop", self.cons["r"].sh("nft list ruleset"))
        self.assertFalse(self.connects(b, 7001))
        self.assertTrue(self.connects(b, 7002))
        # The next commit without the rule removes it: 7001's listener is
        # still waiting (the dropped SYNs never reached it).
        self.c.ok("clear router r fw")
        took, out = commit(self.c, "r")
        self.assertNotIn("minirouter:", out)
        self.assertNotIn("minirouter", self.cons["r"].sh("nft list ruleset"))
        self.assertTrue(self.connects(b, 7001))
        assert_responsive(self.d)

    def test_recommit_latency(self):
        times = []
        for i in range(5):
            self.c.ok("router r dns 10.71.1.%d host%d.example" % (100 + i, i))
            took, out = commit(self.c, "r")
            times.append(took)
        times.sort()
        print("\nrouter commit x5 (dnsmasq restart, bird reconfigure): median %.3f s, max %.3f s"
              % (times[2], times[-1]), file=sys.stderr)
        self.assertIn("host4.example", self.cons["r"].sh("cat /etc/dnsmasq.conf"))
        assert_responsive(self.d)


class TwoRoutersOspf(RouterBase):
    """r1 (VLAN 111: 10.72.1.0/24, transit 113: 10.72.3.1) and r2 (transit
    10.72.3.2, VLAN 112: 10.72.2.0/24) run OSPF area 0; client a behind r1,
    b behind r2."""

    @classmethod
    def setUpClass(cls):
        cls.image = router_image()
        cls.d = class_daemon(cls)
        cls.c = c = cls.d.client()
        cls.launch_router("r1", "111 113")
        cls.launch_router("r2", "113 112")
        cls.launch_client("a", "111")
        cls.launch_client("b", "112")
        c.ok("vm start all")
        cls.cons = {n: guest_console(cls.d, c, n) for n in ("r1", "r2", "a", "b")}
        for con in cls.cons.values():
            cls.addClassCleanup(con.close)
        cls.wait_agents(2)
        for r, lan, transit in (("r1", "10.72.1", "10.72.3.1"), ("r2", "10.72.2", "10.72.3.2")):
            lan_idx, transit_idx = (0, 1) if r == "r1" else (1, 0)
            for cmd in ("interface %d %s.1/24" % (lan_idx, lan),
                        "interface %d %s/24" % (transit_idx, transit),
                        "dhcp %s.1 range %s.10 %s.50" % (lan, lan, lan),
                        "dhcp %s.1 router %s.1" % (lan, lan),
                        "route ospf 0 %d stub yes" % lan_idx,
                        "route ospf 0 %d type ptp" % transit_idx):
                c.ok("router %s %s" % (r, cmd))
            took, _ = commit(c, r)
            print("\nrouter %s commit: %.3f s" % (r, took), file=sys.stderr)

    def test_ospf_routes_and_ping(self):
        t0 = time.time()
        r1 = self.cons["r1"]
        self.assertTrue(wait_for(lambda: "10.72.2.0/24" in r1.sh("ip route"), timeout=90, step=1),
                        r1.sh("ip route") + r1.sh("birdc -s /tmp/minirouter/bird.ctl show "
                                                  "protocols all 2>&1 | head -40"))
        print("\nOSPF route learned in %.1f s" % (time.time() - t0), file=sys.stderr)
        self.assertIn("proto bird", r1.sh("ip route show 10.72.2.0/24"))
        a = self.lease("a")
        b = self.lease("b")
        self.assertTrue(guest_ping(self.cons["a"], b, tries=10))
        self.assertTrue(guest_ping(self.cons["b"], a, tries=5))


class HostileRouterGuest(RouterBase):
    """A router guest whose `minirouter` answers with megabytes of output and
    garbage, and whose agent is replaced by nothing: the daemon stays
    responsive and the commit still returns at once."""

    @classmethod
    def setUpClass(cls):
        cls.image = router_image()
        cls.d = class_daemon(cls)
        cls.c = cls.d.client()
        cls.launch_router("evil", "121")
        cls.c.ok("vm start all")
        cls.con = guest_console(cls.d, cls.c, "evil")
        cls.addClassCleanup(cls.con.close)
        cls.wait_agents(1)

    def test_hostile_minirouter(self):
        # The guest is root in its container: it replaces minirouter.
        self.con.sh("printf '#!/bin/sh\\nhead -c 20000000 /dev/urandom\\n"
                    "head -c 3000000 /dev/zero >&2\\nexit 3\\n' > /usr/bin/minirouter; "
                    "chmod 755 /usr/bin/minirouter")
        self.c.ok("router evil interface 0 10.73.1.1/24")
        t0 = time.time()
        self.c.ok("router evil commit")
        self.assertLess(time.time() - t0, 2.0)
        for _ in range(10):
            assert_responsive(self.d)
            time.sleep(0.3)
        self.assertIn("Network: 0: [10.73.1.1/24]", self.c.ok("router evil"))
        # Commit again while the first may still stream: replaced, no crash.
        self.c.ok("router evil commit")
        assert_responsive(self.d)
        self.assertEqual(self.c.ok("version").split()[0] != "", True)


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("test_router: needs root")
        sys.exit(1)
    unittest.main(verbosity=2)
