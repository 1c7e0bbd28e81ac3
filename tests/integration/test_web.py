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
import resource
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herdtest import HERD, Console, Daemon, as_nobody, assert_responsive  # noqa: E402

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


def frame(opcode, payload, mask=True, fin=True):
    """One WebSocket frame as a client sends it (masked unless told)."""
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, m | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, m | 126, n)
    else:
        head = struct.pack("!BBQ", b0, m | 127, n)
    if mask and n:
        key = os.urandom(4)
        keys = (key * (n // 4 + 1))[:n]
        payload = (int.from_bytes(payload, "big") ^ int.from_bytes(keys, "big")).to_bytes(n, "big")
        head += key
    elif mask:
        head += os.urandom(4)
    return head + payload


class WS:
    """A WebSocket client: frames as RFC 6455 says, client frames masked."""

    def __init__(self, port, path, headers=None, timeout=10, rcvbuf=None, host="127.0.0.1",
                 host_header=None, token=None):
        headers = with_token(headers, token)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        key = base64.b64encode(os.urandom(16)).decode()
        lines = ["GET %s HTTP/1.1" % path, "Host: " + (host_header or "%s:%d" % (host, port)),
                 "Upgrade: websocket",
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
        self.sock.sendall(frame(opcode, payload, mask, fin))

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


JSON = {"Content-Type": "application/json"}


def with_token(headers, token):
    """headers plus `Authorization: Bearer <token>` when a token is given."""
    headers = dict(headers or {})
    if token:
        headers["Authorization"] = "Bearer " + token
    return headers


def daemon_token(d):
    """The token a daemon made (root reads it in <base>/token)."""
    with open(os.path.join(d.base, "token")) as f:
        return f.read().strip()


def api(port, command, headers=None, token=None, **kw):
    """POST /api/command as a same-origin client does; (status, headers, body)."""
    return http_req(port, "POST", "/api/command", body=json.dumps(dict(command=command, **kw)),
                    headers=dict(JSON, **(headers or {})), token=token)


def http_req(port, method, path, body=None, headers=None, host="127.0.0.1", token=None):
    c = http.client.HTTPConnection(host, port, timeout=10)
    c.request(method, path, body=body, headers=with_token(headers, token))
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


def check_token_rule(tc, port, token):
    """Every route refuses a request without the right token; ?token= sets
    the port's cookie; the cookie and a Bearer header are taken."""
    st, _, body = http_req(port, "GET", "/")
    tc.assertEqual((st, body), (401, "herd: missing or wrong token\n"))
    tc.assertEqual(http_req(port, "GET", "/?token=wrong" + token)[0], 401)
    tc.assertEqual(http_req(port, "GET", "/static/app.js")[0], 401)
    tc.assertEqual(api(port, "version")[0], 401)
    for path in ["/vm/a/connect/", "/vm/a/connect", "/nope", "/api/command"]:
        tc.assertEqual(http_req(port, "GET", path)[0], 401, path)
    with tc.assertRaises(HandshakeRefused) as e:
        WS(port, "/vm/a/connect/ws")
    tc.assertEqual(e.exception.status, 401)
    st, h, body = http_req(port, "GET", "/?token=" + token)
    tc.assertEqual((st, body), (200, "<html>stub table page</html>\n"))
    cookie = "herd_token_%d" % port  # cookies ignore ports: one per server
    tc.assertEqual(h["set-cookie"], "%s=%s; Path=/; HttpOnly; SameSite=Strict" % (cookie, token))
    st, _, _ = http_req(port, "GET", "/static/app.js",
                        headers={"Cookie": "x=1; %s=%s" % (cookie, token)})
    tc.assertEqual(st, 200)
    # Another port's cookie, or the unscoped name, is not this server's.
    for other in ["herd_token=" + token, "herd_token_%d=%s" % (port + 1, token)]:
        st, _, _ = http_req(port, "GET", "/static/app.js", headers={"Cookie": other})
        tc.assertEqual(st, 401, other)
    st, _, _ = http_req(port, "GET", "/static/app.js",
                        headers={"Authorization": "Bearer " + token})
    tc.assertEqual(st, 200)
    with tc.assertRaises(HandshakeRefused) as e:
        WS(port, "/ws")
    tc.assertEqual(e.exception.status, 401)
    with tc.assertRaises(HandshakeRefused) as e:
        WS(port, "/ws", headers={"Cookie": cookie + "=nope"})
    tc.assertEqual(e.exception.status, 401)
    w = WS(port, "/ws", headers={"Cookie": "%s=%s" % (cookie, token)})
    tc.assertEqual(w.recv_json()["type"], "vms")
    w.close()
    w = WS(port, "/ws?token=" + token)
    tc.assertEqual(w.recv_json()["type"], "vms")
    w.close()


class WebContainer(unittest.TestCase):
    """One daemon serving the web page on loopback, one real container.
    Requests carry the daemon's token (loopback needs it too)."""

    @classmethod
    def setUpClass(cls):
        cls.root = make_root()
        cls.d = Daemon("-web", "127.0.0.1:0", "-web-root", cls.root).start()
        cls.addClassCleanup(cls.d.stop)  # also if setUpClass fails (no tearDownClass)
        cls.c = cls.d.client()
        cls.port = web_port(cls.c)
        cls.token = daemon_token(cls.d)
        cls.c.ok("vm launch container a")
        cls.c.ok("vm start a")
        info = cls.c.table("vm info")[0]
        cls.con = Console(cls.d.base, info["id"])
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
        return WS(self.port, path, token=self.token, **kw)

    def http(self, *args, **kw):
        return http_req(self.port, *args, token=self.token, **kw)

    def api(self, *args, **kw):
        return api(self.port, *args, token=self.token, **kw)

    def test_token_required(self):
        """Loopback is no trust boundary: every route wants the token."""
        check_token_rule(self, self.port, self.token)

    # -- HTTP routes -------------------------------------------------------

    def test_static_routes(self):
        st, h, body = self.http("GET", "/")
        self.assertEqual((st, body), (200, "<html>stub table page</html>\n"))
        self.assertTrue(h["content-type"].startswith("text/html"))
        st, h, body = self.http("GET", "/static/app.js")
        self.assertEqual((st, body), (200, "// stub app\n"))
        self.assertTrue(h["content-type"].startswith("text/javascript"))
        self.assertNotIn("set-cookie", h)  # a cookie only for ?token=
        for bad in ["/static/../secret.txt", "/static/%2e%2e/secret.txt",
                    "/static/%2E%2E%2Fsecret.txt", "/static/link-out", "/static/",
                    "/static/nope.js", "/secret.txt", "/nope", "/vm/", "/static/a%00b"]:
            st, _, _ = self.http("GET", bad)
            self.assertEqual(st, 404, bad)

    def test_methods(self):
        self.assertEqual(self.http("POST", "/", body="x")[0], 405)
        self.assertEqual(self.http("DELETE", "/static/app.js")[0], 405)
        st, h, _ = self.http("GET", "/api/command")
        self.assertEqual(st, 405)
        self.assertEqual(h["allow"], "POST")

    def test_vm_pages(self):
        st, h, _ = self.http("GET", "/vm/a/connect")
        self.assertEqual(st, 301)
        self.assertEqual(h["location"], "/vm/a/connect/")
        st, h, _ = self.http("GET", "/vm/a/connect?namespace=minimega")
        self.assertEqual(h["location"], "/vm/a/connect/?namespace=minimega")
        st, _, body = self.http("GET", "/vm/a/connect/")
        self.assertEqual((st, body), (200, "<html>stub terminal page</html>\n"))
        st, _, body = self.http("GET", "/vm/%61/connect/")  # percent-decoded
        self.assertEqual(st, 200)
        st, _, body = self.http("GET", "/vm/nope/connect/")
        self.assertEqual((st, body), (404, "vm nope not found\n"))
        st, _, body = self.http("GET", "/vm/a/connect/?namespace=other")
        self.assertEqual((st, body), (404, "vm a not found\n"))
        with self.assertRaises(HandshakeRefused) as e:
            self.ws("/vm/nope/connect/ws")
        self.assertEqual(e.exception.status, 404)
        self.assertEqual(e.exception.body, "vm nope not found\n")

    def test_api_command(self):
        st, h, body = self.api("vm info")
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
        r = json.loads(self.api(cmd)[2])
        self.assertEqual(r, {"error": False, "text": want})
        r = json.loads(self.api("vm start nosuch", namespace="minimega")[2])
        self.assertTrue(r["error"])
        self.assertRegex(r["text"], r"^Error \(.*\): .*nosuch")
        st, _, body = self.http("POST", "/api/command", body="{not json",
                               headers=JSON)
        self.assertEqual(st, 400)
        st, _, body = self.http("POST", "/api/command", body='{"command": 3}',
                               headers=JSON)
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

    def read_burst(self, ws, rate=None, quiet=3):
        """Reads console output until `quiet` seconds pass without any (at
        most `rate` bytes/s); returns (bytes of 'x', bytes said skipped, markers)."""
        ws.sock.settimeout(quiet)
        xs, skipped, markers = 0, 0, 0
        while True:
            try:
                op, data = ws.recv()
            except socket.timeout:
                break
            self.assertEqual(op, 0x2)
            xs += data.count(b"x")
            for m in re.finditer(rb"\r\n\[herd: (\d+) bytes skipped\]\r\n", data):
                skipped += int(m.group(1))
                markers += 1
            if rate:
                time.sleep(len(data) / rate)
        ws.sock.settimeout(10)
        return xs, skipped, markers

    def test_slow_viewer_skips(self):
        """A viewer slower than the guest skips output (a marker says how
        much) and stays; one whose socket took nothing for 30 s is dropped."""
        stuck = self.ws("/vm/a/connect/ws", rcvbuf=4096)  # never reads
        slow = self.ws("/vm/a/connect/ws", rcvbuf=4096)
        try:
            t0 = time.time()
            n = 20000000
            slow.send_binary(b"head -c %d /dev/zero | tr '\\0' x; echo\r" % n)
            # 2 MB/s: ten times slower than the guest writes.
            xs, skipped, markers = self.read_burst(slow, rate=2e6)
            sys.stderr.write("(slow viewer: %d bytes of x, %d skipped in %d markers, %.1f s) " %
                             (xs, skipped, markers, time.time() - t0))
            self.assertGreater(markers, 0)
            self.assertLess(xs, n)
            # Every byte is either shown or counted (a few more counted: the
            # prompt or the echo may fall in a skipped stretch).
            self.assertGreaterEqual(xs + skipped, n)
            self.assertLess(xs + skipped, n + 4096)
            self.assertIsNone(slow.closed)
            echo42(slow)  # connected, and the guest is fine
            self.assertNotIn("dropping a client", self.d.logtext())
            # The stuck viewer's socket has taken nothing since the burst
            # filled its buffers; once that is 30 s old, the next overflow drops it.
            time.sleep(max(0, t0 + 36 - time.time()))
            slow.send_binary(b"head -c 3000000 /dev/zero | tr '\\0' x; echo\r")
            self.read_burst(slow)
            echo42(slow)
            deadline = time.time() + 10
            while "dropping a client" not in self.d.logtext() and time.time() < deadline:
                time.sleep(0.1)
            self.assertIn("dropping a client", self.d.logtext())
            # After what was buffered, its stream ends.
            stuck.sock.settimeout(5)
            got, ended = 0, False
            while True:
                try:
                    chunk = stuck.sock.recv(1 << 16)
                except socket.timeout:
                    break
                except ConnectionResetError:
                    ended = True
                    break
                if not chunk:
                    ended = True
                    break
                got += len(chunk)
            self.assertTrue(ended, "stuck viewer still connected after %d bytes" % got)
            self.assertLess(got, 8000000)
        finally:
            stuck.close()
            slow.close()

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

    def test_token_off_loopback(self):
        with Daemon("-runtime", "dry", "-web", "0.0.0.0:0", "-web-root", self.root) as d:
            c = d.client()
            port = web_port(c)
            m = re.search(r"^token ([0-9a-f]{32})$", c.ok(".annotate false web"), re.M)
            self.assertTrue(m, c.ok("web"))
            token = m.group(1)
            self.assertIn("web: token " + token, d.logtext())
            check_token_rule(self, port, token)
            # A VM without a console.
            c.ok("vm launch container drycon")
            st, _, body = http_req(port, "GET", "/vm/drycon/connect/?token=" + token)
            self.assertEqual(st, 200)
            with self.assertRaises(HandshakeRefused) as e:
                WS(port, "/vm/drycon/connect/ws?token=" + token)
            self.assertEqual((e.exception.status, e.exception.body),
                             (404, "vm drycon has no console\n"))
            c.close()

    def test_token_on_loopback(self):
        """No -web-token: a random token, on loopback too, printed at start,
        shown by `web`, in <base>/web.url (root's alone) while it serves."""
        with Daemon("-runtime", "dry", "-web", "127.0.0.1:0", "-web-root", self.root) as d:
            c = d.client()
            port = web_port(c)
            token = daemon_token(d)
            self.assertRegex(token, r"^[0-9a-f]{32}$")
            url = "http://127.0.0.1:%d/?token=%s" % (port, token)
            self.assertIn("web: listening on " + url, d.logtext())
            self.assertIn("listening on " + url + "\ntoken " + token, c.ok(".annotate false web"))
            url_file = os.path.join(d.base, "web.url")
            st = os.stat(url_file)
            self.assertEqual((st.st_mode & 0o777, st.st_uid), (0o600, 0))
            with open(url_file) as f:
                self.assertEqual(f.read(), url + "\n")
            check_token_rule(self, port, token)
            # Stopped: the file goes; served again: the same token.
            c.ok("web stop")
            self.assertFalse(os.path.exists(url_file))
            c.ok("web 127.0.0.1:0")
            port = web_port(c)
            with open(url_file) as f:
                self.assertEqual(f.read(), "http://127.0.0.1:%d/?token=%s\n" % (port, token))
            self.assertEqual(http_req(port, "GET", "/")[0], 401)
            self.assertEqual(http_req(port, "GET", "/", token=token)[0], 200)
            c.close()

    def test_bad_token_flag(self):
        """A bad -web-token stops the daemon before it starts (not echoed:
        it is meant to be a secret)."""
        for bad in ["a b", "x" * 129, "tok;en"]:
            r = subprocess.run([HERD, "-base", "/nonexistent", "-web-token", bad, "-nostdin"],
                               capture_output=True, text=True, timeout=10)
            self.assertEqual(r.returncode, 2, bad)
            first = r.stderr.splitlines()[0]
            self.assertEqual(first, "invalid value for flag -web-token: expected 1 to 128 "
                             "characters of [A-Za-z0-9._~-]")

    def test_token_flag_on_loopback(self):
        with Daemon("-runtime", "dry", "-web", "127.0.0.1:0", "-web-token", "s3cret-tok",
                    "-web-root", self.root) as d:
            c = d.client()
            check_token_rule(self, web_port(c), "s3cret-tok")
            c.close()

    def test_cross_site_refused(self):
        """Other sites' pages must not reach the server through a visitor's
        browser, which holds the token's cookie (CSRF, cross-site WebSockets,
        DNS rebinding): refused even with the token."""
        with Daemon("-runtime", "dry", "-web", "127.0.0.1:0", "-web-root", self.root) as d:
            c = d.client()
            port = web_port(c)
            tok = daemon_token(d)
            own = "http://127.0.0.1:%d" % port
            refused = (403, "herd: cross-origin request refused\n")
            # A cross-site POST (the command must not run) and WebSocket.
            st, _, body = api(port, "vm launch container evil1",
                              headers={"Origin": "https://evil.example"}, token=tok)
            self.assertEqual((st, body), refused)
            st, _, body = http_req(port, "POST", "/api/command",
                                   body='{"command": "vm launch container evil2"}',
                                   headers={"Origin": "null", "Content-Type": "text/plain"},
                                   token=tok)
            self.assertEqual((st, body), refused)
            for path in ["/ws", "/vm/x/connect/ws"]:
                with self.assertRaises(HandshakeRefused) as e:
                    WS(port, path, headers={"Origin": "https://evil.example"}, token=tok)
                self.assertEqual((e.exception.status, e.exception.body), refused)
            # A form or no-cors fetch cannot send JSON's Content-Type.
            for ctype in [None, "text/plain", "application/x-www-form-urlencoded"]:
                st, _, body = http_req(port, "POST", "/api/command",
                                       body='{"command": "vm launch container evil3"}',
                                       headers={"Content-Type": ctype} if ctype else {}, token=tok)
                self.assertEqual((st, body),
                                 (415, "herd: expected Content-Type: application/json\n"), ctype)
            self.assertEqual(c.table("vm info"), [])  # nothing ran
            # DNS rebinding: a name that is not ours.
            for host in ["evil.example:%d" % port, "127.0.0.1:%d" % (port + 1), "evil.example"]:
                st, _, body = http_req(port, "GET", "/", headers={"Host": host}, token=tok)
                self.assertEqual((st, body), (421, "herd: unknown host\n"), host)
                with self.assertRaises(HandshakeRefused) as e:
                    WS(port, "/ws", host_header=host, token=tok)
                self.assertEqual(e.exception.status, 421)
            # Our own names and origin work.
            for host in ["127.0.0.1:%d" % port, "localhost:%d" % port, "[::1]:%d" % port]:
                st, _, _ = http_req(port, "GET", "/", headers={"Host": host}, token=tok)
                self.assertEqual(st, 200, host)
            st, _, body = api(port, "vm launch container good", headers={"Origin": own}, token=tok)
            self.assertEqual((st, json.loads(body)["error"]), (200, False))
            w = WS(port, "/ws", headers={"Origin": own}, token=tok)
            self.assertEqual(w.recv_json()["type"], "vms")
            w.close()
            self.assertEqual([r["name"] for r in c.table("vm info")], ["good"])
            # A crafted VM name is not echoed (the terminal page shows the
            # 404 body): no control character reaches it.
            st, _, body = http_req(port, "GET", "/vm/%1b%5d0%3bpwned%07/connect/", token=tok)
            self.assertEqual((st, body), (404, "vm not found\n"))
            with self.assertRaises(HandshakeRefused) as e:
                WS(port, "/vm/..%1b[2J/connect/ws", token=tok)
            self.assertEqual((e.exception.status, e.exception.body), (404, "vm not found\n"))
            st, _, body = http_req(port, "GET", "/vm/nosuch/connect/", token=tok)
            self.assertEqual((st, body), (404, "vm nosuch not found\n"))
            # A header over 16 KiB.
            st, _, _ = http_req(port, "GET", "/", headers={"X-Big": "a" * 17000}, token=tok)
            self.assertEqual(st, 431)
            c.close()

    def test_wildcard_any_host_origin_checked(self):
        """On 0.0.0.0 any Host is served (the token protects), but a
        cross-origin POST or WebSocket is refused even with the token."""
        with Daemon("-runtime", "dry", "-web", "0.0.0.0:0", "-web-token", "tok-1",
                    "-web-root", self.root) as d:
            c = d.client()
            port = web_port(c)
            bearer = {"Authorization": "Bearer tok-1"}
            st, _, _ = http_req(port, "GET", "/", headers=dict(bearer, Host="herd.lab:%d" % port))
            self.assertEqual(st, 200)
            self.assertEqual(http_req(port, "GET", "/", headers={"Host": "herd.lab"})[0], 401)
            st, _, body = api(port, "version", headers=dict(bearer, Origin="http://evil.example"))
            self.assertEqual((st, body), (403, "herd: cross-origin request refused\n"))
            with self.assertRaises(HandshakeRefused) as e:
                WS(port, "/ws?token=tok-1", headers={"Origin": "http://evil.example"})
            self.assertEqual(e.exception.status, 403)
            # The page's own origin, under whatever name it was reached.
            st, _, _ = api(port, "version", headers=dict(
                bearer, Host="herd.lab:%d" % port, Origin="http://herd.lab:%d" % port))
            self.assertEqual(st, 200)
            c.close()

    def test_command_flood_bounded(self):
        """One /ws client flooding commands neither starves the others (the
        control socket answers) nor grows the daemon's memory: at most a few
        of its commands are queued, the rest wait in TCP."""
        with Daemon("-runtime", "dry", "-web", "127.0.0.1:0", "-web-root", self.root) as d:
            c = d.client()
            port = web_port(c)
            tok = daemon_token(d)

            def flood(ws, frames):
                try:
                    for f in frames:
                        ws.sock.sendall(f)
                except OSError:
                    pass  # closed by the test

            def rss_kb():
                with open("/proc/%d/status" % d.proc.pid) as f:
                    return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))

            # 2,000 slow commands (10 ms each, 20 s in all if they were queued).
            w = WS(port, "/ws", timeout=30, token=tok)
            self.assertEqual(w.recv_json()["type"], "vms")
            frames = [frame(0x1, json.dumps({"type": "command", "id": i,
                                              "command": "shell sleep 0.01"}).encode())
                      for i in range(2000)]
            t = threading.Thread(target=flood, args=(w, frames), daemon=True)
            t.start()
            time.sleep(0.5)
            for _ in range(3):
                t0 = time.time()
                c.ok("version")
                self.assertLess(time.time() - t0, 2.0, "control socket starved")
            # The flooding client is still served, in order.
            ids = []
            while len(ids) < 20:
                m = w.recv_json()
                if m["type"] == "response":
                    self.assertFalse(m["error"], m)
                    ids.append(m["id"])
            self.assertEqual(ids, list(range(20)))
            w.close()
            t.join(10)

            # Memory: one long command holds the command thread while the
            # client sends 2,000 messages of 60 KB (120 MB).
            base = rss_kb()
            w = WS(port, "/ws", timeout=30, token=tok)
            self.assertEqual(w.recv_json()["type"], "vms")
            big = frame(0x1, json.dumps({"type": "command", "id": 1,
                                         "command": "echo " + "y" * 60000}).encode())
            w.send_text(json.dumps({"type": "command", "id": 0, "command": "shell sleep 3"}))
            t = threading.Thread(target=flood, args=(w, [big] * 2000), daemon=True)
            t.start()
            time.sleep(2.5)
            grown = (rss_kb() - base) // 1024
            sys.stderr.write("(RSS grew %d MB during the flood) " % grown)
            self.assertLess(grown, 40)
            # Gone with commands queued: they are skipped, nothing waits on them.
            w.close()
            t.join(10)
            t0 = time.time()
            c.ok("version")
            self.assertLess(time.time() - t0, 3.0)
            c.close()

    def test_connection_cap(self):
        """Idle sockets cannot exhaust the daemon's descriptors: past 1024
        connections the oldest one still waiting for a request is cut, an idle
        one is cut after 10 s, and the server keeps answering."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < 4096:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
        with Daemon("-runtime", "dry", "-web", "127.0.0.1:0", "-web-token", "tok-2",
                    "-web-root", self.root) as d:
            c = d.client()
            port = web_port(c)
            idle = []
            try:
                t0 = time.time()
                for _ in range(1100):
                    idle.append(socket.create_connection(("127.0.0.1", port)))

                def cut(s):
                    try:
                        return s.recv(1) == b""
                    except ConnectionResetError:
                        return True

                def wait_cut(socks, until):
                    left = {s.fileno(): s for s in socks}
                    while left and time.time() < until:
                        p = select.poll()
                        for fd in left:
                            p.register(fd, select.POLLIN)
                        for fd, _ in p.poll(200):
                            if cut(left[fd]):
                                del left[fd]
                    return list(left.values())

                # The first 76 (the oldest) make room for the rest.
                self.assertEqual(wait_cut(idle[:76], time.time() + 5), [])
                self.assertEqual(len(wait_cut(idle[76:], time.time() + 1)), 1100 - 76)
                # The daemon and an authorised request are fine meanwhile.
                self.assertIn("version", c.ok("help version"))
                st, _, _ = http_req(port, "GET", "/", headers={"Authorization": "Bearer tok-2"})
                self.assertEqual(st, 200)
                # Idle ones are cut after 10 s.
                left = wait_cut(idle[76:], t0 + 16)
                self.assertEqual(len(left), 0, "%d idle sockets left" % len(left))
                self.assertGreater(time.time() - t0, 8)
            finally:
                for s in idle:
                    s.close()
            st, _, _ = http_req(port, "GET", "/", headers={"Authorization": "Bearer tok-2"})
            self.assertEqual(st, 200)
            w = WS(port, "/ws?token=tok-2")
            self.assertEqual(w.recv_json()["type"], "vms")
            w.close()
            c.close()

    def test_web_command_and_quit(self):
        d = Daemon("-runtime", "dry", "-web-root", self.root).start()
        try:
            tok = daemon_token(d)
            c = d.client()
            self.assertEqual(c.ok(".annotate false web"), "web server not running")
            _, errs = c.run("web nonsense:port")
            self.assertTrue(errs and "bad port" in errs[0], errs)
            text = c.ok(".annotate false web 127.0.0.1:0")
            self.assertRegex(text, r"^listening on http://127\.0\.0\.1:\d+/\?token=%s\ntoken %s\n"
                                   % (tok, tok))
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
            t = WS(port, "/ws", token=tok)
            self.assertEqual(t.recv_json()["type"], "vms")
            c.ok("web stop")
            self.assertEqual(t.expect_close(), (1001, "server stopped"))
            t.close()
            with self.assertRaises(OSError):
                http_req(port, "GET", "/", token=tok)
            _, errs = c.run("web stop")
            self.assertTrue(errs and "not running" in errs[0], errs)
            # Quit with open web sockets: a prompt, clean exit.
            c.ok("web 127.0.0.1:%d" % port)
            t = WS(port, "/ws", token=tok)
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


class WebTableQueries(unittest.TestCase):
    """The VM table's windows (GET /api/vms, {"type":"query"} on /ws) on a
    dry daemon with 1,500 VMs: the token rule, bad parameters, the cap."""

    N = 1500

    @classmethod
    def setUpClass(cls):
        cls.root = make_root()
        cls.addClassCleanup(shutil.rmtree, cls.root, True)
        cls.d = Daemon("-runtime", "dry", "-web", "127.0.0.1:0", "-web-root", cls.root).start()
        cls.addClassCleanup(cls.d.stop)
        cls.c = cls.d.client()
        cls.addClassCleanup(cls.c.close)
        cls.port = web_port(cls.c)
        cls.token = daemon_token(cls.d)
        cls.c.ok("vm launch container q[0-%d]" % (cls.N - 1))
        cls.c.ok("vm start q[0-9]")

    def get(self, query, token=True):
        st, _, body = http_req(self.port, "GET", "/api/vms" + query,
                               token=self.token if token else None)
        return st, body

    def test_window_total_and_filter(self):
        st, body = self.get("?sort=name&order=desc&offset=0&count=3")
        self.assertEqual(st, 200, body)
        m = json.loads(body)
        self.assertEqual((m["type"], m["total"], m["all"], m["running"]), ("vms", self.N, self.N, 10))
        self.assertEqual([v["name"] for v in m["vms"]], ["q999", "q998", "q997"])
        st, body = self.get("?filter=state%3Drunning&count=100")
        m = json.loads(body)
        self.assertEqual(m["total"], 10)
        self.assertTrue(all(v["state"] == "RUNNING" for v in m["vms"]))

    def test_bad_parameters_are_400_and_change_nothing(self):
        for q, want in [("?order=up", "order: expected asc or desc"),
                        ("?offset=-1", "offset: expected a whole number"),
                        ("?count=1e9", "count: expected a whole number"),
                        ("?sort=secret", "sort: no column `secret`"),
                        ("?filter=x%3D1", "filter: no column `x`"),
                        ("?filter=" + "a" * 300, "filter: 300 bytes"),
                        ("?bogus=1", "unknown parameter")]:
            st, body = self.get(q)
            self.assertEqual(st, 400, q)
            self.assertIn(want, body, q)
        st, _, _ = http_req(self.port, "POST", "/api/vms", body="{}", headers=JSON,
                            token=self.token)
        self.assertEqual(st, 405)
        self.assertEqual(len(self.c.table("vm info")), self.N)

    def test_huge_count_is_capped(self):
        st, body = self.get("?count=99999999999999999999")
        self.assertEqual(st, 200)
        self.assertEqual(len(json.loads(body)["vms"]), 1000)

    def test_no_token_no_table(self):
        st, body = self.get("?count=5", token=False)
        self.assertEqual((st, body), (401, "herd: missing or wrong token\n"))
        # Another local user, with any guess, gets no VM names either.
        code = ("import http.client,sys\n"
                "c=http.client.HTTPConnection('127.0.0.1',%d,timeout=10)\n"
                "c.request('GET','/api/vms?token=guess&count=5')\n"
                "r=c.getresponse();b=r.read();print(r.status);sys.exit(b'q1' in b)\n" % self.port)
        r = as_nobody([sys.executable, "-c", code])
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "401"), r.stderr)
        with self.assertRaises(HandshakeRefused):
            WS(self.port, "/ws?window=1")
        assert_responsive(self.d)

    def test_ws_query_window_and_errors(self):
        w = WS(self.port, "/ws?window=1&token=" + self.token)
        try:
            w.send_text(json.dumps({"type": "query", "filter": "q14", "sort": "id",
                                    "offset": 0, "count": 5}))
            m = w.recv_json()
            while m["type"] != "vms":
                m = w.recv_json()
            # q14, q140-q149, q1400-q1499
            self.assertEqual((m["total"], m["all"], len(m["vms"])), (111, self.N, 5))
            w.send_text(json.dumps({"type": "query", "count": -1}))
            m = w.recv_json()
            while m["type"] == "vms":
                m = w.recv_json()
            self.assertEqual(m["type"], "query-error")
            self.assertIn("count: expected a whole number", m["error"])
            # The socket still works: a command answers.
            w.send_text(json.dumps({"type": "command", "id": 7, "command": "version"}))
            m = w.recv_json()
            while m["type"] != "response":
                m = w.recv_json()
            self.assertFalse(m["error"])
        finally:
            w.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
