#!/usr/bin/env python3
"""Adoption (docs/durability.md): a daemon killed with SIGKILL, or stopped with
`quit keep`, leaves its containers running under the keeper, and the next
daemon on the same base and prefix takes them over.

Checked on real containers of the default guest image:
  - after SIGKILL and restart every VM is back with the same id, name,
    namespace, state (BUILDING, RUNNING, PAUSED), tags, VLAN, qos and init;
    the console's shell session is the same one (no hangup: a shell variable
    set before is still set); a `cc background` process still runs and the
    agent reconnects; data a guest wrote into a fifo while no daemon ran is
    read afterwards; two guests on a VLAN still ping each other; the BUILDING
    one starts; kill and flush then leave nothing;
  - `quit keep`: the daemon exits, the containers do not; a new daemon adopts
    them, and an orderly quit then ends them and the keeper;
  - SIGKILL in the middle of `vm launch container 200`: after the restart each
    VM is adopted or cleaned up, no container runs that no VM names, and
    `herd -nuke` leaves nothing;
  - records that lie (a torn line, an init that is another process, another
    VM's record under an id) make that VM ERROR with the reason, or are
    skipped; the daemon keeps answering; a local user cannot read or plant
    records.
"""
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herdtest import (Console, Daemon, as_nobody, assert_responsive, cc_clients,  # noqa: E402
                      host_objects, keeper_pid, links_with, wait_for)


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def descendants(pid):
    out, todo = [], [pid]
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


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def in_container(init, text):
    """Host pids of the processes in init's PID namespace whose command line
    holds `text`."""
    ns = os.readlink("/proc/%d/ns/pid" % init)
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            if os.readlink("/proc/%s/ns/pid" % p) == ns and text in cmdline(int(p)):
                out.append(int(p))
        except OSError:
            pass
    return out


def keeper_children(base):
    pid = keeper_pid(base)
    if not pid:
        return set()
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return {int(x) for x in f.read().split()}


def journal(base):
    return os.path.join(base, "records", "journal")


def live_records(base):
    """id -> record (dict) of the base's record journal, as herd reads it:
    the last line of each VM wins, {"drop": id} removes it."""
    live = {}
    with open(journal(base)) as f:
        for line in f:
            if not line.endswith("\n"):
                break  # torn
            try:
                j = json.loads(line)
            except ValueError:
                continue
            if "drop" in j:
                live.pop(j["drop"], None)
            else:
                live[j["id"]] = j
    return live


def summary(c, ns=None):
    """name -> (id, state, pid, tags, vlan, qos) of every VM (of namespace ns)."""
    line = "vm info" if ns is None else "namespace %s vm info" % ns
    return {r["name"]: (r["id"], r["state"], r["pid"], r["tags"], r["vlan"], r["qos"])
            for r in c.table(line)}


