#!/usr/bin/env python3
"""Integration tests of `capture pcap` (issue 13), run as root.

Guests a, b (and k, killed by a test) on VLAN 5 ping each other; `capture
pcap vm` and `capture pcap bridge` files, read by `tcpdump -r`, hold the ICMP
echo requests and replies between their addresses; `clear capture` stops the
files growing and empties the listing; `vm kill` stops a VM's capture (its
row stays, stopped, as in minimega) and `capture pcap delete vm` removes it;
snaplen and filter apply; output files are opened safely (no symbolic link,
no FIFO, no other user's file, nothing outside the file root for a relative
name). A hostile guest flooding junk frames on a captured NIC: the daemon
keeps answering, its memory stays bounded, and the file stays a valid pcap.

On the kernel bridge, and on Open vSwitch when it is installed (a private
ovsdb-server and ovs-vswitchd, tests/integration/ovstest.py): there a bridge
capture reads a mirror port, which `clear capture` and, after a SIGKILLed
daemon, nuke remove.
"""

import os
import stat
import struct
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from herdtest import (Daemon, as_nobody, assert_responsive, class_attackers,  # noqa: E402
                      class_daemon, close_consoles, guest_ping, launch_guests, link_exists,
                      rss_kib, set_guest_address, wait_for)
from ovstest import available, class_ovs_daemon  # noqa: E402

ADDR = {"a": "10.57.0.1", "b": "10.57.0.2", "k": "10.57.0.3"}


def tcpdump(path, expr=""):
    """The lines `tcpdump -n -r path [expr]` prints (VLAN-tagged frames
    included: OVS mirrors keep their tags)."""
    args = ["tcpdump", "-n", "-r", path]
    if expr:
        args += [expr, "or", "(vlan and (%s))" % expr]
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError("tcpdump -r %s: %s" % (path, r.stderr))
    return r.stdout.splitlines()


def pcap_records(path):
    """(snaplen, [(caplen, len)]) of a pcap file, parsed here."""
    with open(path, "rb") as f:
        data = f.read()
    magic, _, _, _, _, snaplen, link = struct.unpack("<IHHiIII", data[:24])
    assert magic == 0xa1b2c3d4 and link == 1, (hex(magic), link)
    out, off = [], 24
    while off + 16 <= len(data):
        _, _, caplen, wire = struct.unpack("<IIII", data[off:off + 16])
        out.append((caplen, wire))
        off += 16 + caplen
    assert off == len(data), "truncated record at %d of %d" % (off, len(data))
    return snaplen, out


def echoes(lines, src, dst):
    """Whether tcpdump lines show an echo request src > dst and its reply."""
    req = any("%s > %s: ICMP echo request" % (src, dst) in l for l in lines)
    rep = any("%s > %s: ICMP echo reply" % (dst, src) in l for l in lines)
    return req and rep


