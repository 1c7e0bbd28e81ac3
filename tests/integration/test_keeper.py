#!/usr/bin/env python3
"""The keeper (src/runtime/keeper.h): the process that is every container's
parent, so that containers outlive the daemon.

Checks, on real containers: the inits are the keeper's children, not the
daemon's; a daemon killed with SIGKILL leaves them running under the keeper;
an orderly quit ends the keeper and every container; `herd -nuke` after a
SIGKILL ends the keeper and its containers; a local user cannot reach the
keeper's socket; the keeper leaves no zombie."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herdtest import (Console, Daemon, as_nobody, assert_responsive, keeper_pid, wait_for,  # noqa: E402
                      zombies_of)


def ppid_of(pid):
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def cmdline_of(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def keeper_of(d):
    pid = keeper_pid(d.base)
    assert pid, "no keeper answers on " + d.base
    return pid


def descendants(pid):
    """Host pids of every process below `pid`."""
    out = []
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open("/proc/%d/task/%d/children" % (p, p)) as f:
                kids = [int(x) for x in f.read().split()]
        except OSError:
            kids = []
        out += kids
        todo += kids
    return out


def init_pids(c):
    return {name: int(row["pid"]) for name, row in c.vms().items()}


class KeeperTest(unittest.TestCase):
    def launch(self, d, n=3):
        c = d.client()
        c.ok("vm launch container k[1-%d]" % n)
        c.ok("vm start all")
        pids = init_pids(c)
        self.assertEqual(len(pids), n)
        return c, pids

    def test_inits_are_the_keepers_children(self):
        with Daemon() as d:
            c, pids = self.launch(d)
            keeper = keeper_of(d)
            self.assertNotEqual(keeper, d.proc.pid)
            self.assertEqual(cmdline_of(keeper)[1], b"-keeper")
            for name, pid in pids.items():
                self.assertEqual(ppid_of(pid), keeper, name)
            # A container that ends is reaped by the keeper and shows as such.
            os.kill(pids["k1"], signal.SIGKILL)
            wait_for(lambda: c.vm("k1")["state"] in ("QUIT", "ERROR"), timeout=10)
            self.assertIn(c.vm("k1")["state"], ("QUIT", "ERROR"))
            self.assertEqual(zombies_of(keeper), [])
            self.assertEqual(zombies_of(d.proc.pid), [])
            c.ok("vm kill all")
            c.ok("vm flush")
            self.assertEqual(zombies_of(keeper), [])
            c.close()

    def test_descriptors_per_container(self):
        """What the keeper and the daemon hold per container stays below what
        10,000 containers need under a 20,000-descriptor limit: the keeper one
        (the console's pty master; disks live in its vault, not as
        descriptors), whether BUILDING or running, and nothing more for a
        container's init."""
        def fds(pid):
            return len(os.listdir("/proc/%d/fd" % pid))
        with Daemon() as d:
            c = d.client()
            c.ok("vm config backchannel false")
            c.ok("vm launch container k0")
            keeper = keeper_of(d)
            k0, d0 = fds(keeper), fds(d.proc.pid)
            n = 40
            c.ok("vm launch container kb[1-%d]" % n)
            self.assertLessEqual(fds(keeper) - k0, n + 2, "keeper, BUILDING")
            c.ok("vm start all")
            self.assertLessEqual(fds(keeper) - k0, n + 2, "keeper, running")
            # The console's master and its listening socket, at most.
            self.assertLessEqual(fds(d.proc.pid) - d0, 2 * n + 2, "daemon")
            with open("/proc/self/mountinfo") as f:
                self.assertNotIn("herd-disk", f.read())  # the disks are in no host table
            c.close()

    def test_keeper_death_leaves_containers_running(self):
        """If the keeper dies, its children go on under init: the VMs stay
        RUNNING (no exit can be learnt, so none is made up), and `vm kill`
        and `vm flush` still end them, through their cgroups."""
        with Daemon() as d:
            c, pids = self.launch(d)
            os.kill(keeper_of(d), signal.SIGKILL)
            time.sleep(1)
            for name, pid in pids.items():
                self.assertTrue(alive(pid), name)
                self.assertEqual(c.vm(name)["state"], "RUNNING", name)
            assert_responsive(d)
            c.ok("vm kill all")
            c.ok("vm flush")
            self.assertTrue(wait_for(lambda: not any(alive(p) for p in pids.values()), 10))
            self.assertEqual(c.table("vm info"), [])
            c.close()

    def test_orderly_quit_ends_keeper_and_containers(self):
        d = Daemon().start()
        try:
            c, pids = self.launch(d)
            keeper = keeper_of(d)
            c.close()
            d.proc.send_signal(signal.SIGTERM)
            d.proc.wait(30)
            self.assertFalse(wait_for(lambda: not alive(keeper), timeout=10) is False)
            self.assertFalse(alive(keeper))
            for name, pid in pids.items():
                self.assertFalse(alive(pid), name)
        finally:
            d.stop()

    def test_sigkill_of_daemon_leaves_containers_under_keeper_then_nuke(self):
        d = Daemon().start()
        try:
            c, pids = self.launch(d)
            keeper = keeper_of(d)
            c.close()
            d.kill9()
            time.sleep(0.5)
            self.assertTrue(alive(keeper))
            for name, pid in pids.items():
                self.assertTrue(alive(pid), name)
                self.assertEqual(ppid_of(pid), keeper, name)
            r = d.nuke()
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue(wait_for(lambda: not alive(keeper), timeout=10))
            for name, pid in pids.items():
                self.assertFalse(alive(pid), name)
            self.assertFalse(os.path.exists(os.path.join(d.base, "keeper")))
        finally:
            d.stop()

    def test_new_daemon_uses_the_running_keeper(self):
        d = Daemon().start()
        try:
            c, pids = self.launch(d, 2)
            keeper = keeper_of(d)
            c.close()
            d.kill9()
            d.start()
            # The dead daemon's containers are adopted (tests/integration/
            # test_adopt.py); the keeper stays and launches the new ones.
            self.assertEqual(keeper_of(d), keeper)
            c = d.client()
            self.assertEqual(init_pids(c), pids)
            for name, pid in pids.items():
                self.assertTrue(alive(pid), name)
            c.ok("vm launch container n[1-2]")
            c.ok("vm start n[1-2]")
            for name, pid in init_pids(c).items():
                self.assertEqual(ppid_of(pid), keeper, name)
            c.close()
        finally:
            d.stop()

    def test_local_user_cannot_reach_keeper(self):
        with Daemon() as d:
            path = os.path.join(d.base, "keeper")
            st = os.stat(path)
            self.assertEqual(st.st_mode & 0o777, 0o600)
            self.assertEqual(st.st_uid, 0)
            probe = ("import socket,sys\n"
                     "s=socket.socket(socket.AF_UNIX,socket.SOCK_SEQPACKET)\n"
                     "try:\n s.connect(sys.argv[1]); print('connected')\n"
                     "except OSError as e: print('refused', e.errno)\n")
            r = as_nobody([sys.executable, "-c", probe, path])
            self.assertIn("refused", r.stdout, r.stdout + r.stderr)
            # Even handed a connected socket, an unprivileged peer is refused:
            # the keeper checks the peer's credentials (SO_PEERCRED) on accept.
            os.chmod(d.tmp, 0o711)
            os.chmod(d.base, 0o711)
            os.chmod(path, 0o666)
            try:
                probe2 = ("import socket,sys,json\n"
                          "s=socket.socket(socket.AF_UNIX,socket.SOCK_SEQPACKET)\n"
                          "s.connect(sys.argv[1])\n"
                          "s.settimeout(5)\n"
                          "try:\n"
                          " s.send(json.dumps({'op':'hello','role':'control'}).encode())\n"
                          " print('answer', repr(s.recv(4096)))\n"
                          "except OSError as e: print('closed', e.errno)\n")
                r = as_nobody([sys.executable, "-c", probe2, path])
                self.assertTrue("answer b''" in r.stdout or "closed" in r.stdout,
                                r.stdout + r.stderr)
                self.assertNotIn("pid", r.stdout)
            finally:
                os.chmod(path, 0o600)
                os.chmod(d.base, 0o700)
                os.chmod(d.tmp, 0o700)
            assert_responsive(d)
            c = d.client()
            c.ok("vm launch container after")
            c.ok("vm start after")
            self.assertEqual(ppid_of(int(c.vm("after")["pid"])), keeper_of(d))
            c.close()


    def test_console_session_survives_daemon_sigkill(self):
        """The keeper holds each console's pty master: when the daemon dies the
        guest's console shell gets no hangup and keeps running."""
        d = Daemon().start()
        try:
            c, pids = self.launch(d, 1)
            init = pids["k1"]
            con = Console(d.base, c.vm("k1")["id"])
            con.sh("echo ready")
            shells = [p for p in descendants(init) if b"sh" in (cmdline_of(p) or [b""])[0]]
            self.assertTrue(shells, "no shell on the console")
            con.close()
            c.close()
            d.kill9()
            time.sleep(1.0)
            for p in shells:
                self.assertTrue(alive(p), "console shell %d died with the daemon" % p)
            r = d.nuke()
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertFalse(alive(init))
        finally:
            d.stop()

    def test_keeper_holds_descriptors_across_connections(self):
        """hold, then fetch from a new connection: the data written into a pipe
        whose only remaining copy the keeper holds is still there."""
        with Daemon() as d:
            path = os.path.join(d.base, "keeper")
            r, w = os.pipe()

            def conn():
                s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                s.connect(path)
                s.send(json.dumps({"op": "hello", "role": "control"}).encode())
                s.settimeout(5)
                json.loads(s.recv(4096))
                return s

            s = conn()
            socket.send_fds(s, [json.dumps({"op": "hold", "key": "test/pipe"}).encode()], [r])
            os.close(r)
            os.write(w, b"kept while nobody else had it")
            os.close(w)
            s.close()
            s = conn()
            s.send(json.dumps({"op": "fetch"}).encode())
            got = {}
            while True:
                msg, fds, _, _ = socket.recv_fds(s, 65536, 16)
                m = json.loads(msg)
                if m.get("done"):
                    break
                got[m["key"]] = fds
            self.assertIn("test/pipe", got)
            self.assertEqual(os.read(got["test/pipe"][0], 100), b"kept while nobody else had it")
            for fds in got.values():
                for f in fds:
                    os.close(f)
            s.send(json.dumps({"op": "drop", "key": "test/pipe"}).encode())
            s.close()
            assert_responsive(d)


if __name__ == "__main__":
    unittest.main()
