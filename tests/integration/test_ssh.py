#!/usr/bin/env python3
"""Debian guest image with sshd (issue 5), run as root.

Builds the Debian image with scripts/herd-image into the image cache
($HERD_IMAGE_CACHE, default /var/cache/herd; the build is skipped when an image
of the same builder script and herd-cc is there, and herd-image itself keeps
the debootstrap result, so only the first run downloads), launches two
containers from it on VLAN 5, gives them addresses with cc, and logs in from
the host with ssh over a host tap on VLAN 5 with a throwaway key sent by cc.
Each container made its own ssh host keys at its first boot (the image has
none) and keeps them across vm kill / vm start. An image built with
--authorized-keys is logged into at an address from herd's dnsmasq (DHCP).
The builder's bad input is checked too. Times are printed.
"""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herdtest import (HERD, ROOT, Console, Daemon, cc_clients, cc_responses,  # noqa: E402
                      class_daemon, free_subnet, wait_for)

BUILDER = os.path.join(ROOT, "scripts", "herd-image")
AGENT = os.path.join(os.path.dirname(HERD), "herd-cc")
CACHE = os.environ.get("HERD_IMAGE_CACHE", "/var/cache/herd")


def file_hash(*paths):
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:16]


def cached_image():
    """The Debian image for this builder and agent; built when missing.

    herd-image renames a finished image into place, so an existing
    directory is a complete one. Images of older builders are removed."""
    images = os.path.join(CACHE, "test-images")
    os.makedirs(images, exist_ok=True)
    name = "debian-" + file_hash(BUILDER, AGENT)
    path = os.path.join(images, name)
    for old in os.listdir(images):
        if old.startswith("debian-") and old != name and ".building-" not in old:
            shutil.rmtree(os.path.join(images, old), ignore_errors=True)
    t0 = time.time()
    if os.path.isfile(os.path.join(path, "init")):
        how = "cached"
    else:
        how = "built"
        r = subprocess.run([BUILDER, "debian", path, "--agent", AGENT], capture_output=True,
                           text=True, env=dict(os.environ, HERD_IMAGE_CACHE=CACHE))
        # A concurrent run may have renamed the same image into place first.
        if r.returncode != 0 and not os.path.isfile(os.path.join(path, "init")):
            raise RuntimeError("herd-image debian failed:\n" + r.stdout + r.stderr)
    print("\nDebian image %s in %.1f s: %s" % (how, time.time() - t0, path), file=sys.stderr)
    return path


def run(*cmd, timeout=20, check=False):
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout,
                          check=check)


