"""Helpers for integration tests: a private herd daemon, a control-socket
client and a console session that runs shell commands inside a container,
and the helpers the networking, cc and ssh tests share (polling, host links,
guests launched with consoles, addresses, pings and transfers between guests,
a ping from the host, cc counters).

Every daemon gets its own base directory and object prefix; stop() kills it
by pid and nukes what it made, even when a test failed.
"""

import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import struct
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
        self.buf = bytearray()

    def close(self):
        self.sock.close()

    def _read_value(self):
        # herd ends every reply with a newline (JSON escapes those inside
        # strings): a line is a whole value. Decoding only complete lines
        # keeps a 10 MB reply linear (trying to decode the buffer after every
        # chunk made it quadratic).
        start = 0
        while True:
            nl = self.buf.find(b"\n", start)
            if nl >= 0:
                line, self.buf = self.buf[:nl], self.buf[nl + 1:]
                text = line.decode("utf-8", "replace").strip()
                if text:
                    return json.loads(text)
                start = 0
                continue
            start = len(self.buf)
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

    def plain(self, line):
        """A command's output without the host annotation, trimmed (the
        name `tap create` prints, a `cc exitcode`...)."""
        return self.ok(".annotate false " + line).strip()

    def vms(self):
        """`vm info` rows by VM name."""
        return {r["name"]: r for r in self.table("vm info")}

    def vm(self, name):
        """The `vm info` row of one VM."""
        return self.vms()[name]


class Daemon:
    def __init__(self, *flags, prefix=None, env=None):
        self.tmp = tempfile.mkdtemp(prefix="herd-it-")
        # Extra environment variables for the daemon (test hooks).
        self.env = dict(os.environ, **env) if env else None
        self.base = os.path.join(self.tmp, "base")
        self.prefix = prefix or ("t" + secrets.token_hex(3))
        self.flags = list(flags)
        # The kernel bridge unless a test asks for a backend: with `auto`, a
        # host whose system Open vSwitch happens to run would silently move
        # every network test onto it.
        if "-switch" not in self.flags:
            self.flags += ["-switch", "kernel"]
        self.proc = None
        self.log = open(os.path.join(self.tmp, "daemon.log"), "w+")

    def start(self, timeout=20):
        """Starts the daemon and waits for its socket. On failure everything is
        removed (stop()) before the error propagates: a caller that raises never
        gets the object to clean up."""
        try:
            return self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout):
        self.proc = subprocess.Popen(
            [HERD, "-nostdin", "-base", self.base, "-prefix", self.prefix, "-level", "info"]
            + self.flags, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
            env=self.env)
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

    def nuke(self, *flags):
        """Runs `herd -nuke` on this daemon's base and prefix (plus flags,
        e.g. the switch backend's); returns the CompletedProcess (text)."""
        return subprocess.run([HERD, "-base", self.base, "-prefix", self.prefix] + list(flags)
                              + ["-nuke"], capture_output=True, text=True)

    def stop(self):
        """Stops the daemon (by pid) and removes everything it made."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.nuke()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def assert_responsive(d, limit=1.0):
    """Asserts that `herd -e version` on daemon d answers within `limit`
    seconds (attack tests call it during and after each attack)."""
    t0 = time.time()
    r = subprocess.run([HERD, "-base", d.base, "-e", "version"], capture_output=True, text=True,
                       timeout=limit + 10)
    took = time.time() - t0
    if r.returncode != 0 or took > limit:
        raise AssertionError("daemon not responsive: `herd -e version` took %.2f s, status %d: %s"
                             % (took, r.returncode, r.stderr.strip()))
    return took


NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]


def as_nobody(args, **kw):
    """Runs argv as the unprivileged user nobody (the local attacker);
    returns the CompletedProcess (text, output captured)."""
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 30)
    return subprocess.run(NOBODY + list(args), **kw)


def class_daemon(cls, *flags, **kw):
    """Starts a Daemon for a TestCase class and registers its stop() as a class
    cleanup at once: when setUpClass fails later, tearDownClass does not run,
    but class cleanups do, so the daemon, its links and base never outlive it."""
    d = Daemon(*flags, **kw).start()
    cls.addClassCleanup(d.stop)
    return d


def class_attackers(cls, tag, *programs):
    """A temporary directory, removed with the class, holding each
    tests/integration/<program>.c built as a static binary: guests run them
    through a volume (`vm config volume /scratch <dir>`). Sets cls.tmp."""
    here = os.path.dirname(os.path.abspath(__file__))
    cls.tmp = tempfile.mkdtemp(prefix="herd-it-%s-" % tag)
    cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
    for name in programs:
        subprocess.run(["gcc", "-static", "-O1", "-o", os.path.join(cls.tmp, name),
                        os.path.join(here, name + ".c")], check=True)
    return cls.tmp


def console_socket(base, vm_id, timeout=10):
    """A socket on VM `vm_id`'s console (<base>/console, then the id line)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(os.path.join(base, "console"))
    s.sendall(b"%s\n" % str(vm_id).encode())
    return s


