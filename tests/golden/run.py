#!/usr/bin/env python3
"""Golden CLI tests: runs tests/cli/*.mm scripts against a live herd daemon.

The transcript format is minitest's (reference §9.1), so a .want file written
for minimega reads the same here:

  * a non-empty script line L is sent as-is and recorded as `## L`;
  * an empty line is recorded as an empty line and not sent;
  * for every reply batch of a command: the errors of its responses, sorted,
    each as `E: <msg>`, then the rendered text if it is not empty;
  * every recorded line ends with a newline.

Scripts named container_*.mm run on the real container runtime; all others
on `-runtime dry` (state changes only). Each script gets a fresh daemon (so VM ids start at 0 and no alias, variable
or background job leaks from one script into the next) and runs between a
prolog (`.annotate false`, `clear history`) and an epilog (`clear all`) whose
output is not recorded.

The daemon runs on a temporary base directory with a unique object prefix and
is stopped (by pid) and its base removed after each script, even on failure.
Scripts
reach, through the daemon's environment ($VAR preprocessing):
  $TESTTMP  an empty scratch directory (files for `write`, `read`, `shell`)
  $TESTFS   a directory to use as `vm config filesystem`
  $TESTFILES the daemon's file root (-filepath), for `file` and cc scripts
As root, the daemon runs in its own UTS namespace with the hostname
`herd-golden`, so that transcripts showing the host (`.annotate true`, JSON
mode) are deterministic.

usage: run.py [--herd PATH] [--keep] [-v] [--daemon-arg ARG]... [script.mm ...]
"""

import argparse
import ctypes
import difflib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROLOG = [".annotate false", "clear history"]
EPILOG = ["clear all"]
REPLY_TIMEOUT_S = 30
START_TIMEOUT_S = 10
HOSTNAME = "herd-golden"
CLONE_NEWUTS = 0x04000000


def own_hostname():
    """preexec_fn: a private UTS namespace with a fixed hostname (root only)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWUTS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWUTS)")
    socket.sethostname(HOSTNAME)


class DaemonGone(Exception):
    """The connection broke: the daemon crashed, hung or closed on us."""


class Daemon:
    """A herd daemon on a private base directory."""

    def __init__(self, herd, keep, extra_args=()):
        self.herd = herd
        self.keep = keep
        self.extra_args = list(extra_args)
        self.proc = None
        self.tmp = None
        self.log = None

    def start(self):
        self.tmp = tempfile.mkdtemp(prefix="herd-golden-")
        self.base = os.path.join(self.tmp, "base")
        self.scratch = os.path.join(self.tmp, "scratch")
        self.rootfs = os.path.join(self.tmp, "rootfs")
        os.makedirs(self.scratch)
        os.makedirs(self.rootfs)
        # Host-global objects carry this prefix; keep it short (interface
        # names hold 15 bytes) and unique per run.
        self.prefix = "g" + secrets.token_hex(2)
        self.log_path = os.path.join(self.tmp, "daemon.log")
        self.log = open(self.log_path, "wb")
        env = dict(os.environ)
        env["TESTTMP"] = self.scratch
        env["TESTFS"] = self.rootfs
        env["TESTFILES"] = os.path.join(self.base, "files")
        cmd = [self.herd, "-nostdin", "-base", self.base, "-prefix", self.prefix] + self.extra_args
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=own_hostname if os.geteuid() == 0 else None,
        )
        sock = os.path.join(self.base, "minimega")
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"herd exited with status {self.proc.returncode} before listening\n"
                    + self.log_tail()
                )
            if os.path.exists(sock):
                try:
                    self.connect().close()
                    return
                except OSError:
                    pass
            time.sleep(0.02)
        raise RuntimeError(f"herd did not create {sock} within {START_TIMEOUT_S}s\n" + self.log_tail())

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(REPLY_TIMEOUT_S)
        s.connect(os.path.join(self.base, "minimega"))
        return s

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n=30):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return ""
        return "\n".join("  | " + line for line in lines[-n:])

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
            # Whatever a killed daemon left (containers, cgroups) goes too.
            subprocess.run([self.herd, "-base", self.base, "-prefix", self.prefix, "-nuke"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if self.log is not None:
            self.log.close()
            self.log = None
        if self.tmp is not None:
            if self.keep:
                print(f"kept {self.tmp}", file=sys.stderr)
            else:
                shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None


class Client:
    """One control-socket connection speaking the JSON stream protocol (§1.4)."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = ""
        self.decoder = json.JSONDecoder()

    def close(self):
        self.sock.close()

    def _next_value(self):
        while True:
            text = self.buf.lstrip()
            if text:
                try:
                    value, end = self.decoder.raw_decode(text)
                    self.buf = text[end:]
                    return value
                except json.JSONDecodeError:
                    pass  # incomplete value: read more
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise DaemonGone(f"no reply within {REPLY_TIMEOUT_S}s")
            except OSError as e:
                raise DaemonGone(str(e))
            if not chunk:
                raise DaemonGone("connection closed by the daemon")
            # Go's encoder emits valid UTF-8; be lenient anyway.
            self.buf += chunk.decode("utf-8", "replace")

    def run(self, line):
        """Sends one command; returns its reply batches (status updates dropped)."""
        req = {"Command": line, "Suggest": "", "PlumbPipe": ""}
        try:
            self.sock.sendall(json.dumps(req).encode() + b"\n")
        except OSError as e:
            raise DaemonGone(str(e))
        batches = []
        while True:
            reply = self._next_value()
            if not isinstance(reply, dict):
                raise DaemonGone(f"reply is not a JSON object: {reply!r}")
            if reply.get("Status"):
                continue
            batches.append(reply)
            if not reply.get("More"):
                return batches


