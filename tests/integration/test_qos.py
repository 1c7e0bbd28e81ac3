#!/usr/bin/env python3
"""Integration tests of `qos add` / `clear qos` (issue 13), run as root.

Real traffic between containers on one VLAN, measured:
  * loss: 500 pings at 10 ms intervals lose about the asked share;
  * delay: the round trip grows by the asked delay (within 20 %);
  * rate: a TCP transfer into the shaped guest runs within 10 % of the rate.
Only what the shaped guest receives is shaped (the qdisc is the root qdisc of
its NIC's host end, whose egress is the guest's ingress): traffic it sends,
and traffic between other guests, is not. The root qdisc is read with `tc`
(the test's own view of the kernel, independent of herd's netlink code).
`clear qos`, `vm kill` and quit leave no qdisc; bad input changes nothing.
The same on Open vSwitch (own userspace ovsdb-server and ovs-vswitchd), where
ovs-vswitchd must also leave herd's qdiscs alone when it reconfigures.

Guests use 10.57.0.0/24 (kernel bridge) and 10.58.0.0/24 (OVS), set inside;
nothing is routed to the host. Throughput is received by a small Python sink
running in the receiving guest's network namespace (nsenter -n), which times
the transfer from its first byte to its last; the guest's busybox nc sends.
"""

import json
import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herdtest import (Daemon, class_daemon, close_consoles, guest_console,  # noqa: E402
                      kernel_has_qdisc, launch_guests, link_exists, links_with, quit_daemon, rss_kib,
                      set_guest_address, wait_for, wait_no_links)
from ovstest import Ovs, available  # noqa: E402

PINGS = 500


NETEM = kernel_has_qdisc("netem")

# The sink: accepts one connection, reads to EOF, prints bytes and the time
# from the first byte to the last.
# A hostile guest's flood: UDP datagrams of 1400 bytes as fast as one core
# sends them, for a few seconds.
FLOOD = r"""
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
end, n = time.monotonic() + float(sys.argv[2]), 0
while time.monotonic() < end:
    try:
        s.sendto(b"x" * 1400, (sys.argv[1], 9))
        n += 1
    except OSError:
        pass
print(n, flush=True)
"""

SINK = r"""
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
print("listening", flush=True)
s.settimeout(60)
c, _ = s.accept()
c.settimeout(60)
n, first, last = 0, None, None
while True:
    b = c.recv(1 << 20)
    if not b:
        break
    now = time.monotonic()
    if first is None:
        first = now
    n += len(b)
    last = now
print(n, (last - first) if first else 0, flush=True)
"""