def close_consoles(cons):
    """Closes every Console of a {name: Console} dict (a class cleanup)."""
    for con in cons.values():
        con.close()


class Console:
    """A viewer of VM `vm_id`'s console that runs shell commands: connected to
    the daemon's console socket <base>/console, the VM's id sent as the first
    line."""

    def __init__(self, base, vm_id, timeout=10):
        self.sock = console_socket(base, vm_id, timeout)
        self.n = 0
        # In the markers: a new viewer's scrollback may hold an earlier
        # viewer's commands and output.
        self.tag = secrets.token_hex(3)

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
        begin = "B%s%dB" % (self.tag, self.n)
        end = "E%s%dE" % (self.tag, self.n)
        line = "echo B%s$((%d))B; %s; echo E%s$((%d))E\n" % (self.tag, self.n, cmd, self.tag,
                                                             self.n)
        self.sock.sendall(line.encode())
        out = self.read_until(end, timeout)
        out = out[out.index(begin) + len(begin):] if begin in out else out
        out = out[:out.index(end)]
        return out.replace("\r\n", "\n").strip("\n")


def host_objects(prefix, tmp=None):
    """What a daemon with this prefix (and, given its temp dir `tmp`, that
    base) has on the host: cgroups, mounts. Other tests' daemons may run at
    the same time: only this one's objects count."""
    found = []
    for root, dirs, _ in os.walk("/sys/fs/cgroup"):
        for d in dirs:
            if d == prefix:
                found.append(os.path.join(root, d))
        dirs[:] = [] if root.count("/") > 4 else dirs
    with open("/proc/mounts") as f:
        for line in f:
            target = line.split()[1]
            if prefix in target or (tmp and target.startswith(tmp + "/")):
                found.append(line.strip())
    return found


def keeper_pid(base):
    """The pid of the keeper (src/runtime/keeper.h) of a base, as it answers
    on <base>/keeper; 0 when none answers."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        s.settimeout(5)
        s.connect(os.path.join(base, "keeper"))
        s.send(json.dumps({"op": "hello", "role": "control"}).encode())
        return json.loads(s.recv(4096))["pid"]
    except (OSError, ValueError, KeyError):
        return 0
    finally:
        s.close()


def rss_kib(pid):
    """The resident memory of process pid, in KiB (VmRSS)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def zombies_of(pid):
    """Zombie children of `pid`."""
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == pid:
            out.append(int(p))
    return out


def wait_for(fn, timeout=30, step=0.1):
    """Polls fn every `step` seconds until it returns something true, for at
    most `timeout` seconds; returns that value, or fn's last value."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(step)
    return fn()


def quit_daemon(client):
    """`quit` ends the daemon, which may close the connection before replying."""
    try:
        client.run("quit")
    except ConnectionError:
        pass
    client.close()


# Host interfaces.

def links_with(prefix):
    """Host interfaces whose name starts with prefix."""
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True,
                         check=True).stdout
    names = []
    for line in out.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name.startswith(prefix):
            names.append(name)
    return names


def wait_no_links(prefix, timeout=5):
    """Waits for the host interfaces starting with prefix to go (network
    namespaces are freed asynchronously after their last process); returns
    those left."""
    deadline = time.time() + timeout
    while time.time() < deadline and links_with(prefix):
        time.sleep(0.05)
    return links_with(prefix)


def kernel_has_qdisc(*args):
    """Whether this kernel has a queueing discipline (`tc qdisc add ... root
    <args>`, e.g. "netem"): tried on a veth pair made and removed here."""
    name = "qk" + secrets.token_hex(3)
    subprocess.run(["ip", "link", "add", name + "a", "type", "veth", "peer", "name", name + "b"],
                   check=True, capture_output=True)
    try:
        return subprocess.run(["tc", "qdisc", "add", "dev", name + "a", "root"] + list(args),
                              capture_output=True).returncode == 0
    finally:
        subprocess.run(["ip", "link", "del", name + "a"], capture_output=True)


def link_exists(name):
    return os.path.exists("/sys/class/net/" + name)


def master_of(ifname):
    """The bridge a host interface is enslaved to, or None."""
    try:
        return os.path.basename(os.readlink("/sys/class/net/%s/master" % ifname))
    except OSError:
        return None


def host_ping(addr, timeout=2.0):
    """One ICMP echo from the host (a raw socket: the host has no ping)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    try:
        ident = random.randint(1, 0xFFFF)
        hdr = struct.pack("!BBHHH", 8, 0, 0, ident, 1) + b"herd-tap-test"
        csum = 0
        for i in range(0, len(hdr), 2):
            csum += (hdr[i] << 8) + (hdr[i + 1] if i + 1 < len(hdr) else 0)
        csum = (csum >> 16) + (csum & 0xFFFF)
        csum = ~(csum + (csum >> 16)) & 0xFFFF
        pkt = hdr[:2] + struct.pack("!H", csum) + hdr[4:]
        s.sendto(pkt, (addr, 0))
        deadline = time.time() + timeout
        while time.time() < deadline:
            s.settimeout(max(0.01, deadline - time.time()))
            try:
                data, src = s.recvfrom(2048)
            except socket.timeout:
                return False
            ihl = (data[0] & 0x0F) * 4
            typ, _, _, rid, _ = struct.unpack("!BBHHH", data[ihl:ihl + 8])
            if src[0] == addr and typ == 0 and rid == ident:
                return True
        return False
    finally:
        s.close()


