#!/usr/bin/env python3
"""Integration tests of command and control (issue 5), run as root.

Real containers of the default guest image, whose /init starts herd-cc.
HERD_CC_N sets the number of containers of the fan-out test (default 50, as issue 5 asks);
HERD_CC_MB the size of the file sent and received (default 100, as issue 5 asks). The time to
collect every response is printed.
"""

import hashlib
import os
import socket
import struct
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herdtest import Daemon, cc_clients, cc_responses, wait_for  # noqa: E402

N = int(os.environ.get("HERD_CC_N", "50"))
MB = int(os.environ.get("HERD_CC_MB", "100"))


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class FanOut(unittest.TestCase):
    def test_exec_everywhere(self):
        with Daemon() as d:
            c = d.client()
            c.ok("vm launch container n[1-%d]" % N)
            c.ok("vm start all")
            self.assertEqual(wait_for(lambda: cc_clients(c) == N and N, 60), N)
            t0 = time.time()
            c.ok("cc exec hostname")
            self.assertTrue(wait_for(lambda: cc_responses(c, 1) == N, 120, step=0.05))
            took = time.time() - t0
            print("\ncc exec on %d containers: all responses in %.3f s" % (N, took),
                  file=sys.stderr)
            out = c.ok(".annotate false cc responses 1 raw")
            names = sorted(line for line in out.split("\n") if line)
            self.assertEqual(names, sorted("n%d" % i for i in range(1, N + 1)))
            for row in c.table("vm info"):
                self.assertEqual(row["cc_active"], "true")
            c.close()


