#!/usr/bin/env python3
"""Integration tests of cc tunnel, cc rtunnel and cc test-conn, run as root.

Real containers of the default guest image (its /init starts herd-cc). A
static helper (tunnel_guest.c, built with `gcc -static`) runs in the guest
from a volume: a TCP echo server, a round-trip client, and a hostile agent
that abuses the tunnel messages of herd's cc protocol.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herdtest import (assert_responsive, cc_clients, cc_responses, class_daemon,  # noqa: E402
                      guest_console, wait_for)

HERE = os.path.dirname(os.path.abspath(__file__))
MiB = 1 << 20


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def pattern(n):
    return bytes((i * 7) % 251 for i in range(n))


def facts(out):
    d = {}
    for line in out.splitlines():
        k, sep, v = line.strip().partition("=")
        if sep:
            d[k] = v
    return d


def vm_hwm(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def reset_peak(pid):
    with open("/proc/%d/clear_refs" % pid, "w") as f:
        f.write("5")


class Tunnels(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="herd-it-tun-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        subprocess.run(["gcc", "-static", "-O1", "-o", os.path.join(cls.tmp, "tunnel_guest"),
                        os.path.join(HERE, "tunnel_guest.c")], check=True)
        cls.d = class_daemon(cls)
        cls.c = c = cls.d.client()
        cls.addClassCleanup(c.close)
        c.ok("vm config volume /scratch " + cls.tmp)
        c.ok("vm launch container tun1,tun2")
        c.ok("vm start all")
        assert wait_for(lambda: cc_clients(c) == 2, 60), "agents did not connect"
        cls.con = guest_console(cls.d, c, "tun1")
        cls.addClassCleanup(cls.con.close)
        cls.con.sh("(/scratch/tunnel_guest echo 7007 >/dev/null 2>&1 &)")
        time.sleep(0.5)

    def tearDown(self):
        self.c.ok("clear cc filter")

    def tunnel_rows(self, target="all"):
        return self.c.table("cc tunnel list " + target)

    def roundtrip(self, port, size):
        data = pattern(size)
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        got = bytearray()

        def writer():
            s.sendall(data)

        t = threading.Thread(target=writer, daemon=True)
        t.start()
        while len(got) < size:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        t.join(10)
        s.close()
        return bytes(got) == data, len(got)

    def test_tunnel_roundtrip_list_close(self):
        port = free_port()
        self.c.ok("cc tunnel tun1 %d 127.0.0.1 7007" % port)
        rows = self.tunnel_rows()
        # Ids count per agent connection (earlier tests may have used some).
        self.assertEqual(len(rows), 1)
        tid = rows[0].pop("id")
        self.assertEqual(rows, [{"vm": "tun1", "src port": str(port),
                                 "dst": "127.0.0.1", "dst port": "7007"}])
        t0 = time.time()
        same, n = self.roundtrip(port, MiB)
        print("\n1 MiB through cc tunnel and back: %.3f s" % (time.time() - t0), file=sys.stderr)
        self.assertTrue(same, "1 MiB round trip differed (got %d bytes)" % n)
        # Several at once.
        results = []
        ts = [threading.Thread(target=lambda: results.append(self.roundtrip(port, 256 << 10)))
              for _ in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        self.assertEqual([r[0] for r in results], [True] * 4)
        # The port is taken while the tunnel is open.
        _, errs = self.c.run("cc tunnel tun2 %d 127.0.0.1 7007" % port)
        self.assertEqual(len(errs), 1)
        self.assertIn("listen tcp :%d: bind: address already in use" % port, errs[0])
        _, errs = self.c.run("cc tunnel close tun1 999")
        self.assertEqual(errs, ["forwarder with ID 999 not found"])
        self.c.ok("cc tunnel close tun1 " + tid)
        self.assertEqual(self.tunnel_rows(), [])
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        assert_responsive(self.d)

    def test_tunnel_to_nothing_closes_connection(self):
        port = free_port()
        self.c.ok("cc tunnel tun1 %d 127.0.0.1 1" % port)
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        # The agent's dial fails: the host connection is closed.
        self.assertEqual(s.recv(10), b"")
        s.close()
        self.c.ok("clear cc")
        self.assertEqual(self.tunnel_rows(), [])

    def test_rtunnel(self):
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.bind(("127.0.0.1", 0))
        srv.listen(4)
        host_port = srv.getsockname()[1]

        def serve():
            conn, _ = srv.accept()
            while True:
                b = conn.recv(65536)
                if not b:
                    break
                conn.sendall(b)
            conn.close()

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        try:
            self.c.ok("cc filter name=tun1")
            self.c.ok("cc rtunnel 7100 127.0.0.1 %d" % host_port)
            self.c.ok("clear cc filter")
            rows = self.tunnel_rows("tun1")
            self.assertEqual(len(rows), 1)
            self.assertEqual(rows[0]["src port"], "7100")
            time.sleep(0.5)  # the agent starts listening
            out = facts(self.con.sh("/scratch/tunnel_guest roundtrip 7100 %d" % MiB, timeout=60))
            self.assertEqual(out.get("match"), "1", out)
            self.assertEqual(self.tunnel_rows("tun2"), [])
        finally:
            srv.close()
            self.c.ok("clear cc")

    def test_test_conn(self):
        self.c.ok("cc filter name=tun1")
        self.c.ok("cc test-conn tcp 127.0.0.1 7007 wait 2s")
        self.c.ok("cc test-conn tcp 127.0.0.1 1 wait 1s")
        self.c.ok("clear cc filter")
        ids = sorted(int(r["id"]) for r in self.c.table("cc commands"))
        ok_id, bad_id = ids[-2], ids[-1]
        self.assertTrue(wait_for(lambda: cc_responses(self.c, bad_id) == 1, 30))
        self.assertTrue(wait_for(lambda: cc_responses(self.c, ok_id) == 1, 30))
        self.assertEqual(self.c.plain("cc responses %d raw" % ok_id), "127.0.0.1:7007 | pass")
        self.assertEqual(self.c.plain("cc responses %d raw" % bad_id), "127.0.0.1:1 | fail")

    def test_tunnel_closed_when_vm_killed(self):
        self.c.ok("vm launch container tmp")
        self.c.ok("vm start tmp")
        self.assertTrue(wait_for(lambda: cc_clients(self.c) == 3, 60))
        port = free_port()
        self.c.ok("cc tunnel tmp %d 127.0.0.1 7007" % port)
        self.assertEqual(len(self.tunnel_rows("tmp")), 1)
        self.c.ok("vm kill tmp")
        self.assertTrue(wait_for(lambda: cc_clients(self.c) == 2, 30))

        def gone():
            try:
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
                return False
            except OSError:
                return True
        self.assertTrue(wait_for(gone, 10), "tunnel port still open after vm kill")
        self.c.ok("vm flush")


class HostileAgent(unittest.TestCase):
    """A guest that speaks the tunnel messages badly: unknown streams,
    floods, and a stream it never reads nor acknowledges."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="herd-it-tunsec-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        subprocess.run(["gcc", "-static", "-O1", "-o", os.path.join(cls.tmp, "tunnel_guest"),
                        os.path.join(HERE, "tunnel_guest.c")], check=True)
        cls.d = class_daemon(cls)
        cls.c = c = cls.d.client()
        cls.addClassCleanup(c.close)
        c.ok("vm config volume /scratch " + cls.tmp)
        c.ok("vm launch container victim,bystander")
        c.ok("vm start all")
        assert wait_for(lambda: cc_clients(c) == 2, 60), "agents did not connect"
        cls.con = guest_console(cls.d, c, "victim")
        cls.addClassCleanup(cls.con.close)

    def test_hostile_agent(self):
        pid = self.d.proc.pid
        self.con.sh("kill $(pidof herd-cc) 2>/dev/null; true")
        self.assertTrue(wait_for(lambda: cc_clients(self.c) == 1, 20))
        out = {}

        def attack():
            out.update(facts(self.con.sh("/scratch/tunnel_guest hostile 8", timeout=120)))

        reset_peak(pid)
        base = vm_hwm(pid)
        a = threading.Thread(target=attack, daemon=True)
        a.start()
        assert wait_for(lambda: any(r["hostname"] == "evil" for r in self.c.table("cc clients")),
                        20), "hostile agent not connected"
        assert_responsive(self.d)
        port = free_port()
        self.c.ok("cc tunnel victim %d 127.0.0.1 9" % port)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.settimeout(30)
        s.connect(("127.0.0.1", port))
        s.settimeout(2)
        sent = 0
        blob = b"y" * 65536
        t0 = time.time()
        # The agent never acknowledges: the daemon must stop reading, so
        # the host's writes block once the kernel buffers are full.
        while time.time() - t0 < 6:
            try:
                sent += s.send(blob)
            except socket.timeout:
                break
        assert_responsive(self.d)
        print("\nhost bytes taken by a tunnel the agent never acknowledges: %d" % sent,
              file=sys.stderr)
        self.assertLess(sent, 16 * MiB, "the daemon kept reading an unacknowledged stream")
        # The agent then sends 32 MiB while the host reads nothing: the
        # daemon holds at most a window of it and aborts the stream, so the
        # host connection ends with a little of the data.
        time.sleep(6)
        got = 0
        closed = False
        s.settimeout(8)
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    closed = True
                    break
                got += len(b)
        except ConnectionResetError:
            closed = True
        except socket.timeout:
            pass
        s.close()
        a.join(120)
        self.assertEqual(out.get("overflowed"), "1", out)
        self.assertTrue(closed, "the stream was not aborted (host got %d bytes)" % got)
        self.assertLess(got, 8 * MiB)
        grew = vm_hwm(pid) - base
        print("daemon peak memory growth during the attack: %.1f MiB" % (grew / MiB),
              file=sys.stderr)
        self.assertLess(grew, 48 * MiB)
        assert_responsive(self.d)
        # The bystander's agent still works.
        self.c.ok("cc filter name=bystander")
        self.c.ok("cc exec echo alive")
        self.c.ok("clear cc filter")
        cid = max(int(r["id"]) for r in self.c.table("cc commands"))
        self.assertTrue(wait_for(lambda: cc_responses(self.c, cid) == 1, 30))
        self.con.sh("pidof herd-cc >/dev/null || (/bin/herd-cc </dev/null >/dev/null 2>&1 &)")


if __name__ == "__main__":
    unittest.main(verbosity=2)