class DebianSsh(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        t0 = time.time()
        cls.image = cached_image()
        cls.tmp = tempfile.mkdtemp(prefix="herd-ssh-")
        # Class cleanups (LIFO), not tearDownClass: they run when this fails.
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.key = os.path.join(cls.tmp, "id")
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "herd-test", "-f", cls.key,
            check=True)
        cls.known = os.path.join(cls.tmp, "known_hosts")
        cls.net = free_subnet()
        cls.addr = {"s1": cls.net + ".1", "s2": cls.net + ".2"}
        cls.d = class_daemon(cls)
        cls.setup_vms()
        print("setup (image, 2 containers, tap, addresses, key) in %.1f s" % (time.time() - t0),
              file=sys.stderr)

    @classmethod
    def setup_vms(cls):
        c = cls.c = cls.d.client()
        cls.addClassCleanup(c.close)
        c.ok("vm config filesystem " + cls.image)
        c.ok("vm config net 5")
        c.ok("vm launch container s1,s2")
        c.ok("vm start all")
        if not wait_for(lambda: cls.clients() == 2, 60):
            raise AssertionError("herd-cc did not connect from both Debian containers")
        cls.host_tap()
        # No DHCP server on this VLAN (AuthorizedKeysDhcp has one): static
        # addresses, set with cc.
        for name, ip in cls.addr.items():
            c.ok("cc filter hostname=" + name)
            cls.cc_wait("cc exec ip addr add %s/24 dev veth0" % ip, 1)
        c.ok("clear cc filter")
        # The throwaway key goes in with cc send, then into root's
        # authorized_keys (the image has an empty /root/.ssh).
        files = os.path.join(cls.d.base, "files")
        os.makedirs(files, exist_ok=True)
        shutil.copy(cls.key + ".pub", os.path.join(files, "id.pub"))
        cls.cc_wait("cc send id.pub", 2)
        cls.cc_wait("cc exec cp /tmp/miniccc/files/id.pub /root/.ssh/authorized_keys", 2)

    @classmethod
    def host_tap(cls):
        """The host's end on VLAN 5, with an address in the guests' subnet."""
        cls.tap = cls.c.plain("tap create 5 ip %s.254/24" % cls.net)

    @classmethod
    def clients(cls):
        return cc_clients(cls.c)

    @classmethod
    def responses(cls, cid):
        return cc_responses(cls.c, cid)

    @classmethod
    def cc_wait(cls, line, want, timeout=30):
        """Posts a cc command and waits for `want` responses; returns its id."""
        cls.c.ok(line)
        cid = max(int(r["id"]) for r in cls.c.table("cc commands"))
        if not wait_for(lambda: cls.responses(cid) == want, timeout):
            raise AssertionError("%s: %d of %d responses" % (line, cls.responses(cid), want))
        return cid

    def ssh(self, name, *cmd, timeout=10):
        return run("ssh", "-i", self.key, "-o", "StrictHostKeyChecking=no",
                   "-o", "UserKnownHostsFile=" + self.known, "-o", "BatchMode=yes",
                   "-o", "ConnectTimeout=3", "-o", "LogLevel=ERROR",
                   "root@" + self.addr[name], *cmd, timeout=timeout)

    def login(self, name, timeout=30):
        """`hostname` over ssh, retried until sshd answers."""
        out = wait_for(lambda: self.ssh(name, "hostname").stdout.strip(), timeout, 0.5)
        return out

    def host_key(self, name):
        r = run("ssh-keyscan", "-T", "3", "-t", "ed25519", self.addr[name])
        keys = [line.split()[2] for line in r.stdout.splitlines()
                if line and not line.startswith("#")]
        self.assertEqual(len(keys), 1, r.stdout + r.stderr)
        return keys[0]

    def test_a_ssh_login_over_host_tap(self):
        t0 = time.time()
        self.assertTrue(self.tap.startswith(self.d.prefix), self.tap)
        self.assertEqual(self.login("s1"), "s1")
        self.assertEqual(self.login("s2"), "s2")
        print("ssh logins in %.1f s" % (time.time() - t0), file=sys.stderr)
        # What ran it: sshd inside the Debian guest, as root.
        r = self.ssh("s1", "sh", "-c", "'id -un; cat /etc/debian_version; pgrep -x sshd | wc -l'")
        user, version, _ = r.stdout.split("\n", 2)
        self.assertEqual(user, "root")
        self.assertRegex(version, r"^\d+\.\d+")
        # A wrong key is refused.
        other = os.path.join(self.tmp, "other")
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other, check=True)
        r = run("ssh", "-i", other, "-o", "StrictHostKeyChecking=no", "-o",
                "UserKnownHostsFile=" + self.known, "-o", "BatchMode=yes", "-o",
                "ConnectTimeout=3", "-o", "IdentitiesOnly=yes", "root@" + self.addr["s1"],
                "hostname")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Permission denied", r.stderr)

    def test_b_host_keys_per_container(self):
        k1, k2 = self.host_key("s1"), self.host_key("s2")
        self.assertNotEqual(k1, k2)
        # The image has none: they were made at each container's first boot.
        self.assertEqual([f for f in os.listdir(os.path.join(self.image, "etc", "ssh"))
                          if f.startswith("ssh_host_")], [])
        # The key the guest reports is the one in its own filesystem.
        cid = self.cc_wait("cc exec cat /etc/ssh/ssh_host_ed25519_key.pub", 2)
        out = self.c.ok(".annotate false cc responses %d raw" % cid)
        self.assertEqual(sorted(line.split()[1] for line in out.splitlines() if line),
                         sorted([k1, k2]))

    def test_c_cc_in_debian(self):
        cid = self.cc_wait("cc exec hostname", 2)
        out = self.c.ok(".annotate false cc responses %d raw" % cid)
        self.assertEqual(sorted(line for line in out.splitlines() if line), ["s1", "s2"])
        rows = {r["name"]: r for r in self.c.table("vm info")}
        self.assertEqual(rows["s1"]["cc_active"], "true")
        # What the agent reports (it checks its addresses every 2 s): the
        # address cc gave it.
        def ip():
            return {r["hostname"]: r["ip"] for r in self.c.table("cc clients")}.get("s1", "")
        self.assertIn(self.addr["s1"], wait_for(lambda: self.addr["s1"] in ip() and ip(), 10))

    def test_d_console_shell(self):
        row = [r for r in self.c.table("vm info") if r["name"] == "s2"][0]
        con = Console(self.d.base, row["id"])
        try:
            out = con.sh("hostname; echo $BASH_VERSION; echo $-", timeout=15).split("\n")
            self.assertEqual(out[0], "s2")
            self.assertRegex(out[1], r"^5\.")
            # An interactive shell (i) with job control (m) on the console.
            self.assertIn("i", out[2])
            self.assertIn("m", out[2])
        finally:
            con.close()

    def test_e_keys_survive_restart(self):
        before = self.host_key("s1")
        self.c.ok("vm kill s1")
        self.assertTrue(wait_for(lambda: self.clients() == 1, 30))
        self.c.ok("vm start s1")
        self.assertTrue(wait_for(lambda: self.clients() == 2, 60))
        self.c.ok("cc filter hostname=s1")
        try:
            self.cc_wait("cc exec ip addr add %s/24 dev veth0" % self.addr["s1"], 1)
        finally:
            self.c.ok("clear cc filter")
        self.assertEqual(self.login("s1"), "s1")
        self.assertEqual(self.host_key("s1"), before)