def bpf_filters(tap, *where):
    """The names of the bpf filters of a host interface that `tc filter show
    dev <tap> <where...>` lists."""
    r = subprocess.run(["tc", "-j", "filter", "show", "dev", tap, *where],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return []
    return [f["options"].get("bpf_name", "") for f in json.loads(r.stdout or "[]")
            if f.get("kind") == "bpf" and "options" in f]


def loss_filters(tap):
    """Under the root qdisc 1: (herd's loss without netem is one named herd_loss)."""
    return bpf_filters(tap, "parent", "1:")


def delay_filters(tap):
    """On the egress hook (herd's delay line without netem is one named herd_delay)."""
    return bpf_filters(tap, "egress")


def root_qdisc(tap):
    """The root qdisc of a host interface as tc shows it (a dict), or None
    when the interface is gone."""
    r = subprocess.run(["tc", "-j", "qdisc", "show", "dev", tap], capture_output=True, text=True)
    if r.returncode != 0:
        return None
    for q in json.loads(r.stdout or "[]"):
        if q.get("root"):
            return q
    return None


class Shaping:
    """Mixed into a TestCase whose class set up guests a, b, c on one VLAN
    (self.cons, self.ADDR) on daemon self.d with client self.c."""

    RATE_MBIT = 20
    PORT = 7000

    def setUp(self):
        self.c.ok("clear qos all all")
        for name in "abc":
            q = root_qdisc(self.tap(name))
            self.assertEqual(q and q["kind"], "noqueue", q)

    def tap(self, name):
        return self.c.vm(name)["tap"][1:-1]

    def console(self, name):
        return guest_console(self.d, self.c, name)

    def delay_taps(self):
        """The daemon's delay line taps (P w<n>; none where there is netem)."""
        return links_with(self.d.prefix + "w")

    def qos(self, name):
        return self.c.vm(name)["qos"]

    def ping(self, src, dst, count, interval):
        """(loss share 0-1, average round trip in ms) of pings from guest src."""
        out = self.cons[src].sh("ping -q -c %d -i %s -W 1 %s" % (count, interval, self.ADDR[dst]),
                                timeout=count * interval + 30)
        m = re.search(r"(\d+) packets transmitted, (\d+) packets received", out)
        self.assertTrue(m, out)
        sent, got = int(m.group(1)), int(m.group(2))
        self.assertEqual(sent, count, out)
        avg = re.search(r"min/avg/max = [\d.]+/([\d.]+)/", out)
        return 1 - got / sent, float(avg.group(1)) if avg else None

    def throughput(self, src, dst, size=8 << 20):
        """Bits per second of a TCP transfer of `size` bytes from guest src to
        guest dst, as dst's network namespace receives it."""
        Shaping.PORT += 1
        pid = self.c.vm(dst)["pid"]
        sink = subprocess.Popen(["nsenter", "-t", pid, "-n", "python3", "-c", SINK,
                                 self.ADDR[dst], str(Shaping.PORT)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.assertEqual(sink.stdout.readline().strip(), "listening")
            self.cons[src].sh("dd if=/dev/zero bs=65536 count=%d 2>/dev/null | nc %s %d; true"
                              % (size >> 16, self.ADDR[dst], Shaping.PORT), timeout=120)
            out, err = sink.communicate(timeout=60)
        finally:
            if sink.poll() is None:
                sink.kill()
                sink.wait()
        n, secs = out.split()
        self.assertEqual(int(n), size, err)
        return int(n) * 8 / float(secs)

    def test_loss(self):
        """Loss is netem's where the kernel has it, otherwise a BPF filter
        under a root htb (both measured the same way)."""
        base, _ = self.ping("a", "b", PINGS, 0.01)
        self.assertLessEqual(base, 0.01, "loss without qos")
        self.c.ok("qos add b 0 loss 20")
        self.assertEqual(self.qos("b"), "[0: loss 20]")
        q = root_qdisc(self.tap("b"))
        if NETEM:
            self.assertEqual(q["kind"], "netem")
            self.assertAlmostEqual(q["options"]["loss-random"]["loss"], 0.2, places=3)
        else:
            self.assertEqual(q["kind"], "htb")
            self.assertEqual(loss_filters(self.tap("b")), ["herd_loss"])
        loss, _ = self.ping("a", "b", PINGS, 0.01)
        print("\n  loss 20%%: %.1f%% of %d pings lost (%.1f%% without qos)"
              % (loss * 100, PINGS, base * 100), file=sys.stderr)
        # 20 % of 500: 100 +- 8.9 (one sd); 30 packets is over 3 sd.
        self.assertAlmostEqual(loss, 0.20, delta=0.06)
        # A new share replaces the old one; clear qos removes it.
        self.c.ok("qos add b 0 loss 5")
        self.assertEqual(self.qos("b"), "[0: loss 5]")
        if not NETEM:
            self.assertEqual(loss_filters(self.tap("b")), ["herd_loss"])
        self.c.ok("clear qos b 0")
        self.assertEqual(root_qdisc(self.tap("b"))["kind"], "noqueue")
        self.assertEqual(loss_filters(self.tap("b")), [])
        after, _ = self.ping("a", "b", 100, 0.01)
        self.assertLessEqual(after, 0.02, "loss after clear qos")

    def test_delay_only_what_the_guest_receives(self):
        """netem's delay where the kernel has it, otherwise herd's delay
        line (measured the same way)."""
        _, base = self.ping("a", "b", 20, 0.05)
        self.c.ok("qos add b 0 delay 50ms")
        self.assertEqual(self.qos("b"), "[0: delay 50ms]")
        if not NETEM:
            self.assertEqual(root_qdisc(self.tap("b"))["kind"], "noqueue")
            self.assertEqual(delay_filters(self.tap("b")), ["herd_delay"])
            self.assertEqual(len(self.delay_taps()), 1)
        _, rtt = self.ping("a", "b", 20, 0.05)
        # The replies from b are not delayed: one 50 ms per round trip.
        added = rtt - base
        print("\n  delay 50ms: round trip %.2f ms (%.3f ms without qos)" % (rtt, base),
              file=sys.stderr)
        self.assertGreaterEqual(added, 40)
        self.assertLessEqual(added, 60)
        # a and c are not shaped.
        _, other = self.ping("a", "c", 20, 0.05)
        self.assertLess(other, 10)

    def test_loss_and_delay_add_up_rate_replaces_them(self):
        self.c.ok("qos add b 0 loss 10")
        self.c.ok("qos add b 0 delay 30")  # milliseconds
        self.assertEqual(self.qos("b"), "[0: loss 10 delay 30ms]")
        q = root_qdisc(self.tap("b"))
        if NETEM:
            self.assertEqual(q["kind"], "netem")
            self.assertAlmostEqual(q["options"]["delay"]["delay"], 0.030, places=4)
            self.assertAlmostEqual(q["options"]["loss-random"]["loss"], 0.1, places=3)
        else:
            # The delay line carries the loss too; the loss's htb is gone.
            self.assertEqual(q["kind"], "noqueue")
            self.assertEqual(delay_filters(self.tap("b")), ["herd_delay"])
            self.assertEqual(loss_filters(self.tap("b")), [])
        loss, rtt = self.ping("a", "b", 100, 0.02)
        self.assertGreaterEqual(rtt, 24)
        self.assertLessEqual(rtt, 36 + 1)
        # 10 % of 100: 10 +- 3 (one sd).
        self.assertAlmostEqual(loss, 0.10, delta=0.10)
        self.c.ok("qos add b 0 rate 5 mbit")
        self.assertEqual(self.qos("b"), "[0: rate 5mbit]")
        q = root_qdisc(self.tap("b"))
        self.assertEqual(q["kind"], "tbf")
        self.assertEqual(q["options"]["rate"], 5000000 // 8)
        self.assertEqual(delay_filters(self.tap("b")), [])
        _, rtt = self.ping("a", "b", 20, 0.05)
        self.assertLess(rtt, 10)  # the delay went
        self.assertTrue(wait_for(lambda: not self.delay_taps(), timeout=5))
        # A delay again, then clear qos: nothing is left.
        self.c.ok("qos add b 0 delay 5ms")
        self.assertEqual(self.qos("b"), "[0: delay 5ms]")
        self.c.ok("clear qos b 0")
        self.assertEqual(self.qos("b"), "[]")
        self.assertEqual(root_qdisc(self.tap("b"))["kind"], "noqueue")
        self.assertEqual(delay_filters(self.tap("b")), [])
        self.assertTrue(wait_for(lambda: not self.delay_taps(), timeout=5))

    def test_rate(self):
        want = self.RATE_MBIT * 1e6
        self.c.ok("qos add b 0 rate %d mbit" % self.RATE_MBIT)
        self.assertEqual(self.qos("b"), "[0: rate %dmbit]" % self.RATE_MBIT)
        got = self.throughput("a", "b")
        # What b sends is not shaped.
        back = self.throughput("b", "a")
        print("\n  rate %d mbit: a -> b %.2f mbit/s; b -> a (unshaped) %.0f mbit/s"
              % (self.RATE_MBIT, got / 1e6, back / 1e6), file=sys.stderr)
        self.assertAlmostEqual(got / want, 1.0, delta=0.10)
        self.assertGreater(back, 2 * want)
        self.c.ok("clear qos b all")
        free = self.throughput("a", "b")
        self.assertGreater(free, 2 * want)

    def test_flood_towards_a_delayed_guest(self):
        """A guest floods one whose NIC has a long delay: what waits is
        bounded (the delay line holds at most 1000 frames, netem as many),
        the daemon keeps answering and its memory stays flat, and the
        delayed guest is reachable once the flood ends."""
        self.c.ok("qos add b 0 delay 500ms")
        daemon = self.d.proc.pid
        before = rss_kib(daemon)
        pid = self.c.vm("a")["pid"]
        flood = subprocess.Popen(["nsenter", "-t", pid, "-n", "python3", "-c", FLOOD,
                                  self.ADDR["b"], "4"], stdout=subprocess.PIPE, text=True)
        try:
            answers = 0
            while flood.poll() is None:
                t = time.monotonic()
                self.assertEqual(self.c.plain("echo alive"), "alive")
                self.assertLess(time.monotonic() - t, 2.0)
                answers += 1
                time.sleep(0.2)
            sent = int(flood.stdout.read().split()[0])
        finally:
            if flood.poll() is None:
                flood.kill()
            flood.wait()
        grown = rss_kib(daemon) - before
        print("\n  flood: %d datagrams at a guest with 500 ms delay; daemon grew %d KiB, "
              "answered %d times" % (sent, grown, answers), file=sys.stderr)
        self.assertGreater(sent, 20000)
        self.assertLess(grown, 16 * 1024)
        self.c.ok("qos add b 0 delay 20ms")
        loss, rtt = self.ping("a", "b", 10, 0.1)
        self.assertLess(loss, 0.5)
        self.assertGreaterEqual(rtt, 15)
        self.c.ok("clear qos b 0")

    def test_rate_replaces_rate(self):
        self.c.ok("qos add b 0 rate 5 mbit")
        q = root_qdisc(self.tap("b"))
        self.assertEqual(q["kind"], "tbf")
        self.assertEqual(q["options"]["rate"], 5000000 // 8)
        self.c.ok("qos add b 0 rate 300 kbit")
        self.assertEqual(self.qos("b"), "[0: rate 300kbit]")
        self.assertEqual(root_qdisc(self.tap("b"))["options"]["rate"], 300000 // 8)
        self.c.ok("clear qos b 0")
        self.assertEqual(self.qos("b"), "[]")
        self.assertEqual(root_qdisc(self.tap("b"))["kind"], "noqueue")

    def test_bad_input_changes_nothing(self):
        self.c.ok("qos add a 0 rate 5 mbit")
        before = root_qdisc(self.tap("a"))
        for line, want in (
                ("qos add a 0 loss 100", "invalid loss: `100`"),
                ("qos add a 0 delay 5parsecs", "invalid duration: `5parsecs`"),
                ("qos add a 0 rate 0 mbit", "invalid rate: `0`"),
                ("qos add a 1 loss 5", "invalid tap index specified: 1 (vm a has 1 NIC)"),
                ("qos add nosuch 0 delay 5ms", "vm not found: nosuch"),
                ("qos add a all loss 5", "wildcard qos not implemented")):
            _, errors = self.c.run(line)
            self.assertEqual(len(errors), 1, line)
            self.assertTrue(errors[0].startswith(want), errors[0])
        self.assertEqual(root_qdisc(self.tap("a")), before)
        self.assertEqual(self.qos("a"), "[0: rate 5mbit]")

    def test_z_kill_and_restart_leave_no_qos(self):
        self.c.ok("qos add c 0 delay 5ms")  # a delay line where there is no netem
        self.c.ok("qos add a 0 rate 1 mbit")
        tap = self.tap("a")
        self.cons["a"].close()
        self.cons["c"].close()
        self.c.ok("vm kill a,c")
        self.assertEqual(self.qos("a"), "[]")
        self.assertEqual(self.qos("c"), "[]")
        # The veth (and its qdisc) goes with the namespace, asynchronously.
        self.assertTrue(wait_for(lambda: not link_exists(tap), timeout=10))
        self.assertTrue(wait_for(lambda: not self.delay_taps(), timeout=10))
        self.c.ok("vm start c")
        self.cons["c"] = self.console("c")
        set_guest_address(self.cons["c"], self.ADDR["c"] + "/24")
        _, errors = self.c.run("qos add a 0 rate 1 mbit")
        self.assertTrue(errors and errors[0].startswith("tap %s not found" % tap), errors)
        self.c.ok("vm start a")
        self.assertEqual(self.qos("a"), "[]")
        self.assertEqual(root_qdisc(self.tap("a"))["kind"], "noqueue")
        self.cons["a"] = self.console("a")
        set_guest_address(self.cons["a"], self.ADDR["a"] + "/24")


class KernelGuests:
    @classmethod
    def setUpClass(cls):
        cls.d = class_daemon(cls)
        cls.c = cls.d.client()
        cls.addClassCleanup(cls.c.close)
        cls.cons = launch_guests(cls.d, cls.c, [("5", "a,b,c")])
        cls.addClassCleanup(lambda: close_consoles(cls.cons))
        for name in "abc":
            set_guest_address(cls.cons[name], cls.ADDR[name] + "/24")



class KernelBridge(KernelGuests, Shaping, unittest.TestCase):
    ADDR = {"a": "10.57.0.1", "b": "10.57.0.2", "c": "10.57.0.3"}


@unittest.skipUnless(available(), "Open vSwitch is not installed")
class OpenVSwitch(Shaping, unittest.TestCase):
    """The same on OVS's userspace datapath, which forwards through
    ovs-vswitchd: a lower rate keeps the switch itself out of the figure."""

    ADDR = {"a": "10.58.0.1", "b": "10.58.0.2", "c": "10.58.0.3"}
    RATE_MBIT = 10

    @classmethod
    def setUpClass(cls):
        cls.ovs = Ovs().start()
        cls.addClassCleanup(cls.ovs.stop)
        cls.d = Daemon(*cls.ovs.herd_flags())
        cls.addClassCleanup(cls.d.nuke, *cls.ovs.herd_flags())
        cls.addClassCleanup(cls.d.stop)
        cls.d.start()
        cls.c = cls.d.client()
        cls.addClassCleanup(cls.c.close)
        cls.br = cls.d.prefix + "br"
        cls.cons = launch_guests(cls.d, cls.c, [(cls.br + ",5", "a,b,c")])
        cls.addClassCleanup(lambda: close_consoles(cls.cons))
        for name in "abc":
            set_guest_address(cls.cons[name], cls.ADDR[name] + "/24")

    def test_switch_reconfiguration_keeps_qdisc(self):
        """ovs-vswitchd manages the qdiscs of its ports unless told not to:
        adding and removing other ports (a launch, a kill, a VLAN move) must
        leave the shaped port's netem in place."""
        self.c.ok("qos add b 0 rate %d mbit" % self.RATE_MBIT)
        tap = self.tap("b")
        self.c.ok("vm config net %s,6" % self.br)
        self.c.ok("vm launch container x")
        self.c.ok("vm start x")
        self.c.ok("vm net connect b 0 7 %s" % self.br)
        self.c.ok("vm net connect b 0 5 %s" % self.br)
        self.c.ok("vm kill x")
        self.c.ok("vm flush")
        # Give ovs-vswitchd time to act on the changes.
        self.ovs.vsctl("--wait=hv", "sync", check=False)
        time.sleep(1)
        q = root_qdisc(tap)
        self.assertEqual(q and q["kind"], "tbf", q)
        self.assertEqual(self.qos("b"), "[0: rate %dmbit]" % self.RATE_MBIT)
        got = self.throughput("a", "b")
        self.assertAlmostEqual(got / (self.RATE_MBIT * 1e6), 1.0, delta=0.10)
        # herd's QoS row (type linux-noop) is what keeps ovs-vswitchd away.
        rows = [r for r in self.ovs.rows("QoS", "type", "external_ids")
                if dict(r["external_ids"][1]).get("herd-prefix") == self.d.prefix]
        self.assertEqual([r["type"] for r in rows], ["linux-noop"])


class Cleanup(unittest.TestCase):
    def test_quit_and_nuke_leave_nothing(self):
        for how in ("quit", "nuke"):
            d = Daemon().start()
            try:
                c = d.client()
                c.ok("vm config backchannel false")
                c.ok("vm config net 5 6")
                c.ok("vm launch container q[1-3]")
                c.ok("qos add all 0 rate 1 mbit")
                c.ok("qos add all 1 rate 2 mbit")
                taps = [t for r in c.vms().values() for t in r["tap"][1:-1].split(", ")]
                self.assertEqual(len(taps), 6)
                for t in taps:
                    self.assertEqual(root_qdisc(t)["kind"], "tbf")
                if how == "quit":
                    quit_daemon(c)
                    d.proc.wait(30)
                else:
                    c.ok("nuke")
                    self.assertEqual(c.vms(), {})
                    c.close()
                self.assertEqual(wait_no_links(d.prefix, timeout=10), [])
            finally:
                d.stop()

    @unittest.skipUnless(available(), "Open vSwitch is not installed")
    def test_ovs_nuke_leaves_no_qos_row(self):
        ovs = Ovs().start()
        try:
            d = Daemon(*ovs.herd_flags()).start()
            try:
                c = d.client()
                c.ok("vm config backchannel false")
                c.ok("vm config net %sbr,5" % d.prefix)
                c.ok("vm launch container q[1-2]")
                c.ok("qos add all 0 rate 1 mbit")
                ours = [r for r in ovs.rows("QoS", "external_ids")
                        if dict(r["external_ids"][1]).get("herd-prefix") == d.prefix]
                self.assertEqual(len(ours), 1)  # one row, shared by herd's ports
                c.ok("nuke")
                c.close()
                self.assertEqual(ovs.rows("QoS", "external_ids"), [])
                self.assertEqual(wait_no_links(d.prefix, timeout=10), [])
            finally:
                d.stop()
                d.nuke(*ovs.herd_flags())
        finally:
            ovs.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
