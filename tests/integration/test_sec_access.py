#!/usr/bin/env python3
"""Attack tests: an unprivileged local user (nobody) must not drive the daemon
through its web page or a container's console. Run as root.

* The web page on 127.0.0.1 without (or with a wrong) token: no route answers,
  and a command POSTed to /api/command or sent over /ws never runs (a marker
  file it would create stays absent).
* A TCP console (-console-addr): without the token a connection gets no byte
  of output and what it types never reaches the guest's shell; a wrong token
  closes it after a short delay. Without -console-addr there is no TCP port.
* The unix console socket (<base>/console, every console's) and the files
  holding the token are root's alone, even when the base directory is
  world-readable and the daemon's umask is 0; a peer that is not root is
  closed at once even if the socket's mode let it connect.

With the token (as root finds it in <base>/web.url and <base>/token) each
access works, which shows the attacks would have been seen to succeed.
"""

import json
import os
import pty
import re
import select
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herdtest import HERD, Console, Daemon, as_nobody, assert_responsive  # noqa: E402

# Runs as nobody: one HTTP request (or WebSocket handshake) to 127.0.0.1;
# prints {"status": int, "body": str}.
HTTP_CLIENT = r"""
import base64, json, os, socket, sys
port, method, path, body, headers = (int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4],
                                     json.loads(sys.argv[5]))
s = socket.create_connection(("127.0.0.1", port), timeout=10)
lines = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1:%d" % port]
if headers.pop("upgrade", None):
    lines += ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13",
              "Sec-WebSocket-Key: " + base64.b64encode(os.urandom(16)).decode()]
else:
    lines.append("Connection: close")
lines += ["%s: %s" % kv for kv in headers.items()]
data = body.encode()
if method == "POST":
    lines.append("Content-Length: %d" % len(data))
s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + data)
got = b""
while True:
    try:
        chunk = s.recv(65536)
    except socket.timeout:
        break
    if not chunk:
        break
    got += chunk
    head, _, rest = got.partition(b"\r\n\r\n")
    if _ and b" 101 " in head.split(b"\r\n", 1)[0]:
        break
    n = [int(v) for k, v in (h.split(b":", 1) for h in head.split(b"\r\n")[1:] if b":" in h)
         if k.strip().lower() == b"content-length"]
    if _ and n and len(rest) >= n[0]:
        break
head, _, rest = got.partition(b"\r\n\r\n")
status = int(head.split()[1]) if head else 0
print(json.dumps({"status": status, "body": rest.decode("utf-8", "replace")}))
"""

# Runs as nobody: connects to 127.0.0.1:port, sends each argument as a line
# (0.2 s apart), then reads for `wait` seconds; prints what it got and
# whether (and when) the server closed the connection.
TCP_CLIENT = r"""
import json, socket, sys, time
port, wait, lines = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
s = socket.create_connection(("127.0.0.1", port), timeout=0.2)
t0 = time.time()
got, closed = b"", None
for line in lines:
    try:
        s.sendall(line.encode() + b"\n")
    except OSError:
        break
    time.sleep(0.2)
while time.time() - t0 < wait and closed is None:
    try:
        chunk = s.recv(65536)
    except socket.timeout:
        continue
    except ConnectionResetError:
        chunk = b""
    if not chunk:
        closed = time.time() - t0
    got += chunk
print(json.dumps({"got": got.decode("latin-1"), "closed": closed}))
"""


def nobody_json(script, *args, timeout=60):
    r = as_nobody(["python3", "-c", script] + [str(a) for a in args], timeout=timeout)
    if r.returncode != 0:
        raise AssertionError("client as nobody failed: %s" % r.stderr)
    return json.loads(r.stdout)


def nobody_http(port, method, path, body="", headers=None):
    return nobody_json(HTTP_CLIENT, port, method, path, body, json.dumps(headers or {}))


def read_secret(path):
    """The content of a file that must be root's alone (mode 0600, root's)."""
    st = os.lstat(path)
    assert stat.S_ISREG(st.st_mode), path
    assert st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o600, \
        "%s: uid %d mode %o" % (path, st.st_uid, stat.S_IMODE(st.st_mode))
    with open(path) as f:
        return f.read().strip()


