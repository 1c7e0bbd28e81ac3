"""A private Open vSwitch for tests and benchmarks: its own ovsdb-server and
ovs-vswitchd (userspace datapath) in a temporary directory, with their own
database, socket, pid files, logs and control sockets. stop() ends exactly
the two processes it started, by pid.

ovs-vswitchd's netdev datapath makes host interfaces: one named ovs-netdev
and one per bridge and internal port. Tests name their bridges with their own
prefix; stop() has ovs-vswitchd remove them.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"


def available():
    return all(shutil.which(b) for b in ("ovsdb-server", "ovs-vswitchd", "ovsdb-tool",
                                         "ovs-vsctl")) and os.path.exists(SCHEMA)


class Ovs:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="herd-ovs-")
        self.sock = os.path.join(self.dir, "db.sock")
        self.db = os.path.join(self.dir, "conf.db")
        self.env = dict(os.environ, OVS_RUNDIR=self.dir, OVS_LOGDIR=self.dir,
                        OVS_DBDIR=self.dir, OVS_SYSCONFDIR=self.dir)
        self.pids = {}

    def _pid(self, name):
        path = os.path.join(self.dir, name + ".pid")
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with open(path) as f:
                    return int(f.read().strip())
            except (OSError, ValueError):
                time.sleep(0.02)
        raise RuntimeError("%s wrote no pid file; log: %s" % (name, self.log(name)))

    def log(self, name):
        try:
            with open(os.path.join(self.dir, name + ".log")) as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def start_db(self):
        if not os.path.exists(self.db):
            subprocess.run(["ovsdb-tool", "create", self.db, SCHEMA], check=True, env=self.env)
        subprocess.run(
            ["ovsdb-server", self.db, "--remote=punix:" + self.sock,
             "--pidfile=" + os.path.join(self.dir, "ovsdb-server.pid"),
             "--unixctl=" + os.path.join(self.dir, "ovsdb-server.ctl"),
             "--log-file=" + os.path.join(self.dir, "ovsdb-server.log"),
             "--detach", "--no-chdir"], check=True, env=self.env, stderr=subprocess.DEVNULL)
        self.pids["ovsdb-server"] = self._pid("ovsdb-server")

    def start(self):
        """Starts both daemons; on failure stops whatever started (and removes
        the directory) before the error propagates."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self):
        self.start_db()
        self.vsctl("--no-wait", "init")
        # Without it TCP between veths breaks on the netdev datapath.
        self.vsctl("--no-wait", "set", "Open_vSwitch", ".",
                   "other_config:userspace-tso-enable=true")
        subprocess.run(
            ["ovs-vswitchd", "unix:" + self.sock,
             "--pidfile=" + os.path.join(self.dir, "ovs-vswitchd.pid"),
             "--unixctl=" + os.path.join(self.dir, "ovs-vswitchd.ctl"),
             "--log-file=" + os.path.join(self.dir, "ovs-vswitchd.log"),
             "--detach", "--no-chdir"], check=True, env=self.env, stderr=subprocess.DEVNULL)
        self.pids["ovs-vswitchd"] = self._pid("ovs-vswitchd")
        return self

    def herd_flags(self):
        """The flags that point a herd daemon (or its -nuke) at this switch."""
        return ["-switch", "ovs", "-ovsdb", self.sock]

    def add_bridge_with_port(self, bridge, port):
        """A netdev bridge with an internal port of its own, as someone other
        than herd would make it (herd must keep both)."""
        self.vsctl("add-br", bridge, "--", "set", "Bridge", bridge, "datapath_type=netdev",
                   "--", "add-port", bridge, port, "--", "set", "Interface", port,
                   "type=internal")

    def vsctl(self, *args, check=True):
        r = subprocess.run(["ovs-vsctl", "--db=unix:" + self.sock, "--timeout=10"] + list(args),
                           capture_output=True, text=True, env=self.env)
        if check and r.returncode != 0:
            raise RuntimeError("ovs-vsctl %s: %s" % (" ".join(args), r.stderr))
        return r.stdout.strip()

    def rows(self, table, *columns):
        """Every row of a table (as ovs-vsctl --format=json list shows it)."""
        out = self.vsctl("--format=json", "--columns=" + ",".join(columns), "list", table)
        data = json.loads(out)
        return [dict(zip(data["headings"], r)) for r in data["data"]]

    def port_names(self):
        return sorted(r["name"] for r in self.rows("Port", "name"))

    def bridge_names(self):
        return sorted(r["name"] for r in self.rows("Bridge", "name"))

    def signal(self, name, sig):
        os.kill(self.pids[name], sig)

    def stop_process(self, name):
        pid = self.pids.pop(name, None)
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGCONT)
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.02)
        os.kill(pid, signal.SIGKILL)

    def stop(self):
        """Stops both daemons. ovs-vswitchd is asked to remove its datapath
        first: the netdev datapath's tap interfaces (ovs-netdev, bridges,
        internal ports) are persistent and would outlive a plain SIGTERM."""
        if "ovs-vswitchd" in self.pids:
            try:
                os.kill(self.pids["ovs-vswitchd"], signal.SIGCONT)
            except ProcessLookupError:
                pass
            subprocess.run(["ovs-appctl", "--timeout=10",
                            "--target=" + os.path.join(self.dir, "ovs-vswitchd.ctl"),
                            "exit", "--cleanup"], capture_output=True, env=self.env)
        self.stop_process("ovs-vswitchd")
        self.stop_process("ovsdb-server")
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def class_ovs_daemon(cls):
    """For a TestCase class: starts a private Open vSwitch (cls.ovs) and a
    herd daemon on it, and registers class cleanups that stop the daemon,
    remove its rows (nuke) and stop Open vSwitch, even when setUpClass fails
    later. Returns the started daemon."""
    from herdtest import Daemon
    cls.ovs = Ovs().start()
    cls.addClassCleanup(cls.ovs.stop)
    d = Daemon(*cls.ovs.herd_flags())

    def stop():
        d.stop()
        d.nuke(*cls.ovs.herd_flags())

    cls.addClassCleanup(stop)
    return d.start()
