#!/usr/bin/env python3
"""The etcd client (src/cluster/etcd.h) against a real etcd.

Starts Debian's `etcd` on free loopback ports with its own data directory
under /tmp, runs build/herd_etcd_client_test (GoogleTest) with the endpoint in
HERD_ETCD_ENDPOINTS, and serves the program's requests to stop, start,
restart, pause (SIGSTOP) or resume the etcd: the program writes a line
`@etcd <verb>` on its stdout and waits for `ok` on its stdin. Whatever
happens (a failed test, a crash, SIGINT/SIGTERM), the etcd is stopped and its
directory removed.

Usage: test_etcd_client.py [path of herd_etcd_client_test] [gtest flags...]
Environment: HERD_ETCD_BIN (default `etcd` on PATH).
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ETCD = os.environ.get("HERD_ETCD_BIN", "etcd")
# Longest run of the whole program: every test together takes about a minute.
PROGRAM_TIMEOUT = 600


def free_ports(n):
    """n distinct loopback ports that were free a moment ago."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class Etcd:
    """One etcd member of its own cluster, on loopback, in a fresh directory."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="herd-etcd-test-", dir="/tmp")
        self.proc = None
        self.paused = False
        self.client_port, self.peer_port = free_ports(2)

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.client_port

    def start(self, timeout=30):
        assert self.proc is None
        client = self.endpoint
        peer = "http://127.0.0.1:%d" % self.peer_port
        log = open(os.path.join(self.dir, "etcd.log"), "ab")
        # setpriv (util-linux): the etcd gets SIGKILL if the driver dies,
        # even by SIGKILL, so that no etcd outlives a killed test run.
        self.proc = subprocess.Popen(
            ["setpriv", "--pdeathsig", "KILL",
             ETCD, "--name", "herd-test", "--data-dir", os.path.join(self.dir, "data"),
             "--listen-client-urls", client, "--advertise-client-urls", client,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", "herd-test=" + peer,
             "--initial-cluster-token", os.path.basename(self.dir)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                self.proc = None
                raise RuntimeError("etcd exited at start:\n" + self.log_tail())
            try:
                req = urllib.request.Request(client + "/v3/kv/range", data=b'{"key":"AA=="}',
                                             method="POST")
                with urllib.request.urlopen(req, timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("etcd did not answer within %d s:\n%s" % (timeout, self.log_tail()))

    def stop(self):
        """SIGTERM (etcd's orderly stop), SIGKILL after 10 s."""
        if self.proc is None:
            return
        if self.paused:
            self.resume()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def pause(self):
        os.kill(self.proc.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self):
        os.kill(self.proc.pid, signal.SIGCONT)
        self.paused = False

    def log_tail(self, lines=30):
        try:
            with open(os.path.join(self.dir, "etcd.log"), errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def close(self):
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def serve(etcd, verb):
    if verb == "stop":
        etcd.stop()
    elif verb == "start":
        etcd.start()
    elif verb == "restart":
        etcd.stop()
        etcd.start()
    elif verb == "pause":
        etcd.pause()
    elif verb == "resume":
        etcd.resume()
    else:
        raise RuntimeError("unknown request @etcd " + verb)


def run(program, args):
    etcd = Etcd()
    proc = None
    try:
        etcd.start()
        print("etcd %s (%s)" % (etcd.endpoint, etcd.dir), flush=True)
        env = dict(os.environ, HERD_ETCD_ENDPOINTS=etcd.endpoint)
        proc = subprocess.Popen([program] + args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                env=env, text=True, bufsize=1)
        watchdog = threading.Timer(PROGRAM_TIMEOUT, proc.kill)
        watchdog.daemon = True
        watchdog.start()
        for line in proc.stdout:
            if line.startswith("@etcd "):
                serve(etcd, line.split()[1])
                proc.stdin.write("ok\n")
                proc.stdin.flush()
                continue
            sys.stdout.write(line)
            sys.stdout.flush()
        rc = proc.wait()
        watchdog.cancel()
        if rc == -signal.SIGKILL:
            print("test program killed: still running after %d s" % PROGRAM_TIMEOUT)
        if rc != 0:
            print("---- etcd log (last lines)\n" + etcd.log_tail())
        return rc
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        etcd.close()


def main():
    # SIGTERM/SIGINT unwind through the finally blocks (etcd stopped, dir removed).
    def stop(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    program = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build",
                                                                   "herd_etcd_client_test")
    if shutil.which(ETCD) is None:
        print("no `%s` on PATH: install Debian's etcd-server (scripts/deps.sh)" % ETCD)
        return 1
    return run(program, sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