class Captures:
    """Mixed into a TestCase whose setUpClass calls boot(daemon, bridge)."""

    @classmethod
    def boot(cls, d, bridge):
        class_attackers(cls, "capture", "frame_flood")
        cls.d = d
        cls.c = d.client()
        cls.addClassCleanup(cls.c.close)
        cls.bridge = bridge or "mega_bridge"
        cls.files = os.path.join(d.base, "files")
        cls.c.ok("vm config volume /scratch " + cls.tmp)
        pre = bridge + "," if bridge else ""
        cls.cons = launch_guests(d, cls.c, [(pre + "5", "a,b,k")])
        cls.addClassCleanup(lambda: close_consoles(cls.cons))
        for name in ("a", "b", "k"):
            set_guest_address(cls.cons[name], ADDR[name] + "/24")

    def setUp(self):
        self.addCleanup(self.c.run, "clear capture")

    def rows(self):
        return self.c.table("capture")

    def ping(self, src, dst, n=3):
        out = self.cons[src].sh("ping -c %d -i 0.2 -W 2 %s >/dev/null 2>&1; echo rc=$?"
                                % (n, ADDR[dst]), timeout=15)
        self.assertIn("rc=0", out)

    def out(self, name):
        return os.path.join(self.tmp, name)

    def test_1_vm_and_bridge_pcaps(self):
        self.c.ok("capture pcap vm a 0 a.pcap")  # beneath the file root
        self.c.ok("capture pcap bridge %s %s" % (self.bridge, self.out("br.pcap")))
        rows = self.rows()
        self.assertEqual(len(rows), 2, rows)
        vm = [r for r in rows if r["interface"]][0]
        br = [r for r in rows if not r["interface"]][0]
        self.assertEqual((vm["bridge"], vm["type"], vm["interface"], vm["mode"], vm["compress"],
                          vm["path"], vm["state"]),
                         (self.bridge, "pcap", "a:0", "", "", os.path.join(self.files, "a.pcap"),
                          "running"))
        self.assertEqual((br["bridge"], br["type"], br["path"], br["state"]),
                         (self.bridge, "pcap", self.out("br.pcap"), "running"))
        st = os.stat(os.path.join(self.files, "a.pcap"))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)

        self.ping("a", "b")
        self.ping("b", "a")
        for path in (os.path.join(self.files, "a.pcap"), self.out("br.pcap")):
            got = wait_for(lambda: (lambda l: l if echoes(l, ADDR["a"], ADDR["b"]) and
                                    echoes(l, ADDR["b"], ADDR["a"]) else None)(
                                        tcpdump(path, "icmp")), 5, step=0.2)
            self.assertTrue(got, "%s: %s" % (path, tcpdump(path)))
        self.assertGreater(int(self.rows()[0]["packets"]), 0)

        self.c.ok("clear capture")
        self.assertEqual(self.rows(), [])
        sizes = [os.path.getsize(p) for p in (os.path.join(self.files, "a.pcap"),
                                             self.out("br.pcap"))]
        self.ping("a", "b")
        time.sleep(0.5)
        self.assertEqual(sizes, [os.path.getsize(p) for p in (
            os.path.join(self.files, "a.pcap"), self.out("br.pcap"))])
        # Both files are whole pcap files.
        pcap_records(self.out("br.pcap"))
        pcap_records(os.path.join(self.files, "a.pcap"))
        assert_responsive(self.d)

    def test_2_snaplen_and_filter(self):
        self.c.ok("capture pcap snaplen 100")
        self.c.ok("capture pcap filter icmp")
        self.addCleanup(self.c.run, "capture pcap snaplen 0")
        self.addCleanup(self.c.run, "capture pcap filter ''")
        self.assertEqual(self.c.plain("capture pcap snaplen"), "100")
        self.assertEqual(self.c.plain("capture pcap filter"), "icmp")
        path = self.out("snap.pcap")
        self.c.ok("capture pcap vm b 0 " + path)
        out = self.cons["a"].sh("ping -c 2 -i 0.2 -s 1000 %s >/dev/null; echo rc=$?" % ADDR["b"])
        self.assertIn("rc=0", out)
        wait_for(lambda: len(pcap_records(path)[1]) >= 4, 5, step=0.2)
        self.c.ok("capture pcap delete vm b 0")
        snaplen, recs = pcap_records(path)
        self.assertEqual(snaplen, 100)
        self.assertGreaterEqual(len(recs), 4)
        for caplen, wire in recs:
            self.assertEqual(caplen, 100)
            self.assertGreater(wire, 1000)
        # Only ICMP passed the filter: no ARP.
        self.assertEqual(tcpdump(path, "arp"), [])
        # A filter that does not compile fails the capture, naming it.
        self.c.ok("capture pcap filter 'no such filter('")
        _, errors = self.c.run("capture pcap vm b 0 " + self.out("bad.pcap"))
        self.assertTrue(errors and "capture filter `no such filter(`" in errors[0], errors)
        self.assertEqual(self.rows(), [])

    def test_3_unsafe_files_refused(self):
        victim = self.out("victim")
        with open(victim, "w") as f:
            f.write("keep me")
        os.symlink(victim, self.out("link.pcap"))
        os.symlink(victim, os.path.join(self.files, "link.pcap"))
        os.mkfifo(self.out("fifo.pcap"))
        other = self.out("other.pcap")
        with open(other, "w") as f:
            f.write("nobody's")
        os.chown(other, 65534, 65534)
        os.link(victim, self.out("hard.pcap"))
        for args, want in [
                ("vm a 0 " + self.out("link.pcap"), "ELOOP"),
                ("vm a 0 link.pcap", "ELOOP"),
                ("vm a 0 ../escape.pcap", "EXDEV"),
                ("bridge %s %s" % (self.bridge, self.out("link.pcap")), "ELOOP"),
                ("vm a 0 " + self.out("fifo.pcap"), "ENXIO"),
                ("vm a 0 " + other, "owned by uid 65534"),
                ("vm a 0 " + self.out("hard.pcap"), "links"),
        ]:
            _, errors = self.c.run("capture pcap " + args)
            self.assertTrue(errors and want in errors[0], (args, errors))
        with open(victim) as f:
            self.assertEqual(f.read(), "keep me")
        with open(other) as f:
            self.assertEqual(f.read(), "nobody's")
        self.assertFalse(os.path.exists(os.path.join(self.d.base, "escape.pcap")))
        self.assertEqual(self.rows(), [])
        # A local user cannot read what was captured.
        self.c.ok("capture pcap vm a 0 private.pcap")
        self.assertNotEqual(as_nobody(["cat", os.path.join(self.files, "private.pcap")])
                            .returncode, 0)

    def test_4_flood_while_captured(self):
        """A hostile guest sends junk frames (random EtherTypes, lengths and
        bytes) as fast as it can on a NIC captured twice (its own and the
        bridge's): the daemon answers within a second throughout, its memory
        grows by less than 64 MiB per capture ring set, and both files are
        valid pcap files whose records never exceed the snapshot length."""
        vm_pcap, br_pcap = self.out("flood-vm.pcap"), self.out("flood-br.pcap")
        before = rss_kib(self.d.proc.pid)
        self.c.ok("capture pcap vm a 0 " + vm_pcap)
        self.c.ok("capture pcap bridge %s %s" % (self.bridge, br_pcap))
        con = self.cons["a"]
        con.sh("rm -f /tmp/flood.out; (/scratch/frame_flood veth0 ff:ff:ff:ff:ff:ff 300000 1514 0"
               " junk > /tmp/flood.out 2>&1; echo rc=$? >> /tmp/flood.out) & true")
        peak = before
        deadline = time.time() + 60
        out = ""
        while time.time() < deadline:
            assert_responsive(self.d)
            self.rows()
            peak = max(peak, rss_kib(self.d.proc.pid))
            out = con.sh("cat /tmp/flood.out")
            if "rc=" in out:
                break
            time.sleep(0.2)
        self.assertIn("rc=0", out)
        rows = self.rows()
        self.assertTrue(all(r["state"] == "running" for r in rows), rows)
        packets = sum(int(r["packets"]) for r in rows)
        dropped = sum(int(r["dropped"]) for r in rows)
        sys.stderr.write("(%s; %d frames captured, %d dropped, rss %d -> %d KiB) "
                         % (out.splitlines()[0], packets, dropped, before, peak))
        self.assertGreater(packets, 1000)
        self.c.ok("clear capture")
        assert_responsive(self.d)
        self.assertLess(peak - before, 64 * 1024 * len(rows) + 32 * 1024)
        for path in (vm_pcap, br_pcap):
            snaplen, recs = pcap_records(path)
            self.assertEqual(snaplen, 1600)
            self.assertTrue(all(c <= snaplen and c <= w for c, w in recs))
            self.assertGreater(len(recs), 0)
        self.assertGreaterEqual(len(pcap_records(vm_pcap)[1]), 1000)

    def test_5_vm_kill_stops_its_capture(self):
        path = self.out("k.pcap")
        self.c.ok("capture pcap vm k 0 " + path)
        self.ping("k", "a")
        wait_for(lambda: echoes(tcpdump(path, "icmp"), ADDR["k"], ADDR["a"]), 5, step=0.2)
        self.assertTrue(echoes(tcpdump(path, "icmp"), ADDR["k"], ADDR["a"]))
        self.cons["k"].close()
        self.c.ok("vm kill k")
        rows = self.rows()
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0]["interface"], "k:0")
        self.assertTrue(rows[0]["state"].startswith("stopped"), rows)
        size = os.path.getsize(path)
        pcap_records(path)
        self.assertFalse(guest_ping(self.cons["a"], ADDR["k"]))
        time.sleep(0.3)
        self.assertEqual(os.path.getsize(path), size)
        self.c.ok("capture pcap delete vm k")
        self.assertEqual(self.rows(), [])
        _, errors = self.c.run("capture pcap delete vm k")
        self.assertEqual(errors, ["vm not found: k"])
        # A NIC without a live veth cannot be captured.
        _, errors = self.c.run("capture pcap vm k 0 " + self.out("k2.pcap"))
        self.assertTrue(errors and errors[0].startswith("unknown tap on bridge %s: "
                                                         % self.bridge), errors)


