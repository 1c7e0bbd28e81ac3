#!/usr/bin/env python3
"""Runs the browser test of herd's web page (issue 6) against a real daemon.

Starts a private herd daemon (own base directory and prefix, herdtest.Daemon)
serving the page on a free loopback port, launches and starts two containers,
and a second one with `-runtime dry` holding 10,000 VMs (big[0-9999]), then
runs tests/browser/test_web_browser.mjs in node (headless Chromium through
playwright-core). The page's address and token come from <base>/web.url, as
root finds them. The daemon and everything it made are removed even when the
test fails or is interrupted. Needs root (real containers) and a built tree:

    HERD=build/herd python3 tests/browser/run.py

HERD selects the herd binary (default build/herd); the page, node_modules and
the default screenshot directory are found next to it (web/, web-npm/,
screenshots/). HERD_SCREENSHOTS overrides where the screenshots go.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
from herdtest import HERD, Daemon  # noqa: E402

VMS = ["web0", "web1"]  # the test uses web0; web1 keeps running to fill the table
# A second daemon with `-runtime dry` (no containers) holds the big table:
# the page must stay usable with this many VMs.
DRY_VMS = 10000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_running(client, names, timeout=30):
    deadline = time.time() + timeout
    states = {}
    while time.time() < deadline:
        states = {r["name"]: r["state"] for r in client.table("vm info")}
        if all(states.get(n) == "RUNNING" for n in names):
            return
        time.sleep(0.1)
    raise RuntimeError("containers did not reach RUNNING: %s" % states)


def page_address(d, port):
    """The page's address and token, from <base>/web.url as root finds them."""
    with open(os.path.join(d.base, "web.url")) as f:
        m = re.match(r"^(http://127\.0\.0\.1:%d)/\?token=(\S+)$" % port, f.read().strip())
    if not m:
        raise RuntimeError("web.url does not hold the page's address with its token")
    return m.group(1), m.group(2)


def interrupted(signum, frame):
    """SIGTERM unwinds like Ctrl-C, so that main's finally still cleans up."""
    raise KeyboardInterrupt()


def main():
    if os.geteuid() != 0:
        print("FAIL: the browser test runs real containers: run it as root")
        return 1
    herd_dir = os.path.dirname(os.path.abspath(HERD))
    for need in ("web/index.html", "web/static/xterm.js", "web-npm/node_modules/playwright-core"):
        if not os.path.exists(os.path.join(herd_dir, need)):
            print("FAIL: %s missing next to %s (build first: cmake --build build)" % (need, HERD))
            return 1

    signal.signal(signal.SIGTERM, interrupted)

    port = free_port()
    daemon = Daemon("-web", "127.0.0.1:%d" % port)
    dry_port = free_port()
    dry = Daemon("-runtime", "dry", "-web", "127.0.0.1:%d" % dry_port)
    node = None
    try:
        daemon.start()
        url, token = page_address(daemon, port)
        dry.start()
        dry_url, dry_token = page_address(dry, dry_port)
        client = dry.client()
        client.ok("vm launch container big[0-%d]" % (DRY_VMS - 1))
        client.close()
        client = daemon.client()
        client.ok("vm launch container web[0-1]")
        client.ok("vm start all")
        wait_running(client, VMS)
        client.close()

        env = dict(os.environ, HERD_WEB_URL=url, HERD_WEB_TOKEN=token, HERD_VM=VMS[0],
                   HERD=os.path.abspath(HERD), HERD_BASE=daemon.base, HERD_DRY_URL=dry_url,
                   HERD_DRY_TOKEN=dry_token, HERD_DRY_VMS=str(DRY_VMS))
        node = subprocess.Popen(["node", os.path.join(HERE, "test_web_browser.mjs")], env=env)
        rc = node.wait(timeout=180)
        node = None
        if rc != 0:
            print("---- daemon log (last 40 lines)")
            print("\n".join(daemon.logtext().splitlines()[-40:]))
            print("---- dry daemon log (last 20 lines)")
            print("\n".join(dry.logtext().splitlines()[-20:]))
        return rc
    except KeyboardInterrupt:
        print("FAIL: interrupted")
        return 1
    except Exception as e:  # a setup step failed: say which, with the daemon's log
        print("FAIL: %s" % e)
        print("---- daemon log (last 40 lines)")
        print("\n".join(daemon.logtext().splitlines()[-40:]))
        return 1
    finally:
        if node is not None:  # interrupted or timed out: stop our node (it closes its browser)
            node.send_signal(signal.SIGTERM)
            try:
                node.wait(10)
            except subprocess.TimeoutExpired:
                node.kill()
                node.wait()
        daemon.stop()
        dry.stop()


if __name__ == "__main__":
    sys.exit(main())