def open_up(d):
    """Makes the daemon's base reachable by anyone (as minimega's /tmp/minimega
    often is): only the protections of what lies inside remain."""
    os.chmod(d.tmp, 0o755)
    os.chmod(d.base, 0o755)


class WebToken(unittest.TestCase):
    """The web page on loopback (dry runtime: the marker comes from `shell`)."""

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon("-runtime", "dry", "-web", "127.0.0.1:0").start()
        cls.addClassCleanup(cls.d.stop)
        open_up(cls.d)
        cls.c = cls.d.client()
        cls.addClassCleanup(cls.c.close)
        cls.url = read_secret(os.path.join(cls.d.base, "web.url"))
        m = re.match(r"^http://127\.0\.0\.1:(\d+)/\?token=([0-9a-f]{32})$", cls.url)
        assert m, cls.url
        cls.port, cls.token = int(m.group(1)), m.group(2)
        cls.marks = tempfile.mkdtemp(prefix="herd-it-marks-")
        cls.addClassCleanup(shutil.rmtree, cls.marks, True)

    def marker(self, name):
        return os.path.join(self.marks, name)

    def command(self, name):
        return json.dumps({"command": "shell touch " + self.marker(name)})

    def test_token_files_root_only(self):
        self.assertEqual(read_secret(os.path.join(self.d.base, "token")), self.token)
        for f in ["web.url", "token"]:
            r = as_nobody(["cat", os.path.join(self.d.base, f)])
            self.assertNotEqual(r.returncode, 0)
            self.assertNotIn(self.token, r.stdout)
        # `web` shows it to the daemon's users.
        self.assertIn("?token=" + self.token, self.c.ok("web"))

    def test_api_command_refused(self):
        json_type = {"Content-Type": "application/json"}
        same_origin = dict(json_type, Origin="http://127.0.0.1:%d" % self.port)
        tries = [
            ("none", "/api/command", json_type),
            ("origin", "/api/command", same_origin),
            ("wrong-query", "/api/command?token=" + "0" * 32, json_type),
            ("prefix", "/api/command?token=" + self.token[:-1], json_type),
            ("empty", "/api/command?token=", json_type),
            ("bearer", "/api/command", dict(json_type, Authorization="Bearer " + "f" * 32)),
            ("cookie", "/api/command",
             dict(json_type, Cookie="herd_token_%d=%s" % (self.port, "a" * 32))),
            ("other-port-cookie", "/api/command",
             dict(json_type, Cookie="herd_token_%d=%s" % (self.port + 1, self.token))),
        ]
        for name, path, headers in tries:
            r = nobody_http(self.port, "POST", path, self.command(name), headers)
            self.assertEqual((r["status"], r["body"]), (401, "herd: missing or wrong token\n"),
                             name)
            assert_responsive(self.d)
        time.sleep(0.5)  # a command that ran would have made its marker by now
        for name, _, _ in tries:
            self.assertFalse(os.path.exists(self.marker(name)), name)
        # The same request with the token runs (the attack would have been seen).
        r = nobody_http(self.port, "POST", "/api/command?token=" + self.token,
                        self.command("with-token"), json_type)
        self.assertEqual(r["status"], 200, r)
        self.assertTrue(os.path.exists(self.marker("with-token")))
        assert_responsive(self.d)

    def test_pages_and_websockets_refused(self):
        for path in ["/", "/static/app.js", "/vm/x/connect/", "/nope", "/api/command"]:
            r = nobody_http(self.port, "GET", path)
            self.assertEqual(r["status"], 401, path)
        for path in ["/ws", "/vm/x/connect/ws"]:
            r = nobody_http(self.port, "GET", path, headers={"upgrade": True})
            self.assertEqual(r["status"], 401, path)
        r = nobody_http(self.port, "GET", "/ws?token=" + self.token, headers={"upgrade": True})
        self.assertEqual(r["status"], 101, r)
        # ?token= once, then its cookie.
        r = nobody_http(self.port, "GET", "/?token=" + self.token)
        self.assertNotEqual(r["status"], 401)
        r = nobody_http(self.port, "GET", "/",
                        headers={"Cookie": "herd_token_%d=%s" % (self.port, self.token)})
        self.assertNotEqual(r["status"], 401)
        assert_responsive(self.d)


