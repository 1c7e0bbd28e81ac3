#!/usr/bin/env python3
"""Attacks on the daemon's cc server from inside a guest, run as root.

A guest is root in its container and may speak the cc protocol on /cc
itself. tests/integration/cc_attacker.c, built with `gcc -static` into a
volume, is that guest: the test stops the VM's real agent, runs the attacker
from the console, checks what the daemon holds and wrote, and starts the
agent again. During and after each attack the daemon answers (`herd -e
version`) and a `cc exec` on another VM gets its response.
"""

import hashlib
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herdtest import (assert_responsive, cc_clients, cc_responses,  # noqa: E402
                      class_attackers, class_daemon, guest_console, wait_for)

HERE = os.path.dirname(os.path.abspath(__file__))
MiB = 1 << 20


def proc_status(pid, key):
    """A /proc/<pid>/status value in bytes (VmRSS, VmHWM)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def reset_peak(pid):
    """Makes VmHWM start again from the current RSS."""
    with open("/proc/%d/clear_refs" % pid, "w") as f:
        f.write("5")


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def tree(root, skip):
    """Every path under root (relative), or an empty set, but those naming
    `skip` (a uuid) and the bare command directories their responses make."""
    out = set()
    for dirpath, dirs, files in os.walk(root):
        for n in dirs + files:
            rel = os.path.relpath(os.path.join(dirpath, n), root)
            parts = rel.split("/")
            if skip in parts or (parts[0] == "miniccc_responses" and len(parts) <= 2):
                continue
            out.add(rel)
    return out


def md5(path):
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


class Attack(threading.Thread):
    """The attacker running in the victim's console, in the background."""

    def __init__(self, con, args, timeout):
        super().__init__(daemon=True)
        self.con, self.args, self.timeout = con, args, timeout
        self.out, self.error = None, None
        self.start()

    def run(self):
        try:
            self.out = self.con.sh("/scratch/cc_attacker " + self.args, timeout=self.timeout)
        except Exception as e:  # reported by result()
            self.error = e

    def result(self):
        """The attacker's `key=value` lines as a dict, once it ended."""
        self.join(self.timeout + 10)
        if self.error:
            raise self.error
        facts = {}
        for line in self.out.splitlines():
            k, sep, v = line.strip().partition("=")
            if sep:
                facts[k] = v
        return facts