class AuthorizedKeysDhcp(unittest.TestCase):
    """An image built with --authorized-keys (from the cached debootstrap
    tarball) and a guest whose address comes from DHCP: herd's dnsmasq on
    the host tap, the image's udhcpc."""

    def test_login_with_baked_key_over_dhcp(self):
        cached_image()  # the debootstrap tarball is in the cache from here on
        # A throwaway image of 4500 files: on tmpfs when there is room, as
        # removing it from a busy disk takes seconds.
        shm = "/dev/shm"
        st = os.statvfs(shm) if os.path.isdir(shm) else None
        where = shm if st and st.f_bavail * st.f_frsize > (1 << 30) else None
        tmp = tempfile.mkdtemp(prefix="herd-ssh-", dir=where)
        d = None
        try:
            key = os.path.join(tmp, "id")
            run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key, check=True)
            image = os.path.join(tmp, "deb")
            t0 = time.time()
            r = run(BUILDER, "debian", image, "--agent", AGENT, "--authorized-keys",
                    key + ".pub", timeout=600)
            self.assertEqual(r.returncode, 0, r.stderr)
            print("\nherd-image debian --authorized-keys from the cached base: %.1f s"
                  % (time.time() - t0), file=sys.stderr)
            ak = os.path.join(image, "root", ".ssh", "authorized_keys")
            with open(ak) as f, open(key + ".pub") as g:
                self.assertEqual(f.read(), g.read())
            self.assertEqual(os.stat(ak).st_mode & 0o777, 0o600)
            self.assertEqual(os.stat(os.path.dirname(ak)).st_mode & 0o777, 0o700)
            self.assertEqual([f for f in os.listdir(os.path.join(image, "etc", "ssh"))
                              if f.startswith("ssh_host_")], [])

            net = free_subnet()
            d = Daemon().start()
            c = d.client()
            c.ok(".annotate false tap create 5 ip %s.254/24" % net)
            c.ok("dnsmasq start %s.254 %s.10 %s.50" % (net, net, net))
            c.ok("vm config filesystem " + image)
            c.ok("vm config net 5")
            c.ok("vm launch container d1")
            c.ok("vm start d1")

            def lease():
                for row in c.table("cc clients"):
                    for ip in row["ip"].strip("[]").split():
                        if ip.startswith(net + "."):
                            return ip
                return None
            t0 = time.time()
            ip = wait_for(lease, 60, 0.2)
            self.assertTrue(ip, "no DHCP lease in %s.0/24" % net)
            last = int(ip.rsplit(".", 1)[1])
            self.assertTrue(10 <= last <= 50, ip)
            out = wait_for(lambda: run(
                "ssh", "-i", key, "-o", "StrictHostKeyChecking=no", "-o",
                "UserKnownHostsFile=" + os.path.join(tmp, "known"), "-o", "BatchMode=yes",
                "-o", "ConnectTimeout=3", "-o", "LogLevel=ERROR", "root@" + ip,
                "hostname").stdout.strip(), 30, 0.5)
            self.assertEqual(out, "d1")
            print("DHCP lease %s and ssh login in %.1f s" % (ip, time.time() - t0),
                  file=sys.stderr)
            c.close()
        finally:
            if d:
                d.stop()
            shutil.rmtree(tmp, ignore_errors=True)


