#!/usr/bin/env python3
"""Attacks on herd's base directory (run as root).

A local user who can create the base before root starts herd (the default
/tmp/herd sits in a world-writable directory), or who controls a directory
above it, must not make the daemon write, remove or lock files of their
choosing; a guest, which fills its overlay's upper layer (under the base)
with whatever it likes, symbolic links included, must not make `vm flush`,
`quit` or `herd -nuke` touch what those links point to.
"""

import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herdtest import (HERD, Console, Daemon, as_nobody, assert_responsive,  # noqa: E402
                      quit_daemon, wait_for)

NOBODY = 65534


class Scratch:
    """A 0755 root-owned temporary directory holding the victims (files that
    only root may change) and the places the attacker works in."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="herd-it-sec-")
        os.chmod(self.tmp, 0o755)  # nobody may enter, not write
        self.victim = self.path("victim")
        self.victim2 = self.path("victim2")
        for p, text in ((self.victim, "root's file\n"), (self.victim2, "root's other file\n")):
            with open(p, "w") as f:
                f.write(text)
            os.chmod(p, 0o644)
        self.victim_dir = self.path("victim-dir")
        os.makedirs(os.path.join(self.victim_dir, "1", "sub"))
        os.makedirs(os.path.join(self.victim_dir, "files"))
        for rel in ("keep", "1/sub/keep", "files/keep"):
            with open(os.path.join(self.victim_dir, rel), "w") as f:
                f.write("kept: " + rel + "\n")

    def path(self, *rel):
        return os.path.join(self.tmp, *rel)

    def sticky(self):
        """A world-writable sticky directory, as /tmp is."""
        p = self.path("sticky")
        os.makedirs(p, exist_ok=True)
        os.chmod(p, 0o1777)
        return p

    def snapshot(self):
        """Every victim's contents and identity, to compare after an attack."""
        out = {}
        for p in (self.victim, self.victim2):
            st = os.lstat(p)
            with open(p) as f:
                out[p] = (f.read(), st.st_ino, stat.S_IMODE(st.st_mode), st.st_uid)
        for root, dirs, files in os.walk(self.victim_dir):
            for n in dirs + files:
                p = os.path.join(root, n)
                st = os.lstat(p)
                content = None
                if stat.S_ISREG(st.st_mode):
                    with open(p) as f:
                        content = f.read()
                out[p] = (content, st.st_ino, stat.S_IMODE(st.st_mode), st.st_uid)
        return out

    def close(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def nobody(testcase, *argv):
    r = as_nobody(list(argv))
    testcase.assertEqual(r.returncode, 0, "as nobody: %s: %s" % (argv, r.stderr))


class Refused(unittest.TestCase):
    """A base that someone else can change is refused, with a clear error,
    before anything is written in it."""

    def setUp(self):
        self.s = Scratch()
        self.addCleanup(self.s.close)
        self.prefix = "t" + secrets.token_hex(3)

    def start_refused(self, base, *extra):
        """Starts herd on `base`; asserts that it exits at once with status 1
        and returns its output. A daemon that starts instead (the bug) is
        stopped by pid and nuked before the test fails."""
        p = subprocess.Popen([HERD, "-nostdin", "-base", base, "-prefix", self.prefix,
                              "-switch", "kernel"] + list(extra),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        try:
            out, _ = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGTERM)
            try:
                out, _ = p.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                out, _ = p.communicate()
            subprocess.run([HERD, "-base", base, "-prefix", self.prefix, "-nuke"],
                           capture_output=True)
            self.fail("herd started on an unsafe base %s:\n%s" % (base, out))
        self.assertEqual(p.returncode, 1, out)
        return out

    def test_a_base_precreated_by_a_local_user(self):
        s = self.s
        base = os.path.join(s.sticky(), "herd")
        before = s.snapshot()
        # The attack: nobody makes the base first, open to all, with links
        # to root's files where herd writes its pid and a VM's state.
        nobody(self, "mkdir", "-m", "0777", base)
        nobody(self, "chmod", "0777", base)
        nobody(self, "ln", "-s", s.victim, os.path.join(base, "minimega.pid"))
        nobody(self, "mkdir", "-m", "0777", os.path.join(base, "0"))
        nobody(self, "ln", "-s", s.victim2, os.path.join(base, "0", "state"))
        out = self.start_refused(base)
        self.assertIn("base directory %s is not safe" % base, out)
        self.assertIn("owner uid 65534 (nobody)", out)
        self.assertIn("mode 0777", out)
        self.assertIn("Remove it", out)
        self.assertEqual(s.snapshot(), before)
        # Nothing was added to the attacker's base either.
        self.assertEqual(sorted(os.listdir(base)), ["0", "minimega.pid"])
        # -nuke refuses it too, rather than removing through its links.
        r = subprocess.run([HERD, "-base", base, "-prefix", self.prefix, "-nuke"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("is not safe", r.stderr)
        self.assertEqual(s.snapshot(), before)

    def test_a_base_owned_by_another_user_even_if_closed(self):
        base = self.s.path("theirs")
        os.mkdir(base, 0o700)
        os.chown(base, NOBODY, NOBODY)
        out = self.start_refused(base)
        self.assertIn("owner uid 65534 (nobody)", out)
        self.assertEqual(os.listdir(base), [])

    def test_b_root_base_writable_by_others(self):
        for mode in (0o777, 0o770, 0o1777):
            base = self.s.path("open-%o" % mode)
            os.mkdir(base)
            os.chmod(base, mode)
            out = self.start_refused(base)
            self.assertIn("base directory %s is not safe" % base, out)
            self.assertIn("mode %04o" % mode, out)
            self.assertIn("chmod 0700", out)
            self.assertEqual(os.listdir(base), [])

    def test_c_base_is_a_symlink(self):
        s = self.s
        real = s.path("real")
        os.mkdir(real, 0o700)
        link = s.path("link")
        os.symlink(real, link)
        out = self.start_refused(link)
        self.assertIn("base directory %s is a symbolic link (to %s)" % (link, real), out)
        self.assertEqual(os.listdir(real), [])

    def test_c_nuke_on_a_planted_symlink(self):
        s = self.s
        # Planted by a local user in a sticky directory, pointing at a
        # directory of root's: herd must not make its files there, and -nuke
        # must not remove root's numbered and `files` directories there.
        planted = os.path.join(s.sticky(), "herd")
        nobody(self, "ln", "-s", s.victim_dir, planted)
        before = s.snapshot()
        r = subprocess.run([HERD, "-base", planted, "-prefix", self.prefix, "-nuke"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("is a symbolic link", r.stderr)
        self.assertEqual(s.snapshot(), before)
        out = self.start_refused(planted)
        self.assertIn("is a symbolic link", out)
        self.assertEqual(s.snapshot(), before)

    def test_f_ancestor_another_user_controls(self):
        s = self.s
        # A directory above the base owned by nobody: they could rename the
        # base away and put their own in its place.
        theirs = s.path("theirs")
        os.mkdir(theirs, 0o755)
        os.chown(theirs, NOBODY, NOBODY)
        out = self.start_refused(os.path.join(theirs, "herd"))
        self.assertIn("%s above it (owner uid 65534 (nobody)" % theirs, out)
        self.assertEqual(os.listdir(theirs), [])
        # World-writable without the sticky bit: anyone could.
        wide = s.path("wide")
        os.mkdir(wide)
        os.chmod(wide, 0o777)
        out = self.start_refused(os.path.join(wide, "herd"))
        self.assertIn("%s above it (owner uid 0 (root), mode 0777)" % wide, out)
        self.assertEqual(os.listdir(wide), [])

    def test_f_file_root_under_the_base_is_checked(self):
        base = self.s.path("base")
        os.mkdir(base, 0o700)
        files = os.path.join(base, "files")
        os.mkdir(files)
        os.chmod(files, 0o777)
        out = self.start_refused(base)
        self.assertIn("file root %s is not safe" % files, out)


class Fresh(unittest.TestCase):
    def test_d_fresh_base_is_private(self):
        s = Scratch()
        self.addCleanup(s.close)
        # Also in a sticky world-writable directory, as /tmp/herd is.
        d = Daemon()
        d.base = os.path.join(s.sticky(), "herd")
        self.addCleanup(d.stop)
        old = os.umask(0)  # herd's modes must not depend on the umask
        try:
            d.start()
        finally:
            os.umask(old)
        st = os.lstat(d.base)
        self.assertTrue(stat.S_ISDIR(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o700)
        self.assertEqual(st.st_uid, 0)
        st = os.lstat(os.path.join(d.base, "files"))
        self.assertEqual((stat.S_IMODE(st.st_mode), st.st_uid), (0o700, 0))
        assert_responsive(d)
        # A daemon killed on it leaves it as it was: the next one accepts it.
        d.kill9()
        d2 = Daemon()
        d2.base = d.base
        self.addCleanup(d2.stop)
        d2.start()
        assert_responsive(d2)


GUEST_LINKS = [
    # (link in the guest, target on the host)
    ("/victim-link", "{victim}"),
    ("/dir-link", "{victim_dir}"),
    ("/root/deep/a/b/c/dir-link", "{victim_dir}"),
    ("/root/deep/a/file-link", "{victim}"),
    ("/root/deep/a/b/rel-link", "../../../../../../../../../../{victim_dir_rel}"),
    ("/etc/dir-link-slash", "{victim_dir}/"),
]


class ScratchDaemon(unittest.TestCase):
    """A daemon per test, and a scratch tree of host files to compare
    before and after (self.before)."""

    def setUp(self):
        self.s = Scratch()
        self.addCleanup(self.s.close)
        self.d = Daemon()
        self.addCleanup(self.d.stop)
        self.d.start()
        self.c = self.d.client()
        self.addCleanup(self.c.close)
        self.before = self.s.snapshot()


class GuestLinks(ScratchDaemon):
    """A guest plants symbolic links to the host's files in its overlay; the
    instance dir goes at `vm flush`, `quit` and `herd -nuke`, links and all,
    and what they point to stays."""

    def plant(self, name, disk_limit=None):
        """Launches VM `name`, plants the links from inside, and returns its
        instance dir. The overlay's upper layer is on the VM's disk tmpfs
        unless disk_limit is `unlimited` (<inst>/upper)."""
        c = self.c
        if disk_limit:
            c.ok("vm config disk-limit " + disk_limit)
        c.ok("vm launch container " + name)
        c.ok("vm start " + name)
        vm = c.vm(name)
        inst = os.path.join(self.d.base, vm["id"])
        con = Console(self.d.base, vm["id"])
        try:
            con.sh("true", timeout=15)
            fmt = {"victim": self.s.victim, "victim_dir": self.s.victim_dir,
                   "victim_dir_rel": self.s.victim_dir.lstrip("/")}
            for link, target in GUEST_LINKS:
                t = target.format(**fmt)
                out = con.sh("mkdir -p %s && ln -s %s %s && echo planted"
                             % (os.path.dirname(link), t, link))
                self.assertEqual(out, "planted")
            # Also a directory the guest then swaps for a link, and a FIFO.
            con.sh("mkdir -p /swap/x && rm -r /swap && ln -s %s /swap" % self.s.victim_dir)
            con.sh("mkfifo /root/fifo")
        finally:
            con.close()
        # With a disk limit the upper layer is on a detached tmpfs the host
        # cannot reach by path: nothing there for the daemon to follow.
        if disk_limit == "unlimited":
            upper = os.path.join(inst, "upper")
            for link, _ in GUEST_LINKS:
                self.assertTrue(os.path.islink(upper + link), link)
        assert_responsive(self.d)
        return inst

    def assert_untouched(self):
        self.assertEqual(self.s.snapshot(), self.before)

    def test_e_flush(self):
        inst = self.plant("g")
        self.c.ok("vm kill g")
        assert_responsive(self.d)
        self.c.ok("vm flush")
        assert_responsive(self.d)
        self.assertFalse(os.path.lexists(inst))
        self.assert_untouched()

    def test_e_flush_upper_on_base(self):
        # The upper layer directly in the base's filesystem, not on a tmpfs.
        inst = self.plant("g", disk_limit="unlimited")
        self.c.ok("vm kill g")
        self.c.ok("vm flush")
        assert_responsive(self.d)
        self.assertFalse(os.path.lexists(inst))
        self.assert_untouched()

    def test_e_nuke_after_sigkill_upper_on_base(self):
        inst = self.plant("g", disk_limit="unlimited")
        self.d.kill9()
        r = self.d.nuke()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse(os.path.lexists(inst))
        self.assert_untouched()

    def test_e_quit(self):
        inst = self.plant("g")
        quit_daemon(self.c)
        self.assertEqual(self.d.proc.wait(30), 0)
        self.assertFalse(os.path.lexists(inst))
        self.assert_untouched()

    def test_e_nuke_after_sigkill(self):
        inst = self.plant("g")
        self.d.kill9()
        r = self.d.nuke()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse(os.path.lexists(inst))
        self.assertFalse(os.path.lexists(self.d.base))
        self.assert_untouched()

    def test_e_nuke_command(self):
        inst = self.plant("g")
        self.c.ok("nuke")
        assert_responsive(self.d)
        wait_for(lambda: not os.path.lexists(inst), timeout=5)
        self.assert_untouched()


class FileRootLinks(ScratchDaemon):
    """A guest with a volume from the file root (-filepath) leaves links
    there; `file list` and `file delete` must not follow them."""

    def test_guest_links_in_the_file_root(self):
        c = self.c
        shared = os.path.join(self.d.base, "files", "shared")
        os.makedirs(shared)
        c.ok("vm config volume /shared " + shared)
        c.ok("vm launch container g")
        c.ok("vm start g")
        con = Console(self.d.base, c.vm("g")["id"])
        self.addCleanup(con.close)
        out = con.sh("mkdir -p /shared/d && ln -s %s /shared/d/dir && ln -s %s /shared/file "
                     "&& ln -s %s /shared/top && echo planted"
                     % (self.s.victim_dir, self.s.victim, self.s.victim_dir), timeout=15)
        self.assertEqual(out, "planted")
        assert_responsive(self.d)
        # Listed as links, never as what they point to.
        names = c.plain(".headers false .columns name file list shared recursive").split()
        self.assertEqual(sorted(names), ["shared/d/dir", "shared/file", "shared/top"])
        self.assertNotIn("keep", c.plain("file list shared/top"))
        self.assertNotIn("keep", c.plain("file list shared/*/*/*"))
        # Deleting through a link's name, or the directory holding them,
        # removes the links only.
        c.ok("file delete shared/top")
        c.ok("file delete shared/file")
        c.ok("file delete shared/d")
        self.assertEqual(os.listdir(shared), [])
        self.assertEqual(self.s.snapshot(), self.before)
        assert_responsive(self.d)


if __name__ == "__main__":
    unittest.main(verbosity=2)