class TcpConsole(unittest.TestCase):
    """A real container whose console also listens on 127.0.0.1 (-console-addr)."""

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon("-console-addr", "127.0.0.1").start()
        cls.addClassCleanup(cls.d.stop)
        open_up(cls.d)
        cls.c = cls.d.client()
        cls.addClassCleanup(cls.c.close)
        cls.c.ok("vm config backchannel false")
        cls.c.ok("vm launch container a")
        cls.c.ok("vm start a")
        info = cls.c.vm("a")
        cls.port = int(info["console_port"])
        cls.con = Console(cls.d.base, info["id"])
        cls.addClassCleanup(cls.con.close)
        cls.con.sh("true", timeout=15)
        cls.con.sh("echo SCROLLBACK-$((20+22))")
        cls.token = read_secret(os.path.join(cls.d.base, "token"))

    def assert_no_file_in_guest(self, path):
        self.assertEqual(self.con.sh("test -e %s && echo yes || echo no" % path), "no")

    def test_port_listens(self):
        self.assertGreater(self.port, 0)
        self.assertIn("TCP consoles on 127.0.0.1", self.d.logtext())

    def test_wrong_token_no_shell_no_output(self):
        t0 = time.time()
        r = nobody_json(TCP_CLIENT, self.port, 5, "not-the-token",
                        "echo pwned > /tmp/pwned-wrong", "id")
        self.assertEqual(r["got"], "")
        # Closed after the short delay, not at once and not never.
        self.assertIsNotNone(r["closed"], "still open after 5 s")
        self.assertGreater(r["closed"], 0.5)
        self.assertLess(time.time() - t0, 30)
        assert_responsive(self.d)
        self.assert_no_file_in_guest("/tmp/pwned-wrong")

    def test_no_token_no_shell_no_output(self):
        # Commands as the "first line" and beyond: none is a token.
        r = nobody_json(TCP_CLIENT, self.port, 3, "echo pwned > /tmp/pwned-cmd",
                        "touch /tmp/pwned-cmd2")
        self.assertEqual(r["got"], "")
        # Silence: connected, says nothing, gets nothing.
        r = nobody_json(TCP_CLIENT, self.port, 3)
        self.assertEqual((r["got"], r["closed"]), ("", None))
        # A long line with no newline is cut.
        r = nobody_json(TCP_CLIENT, self.port, 5, "x" * 5000)
        self.assertEqual(r["got"], "")
        self.assertIsNotNone(r["closed"])
        assert_responsive(self.d)
        self.assert_no_file_in_guest("/tmp/pwned-cmd")
        self.assert_no_file_in_guest("/tmp/pwned-cmd2")

    def test_connection_flood(self):
        """Connections that never send a token neither stall the daemon nor
        keep the rightful viewer out."""
        socks = []
        try:
            for _ in range(40):
                socks.append(socket.create_connection(("127.0.0.1", self.port)))
            assert_responsive(self.d)
            r = nobody_json(TCP_CLIENT, self.port, 3, self.token, "echo in-$((6*7))")
            self.assertIn("in-42", r["got"])
            # The oldest waiting ones were cut to make room.
            socks[0].settimeout(5)
            self.assertIn(socks[0].recv(10), [b""])
        finally:
            for s in socks:
                s.close()
        assert_responsive(self.d)

    def test_with_token(self):
        r = nobody_json(TCP_CLIENT, self.port, 3, self.token, "echo ok-$((40+2))",
                        "touch /tmp/by-token")
        self.assertIn("SCROLLBACK-42", r["got"])  # the scrollback, then live output
        self.assertIn("ok-42", r["got"])
        self.assertIsNone(r["closed"])
        self.assertEqual(self.con.sh("test -e /tmp/by-token && echo yes || echo no"), "yes")


