#!/usr/bin/env python3
"""Integration tests of `cc mount`, run as root: a container's root
filesystem shown on a host directory.

Real containers of the default guest image. The guest is the attacker: it
plants a symbolic link to a host file and a setuid program in its own root,
and the test checks that neither works through the mount on the host, that
the mount carries nosuid, nodev, noexec and nosymfollow, and that every way
a mount can end (clear cc mount, clear cc, vm kill, a killed daemon and
`herd -nuke`) leaves nothing in the host's mount table.
"""

import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herdtest import (HERD, Daemon, as_nobody, assert_responsive, class_daemon,  # noqa: E402
                      guest_console)


def mount_options(path):
    """The options of the mount on top of `path` in this process's mount
    table, or None when nothing is mounted there."""
    found = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == path:
                found = set(fields[5].split(","))  # the last one is on top
    return found


class CcMount(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="herd-it-mnt-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.d = class_daemon(cls)
        cls.c = c = cls.d.client()
        cls.addClassCleanup(c.close)
        c.ok("vm launch container m1,m2")
        c.ok("vm start all")
        cls.con = guest_console(cls.d, c, "m1")
        cls.addClassCleanup(cls.con.close)

    def point(self, name):
        p = os.path.join(self.tmp, name)
        os.makedirs(p, exist_ok=True)
        return p

    def tearDown(self):
        self.c.run("clear cc mount")

    def test_guest_files_both_ways_and_listing(self):
        p = self.point("both")
        self.con.sh("echo from-guest > /tmp/hello")
        self.c.ok("cc mount m1 " + p)
        with open(os.path.join(p, "tmp/hello")) as f:
            self.assertEqual(f.read(), "from-guest\n")
        with open(os.path.join(p, "tmp/back"), "w") as f:
            f.write("from-host\n")
        self.assertEqual(self.con.sh("cat /tmp/back"), "from-host")
        rows = self.c.table("cc mount")
        self.assertEqual([(r["name"], r["path"]) for r in rows], [("m1", p)])
        self.assertEqual(rows[0]["uuid"], self.c.vm("m1")["uuid"])
        # Only the root filesystem: the guest's own /proc is not there.
        self.assertFalse(os.path.exists(os.path.join(p, "proc/self")))

    def test_guest_links_and_setuid_are_harmless_on_the_host(self):
        secret = os.path.join(self.tmp, "host-secret")
        with open(secret, "w") as f:
            f.write("host only\n")
        os.chmod(secret, 0o600)
        self.con.sh("ln -sf %s /tmp/steal; cp /bin/busybox /tmp/suid; chmod 4755 /tmp/suid"
                    % secret)
        p = self.point("attack")
        self.c.ok("cc mount m1 " + p)
        opts = mount_options(p)
        self.assertIsNotNone(opts)
        for o in ("nosuid", "nodev", "noexec", "nosymfollow"):
            self.assertIn(o, opts)
        # Root on the host does not follow the guest's link to a host file.
        with self.assertRaises(OSError):
            open(os.path.join(p, "tmp/steal")).read()
        # The guest's setuid program neither runs nor raises anyone.
        r = as_nobody([os.path.join(p, "tmp/suid"), "id", "-u"])
        self.assertNotEqual(r.returncode, 0)
        self.assertNotIn("0", r.stdout.split())
        assert_responsive(self.d)

    def test_errors_change_nothing(self):
        p = self.point("errs")
        cases = [
            ("cc mount m1", "must provide a mount path"),
            ("cc mount m1 " + p + "/missing", "mount point does not exist"),
            ("cc mount nosuchvm " + p, "vm not found: nosuchvm"),
        ]
        for line, want in cases:
            _, errors = self.c.run(line)
            self.assertEqual(errors, [want], line)
        # A link as the mount point is refused: the path is taken as given.
        link = os.path.join(self.tmp, "errs-link")
        if not os.path.islink(link):
            os.symlink(p, link)
        _, errors = self.c.run("cc mount m1 " + link)
        self.assertEqual(errors, ["mount point does not exist"])
        self.assertIsNone(mount_options(p))
        self.c.ok("cc mount m1 " + p)
        _, errors = self.c.run("cc mount m1 " + self.point("errs2"))
        self.assertEqual(errors, ["already mounted at " + p])
        _, errors = self.c.run("cc mount m2 " + p)
        self.assertEqual(errors, ["mount point in use by m1: " + p])
        self.assertEqual(len(self.c.table("cc mount")), 1)

    def test_every_end_unmounts(self):
        a, b = self.point("end-a"), self.point("end-b")
        self.c.ok("cc mount m1 " + a)
        self.c.ok("cc mount m2 " + b)
        self.c.ok("clear cc mount m1")
        self.assertIsNone(mount_options(a))
        self.assertIsNotNone(mount_options(b))
        self.c.ok("clear cc mount " + b)
        self.assertIsNone(mount_options(b))
        self.c.ok("cc mount m1 " + a)
        self.c.ok("clear cc")
        self.assertIsNone(mount_options(a))
        self.assertEqual(self.c.table("cc mount"), [])


class CcMountLifecycle(unittest.TestCase):
    """Mounts go with their VM and with a killed daemon (through -nuke)."""

    def test_kill_and_nuke(self):
        tmp = tempfile.mkdtemp(prefix="herd-it-mnt2-")
        self.addCleanup(shutil.rmtree, tmp, True)
        a, b = os.path.join(tmp, "a"), os.path.join(tmp, "b")
        os.makedirs(a)
        os.makedirs(b)
        d = Daemon().start()
        self.addCleanup(d.stop)
        c = d.client()
        self.addCleanup(c.close)
        c.ok("vm launch container k1,k2")
        c.ok("vm start all")
        c.ok("cc mount k1 " + a)
        c.ok("cc mount k2 " + b)
        c.ok("vm kill k1")
        self.assertIsNone(mount_options(a))
        self.assertIsNotNone(mount_options(b))
        d.kill9()
        self.assertIsNotNone(mount_options(b))  # a killed daemon leaves it
        r = d.nuke()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIsNone(mount_options(b))
        self.assertTrue(os.path.isdir(b))  # the directory itself stays


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("test_cc_mount: needs root")
        sys.exit(0)
    assert HERD
    unittest.main(verbosity=2)
