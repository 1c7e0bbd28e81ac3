#!/usr/bin/env python3
"""Security tests of container disks and `vm config` input, run as root.

* A guest fills its root filesystem: with `vm config disk-limit` its writes
  fail inside the guest (ENOSPC) and the host's disk is untouched; the daemon
  keeps answering. The disk is not in the host's mount table (or, where the
  kernel needs it there, is unmounted by `vm flush`, and `herd -nuke` after a
  SIGKILL of the daemon leaves no mount under the base). The overlay's
  changes survive `vm kill` + `vm start`.
* A `vm config uuid` that is a path (`../../..`) is refused, and cc writes
  responses only under the VM's real UUID.
* `vm config memory 0` is refused (no silent "no limit"); `/` as a volume's
  host path is refused; volume options are parsed off the host path.
"""

import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herdtest import (Console, Daemon, assert_responsive, cc_clients,  # noqa: E402
                      cc_responses, quit_daemon, wait_for)

MIB = 1 << 20
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def mounts_under(path):
    """(mount point, fstype, source, super options) of every mount in this
    (the host's) mount namespace at or under `path`."""
    real = os.path.realpath(path)
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            dash = fields.index("-")
            mp = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
            if mp == real or mp.startswith(real + "/"):
                out.append((mp, fields[dash + 1], fields[dash + 2], fields[dash + 3]))
    return out