class SecCc(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        class_attackers(cls, "cc", "cc_attacker")
        cls.d = class_daemon(cls)
        cls.c = c = cls.d.client()
        cls.addClassCleanup(c.close)
        c.ok("vm config volume /scratch " + cls.tmp)
        c.ok("vm launch container victim,bystander")
        c.ok("vm start all")
        assert wait_for(lambda: cc_clients(c) == 2, 60), "agents did not connect"
        cls.con = guest_console(cls.d, c, "victim")
        cls.addClassCleanup(cls.con.close)
        cls.uuid = c.vm("victim")["uuid"].lower()
        cls.pid = cls.d.proc.pid
        cls.files = os.path.join(cls.d.base, "files")

    def setUp(self):
        # The victim's own agent would take its connection back: stop it.
        self.con.sh("kill $(pidof herd-cc) 2>/dev/null; true")
        self.assertTrue(wait_for(lambda: cc_clients(self.c) == 1, 20))

    def tearDown(self):
        self.start_agent()

    def start_agent(self):
        self.con.sh("pidof herd-cc >/dev/null || (/bin/herd-cc </dev/null >/dev/null 2>&1 &)")
        self.assertTrue(wait_for(lambda: self.victim_row() is not None
                                 and self.victim_row()["hostname"] == "victim", 20))

    def victim_row(self):
        for row in self.c.table("cc clients"):
            if row["uuid"] == self.uuid:
                return row
        return None

    def run_on(self, vm, line):
        """Posts a cc command for one VM only; returns its id."""
        self.c.ok("cc filter name=" + vm)
        try:
            self.c.ok(line)
        finally:
            self.c.ok("clear cc filter")
        return max(int(r["id"]) for r in self.c.table("cc commands"))

    def answered(self, vm, cid, timeout=30):
        return wait_for(lambda: cc_responses(self.c, cid) >= 1, timeout)

    def check_alive(self):
        """The daemon answers at once and another VM's agent still works."""
        assert_responsive(self.d)
        cid = self.run_on("bystander", "cc exec echo alive")
        self.assertTrue(self.answered("bystander", cid), "bystander's cc exec got no response")

    def attack(self, args, timeout=60, during=None):
        """Runs the attacker; checks liveness (and calls `during`) meanwhile,
        and again after. Returns the attacker's facts."""
        a = Attack(self.con, args, timeout)
        time.sleep(0.5)
        self.check_alive()
        if during:
            during(a)
        facts = a.result()
        self.check_alive()
        return facts

    # 9: connections that never say hello.
    def test_connections_without_hello(self):
        # Each sends most of an 8 MiB frame before its hello.
        reset_peak(self.pid)
        base = proc_status(self.pid, "VmRSS")
        facts = self.attack("flood 50 %d 1 2" % (8 * MiB - 8))
        grew = proc_status(self.pid, "VmHWM") - base
        self.assertLess(grew, 8 * MiB, "daemon RSS grew by %d bytes" % grew)
        self.assertEqual(facts.get("open_t2"), "0", facts)
        # Silent ones: past the cap closed at once, the rest after the hello
        # timeout.
        facts = self.attack("flood 50 0 1 8")
        self.assertLessEqual(int(facts["open_t1"]), 4, facts)
        self.assertEqual(facts["open_t2"], "0", facts)

    # 10: unfinished files under ids nobody asked for.
    def test_unfinished_files(self):
        base = open_fds(self.pid)
        peak = [base]

        def sample(a):
            while a.is_alive():
                peak[0] = max(peak[0], open_fds(self.pid))
                time.sleep(0.05)

        facts = self.attack("nofile 20000 3", during=sample)
        self.assertEqual(facts.get("sent"), "20000", facts)
        self.assertLess(peak[0] - base, 50, "daemon fds went from %d to %d" % (base, peak[0]))
        self.assertFalse(os.path.exists(os.path.join(self.files, "miniccc_responses", "100000")))

    # 10: files of a real `cc recv`, started and never finished.
    def test_owed_files_bounded(self):
        paths = ["/tmp/owed%d" % i for i in range(12)]
        cid = self.run_on("victim", "cc recv " + " ".join(paths))  # waits for a client
        base = open_fds(self.pid)
        peak = [base]

        def sample(a):
            while a.is_alive():
                peak[0] = max(peak[0], open_fds(self.pid))
                time.sleep(0.05)

        facts = self.attack("owed 3", during=sample)
        self.assertEqual(facts.get("id"), str(cid), facts)
        self.assertEqual(facts.get("files"), str(len(paths)), facts)
        self.assertLessEqual(peak[0] - base, 4 + 2, "daemon fds went from %d to %d"
                             % (base, peak[0]))
        rdir = os.path.join(self.files, "miniccc_responses", str(cid), self.uuid, "tmp")
        self.assertLessEqual(len(os.listdir(rdir)), 4)
        self.c.ok("cc delete command %d" % cid)

    # 11: unsolicited file data and responses; the budget.
    def test_unsolicited_writes_and_budget(self):
        # No command is owed by the victim (its id would rightly take an
        # answer); the bystander's answers (check_alive) are not the attacker's.
        self.c.ok("cc delete command all")
        other = self.c.vm("bystander")["uuid"].lower()
        before = tree(self.files, other)
        facts = self.attack("unsolicited 100 1")
        self.assertEqual(facts.get("sent"), "100", facts)
        self.assertEqual(tree(self.files, other) - before, set())

        self.start_agent()
        c = self.c
        c.ok("cc budget 2M")
        try:
            self.assertEqual(c.plain("cc budget"), str(2 * MiB))
            _, errors = c.run("cc budget lots")
            self.assertEqual(len(errors), 1)
            self.assertIn("invalid size `lots`", errors[0])
            self.assertEqual(c.plain("cc budget"), str(2 * MiB))
            self.con.sh("head -c %d /dev/urandom > /tmp/small; head -c %d /dev/urandom > /tmp/big"
                        % (MiB, 3 * MiB))
            want = self.con.sh("md5sum < /tmp/small | cut -c1-32")
            cid = self.run_on("victim", "cc recv /tmp/small")
            self.assertTrue(self.answered("victim", cid))
            got = os.path.join(self.files, "miniccc_responses", str(cid), self.uuid, "tmp/small")
            self.assertEqual(md5(got), want)
            cid = self.run_on("victim", "cc recv /tmp/big")
            self.assertTrue(self.answered("victim", cid))
            rdir = os.path.join(self.files, "miniccc_responses", str(cid), self.uuid)
            self.assertFalse(os.path.exists(os.path.join(rdir, "tmp/big")))
            out = c.ok(".annotate false cc responses %d" % cid)
            self.assertIn("recv /tmp/big: over the budget of 2097152 bytes", out)
        finally:
            c.ok("clear cc budget")
        self.assertEqual(c.plain("cc budget"), str(1 << 30))

    # 12: one deeply nested frame.
    def test_nested_frame(self):
        for size in (8 * MiB - 8, 512 << 10):
            reset_peak(self.pid)
            base = proc_status(self.pid, "VmRSS")
            facts = self.attack("nest %d" % size)
            grew = proc_status(self.pid, "VmHWM") - base
            self.assertLess(grew, 16 * MiB, "daemon RSS grew by %d bytes" % grew)
            self.assertEqual(facts.get("closed"), "1", facts)
        self.start_agent()
        cid = self.run_on("victim", "cc exec echo back")
        self.assertTrue(self.answered("victim", cid))
        out = self.c.ok(".annotate false cc responses %d raw" % cid)
        self.assertEqual(out.strip(), "back")

    # 13: control characters in what the agent says.
    def test_guest_text_escaped(self):
        def look(a):
            row = wait_for(lambda: (self.victim_row() or {}).get("hostname", "")
                           .startswith("evil") and self.victim_row(), 20)
            self.assertTrue(row, "the attacker's hello did not show")
            self.assertEqual(row["hostname"], "evil\\x1b[31m\\x0afake-row\\x0d\\x85x")
            self.assertEqual(row["arch"], "\\x1b[2Jamd64")
            self.assertEqual(row["ip"], "[10.9.9.8 2001:db8::1]")
            self.assertEqual(row["mac"], "[aa:bb:cc:dd:ee:ff]")
            text = self.c.ok(".annotate false cc clients")
            self.assertNotIn("\x1b", text)
            self.assertEqual(len(text.strip("\n").split("\n")), 3, text)  # header + 2 clients

        facts = self.attack("text 6", during=look)
        self.assertEqual(facts.get("junk_closed"), "1", facts)
        log = self.d.logtext()
        self.assertNotIn("\x1b", log)
        self.assertNotIn("\nFAKE LOG LINE", log)
        self.assertIn("expected hello, got `\\x1b[2J\\x0aFAKE LOG LINE", log)


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("skipped: needs root")
        sys.exit(0)
    unittest.main(verbosity=2)