class Files(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon().start()
        cls.addClassCleanup(cls.d.stop)  # also if setUpClass fails (no tearDownClass)
        cls.c = cls.d.client()
        cls.c.ok("vm launch container foo")
        cls.c.ok("vm start foo")
        assert wait_for(lambda: cc_clients(cls.c) == 1, 30)
        rows = cls.c.table("vm info")
        cls.uuid = rows[0]["uuid"]
        cls.next_id = 1

    @classmethod
    def tearDownClass(cls):
        cls.c.close()
        cls.d.stop()

    def post(self, line):
        self.c.ok(line)
        cid = Files.next_id
        Files.next_id += 1
        return cid

    def resp_dir(self, cid):
        return os.path.join(self.d.base, "files", "miniccc_responses", str(cid), self.uuid)

    def test_send_recv_keeps_checksum(self):
        files = os.path.join(self.d.base, "files")
        os.makedirs(files, exist_ok=True)
        big = os.path.join(files, "big.bin")
        with open(big, "wb") as f:
            f.write(os.urandom(MB << 20))
        want = sha256(big)
        cid = self.post("cc send big.bin")
        self.assertTrue(wait_for(lambda: cc_responses(self.c, cid) == 1, 60))
        cid = self.post("cc exec sha256sum /tmp/miniccc/files/big.bin")
        self.assertTrue(wait_for(lambda: cc_responses(self.c, cid) == 1, 60))
        with open(os.path.join(self.resp_dir(cid), "stdout")) as f:
            self.assertEqual(f.read().split()[0], want)
        cid = self.post("cc recv /tmp/miniccc/files/big.bin")
        self.assertTrue(wait_for(lambda: cc_responses(self.c, cid) == 1, 60))
        got = os.path.join(self.resp_dir(cid), "tmp/miniccc/files/big.bin")
        self.assertEqual(sha256(got), want)

    def test_cc_goes_on_during_a_long_shell(self):
        # One client's `shell sleep 3` holds up neither another client nor
        # the recording of cc responses (issue 14).
        slow = self.d.client()
        self.addCleanup(slow.close)
        done = []
        t = threading.Thread(target=lambda: done.append(slow.run("shell sleep 3")))
        start = time.time()
        t.start()
        time.sleep(0.3)
        t0 = time.time()
        self.c.ok("version")
        self.assertLess(time.time() - t0, 0.5)
        cid = self.post("cc exec hostname")
        self.assertTrue(wait_for(lambda: cc_responses(self.c, cid) == 1, 10, step=0.05))
        self.assertLess(time.time() - start, 2.5, "the cc response waited for the shell")
        self.assertEqual(self.c.ok(".annotate false cc responses %d raw" % cid).strip(), "foo")
        self.assertFalse(done)  # the shell still runs
        t.join(10)
        self.assertEqual(done, [("", [])])

    def test_output_over_4mib_is_kept(self):
        # The agent sends long output on in chunks: nothing is cut (issue 14),
        # and the control socket carries it whole.
        size = 6000000
        cid = self.post('cc exec sh -c "yes 0123456789abcdef | head -c %d; '
                        'yes err | head -c 5000 >&2"' % size)
        self.assertTrue(wait_for(lambda: cc_responses(self.c, cid) == 1, 60))
        d = self.resp_dir(cid)
        with open(os.path.join(d, "stdout"), "rb") as f:
            data = f.read()
        self.assertEqual(len(data), size)
        self.assertEqual(data, (b"0123456789abcdef\n" * (size // 17 + 1))[:size])
        with open(os.path.join(d, "stderr"), "rb") as f:
            self.assertEqual(f.read(), (b"err\n" * 1250))
        with open(os.path.join(d, "exitcode")) as f:
            self.assertEqual(f.read(), "0")
        out = self.c.ok(".annotate false cc responses %d raw" % cid)
        self.assertGreaterEqual(len(out), size)
        self.assertIn("0123456789abcdef\n" * 1000, out)
        # a background command's output too
        cid = self.post('cc background sh -c "yes bg | head -c %d"' % size)
        path = os.path.join(self.resp_dir(cid), "stdout")
        self.assertTrue(wait_for(lambda: os.path.exists(path) and
                                 os.path.getsize(path) == size, 60))

    def test_send_missing_file(self):
        _, errors = self.c.run("cc send nope.bin")
        self.assertEqual(errors, ["unable to get file nope.bin via the mesh: file not found"])

    def test_background_and_kill(self):
        cid = self.post("cc background sleep 1000")
        self.assertTrue(wait_for(lambda: cc_responses(self.c, cid) == 1, 30))
        rows = wait_for(lambda: self.c.table("cc process list all"), 30)
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0]["command"], "[sleep 1000]")
        self.assertEqual(rows[0]["name"], "foo")
        self.c.ok("cc process kill %s" % rows[0]["pid"])
        self.assertTrue(wait_for(lambda: not self.c.table("cc process list all"), 30))

    def test_exitcode(self):
        cid = self.post("cc exec false")
        self.assertTrue(wait_for(lambda: cc_responses(self.c, cid) == 1, 30))
        self.assertEqual(self.c.ok(".annotate false cc exitcode %d foo" % cid), "1")
        cid = self.post("cc exec /no/such/thing")
        self.assertTrue(wait_for(lambda: cc_responses(self.c, cid) == 1, 30))
        self.assertEqual(self.c.ok(".annotate false cc exitcode %d foo" % cid), "127")

    def test_garbage_on_the_socket(self):
        # A stranger on the VM's socket: garbage, a truncated frame, a wrong
        # uuid. Each is dropped; the real agent stays connected and works.
        path = os.path.join(self.d.base, self.c.table("vm info")[0]["id"], "cc")
        hello = b'{"type":"hello","version":1,"uuid":"nope"}'
        for junk in (b"\xff" * 64, struct.pack(">I", 100) + b"abc",
                     struct.pack(">II", 4 + len(hello), len(hello)) + hello):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(5)
            s.connect(path)
            s.sendall(junk)
            s.shutdown(socket.SHUT_WR)
            try:
                while s.recv(4096):
                    pass
            except OSError:
                pass
            s.close()
        self.assertEqual(cc_clients(self.c), 1)
        cid = self.post("cc exec echo still here")
        self.assertTrue(wait_for(lambda: cc_responses(self.c, cid) == 1, 30))
        with open(os.path.join(self.resp_dir(cid), "stdout")) as f:
            self.assertEqual(f.read(), "still here\n")


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("skipped: needs root")
        sys.exit(0)
    unittest.main(verbosity=2)