def script_lines(path):
    """Lines as Go's bufio.ScanLines yields them (a final newline adds no line)."""
    with open(path, "rb") as f:
        data = f.read().decode("utf-8")
    lines = data.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def transcript(client, lines):
    out = []
    for line in lines:
        if line == "":
            out.append("\n")
            continue
        out.append(f"## {line}\n")
        for batch in client.run(line):
            errors = sorted(r.get("Error", "") for r in (batch.get("Resp") or []))
            out.extend(f"E: {e}\n" for e in errors if e)
            rendered = batch.get("Rendered") or ""
            if rendered:
                out.append(rendered + "\n")
    return "".join(out)


def run_script(daemon, path):
    """Returns (passed, message)."""
    client = Client(daemon.connect())
    try:
        transcript(client, PROLOG)
        got = transcript(client, script_lines(path))
        transcript(client, EPILOG)
    finally:
        client.close()

    got_path = path[: -len(".mm")] + ".got" if path.endswith(".mm") else path + ".got"
    want_path = got_path[: -len(".got")] + ".want"
    try:
        with open(want_path, "rb") as f:
            want = f.read().decode("utf-8")
    except OSError:
        with open(got_path, "w") as f:
            f.write(got)
        return False, f"missing {os.path.relpath(want_path)} (transcript in {got_path})"
    if got == want:
        if os.path.exists(got_path):
            os.remove(got_path)
        return True, ""
    with open(got_path, "w") as f:
        f.write(got)
    diff = difflib.unified_diff(
        want.splitlines(keepends=True),
        got.splitlines(keepends=True),
        fromfile=os.path.relpath(want_path),
        tofile=os.path.relpath(got_path),
    )
    text = "".join(d if d.endswith("\n") else d + "\n\\ No newline at end of file\n" for d in diff)
    return False, text


def main():
    ap = argparse.ArgumentParser(description="herd golden CLI tests (minitest format)")
    ap.add_argument("--herd", default=os.path.join(ROOT, "build", "herd"), help="herd binary")
    ap.add_argument("--keep", action="store_true", help="keep the daemon's temp base and log")
    ap.add_argument("-v", "--verbose", action="store_true", help="print the daemon log at the end")
    ap.add_argument(
        "--daemon-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra daemon argument (repeatable), e.g. --daemon-arg=-level=debug",
    )
    ap.add_argument("scripts", nargs="*", help="scripts (default: tests/cli/*.mm)")
    args = ap.parse_args()

    scripts = args.scripts
    if not scripts:
        cli = os.path.join(ROOT, "tests", "cli")
        scripts = sorted(
            os.path.join(cli, n)
            for n in os.listdir(cli)
            if n.endswith(".mm") and not n.startswith(".")
        )
    if os.geteuid() != 0:
        print(f"golden: not root: the daemon keeps this host's name, not {HOSTNAME}", file=sys.stderr)
    if not os.access(args.herd, os.X_OK):
        print(f"golden: {args.herd} is not an executable (build first)", file=sys.stderr)
        return 2

    passed = failed = 0
    daemon = Daemon(os.path.abspath(args.herd), args.keep, args.daemon_arg)
    try:
        for path in scripts:
            name = os.path.basename(path)
            # Language and registry scripts run on the state-only runtime so
            # they do not depend on the kernel; container_*.mm scripts launch
            # real containers (root only).
            real = name.startswith("container_")
            daemon.extra_args = list(args.daemon_arg) + ([] if real else ["-runtime", "dry"])
            try:
                daemon.start()
                ok, msg = run_script(daemon, path)
                if ok and not daemon.alive():
                    ok, msg = False, "daemon died during the epilog\n" + daemon.log_tail()
            except DaemonGone as e:
                ok = False
                state = "alive" if daemon.alive() else f"exited ({daemon.proc.returncode})"
                msg = f"daemon connection failed: {e}; daemon {state}\n" + daemon.log_tail()
            except RuntimeError as e:
                ok, msg = False, f"cannot start herd: {e}"
            if args.verbose and daemon.tmp:
                print(daemon.log_tail(1000))
            daemon.stop()
            if ok:
                passed += 1
                print(f"ok {name}")
            else:
                failed += 1
                print(f"FAIL {name}")
                print(msg.rstrip("\n"))
    except KeyboardInterrupt:
        failed += 1
    finally:
        daemon.stop()

    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
