#!/usr/bin/env python3
"""`vm info` benchmark (issue 15 item 2): how long the VM table takes at N VMs.

A daemon with `-runtime dry` (state changes only, no kernel work) in its own
base dir launches VMs with one NIC each (`vm config net 100`) up to 100, 1000,
5000 and 10000 in turn; at each size it times, from the client side over the
control socket, the median of 5 runs of:

  vm info
  .columns name,state vm info
  .columns name,state .filter state=building vm info

Targets at 10,000: `vm info` <= 200 ms, `.columns name,state vm info` <= 100 ms.

Each figure is `client/daemon`: client is the tests' Client (herdtest.py:
send the command, read and decode every reply, as the other benches do);
daemon is the same exchange on a raw socket, stopping at the last reply's
final byte without decoding it: what the daemon costs, without Python's JSON
decoder (which alone takes ~100 ms for the 10 MB reply of `vm info` at 10,000).

--real: real containers (busybox sh as init, no cc agent, started) instead
of `-runtime dry`: what a running container adds to its row (root; the host
must hold N containers).

usage: bench/bench_info.py [--runs R] [--real] [N ...]   (default: 100 1000 5000 10000)
"""

import json
import os
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from herdtest import Daemon  # noqa: E402

COMMANDS = [
    ("vm info", "vm info"),
    ("columns", ".columns name,state vm info"),
    ("columns+filter", ".columns name,state .filter state=building vm info"),
]
TARGETS = {"vm info": 0.200, "columns": 0.100}


def timed(c, line, runs):
    times = []
    size = 0
    for _ in range(runs):
        t0 = time.perf_counter()
        text = c.ok(line)
        times.append(time.perf_counter() - t0)
        size = len(text)
    return statistics.median(times), size


def raw_once(path, line):
    """Seconds from sending `line` to the last byte of its final reply."""
    end = b'"More":false,"Status":false}\n'
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(path)
        buf = bytearray()
        t0 = time.perf_counter()
        s.sendall((json.dumps({"Command": line, "Suggest": "", "PlumbPipe": ""}) + "\n").encode())
        while not buf.endswith(end):
            chunk = s.recv(1 << 20)
            if not chunk:
                raise ConnectionError("daemon closed the connection")
            buf += chunk
        return time.perf_counter() - t0


def raw_timed(path, line, runs):
    return statistics.median(raw_once(path, line) for _ in range(runs))


def main():
    args = sys.argv[1:]
    runs = 5
    if "--runs" in args:
        i = args.index("--runs")
        runs = int(args[i + 1])
        del args[i:i + 2]
    real = "--real" in args
    if real:
        args.remove("--real")
    sizes = sorted(int(a) for a in args) or [100, 1000, 5000, 10000]
    print("runtime %s, one NIC per VM (VLAN 100), median of %d runs, ms (client/daemon)"
          % ("real" if real else "dry", runs))
    print("%6s %16s %16s %16s %12s" % ("N", "vm info", "columns", "columns+filter",
                                       "vm info KiB"))
    with Daemon(*([] if real else ["-runtime", "dry"])) as d:
        c = d.client()
        c.ok("vm config net 100")
        if real:
            c.ok("vm config backchannel false")
            c.ok("vm config init /bin/sh")
        have = 0
        for n in sizes:
            if n > have:
                # Fresh names per step: vm-<k> would repeat across launches.
                c.ok("vm launch container b%d-[%d-%d]" % (n, 1, n - have))
                if real:
                    c.ok("vm start all")
                have = n
            c.ok("vm info")  # warm: the first run pays for page faults
            sock = os.path.join(d.base, "minimega")
            figures = [timed(c, line, runs) for _, line in COMMANDS]
            raws = [raw_timed(sock, line, runs) for _, line in COMMANDS]
            cells = []
            for (key, _), (t, _), r in zip(COMMANDS, figures, raws):
                mark = ""
                if n == 10000 and key in TARGETS:
                    mark = " ok" if r <= TARGETS[key] else " !"
                cells.append("%.0f/%.0f%s" % (t * 1000, r * 1000, mark))
            print("%6d %16s %16s %16s %12d" % (n, cells[0], cells[1], cells[2],
                                               figures[0][1] // 1024), flush=True)
        c.close()


if __name__ == "__main__":
    main()
