#!/usr/bin/env python3
"""A client of minimega's cc protocol (what miniccc speaks), written from the
protocol's description for herd's tests: the `RON` magic, then a gob stream
each way of Message values (heartbeats, commands, files, responses).

It runs commands as miniccc does (foreground with output captured, or in
the background, recorded as processes), fetches a command's files before
running it into `files_dir` (miniccc's /tmp/miniccc/files), sends the files
a command asks for back (Name relative to /), and answers in its next
heartbeat. Commands are run where the test runs it (it stands in for the
guest), with argv[0] looked up in PATH and then in files_dir.

Hostile modes for attack tests are built from the same encoder (raw()).
"""

import glob
import os
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time

COMMAND, CLIENT, TUNNEL, FILE, PIPE, UFS, HEARTBEAT = range(7)


# ---- gob ----

def enc_uint(v):
    if v < 128:
        return bytes([v])
    b = v.to_bytes((v.bit_length() + 7) // 8, "big")
    return bytes([256 - len(b)]) + b


def enc_int(v):
    u = (v << 1) if v >= 0 else ((~v) << 1) | 1
    return enc_uint(u)


def enc_str(s):
    if isinstance(s, str):
        s = s.encode()
    return enc_uint(len(s)) + s


BOOL, INT, UINT, FLOAT, BYTES, STRING = 1, 2, 3, 4, 5, 6


class T:
    """A Go type for the encoder: kind 'struct' (fields [(name, T|id)]),
    'slice' (elem), 'map' (key, elem)."""

    def __init__(self, kind, name, fields=None, elem=None, key=None):
        self.kind, self.name, self.fields, self.elem, self.key = kind, name, fields, elem, key


STRINGS = T("slice", "[]string", elem=STRING)
TAGS = T("map", "map[string]string", key=STRING, elem=STRING)
FILTER = T("struct", "Filter", [("UUID", STRING), ("Hostname", STRING), ("Arch", STRING),
                                ("OS", STRING), ("MAC", STRING), ("IP", STRING), ("Tags", TAGS)])
CONNTEST = T("struct", "ConnTest", [("Endpoint", STRING), ("Wait", INT), ("Packet", BYTES)])
COMMAND_T = T("struct", "Command", [
    ("ID", INT), ("Background", BOOL), ("Command", STRINGS), ("FilesSend", STRINGS),
    ("FilesRecv", STRINGS), ("ConnTest", CONNTEST), ("PID", INT), ("KillAll", STRING),
    ("Level", INT), ("Filter", FILTER), ("CheckedIn", STRINGS), ("Prefix", STRING),
    ("Once", BOOL), ("Sent", BOOL), ("Stdin", STRING), ("Stdout", STRING), ("Stderr", STRING)])
COMMANDS = T("map", "map[int]*Command", key=INT, elem=COMMAND_T)
PROCESS = T("struct", "Process", [("PID", INT), ("Command", STRINGS)])
PROCESSES = T("map", "map[int]*Process", key=INT, elem=PROCESS)
RESPONSE = T("struct", "Response", [("ID", INT), ("Stdout", STRING), ("Stderr", STRING),
                                    ("ExitCode", INT), ("RecordExitCode", BOOL)])
RESPONSES = T("slice", "[]*Response", elem=RESPONSE)
CLIENT_T = T("struct", "Client", [
    ("UUID", STRING), ("Arch", STRING), ("OS", STRING), ("Version", STRING),
    ("Hostname", STRING), ("IPs", STRINGS), ("MACs", STRINGS), ("Processes", PROCESSES),
    ("Tags", TAGS), ("Responses", RESPONSES), ("LastCommandID", INT)])
FILE_T = T("struct", "File", [("ID", INT), ("Name", STRING), ("Perm", UINT), ("Data", BYTES),
                              ("Offset", INT), ("EOF", BOOL)])
MESSAGE = T("struct", "Message", [
    ("Type", INT), ("UUID", STRING), ("Error", STRING), ("Commands", COMMANDS),
    ("Client", CLIENT_T), ("File", FILE_T), ("Tunnel", BYTES), ("Pipe", STRING),
    ("PipeMode", INT), ("PipeData", STRING), ("UfsMode", INT), ("Version", STRING)])


def msg(payload):
    return enc_uint(len(payload)) + payload


class Encoder:
    def __init__(self, first_id=65):
        self.ids = {}
        self.next = first_id

    def type_id(self, t, out):
        if isinstance(t, int):
            return t
        if id(t) in self.ids:
            return self.ids[id(t)]
        tid = self.ids[id(t)] = self.next
        self.next += 1
        common = b"\x01\x01" + enc_str(t.name) + b"\x01" + enc_int(tid) + b"\x00"
        if t.kind == "struct":
            parts = [self.type_id(ft, out) for _, ft in t.fields]
            body = enc_uint(3) + common + b"\x01" + enc_uint(len(parts))
            for (name, _), p in zip(t.fields, parts):
                body += b"\x01" + enc_str(name) + b"\x01" + enc_int(p) + b"\x00"
            body += b"\x00"
        elif t.kind == "slice":
            e = self.type_id(t.elem, out)
            body = enc_uint(2) + common + b"\x01" + enc_int(e) + b"\x00"
        else:
            k, e = self.type_id(t.key, out), self.type_id(t.elem, out)
            body = enc_uint(4) + common + b"\x01" + enc_int(k) + b"\x01" + enc_int(e) + b"\x00"
        out.append(msg(enc_int(-tid) + body + b"\x00"))
        return tid

    @staticmethod
    def zero(t, v):
        if v is None:
            return True
        if isinstance(t, T):
            return t.kind == "slice" and len(v) == 0
        return not v

    def value(self, t, v):
        if t == BOOL:
            return enc_uint(1 if v else 0)
        if t == INT:
            return enc_int(v)
        if t == UINT:
            return enc_uint(v)
        if t in (BYTES, STRING):
            return enc_str(v)
        if t.kind == "slice":
            return enc_uint(len(v)) + b"".join(self.value(t.elem, e) for e in v)
        if t.kind == "map":
            return enc_uint(len(v)) + b"".join(
                self.value(t.key, k) + self.value(t.elem, e) for k, e in v.items())
        out, last = b"", -1
        for i, (name, ft) in enumerate(t.fields):
            fv = v.get(name)
            if self.zero(ft, fv):
                continue
            out += enc_uint(i - last) + self.value(ft, fv)
            last = i
        return out + b"\x00"

    def encode(self, t, v):
        defs = []
        tid = self.type_id(t, defs)
        return b"".join(defs) + msg(enc_int(tid) + self.value(t, v))


class Reader:
    def __init__(self, data):
        self.d, self.p = data, 0

    def uint(self):
        b = self.d[self.p]
        self.p += 1
        if b < 128:
            return b
        n = 256 - b
        v = int.from_bytes(self.d[self.p:self.p + n], "big")
        self.p += n
        return v

    def int(self):
        u = self.uint()
        return ~(u >> 1) if u & 1 else u >> 1

    def bytes(self):
        n = self.uint()
        v = self.d[self.p:self.p + n]
        self.p += n
        return v

    def struct(self, field):
        num = -1
        while True:
            delta = self.uint()
            if delta == 0:
                return
            num += delta
            field(num)


class Decoder:
    """Reads gob messages from a socket; values come out as dicts/lists."""

    def __init__(self, sock):
        self.sock, self.buf, self.types = sock, b"", {}

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _len(self):
        b = self._read(1)[0]
        if b < 128:
            return b
        return int.from_bytes(self._read(256 - b), "big")

    def _common(self, r, t):
        def f(n):
            if n == 0:
                t["name"] = r.bytes().decode()
            else:
                r.int()
        r.struct(f)

    def _define(self, tid, r):
        t = {}

        def kind(n):
            def part(m):
                if m == 0:
                    self._common(r, t)
                elif n == 2:  # struct: fields
                    t["fields"] = []
                    for _ in range(r.uint()):
                        fld = ["", 0]

                        def ff(k):
                            if k == 0:
                                fld[0] = r.bytes().decode()
                            else:
                                fld[1] = r.int()
                        r.struct(ff)
                        t["fields"].append(fld)
                elif n == 3 and m == 1:
                    t["key"] = r.int()
                elif (n == 3 and m == 2) or (n != 3 and m == 1):
                    t["elem"] = r.int()
                else:
                    r.int()
            t["kind"] = {0: "array", 1: "slice", 2: "struct", 3: "map"}.get(n, "opaque")
            r.struct(part)
        r.struct(kind)
        self.types[tid] = t

    def _value(self, r, tid):
        if tid == BOOL:
            return r.uint() == 1
        if tid == INT:
            return r.int()
        if tid == UINT:
            return r.uint()
        if tid == BYTES:
            return r.bytes()
        if tid == STRING:
            return r.bytes().decode(errors="replace")
        t = self.types[tid]
        if t["kind"] == "struct":
            out = {}

            def f(n):
                name, ftid = t["fields"][n]
                out[name] = self._value(r, ftid)
            r.struct(f)
            return out
        if t["kind"] in ("slice", "array"):
            return [self._value(r, t["elem"]) for _ in range(r.uint())]
        if t["kind"] == "map":
            out = {}
            for _ in range(r.uint()):
                k = self._value(r, t["key"])
                out[k] = self._value(r, t["elem"])
            return out
        return r.bytes()

    def next(self):
        while True:
            r = Reader(self._read(self._len()))
            tid = r.int()
            if tid < 0:
                self._define(-tid, r)
                continue
            if self.types.get(tid, {}).get("kind") != "struct":
                r.uint()
            return self._value(r, tid)


# ---- the client ----

def connect(path, timeout=5):
    """A unix socket to the cc server with the magic exchanged."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    s.sendall(b"RON")
    got = b""
    while not got.endswith(b"RON"):
        b = s.recv(1)
        if not b:
            raise EOFError("closed during the magic")
        got += b
    return s


class Miniccc:
    def __init__(self, path, uuid, files_dir, hostname="mini", heartbeat=1.0, version="v1"):
        self.path, self.uuid, self.files_dir = path, uuid, files_dir
        self.hostname, self.period, self.version = hostname, heartbeat, version
        self.tags = {}
        self.last_id = 0
        self.responses = []
        self.procs = {}  # pid -> (Popen, argv)
        self.lock = threading.Lock()
        self.files = {}  # name -> [data chunks] while fetching
        self.file_done = threading.Condition(self.lock)
        self.sock = None
        self.stop = threading.Event()
        self.connects = 0
        self.errors = []

    # -- connection --

    def start(self):
        self._connect()
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def _connect(self):
        self.sock = connect(self.path)
        self.enc, self.dec = Encoder(), Decoder(self.sock)
        self.wlock = threading.Lock()
        self._send(self._heartbeat())
        while True:  # the echo of our heartbeat is the ack
            m = self.dec.next()
            if m.get("Type", 0) == CLIENT:
                break
        self.connects += 1
        self.sock.settimeout(None)

    def close(self):
        self.stop.set()
        if self.sock:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()
        for p, _ in list(self.procs.values()):
            if p.poll() is None:
                p.kill()
                p.wait()

    def reconnect(self):
        """Drops the connection and dials again (as miniccc does after its
        13 s without a message)."""
        old = self.sock
        old.shutdown(socket.SHUT_RDWR)
        old.close()
        deadline = time.time() + 20
        while True:
            try:
                self._connect()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        threading.Thread(target=self._run, daemon=True).start()

    def _send(self, m):
        with self.wlock:
            self.sock.sendall(self.enc.encode(MESSAGE, m))

    def _heartbeat(self):
        with self.lock:
            procs = {pid: {"PID": pid, "Command": argv}
                     for pid, (p, argv) in self.procs.items() if p.poll() is None}
            tags, self.tags = self.tags, {}
            resp, self.responses = self.responses, []
        client = {"UUID": self.uuid, "Arch": "amd64", "OS": "linux", "Version": "test",
                  "Hostname": self.hostname, "IPs": ["10.9.9.9"], "MACs": ["00:11:22:33:44:55"],
                  "Processes": procs, "Tags": tags, "Responses": resp,
                  "LastCommandID": self.last_id}
        return {"Type": CLIENT, "UUID": self.uuid, "Client": client, "Version": self.version}

    def _run(self):
        sock = self.sock
        threading.Thread(target=self._beat, args=(sock,), daemon=True).start()
        try:
            while not self.stop.is_set():
                m = self.dec.next()
                t = m.get("Type", 0)
                if t == COMMAND:
                    for cid in sorted(m.get("Commands", {})):
                        cmd = m["Commands"][cid]
                        if cmd.get("ID", 0) > self.last_id:
                            threading.Thread(target=self._process, args=(cmd,),
                                             daemon=True).start()
                            self.last_id = cmd.get("ID", 0)
                elif t == FILE:
                    self._file(m)
        except (EOFError, OSError, KeyError, IndexError) as e:
            if sock is self.sock:
                self.errors.append(repr(e))

    def _beat(self, sock):
        while not self.stop.is_set() and sock is self.sock:
            time.sleep(self.period)
            try:
                self._send(self._heartbeat())
            except OSError:
                return

    def tag(self, k, v):
        with self.lock:
            self.tags[k] = v

    # -- files --

    def _file(self, m):
        f = m.get("File", {})
        name = f.get("Name", "")
        with self.lock:
            if m.get("Error"):
                self.files[name] = m["Error"]
            else:
                self.files.setdefault(name, [])
                if not isinstance(self.files[name], list):
                    return
                self.files[name].append((f.get("Offset", 0), f.get("Data", b"")))
                if f.get("EOF"):
                    dst = os.path.join(self.files_dir, name)
                    os.makedirs(os.path.dirname(dst), exist_ok=True)
                    with open(dst + ".partial", "wb") as out:
                        for off, data in self.files[name]:
                            out.seek(off)
                            out.write(data)
                    os.chmod(dst + ".partial", f.get("Perm", 0o644))
                    os.rename(dst + ".partial", dst)
                    self.files[name] = True
            self.file_done.notify_all()

    def fetch(self, name, timeout=30):
        """Asks for a file as miniccc does; True once it is in files_dir,
        else the error text."""
        with self.lock:
            self.files.pop(name, None)
        self._send({"Type": FILE, "UUID": self.uuid, "File": {"Name": name}})
        with self.lock:
            ok = self.file_done.wait_for(
                lambda: self.files.get(name) is True or isinstance(self.files.get(name), str),
                timeout)
            return self.files.get(name) if ok else "timeout"

    def _send_back(self, cid, pattern):
        for path in sorted(glob.glob(pattern)):
            with open(path, "rb") as f:
                data = f.read()
            off, chunk = 0, 65536
            while True:
                piece = data[off:off + chunk]
                eof = off + len(piece) >= len(data)
                self._send({"Type": FILE, "UUID": self.uuid, "File": {
                    "ID": cid, "Name": path.lstrip("/"), "Perm": 0o644, "Data": piece,
                    "Offset": off, "EOF": eof}})
                off += len(piece)
                if eof:
                    break

    # -- commands --

    def _which(self, name):
        return shutil.which(name) or shutil.which(name, path=self.files_dir) or name

    def _process(self, cmd):
        cid = cmd["ID"]
        out, err, code = "", "", 0
        for name in cmd.get("FilesSend", []):
            got = self.fetch(name)
            if got is not True:
                err += "file %s: %s\n" % (name, got)
        pid = cmd.get("PID", 0)
        if pid:
            with self.lock:
                for p_pid, (p, _) in list(self.procs.items()):
                    if pid == -1 or p_pid == pid:
                        p.send_signal(signal.SIGKILL)
        if cmd.get("KillAll"):
            with self.lock:
                for p, argv in self.procs.values():
                    if cmd["KillAll"] in " ".join(argv):
                        p.send_signal(signal.SIGKILL)
        argv = cmd.get("Command", [])
        if argv:
            argv = [self._which(argv[0])] + argv[1:]
            if cmd.get("Background"):
                try:
                    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    with self.lock:
                        self.procs[p.pid] = (p, cmd["Command"])
                except OSError as e:
                    err += str(e)
            else:
                try:
                    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
                    out, err, code = r.stdout, err + r.stderr, r.returncode
                except OSError as e:
                    err, code = err + str(e), -1
        for pattern in cmd.get("FilesRecv", []):
            self._send_back(cid, pattern)
        with self.lock:
            self.responses.append({"ID": cid, "Stdout": out, "Stderr": err, "ExitCode": code,
                                   "RecordExitCode": bool(argv) and not cmd.get("Background")})

    def reap(self):
        """Waits for background processes that ended (so the next heartbeat
        no longer lists them)."""
        with self.lock:
            for pid, (p, _) in list(self.procs.items()):
                if p.poll() is not None:
                    del self.procs[pid]

    def running(self):
        with self.lock:
            return sorted(pid for pid, (p, _) in self.procs.items() if p.poll() is None)


def raw(path, payload, read_timeout=3):
    """Connects, sends the magic and `payload` (bytes), and returns what
    came back until the server closed or read_timeout passed."""
    s = connect(path)
    try:
        s.sendall(payload)
    except OSError:
        pass
    s.settimeout(read_timeout)
    got = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += b
    except OSError:
        pass
    s.close()
    return got