def host_free(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


class DiskLimit(unittest.TestCase):
    """A guest with `vm config disk-limit 32` writes until its disk is full.

    The disk is a detached tmpfs: nothing of it is in the host's mount table
    (a launch's new mount namespace would copy every such mount). Where the
    kernel cannot put overlay layers on a detached mount, herd mounts it at
    <inst>/disk instead: DiskLimitAttached runs the same tests that way."""

    ATTACHED = False

    def setUp(self):
        env = {"HERD_DISK_ATTACHED": "1"} if self.ATTACHED else None
        self.d = Daemon(env=env).start()
        self.addCleanup(self.d.stop)
        self.c = self.d.client()
        self.addCleanup(self.c.close)

    def launch(self, name):
        self.c.ok("vm launch container " + name)
        self.c.ok("vm start " + name)
        inst = os.path.join(self.d.base, self.c.vm(name)["id"])
        con = Console(self.d.base, self.c.vm(name)["id"])
        self.addCleanup(con.close)
        con.sh("true", timeout=15)
        return inst, con

    def fill(self, con, path, mib):
        """dd of `mib` MiB into `path` in the guest, while the daemon is asked
        to answer; returns dd's output and exit status line."""
        result = {}

        def run():
            result["out"] = con.sh("dd if=/dev/zero of=%s bs=1M count=%d 2>&1; echo rc=$?"
                                   % (path, mib), timeout=120)
        t = threading.Thread(target=run)
        t.start()
        while t.is_alive():
            assert_responsive(self.d)
            t.join(0.2)
        assert_responsive(self.d)
        return result["out"]

    def root_size_kib(self, con):
        """The size of the guest's root as df shows it: an overlay reports
        its upper layer's filesystem, the disk."""
        return int(con.sh("df -k / | tail -n 1").split()[1])

    def assert_disks(self, insts, size_kib=None):
        """The host's mount table holds exactly the disks of `insts`
        (attached), or none at all (detached)."""
        mounts = mounts_under(self.d.base)
        if not self.ATTACHED:
            self.assertEqual(mounts, [])
            return
        self.assertEqual(sorted(m[0] for m in mounts),
                         sorted(os.path.join(i, "disk") for i in insts))
        for m in mounts:
            self.assertEqual(m[1:3], ("tmpfs", "herd-disk"))
            if size_kib:
                self.assertIn("size=%dk" % size_kib, m[3])
            self.assertEqual(os.stat(m[0]).st_mode & 0o777, 0o700)

    def test_guest_fills_its_disk(self):
        c = self.c
        # (Set with run(), not ok(): without the field, the attack below
        # still runs and shows what the guest could do.)
        c.run("vm config disk-limit 32")
        inst, con = self.launch("filler")
        con.sh("echo kept > /root/mark")
        self.assertEqual(self.root_size_kib(con), 32 * 1024)
        free_before = host_free(self.d.base)
        out = self.fill(con, "/root/fill", 200)
        free_after = host_free(self.d.base)
        # The write fails in the guest, with ENOSPC, well before 200 MiB.
        self.assertIn("No space left on device", out)
        self.assertNotIn("rc=0", out)
        size = int(con.sh("stat -c %s /root/fill"))
        self.assertLessEqual(size, 32 * MIB)
        self.assertGreater(size, 16 * MIB)
        # The host's disk did not take the guest's writes (other programs
        # on this machine write too: a wide margin).
        self.assertLess(free_before - free_after, 100 * MIB)
        self.assertEqual(c.plain("vm config disk-limit"), "32")
        self.assert_disks([inst], 32 * 1024)
        # The guest's other files are intact and the container still runs.
        self.assertEqual(con.sh("cat /root/mark"), "kept")
        self.assertEqual(c.vm("filler")["state"], "RUNNING")

        # The overlay's changes survive a kill and a relaunch.
        c.ok("vm kill filler")
        self.assert_disks([inst])
        c.ok("vm start filler")
        self.assertEqual(con.sh("cat /root/mark", timeout=15), "kept")
        self.assertEqual(int(con.sh("stat -c %s /root/fill")), size)
        # Space freed in the guest is usable again.
        con.sh("rm /root/fill")
        out = self.fill(con, "/root/again", 8)
        self.assertIn("rc=0", out)

        # vm flush lets go of it and removes the instance directory.
        c.ok("vm kill filler")
        c.ok("vm flush")
        self.assertEqual(mounts_under(self.d.base), [])
        self.assertFalse(os.path.exists(inst))
        assert_responsive(self.d)

    def test_default_and_unlimited(self):
        c = self.c
        self.assertEqual(c.plain("vm config disk-limit"), "1024")
        self.assertIn("Disk limit:      1024", c.plain("vm config"))
        inst, con = self.launch("dflt")
        self.assertEqual(self.root_size_kib(con), 1024 * 1024)
        self.assert_disks([inst], 1024 * 1024)
        # Explicitly unlimited: no disk, the upper layer is in the instance
        # directory as before.
        c.ok("vm config disk-limit unlimited")
        c.ok("vm launch container unl")
        unl = os.path.join(self.d.base, c.vm("unl")["id"])
        self.assertTrue(os.path.isdir(os.path.join(unl, "upper")))
        self.assert_disks([inst])
        c.ok("vm kill all")
        c.ok("vm flush")
        self.assertEqual(mounts_under(self.d.base), [])

    def test_quit_unmounts(self):
        self.c.ok("vm config disk-limit 16")
        inst, _ = self.launch("q")
        self.assert_disks([inst])
        quit_daemon(self.c)
        self.d.proc.wait(30)
        self.assertEqual(mounts_under(self.d.base), [])

    def test_sigkill_then_nuke_unmounts(self):
        c = self.c
        c.ok("vm config disk-limit 16")
        inst, con = self.launch("a")
        con.sh("echo data > /root/file")
        c.ok("vm launch container b")
        insts = [inst, os.path.join(self.d.base, c.vm("b")["id"])]
        self.assert_disks(insts)
        self.d.kill9()
        # Attached mounts live in the host's namespace: the dead daemon left
        # them. Detached ones die with their last user.
        self.assert_disks(insts)
        r = self.d.nuke()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(mounts_under(self.d.base), [])
        self.assertFalse(os.path.exists(self.d.base))

    def test_restart_after_sigkill_unmounts_leftovers(self):
        self.c.ok("vm config disk-limit 16")
        inst, _ = self.launch("a")
        self.assert_disks([inst])
        self.d.kill9()
        # No record names the container (a launch the dead daemon had not
        # recorded): the new daemon drops the disk mount it left.
        with open(os.path.join(self.d.base, "records", "journal"), "a") as f:
            f.write('{"drop": %s}\n' % os.path.basename(inst))
        self.d.start()
        c = self.d.client()
        self.addCleanup(c.close)
        self.assertEqual(mounts_under(self.d.base), [])
        assert_responsive(self.d)

    def test_restart_after_sigkill_adopts_the_disk(self):
        self.c.ok("vm config disk-limit 16")
        inst, con = self.launch("a")
        con.sh("echo kept > /root/note")
        self.assert_disks([inst])
        self.d.kill9()
        # The container is adopted (docs/durability.md) with its disk: a
        # relaunch still has what the guest wrote; its flush unmounts it.
        self.d.start()
        c = self.d.client()
        self.addCleanup(c.close)
        self.assertEqual(c.vm("a")["state"], "RUNNING")
        self.assert_disks([inst])
        c.ok("vm kill a")
        c.ok("vm start a")
        con = Console(self.d.base, os.path.basename(inst))
        self.addCleanup(con.close)
        self.assertEqual(con.sh("cat /root/note", timeout=15), "kept")
        c.ok("vm kill a")
        c.ok("vm flush")
        self.assertEqual(mounts_under(self.d.base), [])
        assert_responsive(self.d)


class DiskLimitAttached(DiskLimit):
    """The same, with the disks mounted in the host's namespace as on kernels
    whose overlayfs refuses layers on a detached mount (a test hook forces
    it here)."""

    ATTACHED = True


class ConfigInput(unittest.TestCase):
    """Bad `vm config` input is refused, with errors that say what is allowed."""

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon().start()
        cls.addClassCleanup(cls.d.stop)
        cls.c = cls.d.client()
        cls.addClassCleanup(cls.c.close)
        cls.tmp = tempfile.mkdtemp(prefix="herd-it-secdisk-")
        cls.addClassCleanup(subprocess.run, ["rm", "-rf", cls.tmp])

    def test_uuid_path_refused_and_cc_never_uses_it(self):
        c = self.c
        # The cc responses of a VM are written to
        # <base>/files/miniccc_responses/<cmd>/<uuid>: four levels up is the
        # test's own directory. The attack first, then the error.
        target = os.path.join(self.d.tmp, "escaped")
        bad = "../../../../escaped"
        text, errors = c.run("vm config uuid " + bad)
        c.ok("vm launch container ccvm")
        c.ok("vm start ccvm")
        try:
            uuid = c.vm("ccvm")["uuid"]
            self.assertTrue(wait_for(lambda: cc_clients(c) == 1, 30))
            c.ok("cc exec echo hello")
            wait_for(lambda: cc_responses(c, 1) == 1, 30)
            self.assertFalse(os.path.exists(target))
            self.assertRegex(uuid, UUID_RE)
            self.assertEqual(cc_responses(c, 1), 1)
            resp = os.path.join(self.d.base, "files", "miniccc_responses", "1")
            self.assertEqual(os.listdir(resp), [uuid])
            assert_responsive(self.d)
        finally:
            c.ok("vm kill all")
            c.ok("vm flush")
            c.ok("clear cc")
            c.ok("clear vm config uuid")
        self.assertEqual(len(errors), 1)
        self.assertIn("invalid uuid", errors[0])
        self.assertIn("8-4-4-4-12 hexadecimal digits", errors[0])
        self.assertEqual(c.plain("vm config uuid"), "")
        for other in ("foo", "/tmp/x", "0b5c2a8e-3f1d-4c6b-9e7a-1d2c3b4a5f6/"):
            self.assertTrue(c.run("vm config uuid " + other)[1], other)
        c.ok("vm config uuid 0B5C2A8E-3F1D-4C6B-9E7A-1D2C3B4A5F60")
        self.assertEqual(c.plain("vm config uuid"), "0b5c2a8e-3f1d-4c6b-9e7a-1d2c3b4a5f60")
        c.ok("clear vm config uuid")

    def test_memory(self):
        c = self.c
        for bad in ("0", "-5", "18446744073709551615", "99999999999999999999", "1x"):
            text, errors = c.run("vm config memory " + bad)
            self.assertEqual(len(errors), 1, bad)
            self.assertNotIn("strconv", errors[0])
            self.assertIn("from 1 to", errors[0])
            self.assertIn("unlimited", errors[0])
        self.assertEqual(c.plain("vm config memory"), "2048")
        c.ok("vm config memory 2G")
        self.assertEqual(c.plain("vm config memory"), "2048")
        c.ok("vm config memory unlimited")
        self.assertEqual(c.plain("vm config memory"), "unlimited")
        c.ok("vm launch container unl")
        try:
            c.ok("vm start unl")
            row = c.vm("unl")
            self.assertEqual(row["memory"], "unlimited")
            self.assertEqual(row["state"], "RUNNING")
        finally:
            c.ok("vm kill all")
            c.ok("vm flush")
            c.ok("clear vm config memory")

    def test_root_volume_refused(self):
        c = self.c
        # A file only the host's root directory leads to, for the guest to
        # look for through the volume.
        marker = os.path.join(self.tmp, "host-only")
        with open(marker, "w") as f:
            f.write("secret\n")
        c.run("vm config volume /host /")
        c.ok("vm launch container rootvol")
        try:
            if c.vm("rootvol")["state"] == "BUILDING":
                c.ok("vm start rootvol")
                con = Console(self.d.base, c.vm("rootvol")["id"])
                try:
                    con.sh("true", timeout=15)
                    self.assertNotIn("secret", con.sh("cat /host%s 2>&1" % marker))
                finally:
                    con.close()
        finally:
            c.ok("vm kill all")
            c.ok("vm flush")
            c.ok("clear vm config volume")
        for root in ("/", "//", "/./", "/tmp/..", "/:ro"):
            text, errors = c.run("vm config volume /host " + root)
            self.assertEqual(len(errors), 1, root)
            self.assertIn("root directory", errors[0])
        self.assertEqual(c.plain("vm config volume"), "")
        # Through a symlink: refused at launch.
        link = os.path.join(self.tmp, "rootlink")
        os.symlink("/", link)
        c.ok("vm config volume /host " + link)
        try:
            text, errors = c.run("vm launch container rootvol")
            self.assertEqual(len(errors), 1)
            self.assertIn("root directory", errors[0])
            self.assertEqual(c.vm("rootvol")["state"], "ERROR")
        finally:
            c.ok("vm flush")
            c.ok("clear vm config volume")

    def test_volume_options(self):
        c = self.c
        src = os.path.join(self.tmp, "opts")
        os.makedirs(src)
        with open(os.path.join(src, "from-host"), "w") as f:
            f.write("hi\n")
        text, errors = c.run("vm config volume /v %s:ro,exec" % src)
        self.assertEqual(len(errors), 1)
        self.assertIn("allowed are ro, rw, suid, dev", errors[0])
        c.ok("vm config volume /v %s:ro,suid,dev" % src)
        self.assertEqual(c.plain("vm config volume"), "/v -> %s:ro,suid,dev" % src)
        c.ok("vm launch container vol")
        try:
            c.ok("vm start vol")
            con = Console(self.d.base, c.vm("vol")["id"])
            try:
                con.sh("true", timeout=15)
                # The options are not part of the host path.
                self.assertEqual(con.sh("cat /v/from-host"), "hi")
            finally:
                con.close()
            self.assertFalse(os.path.exists(src + ":ro,suid,dev"))
        finally:
            c.ok("vm kill all")
            c.ok("vm flush")
            c.ok("clear vm config volume")


if __name__ == "__main__":
    unittest.main(verbosity=2)
