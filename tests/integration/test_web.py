#!/usr/bin/env python3
"""Integration tests of the web server (issue 6) without a browser: HTTP
routes, the console WebSocket of a real container, the live table over /ws,
commands, bad input and the token rule. Run as root.

Python standard library only: a minimal WebSocket client (RFC 6455) below.
The static files come from a temporary -web-root with stub pages (the real
page is tested by the browser test).
"""

import base64
import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import struct
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herdtest import Console, Daemon  # noqa: E402

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class HandshakeRefused(Exception):
    def __init__(self, status, body):
        super().__init__("handshake refused: %d %r" % (status, body))
        self.status = status
        self.body = body


class Closed(Exception):
    def __init__(self, code, reason):
        super().__init__("closed: %s %r" % (code, reason))
        self.code = code
        self.reason = reason


class WS:
    """A WebSocket client: frames as RFC 6455 says, client frames masked."""

    def __init__(self, port, path, headers=None, timeout=10, rcvbuf=None, host="127.0.0.1"):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        key = base64.b64encode(os.urandom(16)).decode()
        lines = ["GET %s HTTP/1.1" % path, "Host: %s:%d" % (host, port), "Upgrade: websocket",
                 "Connection: Upgrade", "Sec-WebSocket-Key: " + key,
                 "Sec-WebSocket-Version: 13"]
        for k, v in (headers or {}).items():
            lines.append("%s: %s" % (k, v))
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed during handshake: %r" % self.buf)
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        head = head.decode()
        status = int(head.split()[1])
        if status != 101:
            m = re.search(r"content-length:\s*(\d+)", head, re.I)
            n = int(m.group(1)) if m else 0
            while len(self.buf) < n:
                chunk = self.sock.recv(4096)
                if not chunk:
                    break
                self.buf += chunk
            self.sock.close()
            raise HandshakeRefused(status, self.buf[:n].decode())
        want = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        if ("sec-websocket-accept: " + want).lower() not in head.lower():
            raise AssertionError("bad Sec-WebSocket-Accept in %r" % head)
        self.closed = None  # (code, reason) once the server closed

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send_frame(self, opcode, payload, mask=True, fin=True):
        b0 = (0x80 if fin else 0) | opcode
        n = len(payload)
        m = 0x80 if mask else 0
        if n < 126:
            head = struct.pack("!BB", b0, m | n)
        elif n < 65536:
            head = struct.pack("!BBH", b0, m | 126, n)
        else:
            head = struct.pack("!BBQ", b0, m | 127, n)
        if mask:
            key = os.urandom(4)
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
            head += key
        self.sock.sendall(head + payload)

    def send_binary(self, data):
        self.send_frame(0x2, data if isinstance(data, bytes) else data.encode())

    def send_text(self, text):
        self.send_frame(0x1, text.encode())

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(max(1 << 16, n - len(self.buf)))
            if not chunk:
                raise ConnectionError("connection closed without a close frame")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self):
        """The next message as (opcode, payload); raises Closed on a close frame."""
        data, op = b"", None
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8))[0]
            if b1 & 0x80:
                raise AssertionError("server frames must not be masked")
            payload = self._read(n)
            opcode = b0 & 0x0F
            if opcode == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                self.closed = (code, payload[2:].decode())
                raise Closed(code, payload[2:].decode())
            if opcode == 0x9:
                self.send_frame(0xA, payload)
                continue
            if opcode == 0xA:
                continue
            if op is None:
                op = opcode
            data += payload
            if b0 & 0x80:
                return op, data

    def recv_json(self):
        op, data = self.recv()
        assert op == 0x1, "expected a text frame, got opcode %d" % op
        return json.loads(data)

    def read_until(self, marker, timeout=10):
        """Console output until `marker` (bytes) appears; returns it all."""
        out = bytearray()
        deadline = time.time() + timeout
        while True:
            if time.time() > deadline:
                raise TimeoutError("no %r in %r" % (marker, bytes(out[-2000:])))
            try:
                op, data = self.recv()
            except socket.timeout:
                continue
            assert op == 0x2, "console output must be binary frames"
            start = max(0, len(out) - len(marker))
            out += data
            if out.find(marker, start) >= 0:
                return bytes(out)

    def expect_close(self, timeout=10):
        """Reads until the server's close frame; returns (code, reason)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                self.recv()
            except Closed as c:
                return c.code, c.reason
            except socket.timeout:
                continue
        raise TimeoutError("no close frame")


def http_req(port, method, path, body=None, headers=None, host="127.0.0.1"):
    c = http.client.HTTPConnection(host, port, timeout=10)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read().decode("utf-8", "replace")
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    return r.status, hdrs, data


def make_root():
    root = tempfile.mkdtemp(prefix="herd-it-webroot-")
    os.makedirs(os.path.join(root, "static"))
    with open(os.path.join(root, "index.html"), "w") as f:
        f.write("<html>stub table page</html>\n")
    with open(os.path.join(root, "terminal.html"), "w") as f:
        f.write("<html>stub terminal page</html>\n")
    with open(os.path.join(root, "static", "app.js"), "w") as f:
        f.write("// stub app\n")
    with open(os.path.join(root, "secret.txt"), "w") as f:
        f.write("outside static\n")
    os.symlink("/etc/hostname", os.path.join(root, "static", "link-out"))
    return root


def web_port(client):
    text = client.ok("web")
    m = re.search(r"listening on http://[^/]*:(\d+)/", text)
    assert m, "`web` printed %r" % text
    return int(m.group(1))


def echo42(ws, timeout=10):
    """Types echo $((6*7)) and returns once 42 came back (not the echo)."""
    ws.send_binary(b"echo $((6*7))\r")
    return ws.read_until(b"\n42\r", timeout)


class WebContainer(unittest.TestCase):
    """One daemon serving the web page on loopback, one real container."""

    @classmethod
    def setUpClass(cls):
        cls.root = make_root()
        cls.d = Daemon("-web", "127.0.0.1:0", "-web-root", cls.root).start()
        cls.c = cls.d.client()
        cls.port = web_port(cls.c)
        cls.c.ok("vm launch container a")
        cls.c.ok("vm start a")
        info = cls.c.table("vm info")[0]
        cls.con = Console(os.path.join(cls.d.base, info["id"], "console"))
        cls.con.sh("true", timeout=15)  # the shell is up
        # Something known in the scrollback before any web viewer joins.
        cls.con.sh("echo SCROLL-$((40+2))-BACK")

    @classmethod
    def tearDownClass(cls):
        cls.con.close()
        cls.c.close()
        cls.d.stop()
        shutil.rmtree(cls.root, ignore_errors=True)

    def ws(self, path, **kw):
        return WS(self.port, path, **kw)

    # -- HTTP routes -------------------------------------------------------

    def test_static_routes(self):
        st, h, body = http_req(self.port, "GET", "/")
        self.assertEqual((st, body), (200, "<html>stub table page</html>\n"))
        self.assertTrue(h["content-type"].startswith("text/html"))
        st, h, body = http_req(self.port, "GET", "/static/app.js")
        self.assertEqual((st, body), (200, "// stub app\n"))
        self.assertTrue(h["content-type"].startswith("text/javascript"))
        self.assertNotIn("set-cookie", h)  # no token on loopback
        for bad in ["/static/../secret.txt", "/static/%2e%2e/secret.txt",
                    "/static/%2E%2E%2Fsecret.txt", "/static/link-out", "/static/",
                    "/static/nope.js", "/secret.txt", "/nope", "/vm/", "/static/a%00b"]:
            st, _, _ = http_req(self.port, "GET", bad)
            self.assertEqual(st, 404, bad)

    def test_methods(self):
        self.assertEqual(http_req(self.port, "POST", "/", body="x")[0], 405)
        self.assertEqual(http_req(self.port, "DELETE", "/static/app.js")[0], 405)
        st, h, _ = http_req(self.port, "GET", "/api/command")
        self.assertEqual(st, 405)
        self.assertEqual(h["allow"], "POST")

    def test_vm_pages(self):
        st, h, _ = http_req(self.port, "GET", "/vm/a/connect")
        self.assertEqual(st, 301)
        self.assertEqual(h["location"], "/vm/a/connect/")
        st, h, _ = http_req(self.port, "GET", "/vm/a/connect?namespace=minimega")
        self.assertEqual(h["location"], "/vm/a/connect/?namespace=minimega")
        st, _, body = http_req(self.port, "GET", "/vm/a/connect/")
        self.assertEqual((st, body), (200, "<html>stub terminal page</html>\n"))
        st, _, body = http_req(self.port, "GET", "/vm/%61/connect/")  # percent-decoded
        self.assertEqual(st, 200)
        st, _, body = http_req(self.port, "GET", "/vm/nope/connect/")
        self.assertEqual((st, body), (404, "vm nope not found\n"))
        st, _, body = http_req(self.port, "GET", "/vm/a/connect/?namespace=other")
        self.assertEqual((st, body), (404, "vm a not found\n"))
        with self.assertRaises(HandshakeRefused) as e:
            self.ws("/vm/nope/connect/ws")
        self.assertEqual(e.exception.status, 404)
        self.assertEqual(e.exception.body, "vm nope not found\n")

    def test_api_command(self):
        st, h, body = http_req(self.port, "POST", "/api/command",
                               body=json.dumps({"command": "vm info"}))
        self.assertEqual(st, 200)
        self.assertEqual(h["content-type"], "application/json")
        r = json.loads(body)
        self.assertFalse(r["error"])
        lines = r["text"].splitlines()
        self.assertEqual([x.strip() for x in lines[0].split("|")][:4],
                         ["host", "id", "name", "state"])
        self.assertEqual(len(lines), 2)
        self.assertIn(" a ", lines[1])
        # Same rendering as a control-socket client (`herd -e`): compare a
        # command whose output does not move with time.
        cmd = ".columns name,state,uuid,vcpus,memory vm info"
        want = self.c.ok(cmd) + "\n"
        r = json.loads(http_req(self.port, "POST", "/api/command",
                                body=json.dumps({"command": cmd}))[2])
        self.assertEqual(r, {"error": False, "text": want})
        r = json.loads(http_req(self.port, "POST", "/api/command",
                                body=json.dumps({"command": "vm start nosuch",
                                                 "namespace": "minimega"}))[2])
        self.assertTrue(r["error"])
        self.assertRegex(r["text"], r"^Error \(.*\): .*nosuch")
        st, _, body = http_req(self.port, "POST", "/api/command", body="{not json")
        self.assertEqual(st, 400)
        st, _, body = http_req(self.port, "POST", "/api/command", body='{"command": 3}')
        self.assertEqual(st, 400)

    # -- the console ---------------------------------------------------------

    def test_console_both_ways(self):
        v1 = self.ws("/vm/a/connect/ws")
        v2 = self.ws("/vm/a/connect/ws")
        try:
            # Scrollback first: what was typed before anyone joined.
            self.assertIn(b"SCROLL-42-BACK", v1.read_until(b"SCROLL-42-BACK"))
            self.assertIn(b"SCROLL-42-BACK", v2.read_until(b"SCROLL-42-BACK"))
            echo42(v1)
            echo42_seen = v2.read_until(b"\n42\r")  # the second viewer sees it too
            self.assertIn(b"echo $((6*7))", echo42_seen)
            # Input from the second viewer reaches the same shell.
            v2.send_binary(b"echo from-$((1+1))-v2\r")
            v1.read_until(b"from-2-v2")
        finally:
            v1.close()
            v2.close()

    def test_resize(self):
        v = self.ws("/vm/a/connect/ws")
        try:
            v.send_text(json.dumps({"type": "resize", "cols": 123, "rows": 45}))
            v.send_binary(b"stty size; echo END-$((3+4))\r")
            out = v.read_until(b"END-7")
            self.assertIn(b"45 123", out)
            v.send_text(json.dumps({"type": "resize", "cols": 80, "rows": 24}))
            v.send_binary(b"stty size; echo END-$((4+4))\r")
            self.assertIn(b"24 80", v.read_until(b"END-8"))
        finally:
            v.close()

    def test_malformed_frames(self):
        other = self.ws("/vm/a/connect/ws")
        try:
            cases = [
                # (what is sent, acceptable close codes)
                (lambda w: w.send_frame(0x2, b"unmasked", mask=False), {1002}),
                (lambda w: w.send_text("{not json"), {1003}),
                (lambda w: w.send_text(json.dumps({"type": "resize", "cols": "x"})), {1003}),
                (lambda w: w.send_text(json.dumps({"type": "what"})), {1003}),
                (lambda w: w.send_binary(b"x" * (65 * 1024)), {1009}),
                (lambda w: w.send_frame(0x3, b"reserved opcode"), {1002}),
            ]
            for send, codes in cases:
                w = self.ws("/vm/a/connect/ws")
                try:
                    send(w)
                    code, _ = w.expect_close()
                    self.assertIn(code, codes)
                finally:
                    w.close()
            # The daemon, the guest and the other viewer are unaffected.
            echo42(other)
            self.c.ok("version")
        finally:
            other.close()

    def test_slow_viewer_dropped(self):
        slow = self.ws("/vm/a/connect/ws", rcvbuf=4096)  # never reads
        fast = self.ws("/vm/a/connect/ws", timeout=30)
        try:
            t0 = time.time()
            # ~6 MB of output: far more than the 256 KiB a viewer may lag.
            fast.send_binary(b"head -c 6000000 /dev/zero | tr '\\0' x; echo; "
                             b"echo FLOOD-$((5*5))-DONE\r")
            fast.read_until(b"FLOOD-25-DONE", timeout=60)
            self.assertLess(time.time() - t0, 60)
            echo42(fast)  # still live, and so is the guest
            deadline = time.time() + 10
            while "dropping a client" not in self.d.logtext() and time.time() < deadline:
                time.sleep(0.1)
            self.assertIn("dropping a client", self.d.logtext())
            # The slow one was cut: after what was buffered, the stream ends.
            slow.sock.settimeout(5)
            got, ended = 0, False
            while True:
                try:
                    chunk = slow.sock.recv(1 << 16)
                except socket.timeout:
                    break
                except ConnectionResetError:
                    ended = True
                    break
                if not chunk:
                    ended = True
                    break
                got += len(chunk)
            self.assertTrue(ended, "slow viewer still connected after %d bytes" % got)
            self.assertLess(got, 3000000)
        finally:
            slow.close()
            fast.close()

    # -- the table ------------------------------------------------------------

    def test_table_and_commands(self):
        t = self.ws("/ws")
        try:
            m = t.recv_json()
            self.assertEqual(m["type"], "vms")
            row = [r for r in m["vms"] if r["name"] == "a"][0]
            self.assertEqual(row["state"], "RUNNING")
            self.assertEqual(row["namespace"], "minimega")
            self.assertEqual(set(row), {"namespace", "id", "name", "state", "uptime", "memory",
                                        "vcpus", "cpu", "vlan", "ip", "ip6", "tags"})
            info = self.c.table("vm info")[0]
            self.assertEqual(row["id"], int(info["id"]))
            for k in ["memory", "vcpus", "vlan", "ip", "ip6", "tags"]:
                self.assertEqual(row[k], info[k], k)
            t.send_text(json.dumps({"type": "command", "id": 7, "command": "echo hi there"}))
            while True:
                m = t.recv_json()
                if m["type"] == "response":
                    break
            self.assertEqual(m, {"type": "response", "id": 7, "error": False,
                                 "text": self.c.ok("echo hi there") + "\n"})
            self.assertTrue(m["text"].endswith(": hi there\n"), m["text"])
            # Refreshed while connected: uptime moves.
            uptimes = set()
            deadline = time.time() + 6
            while len(uptimes) < 2 and time.time() < deadline:
                m = t.recv_json()
                if m["type"] == "vms":
                    uptimes.add([r for r in m["vms"] if r["name"] == "a"][0]["uptime"])
            self.assertGreaterEqual(len(uptimes), 2)
            t.send_frame(0x2, b"binary is not a command")
            self.assertEqual(t.expect_close()[0], 1003)
        finally:
            t.close()

    def test_zz_state_change_pushed_and_console_closed(self):
        """Runs last: kills and flushes the container."""
        t = self.ws("/ws")
        v = self.ws("/vm/a/connect/ws")
        try:
            self.assertEqual(t.recv_json()["type"], "vms")
            self.c.ok("vm kill a")
            t0 = time.time()
            state = None
            while state != "QUIT" and time.time() - t0 < 1.0:
                t.sock.settimeout(max(0.01, 1.0 - (time.time() - t0)))
                try:
                    m = t.recv_json()
                except socket.timeout:
                    break
                if m["type"] == "vms":
                    state = [r for r in m["vms"] if r["name"] == "a"][0]["state"]
            self.assertEqual(state, "QUIT", "QUIT not pushed within 1 s")
            sys.stderr.write("(QUIT pushed %.0f ms after vm kill returned) " %
                             ((time.time() - t0) * 1000))
            t.sock.settimeout(10)
            # The console outlives the container until flush, then closes.
            self.c.ok("vm flush")
            self.assertEqual(v.expect_close(), (1001, "console closed"))
            with self.assertRaises(HandshakeRefused) as e:
                self.ws("/vm/a/connect/ws")
            self.assertEqual(e.exception.status, 404)
        finally:
            t.close()
            v.close()

    def test_zzz_quit_with_open_viewers(self):
        """Runs very last: the daemon quits with web viewers open."""
        self.c.ok("vm launch container b")
        self.c.ok("vm start b")
        v = self.ws("/vm/b/connect/ws")
        t = self.ws("/ws")
        try:
            self.assertEqual(t.recv_json()["type"], "vms")
            v.send_binary(b"echo up-$((2+2))\r")
            v.read_until(b"up-4", timeout=15)
            t0 = time.time()
            self.d.proc.terminate()
            self.assertEqual(self.d.proc.wait(20), 0)
            sys.stderr.write("(exit %.0f ms after SIGTERM) " % ((time.time() - t0) * 1000))
            self.assertEqual(v.expect_close(), (1001, "console closed"))
            self.assertEqual(t.expect_close(), (1001, "server stopped"))
        finally:
            v.close()
            t.close()


class WebDry(unittest.TestCase):
    """The token rule, `web` at run time, and a clean quit with open sockets
    (dry runtime: no container needed)."""

    def setUp(self):
        self.root = make_root()

    def tearDown(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def check_token_rule(self, port, token):
        st, _, body = http_req(port, "GET", "/")
        self.assertEqual((st, body), (401, "herd: missing or wrong token\n"))
        self.assertEqual(http_req(port, "GET", "/?token=wrong" + token)[0], 401)
        self.assertEqual(http_req(port, "GET", "/static/app.js")[0], 401)
        self.assertEqual(http_req(port, "POST", "/api/command", body='{"command":"version"}')[0],
                         401)
        st, h, body = http_req(port, "GET", "/?token=" + token)
        self.assertEqual((st, body), (200, "<html>stub table page</html>\n"))
        self.assertEqual(h["set-cookie"],
                         "herd_token=%s; Path=/; HttpOnly; SameSite=Strict" % token)
        st, _, _ = http_req(port, "GET", "/static/app.js",
                            headers={"Cookie": "x=1; herd_token=" + token})
        self.assertEqual(st, 200)
        st, _, _ = http_req(port, "GET", "/static/app.js",
                            headers={"Authorization": "Bearer " + token})
        self.assertEqual(st, 200)
        with self.assertRaises(HandshakeRefused) as e:
            WS(port, "/ws")
        self.assertEqual(e.exception.status, 401)
        with self.assertRaises(HandshakeRefused) as e:
            WS(port, "/ws", headers={"Cookie": "herd_token=nope"})
        self.assertEqual(e.exception.status, 401)
        w = WS(port, "/ws", headers={"Cookie": "herd_token=" + token})
        self.assertEqual(w.recv_json()["type"], "vms")
        w.close()
        w = WS(port, "/ws?token=" + token)
        self.assertEqual(w.recv_json()["type"], "vms")
        w.close()

    def test_token_off_loopback(self):
        with Daemon("-runtime", "dry", "-web", "0.0.0.0:0", "-web-root", self.root) as d:
            c = d.client()
            port = web_port(c)
            m = re.search(r"^token ([0-9a-f]{32})$", c.ok(".annotate false web"), re.M)
            self.assertTrue(m, c.ok("web"))
            token = m.group(1)
            self.assertIn("web: token " + token, d.logtext())
            self.check_token_rule(port, token)
            # A VM without a console.
            c.ok("vm launch container drycon")
            st, _, body = http_req(port, "GET", "/vm/drycon/connect/?token=" + token)
            self.assertEqual(st, 200)
            with self.assertRaises(HandshakeRefused) as e:
                WS(port, "/vm/drycon/connect/ws?token=" + token)
            self.assertEqual((e.exception.status, e.exception.body),
                             (404, "vm drycon has no console\n"))
            c.close()

    def test_token_flag_on_loopback(self):
        with Daemon("-runtime", "dry", "-web", "127.0.0.1:0", "-web-token", "s3cret-tok",
                    "-web-root", self.root) as d:
            c = d.client()
            self.check_token_rule(web_port(c), "s3cret-tok")
            c.close()

    def test_web_command_and_quit(self):
        d = Daemon("-runtime", "dry", "-web-root", self.root).start()
        try:
            c = d.client()
            self.assertEqual(c.ok(".annotate false web"), "web server not running")
            _, errs = c.run("web nonsense:port")
            self.assertTrue(errs and "bad port" in errs[0], errs)
            text = c.ok(".annotate false web 127.0.0.1:0")
            self.assertRegex(text, r"^listening on http://127\.0\.0\.1:\d+/$")
            port = web_port(c)
            _, errs = c.run("web 127.0.0.1:0")
            self.assertTrue(errs and "already running" in errs[0], errs)
            # Taken port: a clear error, nothing changes.
            busy = socket.socket()
            busy.bind(("127.0.0.1", 0))
            busy.listen(1)
            c.ok("web stop")
            _, errs = c.run("web 127.0.0.1:%d" % busy.getsockname()[1])
            self.assertTrue(errs and "Address already in use" in errs[0], errs)
            busy.close()
            self.assertEqual(c.ok(".annotate false web"), "web server not running")
            c.ok("web 127.0.0.1:%d" % port)
            # `web stop` closes the open sockets cleanly.
            t = WS(port, "/ws")
            self.assertEqual(t.recv_json()["type"], "vms")
            c.ok("web stop")
            self.assertEqual(t.expect_close(), (1001, "server stopped"))
            t.close()
            with self.assertRaises(OSError):
                http_req(port, "GET", "/")
            _, errs = c.run("web stop")
            self.assertTrue(errs and "not running" in errs[0], errs)
            # Quit with open web sockets: a prompt, clean exit.
            c.ok("web 127.0.0.1:%d" % port)
            t = WS(port, "/ws")
            self.assertEqual(t.recv_json()["type"], "vms")
            c.close()
            t0 = time.time()
            d.proc.terminate()
            self.assertEqual(d.proc.wait(10), 0)
            self.assertLess(time.time() - t0, 5)
            self.assertEqual(t.expect_close(), (1001, "server stopped"))
            t.close()
        finally:
            d.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