class KernelBridge(Captures, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.boot(class_daemon(cls), "")


@unittest.skipUnless(available(), "Open vSwitch is not installed")
class OpenVSwitch(Captures, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        d = class_ovs_daemon(cls)
        cls.boot(d, d.prefix + "br")

    def mirrors(self):
        return [r["name"] for r in self.ovs.rows("Mirror", "name")]

    def test_6_mirror_port_removed(self):
        self.c.ok("capture pcap bridge %s %s" % (self.bridge, self.out("m.pcap")))
        port = self.d.prefix + "m"
        mine = [m for m in self.mirrors() if m.startswith("mirror-" + port)]
        self.assertEqual(len(mine), 1, self.mirrors())
        self.assertTrue(link_exists(mine[0][len("mirror-"):]))
        self.c.ok("capture pcap delete bridge all")
        self.assertEqual([m for m in self.mirrors() if m.startswith("mirror-" + port)], [])
        self.assertTrue(wait_for(lambda: not link_exists(mine[0][len("mirror-"):]), 5))

    def test_7_sigkill_leaves_nothing_to_break_the_next_daemon(self):
        """A second daemon (own prefix) with a bridge capture is SIGKILLed:
        `herd -nuke` removes its mirror port and Mirror row, and a new daemon
        with that prefix starts and captures again."""
        d = Daemon(*self.ovs.herd_flags())
        self.addCleanup(lambda: (d.stop(), d.nuke(*self.ovs.herd_flags())))
        d.start()
        c = d.client()
        br = d.prefix + "br"
        try:
            tap = c.plain("tap create 5 bridge %s" % br)
            self.assertTrue(tap)
            c.ok("capture pcap bridge %s %s" % (br, self.out("k9.pcap")))
        finally:
            c.close()
        port = d.prefix + "m0"
        self.assertIn("mirror-" + port, self.mirrors())
        d.kill9()
        r = d.nuke(*self.ovs.herd_flags())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("mirror-" + port, self.mirrors())
        self.assertTrue(wait_for(lambda: not link_exists(port), 5))
        d.start()
        c = d.client()
        try:
            c.plain("tap create 5 bridge %s" % br)
            c.ok("capture pcap bridge %s %s" % (br, self.out("k9b.pcap")))
            self.assertEqual(len(c.table("capture")), 1)
        finally:
            c.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