def free_subnet():
    """A /24 in 10.200-249.x.0 that no host interface or route uses (for a
    host tap's address: nothing is routed anywhere)."""
    used = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True,
                          check=True).stdout + subprocess.run(
                              ["ip", "-4", "route"], capture_output=True, text=True,
                              check=True).stdout
    for _ in range(100):
        net = "10.%d.%d" % (random.randint(200, 249), random.randint(0, 255))
        if (net + ".") not in used:
            return net
    raise RuntimeError("no free 10.x.y.0/24 for the host tap")


# Guests: containers of the default image seen through their consoles.

def guest_console(d, c, name):
    """A Console on VM `name` of daemon d (client c), once its shell answers."""
    con = Console(d.base, c.vm(name)["id"])
    con.sh("true", timeout=15)
    return con


def launch_guests(d, c, groups):
    """Launches and starts containers without the cc backchannel: groups is
    [(netspec, "a,b"), ...], one `vm config net` and `vm launch container`
    each. Returns {name: Console} once every shell answers."""
    c.ok("vm config backchannel false")
    names = []
    for net, group in groups:
        c.ok("vm config net " + net)
        c.ok("vm launch container " + group)
        names += group.split(",")
    c.ok("vm start all")
    return {name: guest_console(d, c, name) for name in names}


def set_guest_address(con, cidr):
    """Adds an IPv4 address to the guest's veth0 and brings it up."""
    out = con.sh("ip addr add %s dev veth0; ip link set veth0 up; echo rc=$?" % cidr)
    assert "rc=0" in out, out


def guest_ping(con, addr, tries=1):
    """Whether the guest reaches addr with one ping (2 s), in up to `tries`
    attempts (a reachable one may take a few on a loaded machine)."""
    for _ in range(tries):
        out = con.sh("ping -c 1 -W 2 %s >/dev/null 2>&1; echo rc=$?" % addr, timeout=10)
        if "rc=0" in out:
            return True
    return False


def guest_ipv4(con):
    """The guest's first IPv4 address on veth0 (e.g. its DHCP lease), or None."""
    out = con.sh("ip -4 -o addr show dev veth0")
    m = re.search(r"inet (\S+)/(\d+)", out)
    return m.group(1) if m else None


def guest_transfer(src, dst, dst_addr, port, size):
    """Sends `size` random bytes from guest src to guest dst (at dst_addr)
    over TCP with busybox nc; returns (md5 sent, md5 received)."""
    want = src.sh("head -c %d /dev/urandom > /tmp/data; md5sum < /tmp/data | cut -c1-32" % size)
    dst.sock.sendall(("nc -l -p %d > /tmp/got; echo R$((6*7))R\n" % port).encode())
    time.sleep(0.3)  # the listener is up
    src.sh("nc %s %d < /tmp/data; true" % (dst_addr, port), timeout=30)
    dst.read_until("R42R", timeout=30)
    return want, dst.sh("md5sum < /tmp/got | cut -c1-32")


# cc.

def cc_clients(c):
    """How many agents are connected (`cc` clients column)."""
    return int(c.table("cc")[0]["clients"])


def cc_responses(c, cid):
    """How many responses cc command cid has, or -1 when there is no such command."""
    for row in c.table("cc commands"):
        if row["id"] == str(cid):
            return int(row["responses"])
    return -1


class VlanTraffic:
    """Traffic tests every switch backend passes, mixed into a TestCase whose
    class set up guests a, b on VLAN 5 and c on VLAN 6 (self.cons: name ->
    Console, self.ADDR: name -> IPv4 address, all in one /24)."""

    def ping(self, src, dst):
        return guest_ping(self.cons[src], self.ADDR[dst])

    def test_same_vlan_pings(self):
        self.assertTrue(self.ping("a", "b"))
        self.assertTrue(self.ping("b", "a"))

    def test_other_vlan_isolated(self):
        self.assertFalse(self.ping("c", "a"))
        self.assertFalse(self.ping("c", "b"))
        self.assertFalse(self.ping("a", "c"))

    def test_tcp_transfer(self):
        sent, got = guest_transfer(self.cons["a"], self.cons["b"], self.ADDR["b"], 5555,
                                   2000000)
        self.assertEqual(got, sent)