class Adopt(unittest.TestCase):
    def test_sigkill_then_restart_keeps_everything(self):
        d = Daemon().start()
        try:
            c = d.client()
            c.ok("vm config net 5")
            c.ok("vm config fifo 1")
            c.ok("vm launch container a1,a2,a3,a4")
            c.ok("vm start a1,a2,a3")
            c.ok("vm stop a3")
            c.ok("vm tag a1 color blue")
            c.ok("qos add a2 0 delay 30ms")
            c.ok("namespace other vm config backchannel false")
            c.ok("namespace other vm launch container o1")
            c.ok("namespace other vm start o1")
            self.assertTrue(wait_for(lambda: cc_clients(c) == 2, 60), "agents did not connect")
            c.ok("cc filter hostname=a1")
            c.ok("cc background sleep 4242")
            init = int(c.vm("a1")["pid"])
            self.assertTrue(wait_for(lambda: in_container(init, "sleep 4242"), 30))
            sleeper = in_container(init, "sleep 4242")[0]
            # A console session with state of its own, and a guest job that
            # writes into its fifo only once the daemon is gone.
            cons = {n: Console(d.base, c.vm(n)["id"])
                    for n in ("a1", "a2")}
            cons["a1"].sh("MARK=kept-$((6*7)); ip addr add 10.77.0.1/24 dev veth0; "
                          "ip link set veth0 up")
            cons["a2"].sh("ip addr add 10.77.0.2/24 dev veth0; ip link set veth0 up")
            # What a2's console showed before the kill: a new viewer after the
            # restart sees it in the scrollback (kept in rings the keeper holds).
            mark = "crash" + secrets.token_hex(4)
            self.assertEqual(cons["a2"].sh("echo %s%s" % (mark[:3], mark[3:])), mark)
            self.assertIn("rc=0", cons["a1"].sh("ping -c 1 -W 2 10.77.0.2 >/dev/null; echo rc=$?"))
            cons["a1"].sh("(sleep 3; echo written-in-the-gap > /dev/fifos/fifo0) & true")
            shells = {p for p in descendants(init) if cmdline(p).endswith("sh")}
            before = summary(c)
            before_other = summary(c, "other")
            for con in cons.values():
                con.close()
            c.close()

            d.kill9()
            time.sleep(4)  # the guest writes into its fifo meanwhile
            d.start()
            c = d.client()
            self.assertEqual(summary(c), before)
            self.assertEqual(summary(c, "other"), before_other)
            self.assertEqual(c.vm("a3")["state"], "PAUSED")
            self.assertEqual(c.vm("a4")["state"], "BUILDING")
            self.assertIn("30ms", c.vm("a2")["qos"])
            # The fifo: what the guest wrote while no daemon ran.
            fifo = os.path.join(d.base, c.vm("a1")["id"], "fifo0")
            fd = os.open(fifo, os.O_RDONLY)
            try:
                self.assertEqual(os.read(fd, 100), b"written-in-the-gap\n")
            finally:
                os.close(fd)
            # The same console session: no hangup, its variable is set.
            for p in shells:
                self.assertTrue(alive(p), "console shell %d died" % p)
            a2 = Console(d.base, c.vm("a2")["id"])
            self.assertIn(mark, a2.read_until(mark, timeout=5))
            a2.close()
            con = Console(d.base, c.vm("a1")["id"])
            self.assertEqual(con.sh("echo $MARK"), "kept-42")
            # The VLAN still carries the two guests' traffic.
            self.assertIn("rc=0", con.sh("ping -c 1 -W 2 10.77.0.2 >/dev/null; echo rc=$?"))
            con.close()
            # cc: the agents are back, the background process never stopped.
            self.assertTrue(alive(sleeper))
            self.assertTrue(wait_for(lambda: cc_clients(c) == 2, 60), "agents did not reconnect")
            c.ok("clear cc filter")
            # The paused one resumes, the BUILDING one starts, a new VM gets
            # a new id.
            c.ok("vm start a3,a4")
            self.assertEqual(c.vm("a3")["state"], "RUNNING")
            self.assertEqual(c.vm("a4")["state"], "RUNNING")
            c.ok("vm launch container a5")
            self.assertEqual(c.vm("a5")["id"], "5")  # after o1, id 4
            pids = [int(r["pid"]) for r in c.table("vm info")]
            c.ok("vm kill all")
            c.ok("vm flush")
            c.ok("namespace other vm kill all")
            c.ok("namespace other vm flush")
            for p in pids:
                self.assertFalse(alive(p))
            self.assertEqual(live_records(d.base), {})
            c.close()
        finally:
            d.stop()
        self.assertEqual(host_objects(d.prefix, d.tmp), [])
        self.assertEqual(links_with(d.prefix), [])

    def test_quit_keep_then_adopt(self):
        d = Daemon().start()
        try:
            c = d.client()
            c.ok("vm config backchannel false")
            c.ok("vm launch container q[1-3]")
            c.ok("vm start all")
            before = summary(c)
            pids = [int(v[2]) for v in before.values()]
            keeper = keeper_pid(d.base)
            # Something on q1's console before the upgrade: a new viewer
            # afterwards sees it in the scrollback, which stayed in its ring.
            q1 = c.vm("q1")["id"]
            con = Console(d.base, q1)
            mark = "scroll" + secrets.token_hex(4)
            self.assertEqual(con.sh("echo %s%s" % (mark[:3], mark[3:])), mark)
            con.close()
            try:
                c.run("quit keep")  # no reply: the connection closes
            except ConnectionError:
                pass
            c.close()
            d.proc.wait(30)
            self.assertEqual(d.proc.returncode, 0, d.logtext())
            self.assertTrue(alive(keeper))
            for p in pids:
                self.assertTrue(alive(p))
            d.start()
            c = d.client()
            self.assertEqual(summary(c), before)
            self.assertEqual(keeper_pid(d.base), keeper)
            con = Console(d.base, q1)
            self.assertIn(mark, con.read_until(mark, timeout=5))
            con.close()
            c.close()
            # An orderly quit ends them all, and the keeper.
            d.proc.send_signal(signal.SIGTERM)
            d.proc.wait(30)
            self.assertTrue(wait_for(lambda: not alive(keeper), 10))
            for p in pids:
                self.assertFalse(alive(p))
        finally:
            d.stop()

    def test_inits_that_end_in_the_gap(self):
        """A container that ends while no daemon runs comes back QUIT when
        its init exited 0, ERROR with the status otherwise."""
        d = Daemon().start()
        try:
            c = d.client()
            c.ok("vm config backchannel false")
            c.ok('vm config init /bin/sh -c "sleep 2; exit 0"')
            c.ok("vm launch container good")
            c.ok('vm config init /bin/sh -c "sleep 2; exit 3"')
            c.ok("vm launch container bad")
            c.ok("vm start all")
            c.close()
            d.kill9()
            time.sleep(3)
            d.start()
            c = d.client()
            self.assertEqual(c.vm("good")["state"], "QUIT")
            self.assertEqual(c.vm("bad")["state"], "ERROR")
            self.assertIn("exit status 3", c.vm("bad")["tags"])
            c.ok("vm flush")
            self.assertEqual(c.table("vm info"), [])
            c.close()
        finally:
            d.stop()

    def test_a_start_that_fails_kills_nothing(self):
        """A daemon whose start fails after adoption (here: its web port is
        taken) leaves the containers to the next one."""
        import socket
        d = Daemon().start()
        blocker = socket.socket()
        try:
            c = d.client()
            c.ok("vm config backchannel false")
            c.ok("vm launch container s[1-2]")
            c.ok("vm start all")
            before = summary(c)
            c.close()
            d.kill9()
            blocker.bind(("127.0.0.1", 0))
            blocker.listen(1)
            port = blocker.getsockname()[1]
            d.flags += ["-web", "127.0.0.1:%d" % port]
            with self.assertRaises(RuntimeError):
                d._start(20)  # start() would clean everything up on failure
            d.flags = d.flags[:-2]
            for v in before.values():
                self.assertTrue(alive(int(v[2])))
            d.start()
            c = d.client()
            self.assertEqual(summary(c), before)
            c.close()
        finally:
            blocker.close()
            d.stop()

    def test_sigkill_during_a_launch(self):
        d = Daemon().start()
        try:
            c = d.client()
            c.ok("vm config backchannel false")
            done = threading.Event()

            def launch():
                try:
                    d.client().run("vm launch container m[1-200]")
                except Exception:  # the daemon dies under it
                    pass
                done.set()

            threading.Thread(target=launch, daemon=True).start()
            # Kill once some, not all, are made.
            self.assertTrue(wait_for(lambda: len(keeper_children(d.base)) >= 40, 60))
            d.kill9()
            done.wait(10)
            d.start()
            c = d.client()
            vms = c.table("vm info")
            running = {int(r["pid"]) for r in vms if r["state"] in ("BUILDING", "RUNNING")}
            # Every container that runs is a VM's, and every live VM's runs.
            self.assertEqual(keeper_children(d.base), running)
            for r in vms:
                self.assertIn(r["state"], ("BUILDING", "ERROR"), r)
            ids = {r["id"] for r in vms}
            dirs = {n for n in os.listdir(d.base) if n.isdigit()}
            self.assertEqual(dirs, ids)
            c.ok("vm start all")
            c.ok("vm kill all")
            c.ok("vm flush")
            c.close()
            d.kill9()
            r = d.nuke()
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(host_objects(d.prefix, d.tmp), [])
            self.assertEqual(links_with(d.prefix), [])
        finally:
            d.stop()

    def test_hostile_guest_during_the_gap(self):
        """A guest whose init renames itself to look like another process's
        /proc/<pid>/stat line (a name may hold ") " and numbers), and then
        floods its console while no daemon reads it, is still adopted as
        itself; the daemon answers and the console is read again."""
        d = Daemon().start()
        try:
            c = d.client()
            c.ok("vm config backchannel false")
            c.ok("vm config init /bin/sh -c "
                 "\"printf 'x) Z 1 1 1 1' > /proc/self/comm; sleep 2; yes flood\"")
            c.ok("vm launch container h1")
            c.ok("vm start all")
            init = int(c.vm("h1")["pid"])
            self.assertTrue(wait_for(lambda: open("/proc/%d/comm" % init).read()
                                     .startswith("x) Z"), 10))
            before = summary(c)
            c.close()
            d.kill9()
            time.sleep(4)  # the flood fills the pty while no daemon reads it
            d.start()
            assert_responsive(d)
            c = d.client()
            self.assertEqual(summary(c), before)
            con = Console(d.base, c.vm("h1")["id"])
            self.assertIn("flood", con.read_until("flood\r\nflood", timeout=10))
            con.close()
            assert_responsive(d)
            c.ok("vm kill all")
            c.ok("vm flush")
            c.close()
        finally:
            d.stop()
        self.assertEqual(host_objects(d.prefix, d.tmp), [])

    def test_records_that_lie(self):
        """The journal is root's; still, what it says is checked."""
        d = Daemon().start()
        try:
            c = d.client()
            c.ok("vm config backchannel false")
            c.ok("vm launch container r[1-3]")
            c.ok("vm start all")
            ids = {n: c.vm(n)["id"] for n in ("r1", "r2", "r3")}
            pid2 = int(c.vm("r2")["pid"])
            c.close()
            d.kill9()
            rec = os.path.join(d.base, "records")
            # r2: its init is "another process" (its start time is not the
            # recorded one); r3: a record of another VM's under its id;
            # then a torn line (a crash in the middle of a write), which
            # changes nothing.
            recs = live_records(d.base)
            r2 = recs[int(ids["r2"])]
            r2["container"]["init_start"] += 1
            r3 = dict(recs[int(ids["r3"])], id=int(ids["r3"]) + 100)
            with open(journal(d.base), "a") as f:
                f.write(json.dumps(r2) + "\n")
                f.write(json.dumps(r3) + "\n")
                f.write('{"id": %s, "name": "torn' % ids["r1"])
            d.start()
            c = d.client()
            vms = summary(c)
            self.assertEqual(vms["r1"][1], "RUNNING")  # the torn line is skipped
            self.assertEqual(vms["r2"][1], "ERROR")
            self.assertIn("another process", c.vm("r2")["tags"])
            self.assertEqual(vms["r3"][1], "RUNNING")
            self.assertEqual(len(vms), 3)  # not r3 twice
            self.assertTrue(wait_for(lambda: not alive(pid2), 10))
            self.assertIn("torn or unreadable lines skipped", d.logtext())
            assert_responsive(d)
            # A local user can neither read the records nor plant one.
            st = os.stat(rec)
            self.assertEqual((st.st_uid, st.st_mode & 0o777), (0, 0o700))
            probe = "import os,sys\ntry:\n os.listdir(sys.argv[1]); print('read')\n" \
                    "except OSError as e: print('refused', e.errno)\n"
            r = as_nobody([sys.executable, "-c", probe, rec])
            self.assertIn("refused", r.stdout, r.stdout + r.stderr)
            c.ok("vm start r2")
            self.assertEqual(c.vm("r2")["state"], "RUNNING")
            c.ok("vm kill all")
            c.ok("vm flush")
            c.close()
        finally:
            d.stop()
        self.assertEqual(host_objects(d.prefix, d.tmp), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
