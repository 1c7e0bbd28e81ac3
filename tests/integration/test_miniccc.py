#!/usr/bin/env python3
"""minimega's guest agent protocol (miniccc) on herd's cc sockets, run as root.

Two containers of the default image; their own agents (herd-cc) are stopped
and tests/integration/miniccc_client.py, a client of minimega's protocol
(the `RON` magic, then gob), connects to each VM's cc socket in their place.
Covered: exec with responses, background and process kill, cc send/recv,
filters by tag, guest tags, reconnect, and hostile gob that the daemon must
survive with bounded memory.
"""

import os
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import miniccc_client as mc  # noqa: E402
from herdtest import (assert_responsive, cc_clients, cc_responses, class_daemon,  # noqa: E402
                      guest_console, rss_kib, wait_for)


class Miniccc(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="herd-miniccc-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.d = class_daemon(cls)
        cls.c = c = cls.d.client()
        cls.addClassCleanup(c.close)
        c.ok("vm config tag role a")
        c.ok("vm launch container mini1")
        c.ok("vm config tag role b")
        c.ok("vm launch container mini2")
        c.ok("vm start all")
        assert wait_for(lambda: cc_clients(c) == 2, 60), "agents did not connect"
        cls.vms = {}
        for name in ("mini1", "mini2"):
            con = guest_console(cls.d, c, name)
            cls.addClassCleanup(con.close)
            con.sh("kill $(pidof herd-cc) 2>/dev/null; true")
            row = c.vm(name)
            files = os.path.join(cls.tmp, name)
            os.makedirs(files)
            cls.vms[name] = {"uuid": row["uuid"].lower(), "files": files,
                             "sock": os.path.join(cls.d.base, row["id"], "cc")}
        assert wait_for(lambda: cc_clients(c) == 0, 20), "herd-cc did not stop"
        cls.clients = {}
        for name, v in cls.vms.items():
            cl = mc.Miniccc(v["sock"], v["uuid"], v["files"], hostname=name).start()
            cls.addClassCleanup(cl.close)
            cls.clients[name] = cl
        assert wait_for(lambda: cc_clients(c) == 2, 20), "miniccc clients not listed"
        cls.responses = os.path.join(cls.d.base, "files", "miniccc_responses")

    def tearDown(self):
        self.c.ok("clear cc filter")

    def post(self, line):
        self.c.ok(line)
        return max(int(r["id"]) for r in self.c.table("cc commands"))

    def out(self, cid, name, what="stdout"):
        path = os.path.join(self.responses, str(cid), self.vms[name]["uuid"], what)
        try:
            with open(path) as f:
                return f.read()
        except FileNotFoundError:
            return None

    def test_clients_listed(self):
        rows = {r["hostname"]: r for r in self.c.table("cc clients")}
        self.assertEqual(sorted(rows), ["mini1", "mini2"])
        self.assertEqual(rows["mini1"]["uuid"], self.vms["mini1"]["uuid"])
        self.assertEqual(rows["mini1"]["arch"], "amd64")
        self.assertEqual(self.c.vm("mini1")["cc_active"], "true")

    def test_exec_with_response(self):
        cid = self.post("cc exec echo hello miniccc")
        self.assertTrue(wait_for(lambda: cc_responses(self.c, cid) == 2, 20))
        for name in ("mini1", "mini2"):
            self.assertEqual(self.out(cid, name), "hello miniccc\n")
            self.assertEqual(self.out(cid, name, "exitcode"), "0")
        cid = self.post('cc exec sh -c "echo oops >&2; exit 3"')
        self.assertTrue(wait_for(lambda: cc_responses(self.c, cid) == 2, 20))
        self.assertEqual(self.out(cid, "mini1", "stderr"), "oops\n")
        self.assertEqual(self.c.ok(".annotate false cc exitcode %d mini1" % cid).strip(), "3")
        out = self.c.ok(".annotate false cc responses %d raw" % cid)
        self.assertEqual(out.count("oops"), 2)

    def test_background_and_process_kill(self):
        self.c.ok("cc filter uuid=" + self.vms["mini1"]["uuid"])
        cid = self.post("cc background sleep 1234")
        self.assertTrue(wait_for(lambda: cc_responses(self.c, cid) == 1, 20))
        cl = self.clients["mini1"]
        self.assertTrue(wait_for(lambda: cl.running(), 10))

        def listed():
            return [r for r in self.c.table("cc process list mini1") if "1234" in r["command"]]
        self.assertTrue(wait_for(listed, 10), "process not listed")
        pid = listed()[0]["pid"]
        self.c.ok("cc process kill " + pid)
        self.assertTrue(wait_for(lambda: not cl.running(), 10), "not killed")
        self.assertTrue(wait_for(lambda: not listed(), 10))
        # killall by name, and a later command still runs (ids stay ascending)
        self.post("cc background sleep 4321")
        self.assertTrue(wait_for(lambda: cl.running(), 10))
        self.c.ok("cc process killall sleep")
        self.assertTrue(wait_for(lambda: not cl.running(), 10), "killall")
        cid = self.post("cc exec echo after")
        self.assertTrue(wait_for(lambda: self.out(cid, "mini1") == "after\n", 10))
        self.assertIsNone(self.out(cid, "mini2"))

    def test_send_and_recv(self):
        files = os.path.join(self.d.base, "files")
        os.makedirs(files, exist_ok=True)
        data = os.urandom(300000)  # several 100 KiB chunks
        with open(os.path.join(files, "blob.bin"), "wb") as f:
            f.write(data)
        cid = self.post("cc send blob.bin")
        self.assertTrue(wait_for(lambda: cc_responses(self.c, cid) == 2, 30))
        for name in ("mini1", "mini2"):
            with open(os.path.join(self.vms[name]["files"], "blob.bin"), "rb") as f:
                self.assertEqual(f.read(), data)
        # A file no command sent is not served.
        self.assertIn("not found", self.clients["mini1"].fetch("../../etc/shadow"))
        self.assertIn("not found", self.clients["mini1"].fetch("other.bin"))
        src = os.path.join(self.tmp, "guest-file.txt")
        with open(src, "w") as f:
            f.write("from the guest\n")
        cid = self.post("cc recv " + src)
        self.assertTrue(wait_for(lambda: cc_responses(self.c, cid) == 2, 30))
        got = os.path.join(self.responses, str(cid), self.vms["mini2"]["uuid"], src.lstrip("/"))
        with open(got) as f:
            self.assertEqual(f.read(), "from the guest\n")

    def test_filter_by_tag(self):
        self.c.ok("cc filter role=b")
        cid = self.post("cc exec hostname")
        self.assertTrue(wait_for(lambda: cc_responses(self.c, cid) == 1, 20))
        time.sleep(2.5)  # two heartbeats: mini1 would have answered by now
        self.assertEqual(cc_responses(self.c, cid), 1)
        self.assertIsNone(self.out(cid, "mini1"))
        self.assertIsNotNone(self.out(cid, "mini2"))

    def test_guest_tags(self):
        self.clients["mini2"].tag("color", "blue\x1b[31m")
        self.assertTrue(wait_for(lambda: "color" in self.c.vm("mini2")["tags"], 10))
        tags = self.c.vm("mini2")["tags"]
        self.assertIn("blue", tags)
        self.assertNotIn("\x1b", tags)

    def test_reconnect(self):
        cl = self.clients["mini1"]
        n = cl.connects
        self.c.ok("cc filter uuid=" + self.vms["mini1"]["uuid"])
        cl.reconnect()
        self.assertEqual(cl.connects, n + 1)
        self.assertTrue(wait_for(lambda: cc_clients(self.c) == 2, 10))
        cid = self.post("cc exec echo again")
        self.assertTrue(wait_for(lambda: self.out(cid, "mini1") == "again\n", 10))

    def test_hostile_gob(self):
        sock = self.vms["mini1"]["sock"]
        pid = self.d.proc.pid
        rss0 = rss_kib(pid)
        enc = mc.Encoder()
        deep_def = mc.msg(mc.enc_int(-65) + b"\x02\x01\x01" + mc.enc_str("T") + b"\x01"
                          + mc.enc_int(65) + b"\x00\x01" + mc.enc_int(65) + b"\x00\x00")
        attacks = {
            "huge length": b"\xf8\x7f\xff\xff\xff\xff\xff\xff\xff",
            "huge slice": deep_def + mc.msg(b"\xff\x82\x00\xf8\x7f\xff\xff\xff\xff\xff\xff\xff"),
            "deep nesting": deep_def + mc.msg(b"\xff\x82\x00" + b"\x01" * 60000 + b"\x00"),
            "type redefinition": deep_def + deep_def,
            "undefined type": mc.msg(b"\xff\x90\x00"),
            "types before hello": b"".join(
                mc.msg(mc.enc_int(-i) + b"\x02\x01\x01" + mc.enc_str("N" * 1000) + b"\x01"
                       + mc.enc_int(i) + b"\x00\x01\x0c\x00\x00") for i in range(65, 140)),
            "not a hello": enc.encode(mc.MESSAGE, {"Type": mc.FILE, "File": {"Name": "x"}}),
            "bad version": mc.Encoder().encode(mc.MESSAGE, {
                "Type": mc.CLIENT, "UUID": self.vms["mini1"]["uuid"], "Version": "v0",
                "Client": {"Hostname": "x"}}),
            "wrong uuid": mc.Encoder().encode(mc.MESSAGE, {
                "Type": mc.CLIENT, "UUID": self.vms["mini2"]["uuid"], "Version": "v1",
                "Client": {"Hostname": "x"}}),
        }
        for what, payload in attacks.items():
            got = mc.raw(sock, payload, read_timeout=2)
            self.assertEqual(got, b"", what)  # closed without an answer
            assert_responsive(self.d)
        # Garbage instead of the magic.
        import socket
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sock)
        s.sendall(b"R" + b"x" * 200)
        s.settimeout(3)
        self.assertEqual(s.recv(10), b"")
        s.close()
        # Many at once, each a large unfinished message: memory stays bounded.
        socks = []
        for _ in range(3):
            s = mc.connect(sock)
            s.sendall(b"\xfd\x00\xff\xff" + b"\x00" * 60000)
            socks.append(s)
        assert_responsive(self.d)
        for s in socks:
            s.close()
        self.assertLess(rss_kib(pid) - rss0, 64 << 10)
        # The real clients are still served.
        cid = self.post("cc exec echo alive")
        self.assertTrue(wait_for(lambda: cc_responses(self.c, cid) == 2, 20))


if __name__ == "__main__":
    unittest.main(verbosity=2)