class PlantedSocket(unittest.TestCase):
    """A local user plants a fake daemon's socket where root's client looks
    for one (a base directory they made first): root's `herd -e` and
    `herd -console` refuse to talk to it, so it neither reads root's commands
    nor shows root output of its choosing."""

    FAKE = r"""
import os, socket, sys
path, log = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX)
s.bind(path)
s.listen(4)
print("ready", flush=True)
s.settimeout(20)
try:
    while True:
        c, _ = s.accept()
        c.settimeout(2)
        try:
            got = c.recv(65536)
        except socket.timeout:
            got = b""
        with open(log, "ab") as f:
            f.write(got)
        c.sendall(b'{"Resp":[{"Host":"x","Response":"\u001b]0;pwned\u0007FAKE"}],"Rendered":"FAKE","More":false}\n')
        c.close()
except socket.timeout:
    pass
"""

    def test_planted_control_socket_refused(self):
        tmp = tempfile.mkdtemp(prefix="herd-it-plant-")
        self.addCleanup(shutil.rmtree, tmp, True)
        os.chmod(tmp, 0o755)
        pub = os.path.join(tmp, "pub")
        os.mkdir(pub)
        os.chmod(pub, 0o1777)
        base = os.path.join(pub, "base")
        log = os.path.join(pub, "fake.log")
        as_nobody(["mkdir", "-m", "0755", base])
        as_nobody(["mkdir", "-m", "0755", os.path.join(base, "0")])
        fake = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                 "--", "python3", "-c", self.FAKE,
                                 os.path.join(base, "minimega"), log],
                                stdout=subprocess.PIPE, text=True)
        self.addCleanup(lambda: (fake.kill(), fake.wait()))
        self.assertEqual(fake.stdout.readline().strip(), "ready")
        r = subprocess.run([HERD, "-base", base, "-e", "vm info"], capture_output=True,
                           text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("served by uid 65534", r.stderr)
        self.assertNotIn("FAKE", r.stdout + r.stderr)
        time.sleep(0.5)
        sent = open(log, "rb").read() if os.path.exists(log) else b""
        self.assertNotIn(b"vm info", sent)


class NoTcpByDefault(unittest.TestCase):
    """Without -console-addr a console is reached through the unix console
    socket only, root's alone; with the daemon's umask at 0 and the base open
    to all."""

    @classmethod
    def setUpClass(cls):
        old = os.umask(0)
        try:
            cls.d = Daemon().start()
        finally:
            os.umask(old)
        cls.addClassCleanup(cls.d.stop)
        open_up(cls.d)
        cls.c = cls.d.client()
        cls.addClassCleanup(cls.c.close)
        cls.c.ok("vm config backchannel false")
        cls.c.ok("vm launch container a")
        cls.c.ok("vm start a")
        cls.id = cls.c.vm("a")["id"]
        cls.inst = os.path.join(cls.d.base, cls.id)
        cls.sock = os.path.join(cls.d.base, "console")

    def nobody_connect(self, typed="id"):
        """nobody connects to the console socket, asks for VM a's console
        and types; prints what came back (b'' once closed)."""
        script = ("import socket, sys\ns = socket.socket(socket.AF_UNIX)\n"
                  "s.settimeout(5)\ns.connect(sys.argv[1])\n"
                  "try:\n"
                  "    s.sendall(sys.argv[2].encode() + b'\\n' + sys.argv[3].encode() + b'\\n')\n"
                  "    print(repr(s.recv(100)))\n"
                  "except (BrokenPipeError, ConnectionResetError):\n"
                  "    print(repr(b''))\n")
        return as_nobody(["python3", "-c", script, self.sock, self.id, typed])

    def test_no_tcp_port(self):
        self.assertEqual(self.c.vm("a")["console_port"], "0")
        self.assertNotIn("TCP consoles", self.d.logtext())

    def test_unix_socket_root_only(self):
        st = os.stat(self.sock)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode) & 0o077, 0)
        self.assertEqual(stat.S_IMODE(os.stat(self.inst).st_mode), 0o700)
        r = self.nobody_connect()
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("PermissionError", r.stderr)
        assert_responsive(self.d)
        # Root's viewer works.
        con = Console(self.d.base, self.id)
        try:
            self.assertEqual(con.sh("echo root-$((1+1))", timeout=15), "root-2")
        finally:
            con.close()

    def test_peer_not_root_is_closed(self):
        """Even through a socket mode that would let it in (a mistake), a
        peer that does not run as root gets no byte and types nothing."""
        marker = "/tmp/by-nobody-%d" % os.getpid()
        os.chmod(self.sock, 0o666)
        try:
            r = self.nobody_connect("touch " + marker)
        finally:
            os.chmod(self.sock, 0o600)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "b''")
        assert_responsive(self.d)
        con = Console(self.d.base, self.id)
        try:
            self.assertEqual(con.sh("test -e %s && echo yes || echo no" % marker, timeout=15),
                             "no")
        finally:
            con.close()
        self.assertIn("console: refused a connection", self.d.logtext())

    def test_control_socket_root_only(self):
        """The daemon's control socket is 0600 whatever the umask: nobody
        cannot connect and run a command."""
        ctl = os.path.join(self.d.base, "minimega")
        self.assertEqual(stat.S_IMODE(os.stat(ctl).st_mode), 0o600)
        marker = os.path.join(self.d.tmp, "ctl-marker")
        script = ("import json, socket, sys\ns = socket.socket(socket.AF_UNIX)\n"
                  "s.settimeout(2)\ns.connect(sys.argv[1])\n"
                  "s.sendall(json.dumps({'Command': 'shell touch ' + sys.argv[2]}).encode())\n"
                  "print(s.recv(100))\n")
        r = as_nobody(["python3", "-c", script, ctl, marker])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("PermissionError", r.stderr)
        r = as_nobody([HERD, "-base", self.d.base, "-e", "shell touch " + marker])
        self.assertNotEqual(r.returncode, 0)
        time.sleep(0.3)
        self.assertFalse(os.path.exists(marker))
        assert_responsive(self.d)

    def test_relaunch_restores_modes(self):
        """An instance directory opened up meanwhile is root's again once the
        container is relaunched, and nobody still cannot connect."""
        os.chmod(self.inst, 0o755)
        self.c.ok("vm kill a")
        self.c.ok("vm start a")
        self.assertEqual(stat.S_IMODE(os.stat(self.inst).st_mode), 0o700)
        r = self.nobody_connect()
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("PermissionError", r.stderr)
        assert_responsive(self.d)

    def test_herd_console(self):
        """`herd -console <vm>` (by name or id) drives the console from a
        terminal, Ctrl-] detaches; nobody gets nowhere with it."""
        r = as_nobody([HERD, "-base", self.d.base, "-console", "a"], stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 1)
        self.assertNotIn("console of vm", r.stderr)
        for vm in ["a", self.id]:
            master, slave = pty.openpty()
            p = subprocess.Popen([HERD, "-base", self.d.base, "-console", vm], stdin=slave,
                                 stdout=slave, stderr=subprocess.PIPE, close_fds=True)
            os.close(slave)
            try:
                os.write(master, b"echo con-$((6*7))\r")
                out, deadline = b"", time.time() + 15
                while b"con-42\r" not in out.replace(b"$((6*7))", b""):
                    self.assertLess(time.time(), deadline, out)
                    if select.select([master], [], [], 0.5)[0]:
                        out += os.read(master, 65536)
                os.write(master, b"\x1d")
                self.assertEqual(p.wait(10), 0)
                err = p.stderr.read().decode()
                self.assertIn("console of vm %s (Ctrl-] detaches)" % vm, err)
                self.assertIn("herd: detached", err)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
                p.stderr.close()
                os.close(master)
        r = subprocess.run([HERD, "-base", self.d.base, "-console", "nosuch"],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=10)
        self.assertEqual((r.returncode, r.stderr), (1, "herd: vm nosuch not found\n"))
        r = subprocess.run([HERD, "-base", self.d.base, "-console"], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertIn("-console takes one VM name or id", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
