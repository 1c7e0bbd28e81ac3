"""Helpers for integration tests: a private herd daemon, a control-socket
client and a console session that runs shell commands inside a container.

Every daemon gets its own base directory and object prefix; stop() kills it
by pid and nukes what it made, even when a test failed.
"""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERD = os.environ.get("HERD", os.path.join(ROOT, "build", "herd"))


class Client:
    """minimega's JSON stream protocol over <base>/minimega."""

    def __init__(self, path, timeout=120):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.dec = json.JSONDecoder()

    def close(self):
        self.sock.close()

    def _read_value(self):
        while True:
            text = self.buf.decode("utf-8", "replace").lstrip()
            if text:
                try:
                    val, end = self.dec.raw_decode(text)
                    self.buf = text[end:].encode()
                    return val
                except json.JSONDecodeError:
                    pass
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("daemon closed the connection")
            self.buf += chunk

    def replies(self, line):
        msg = {"Command": line, "Suggest": "", "PlumbPipe": ""}
        self.sock.sendall((json.dumps(msg) + "\n").encode())
        out = []
        while True:
            r = self._read_value()
            if r.get("Status"):
                continue
            out.append(r)
            if not r.get("More"):
                return out

    def run(self, line):
        """Returns (rendered text, [errors])."""
        rendered, errors = [], []
        for r in self.replies(line):
            if r.get("Rendered"):
                rendered.append(r["Rendered"])
            for resp in r.get("Resp") or []:
                if resp.get("Error"):
                    errors.append(resp["Error"])
        return "\n".join(rendered), errors

    def ok(self, line):
        text, errors = self.run(line)
        if errors:
            raise AssertionError("%s: %s" % (line, "; ".join(errors)))
        return text

    def table(self, line):
        """Rows of a table command as dicts (run with .csv so cells are exact)."""
        import csv
        import io
        text = self.ok(".annotate false .csv true " + line)
        rows = list(csv.reader(io.StringIO(text)))
        if not rows:
            return []
        head = rows[0]
        return [dict(zip(head, r)) for r in rows[1:]]


class Daemon:
    def __init__(self, *flags, prefix=None):
        self.tmp = tempfile.mkdtemp(prefix="herd-it-")
        self.base = os.path.join(self.tmp, "base")
        self.prefix = prefix or ("t" + secrets.token_hex(3))
        self.flags = list(flags)
        self.proc = None
        self.log = open(os.path.join(self.tmp, "daemon.log"), "w+")

    def start(self, timeout=20):
        self.proc = subprocess.Popen(
            [HERD, "-nostdin", "-base", self.base, "-prefix", self.prefix, "-level", "info"]
            + self.flags, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        sock = os.path.join(self.base, "minimega")
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("herd exited: " + self.logtext())
            if os.path.exists(sock):
                try:
                    c = Client(sock)
                    c.close()
                    return self
                except OSError:
                    pass
            time.sleep(0.02)
        raise RuntimeError("herd did not start: " + self.logtext())

    def logtext(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def client(self):
        return Client(os.path.join(self.base, "minimega"))

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        """Stops the daemon (by pid) and removes everything it made."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        subprocess.run([HERD, "-base", self.base, "-prefix", self.prefix, "-nuke"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Console:
    """A viewer on a container's console socket that runs shell commands."""

    def __init__(self, path, timeout=10):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.n = 0

    def close(self):
        self.sock.close()

    def read_until(self, marker, timeout=10):
        data = b""
        deadline = time.time() + timeout
        while marker.encode() not in data:
            if time.time() > deadline:
                raise TimeoutError("console: no %r in %r" % (marker, data[-2000:]))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                raise ConnectionError("console closed; got %r" % data[-2000:])
            data += chunk
        return data.decode("utf-8", "replace")

    def sh(self, cmd, timeout=10):
        """Runs cmd in the guest shell; returns its output (echo excluded)."""
        self.n += 1
        # The marker is computed by the shell, so the echoed command line
        # never contains it.
        begin = "B%dB" % self.n
        end = "E%dE" % self.n
        line = "echo B$((%d))B; %s; echo E$((%d))E\n" % (self.n, cmd, self.n)
        self.sock.sendall(line.encode())
        out = self.read_until(end, timeout)
        out = out[out.index(begin) + len(begin):] if begin in out else out
        out = out[:out.index(end)]
        return out.replace("\r\n", "\n").strip("\n")


def host_objects(prefix):
    """What a daemon with this prefix has on the host: cgroups, mounts."""
    found = []
    for root, dirs, _ in os.walk("/sys/fs/cgroup"):
        for d in dirs:
            if d == prefix:
                found.append(os.path.join(root, d))
        dirs[:] = [] if root.count("/") > 4 else dirs
    with open("/proc/mounts") as f:
        for line in f:
            if prefix in line.split()[1] or ("herd-it-" in line):
                found.append(line.strip())
    return found
