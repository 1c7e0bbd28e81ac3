#!/usr/bin/env python3
"""Integration tests of named pipes (`pipe`, `plumb`, `cc ... stdin=P stdout=P`),
run as root with real containers of the default guest image (herd-cc).

A host program writes lines into a pipe through its socket
<base>/pipes/minimega/<name>.write; three guests read the pipe on their
stdin and write what they read to another pipe, which the host reads through
<base>/pipes/minimega/<name>.read. Attacks: a guest that floods its stdout
into a pipe nobody drains, and an unprivileged local user trying the sockets.
"""

import collections
import os
import socket
import stat
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herdtest import (as_nobody, assert_responsive, cc_clients, class_daemon,  # noqa: E402
                      rss_kib, wait_for)

GUESTS = ["pg1", "pg2", "pg3"]
# Each guest prefixes each word it reads with its name: one echo process per
# line, so nothing waits in a stdio buffer. (No `$name` here: the command
# line expands those itself.)
ECHO_LOOP = "sh -c 'xargs -n1 echo \"$(hostname)\"'"


class Lines:
    """A connection to a pipe's .read socket, read line by line."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(30)
        self.s.connect(path)
        self.buf = b""

    def read(self, n, timeout=30):
        out = []
        deadline = time.time() + timeout
        while len(out) < n and time.time() < deadline:
            while b"\n" in self.buf and len(out) < n:
                line, self.buf = self.buf.split(b"\n", 1)
                out.append(line.decode())
            if len(out) >= n:
                break
            self.s.settimeout(max(0.1, deadline - time.time()))
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            self.buf += chunk
        return out

    def close(self):
        self.s.close()


class Pipes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = class_daemon(cls)
        cls.c = c = cls.d.client()
        cls.addClassCleanup(c.close)
        c.ok("vm launch container " + ",".join(GUESTS))
        c.ok("vm start all")
        assert wait_for(lambda: cc_clients(c) == 3, 60), "agents did not connect"
        cls.dir = os.path.join(cls.d.base, "pipes", "minimega")

    def sock(self, pipe, kind):
        return os.path.join(self.dir, "%s.%s" % (pipe, kind))

    def pipes(self):
        return {r["name"]: r for r in self.c.table("pipe")}

    def wait_pipe(self, name, **want):
        def ok():
            row = self.pipes().get("minimega//" + name)
            return row is not None and all(row[k] == str(v) for k, v in want.items())
        self.assertTrue(wait_for(ok, 30), "%s never reached %s: %s" % (name, want, self.pipes()))

    def writer(self, pipe):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.sock(pipe, "write"))
        return s

    def start_echoers(self, fan, back):
        self.c.ok("cc background stdin=%s stdout=%s %s" % (fan, back, ECHO_LOOP))
        self.wait_pipe(fan, readers=3)
        self.wait_pipe(back, writers=3)

    def stop_echoers(self, fan, back):
        # Deleting the input pipe ends the guests' stdin: their loops end,
        # and so do their writers.
        self.c.ok("clear pipe " + fan)
        self.wait_pipe(back, writers=0)
        self.c.ok("clear pipe " + back)

    def test_fan_out_all_and_back(self):
        self.start_echoers("fan", "back")
        back = Lines(self.sock("back", "read"))
        w = self.writer("fan")
        sent = ["line-%d" % i for i in range(10)]
        w.sendall(("\n".join(sent) + "\n").encode())
        got = back.read(30)
        w.close()
        back.close()
        seen = collections.defaultdict(list)
        for line in got:
            who, _, what = line.partition(" ")
            seen[who].append(what)
        self.assertEqual(sorted(seen), GUESTS, got)
        for g in GUESTS:
            self.assertEqual(seen[g], sent, "%s got %s" % (g, seen[g]))
        rows = self.pipes()
        self.assertEqual(rows["minimega//fan"]["count"], "10")
        self.assertEqual(rows["minimega//back"]["count"], "30")
        self.assertEqual(rows["minimega//fan"]["mode"], "all")
        self.stop_echoers("fan", "back")

    def test_round_robin_spreads(self):
        self.c.ok("pipe rr mode round-robin")
        self.start_echoers("rr", "rrback")
        back = Lines(self.sock("rrback", "read"))
        w = self.writer("rr")
        sent = ["msg-%d" % i for i in range(30)]
        w.sendall(("\n".join(sent) + "\n").encode())
        got = back.read(30)
        w.close()
        back.close()
        per = collections.Counter(line.split(" ", 1)[0] for line in got)
        self.assertEqual(sorted(line.split(" ", 1)[1] for line in got), sorted(sent))
        self.assertEqual(dict(per), {g: 10 for g in GUESTS}, got)
        self.stop_echoers("rr", "rrback")

    def test_cc_exec_stdout_and_pipe_command(self):
        self.c.ok("pipe eo mode all")  # creates it, so its socket exists
        out = Lines(self.sock("eo", "read"))
        self.wait_pipe("eo", readers=1)
        self.c.ok("cc filter name=pg2")
        try:
            self.c.ok("cc exec stdout=eo echo hello from pg2")
        finally:
            self.c.ok("clear cc filter")
        self.assertEqual(out.read(1), ["hello from pg2"])
        # `pipe <p> <data>` reaches the same reader.
        self.c.ok('pipe eo "typed by hand"')
        self.assertEqual(out.read(1), ["typed by hand"])
        out.close()
        self.wait_pipe("eo", readers=0, previous="typed by hand")
        self.c.ok("clear pipe eo")

    def test_plumb_program_and_via(self):
        self.c.ok("pipe hpout mode all")
        out = Lines(self.sock("hpout", "read"))
        self.c.ok('plumb hpin "sed -u s/hello/goodbye/" hpout')
        self.assertIn("minimega//hpin sed -u s/hello/goodbye/ minimega//hpout",
                      [r["pipeline"] for r in self.c.table("plumb")])
        self.c.ok('pipe hpin "hello pipeline"')
        self.assertEqual(out.read(1), ["goodbye pipeline"])
        self.c.ok("pipe hpout via tr a-z A-Z")
        self.c.ok('pipe hpin "hello via"')
        self.assertEqual(out.read(1), ["GOODBYE VIA"])
        out.close()
        self.c.ok("clear plumb")
        self.assertEqual(self.c.table("plumb"), [])
        self.c.ok("clear pipe hpin")
        self.c.ok("clear pipe hpout")
        self.assertFalse(os.path.exists(self.sock("hpout", "read")))

    def test_attack_unprivileged_user_cannot_use_pipes(self):
        self.c.ok("pipe secret mode all")
        self.wait_pipe("secret")
        st = os.stat(os.path.join(self.d.base, "pipes"))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o700)
        self.assertEqual(stat.S_IMODE(os.stat(self.dir).st_mode), 0o700)
        for kind in ("read", "write"):
            st = os.lstat(self.sock("secret", kind))
            self.assertTrue(stat.S_ISSOCK(st.st_mode))
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
            self.assertEqual(st.st_uid, 0)
            code = ("import socket,sys\n"
                    "s=socket.socket(socket.AF_UNIX)\n"
                    "try:\n"
                    "    s.connect(sys.argv[1]); s.sendall(b'injected\\n'); print('CONNECTED')\n"
                    "except OSError as e:\n"
                    "    print('refused', e)\n")
            r = as_nobody(["python3", "-c", code, self.sock("secret", kind)])
            self.assertNotIn("CONNECTED", r.stdout, r.stdout + r.stderr)
            self.assertIn("refused", r.stdout, r.stdout + r.stderr)
        r = as_nobody(["ls", self.dir])
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(self.pipes()["minimega//secret"]["count"], "0")
        assert_responsive(self.d)
        self.c.ok("clear pipe secret")

    def test_attack_guest_floods_stdout(self):
        # Nobody drains the reader: the daemon must neither grow nor stall.
        self.c.ok("pipe flood mode all")
        slow = Lines(self.sock("flood", "read"))
        self.wait_pipe("flood", readers=1)
        before = rss_kib(self.d.proc.pid)
        self.c.ok("cc filter name=pg3")
        try:
            self.c.ok("cc background stdout=flood yes " + "A" * 200)
        finally:
            self.c.ok("clear cc filter")
        self.wait_pipe("flood", writers=1)
        worst = 0.0
        t0 = time.time()
        while time.time() - t0 < 8:
            worst = max(worst, assert_responsive(self.d))
            time.sleep(0.3)
        row = self.pipes()["minimega//flood"]
        grown = rss_kib(self.d.proc.pid) - before
        print("\nflood: %s messages, %s dropped, daemon grew %d KiB, slowest version %.3f s"
              % (row["count"], row["dropped"], grown, worst), file=sys.stderr)
        self.assertGreater(int(row["count"]), 10000)
        self.assertGreater(int(row["dropped"]), 0)
        self.assertLess(grown, 64 * 1024)
        self.c.ok("cc process killall yes")
        self.wait_pipe("flood", writers=0)
        slow.close()
        self.c.ok("clear pipe flood")
        assert_responsive(self.d)


if __name__ == "__main__":
    unittest.main(verbosity=2)