class Builder(unittest.TestCase):
    """herd-image's options and bad input (no containers)."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="herd-image-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def herd_image(self, *args):
        return run(BUILDER, *args, timeout=600)

    def test_busybox(self):
        out = os.path.join(self.tmp, "bb")
        r = self.herd_image("busybox", out, "--agent", AGENT)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.access(os.path.join(out, "init"), os.X_OK))
        self.assertTrue(os.access(os.path.join(out, "bin", "herd-cc"), os.X_OK))
        self.assertTrue(os.path.islink(os.path.join(out, "bin", "sh")))
        self.assertEqual(os.listdir(self.tmp), ["bb"])

    def test_bad_input(self):
        full = os.path.join(self.tmp, "full")
        os.makedirs(full)
        open(os.path.join(full, "x"), "w").close()
        nokey = os.path.join(self.tmp, "nokey")
        with open(nokey, "w") as f:
            f.write("not a key\n")
        out = os.path.join(self.tmp, "out")
        cases = [
            (["alpine", out], "unknown image kind 'alpine'"),
            (["debian"], "missing the target directory"),
            (["debian", full, "--agent", AGENT], "is not empty"),
            (["debian", out, "--agent", AGENT, "--authorized-keys", "/nonexistent"],
             "authorized keys /nonexistent: no such readable file"),
            (["debian", out, "--agent", AGENT, "--authorized-keys", nokey],
             "no ssh public key in it"),
            (["debian", out, "--agent", "/bin/ls"], "dynamically linked"),
            (["debian", out, "--agent", "/nonexistent"], "agent /nonexistent: no such file"),
            (["debian", out, "--suite"], "--suite needs a value"),
            (["debian", out, "--suite", "../x", "--agent", AGENT], "invalid suite"),
            (["busybox", out, "--suite", "sid"], "--suite is an option of 'herd-image debian'"),
            (["debian", out, "--frobnicate"], "unknown option '--frobnicate'"),
            (["debian", os.path.join(self.tmp, "no", "such"), "--agent", AGENT],
             "no such directory"),
        ]
        for args, want in cases:
            r = self.herd_image(*args)
            self.assertNotEqual(r.returncode, 0, args)
            self.assertIn(want, r.stderr, args)
        # Nothing half-made.
        self.assertEqual(sorted(os.listdir(self.tmp)), ["full", "nokey"])
        self.assertEqual(os.listdir(full), ["x"])


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("skipped: needs root")
        sys.exit(0)
    unittest.main(verbosity=2)
