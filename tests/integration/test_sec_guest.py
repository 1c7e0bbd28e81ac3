#!/usr/bin/env python3
"""Attack tests: what root inside a guest must not get past herd (run as root).

Each test performs the attack as a hostile guest (busybox shell and static
programs built here with gcc -static) or as the unprivileged host user nobody
would, asserts that it fails, and that the daemon stays responsive:

- a setuid binary, a file capability or a device node made by the guest in a
  volume gives a host user nothing (item 4);
- guest files are 0644/0755, not 0666/0777 (umask 022, item 5);
- the guest cannot write product_uuid nor the host's <inst>/uuid, and its
  mountinfo does not show the host path (item 6);
- a symlink planted by the guest does not redirect preinit's writes to the host
  on relaunch, while a normal preinit still works (item 7);
- io_uring, odd personalities, AF_VSOCK and unknown syscalls fail; the
  container still works (item 16).
"""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herdtest import (as_nobody, assert_responsive, class_daemon, guest_console,  # noqa: E402
                      wait_for)

# Prints the effective user and group ids (a setuid copy run by nobody shows
# whose privileges it got).
EUID_C = r"""
#include <stdio.h>
#include <unistd.h>
int main(void) { printf("euid=%d egid=%d\n", (int)geteuid(), (int)getegid()); return 0; }
"""

# Tries what the seccomp filter and the capability set must refuse; prints
# name=errno-name (or name=ok) per attempt.
PROBE_C = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <fcntl.h>
#include <unistd.h>
#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
static void show(const char* what, long rc) {
    const char* e = rc >= 0 ? "ok" : errno == EPERM ? "EPERM" : errno == ENOSYS ? "ENOSYS"
                  : errno == EAFNOSUPPORT ? "EAFNOSUPPORT" : strerror(errno);
    printf("%s=%s\n", what, e);
}
int main(int argc, char** argv) {
    char params[120] = {0};
    show("io_uring_setup", syscall(SYS_io_uring_setup, 1, params));
    show("personality_query", syscall(SYS_personality, 0xffffffffUL));
    show("per_bsd", syscall(SYS_personality, PER_BSD));
    show("read_implies_exec", syscall(SYS_personality, READ_IMPLIES_EXEC));
    show("addr_no_randomize", syscall(SYS_personality, ADDR_NO_RANDOMIZE));
    show("mmap_page_zero", syscall(SYS_personality, MMAP_PAGE_ZERO));
    show("vsock", socket(AF_VSOCK, SOCK_STREAM, 0));
    show("nr1000", syscall(1000));
    show("clone3", syscall(SYS_clone3, NULL, 0));
    if (argc > 1) {
        /* A v2 file capability: cap_setuid permitted and effective. */
        unsigned int cap[5] = {0x02000001, 1u << 7, 0, 0, 0};
        int fd = open(argv[1], O_CREAT | O_WRONLY, 0755);
        close(fd);
        show("setfcap", setxattr(argv[1], "security.capability", cap, sizeof cap, 0));
        char other[4096];
        snprintf(other, sizeof other, "%s.new", argv[1]);
        show("open_setuid", open(other, O_CREAT | O_WRONLY, 04755));
        show("mknod_setgid", mknod(other, S_IFREG | 02755, 0));
    }
    return 0;
}
"""

PREINIT = """#!/bin/sh
# A normal preinit: a file in the container's root, a sysctl of the
# container's network namespace, and /etc/motd.
echo preinit-ran > "$1/root/preinit.txt" || exit 1
echo 42 > /proc/sys/net/ipv4/ip_default_ttl || exit 1
chmod 600 "$1/etc/perm" 2>/dev/null
echo 17 > "$1/etc/sysctl" 2>/dev/null
echo "welcome from preinit" > "$1/etc/motd" || exit 1
echo ok > /dev/null
"""


def build_static(src_text, out):
    src = out + ".c"
    with open(src, "w") as f:
        f.write(src_text)
    subprocess.run(["gcc", "-static", "-O1", "-o", out, src], check=True)
    os.chmod(out, 0o755)


class GuestAttacks(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # A world-reachable volume, as an admin sharing a directory would
        # make: the attacks below need the host path to be reachable.
        cls.tmp = tempfile.mkdtemp(prefix="herd-it-sec-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        os.chmod(cls.tmp, 0o755)
        cls.vol = os.path.join(cls.tmp, "vol")
        os.makedirs(cls.vol, mode=0o755)
        os.chmod(cls.vol, 0o755)
        cls.tools = os.path.join(cls.vol, "tools")
        os.makedirs(cls.tools, mode=0o755)
        build_static(EUID_C, os.path.join(cls.tools, "euid"))
        build_static(PROBE_C, os.path.join(cls.tools, "probe"))
        cls.preinit = os.path.join(cls.tmp, "preinit.sh")
        with open(cls.preinit, "w") as f:
            f.write(PREINIT)
        os.chmod(cls.preinit, 0o755)
        cls.victim = os.path.join(cls.tmp, "victim")
        with open(cls.victim, "w") as f:
            f.write("original\n")
        with open("/proc/sys/net/ipv4/ip_default_ttl") as f:
            cls.host_ttl = f.read().strip()

        cls.d = class_daemon(cls)
        cls.c = c = cls.d.client()
        cls.addClassCleanup(c.close)
        c.ok("vm config backchannel false")
        c.ok("vm config volume /scratch " + cls.vol)
        c.ok("vm launch container g")
        c.ok("vm config preinit " + cls.preinit)
        c.ok("vm launch container p")
        # No volume: its writes stay in its overlay, under the root-only base.
        c.ok("clear vm config volume")
        c.ok("clear vm config preinit")
        c.ok("vm launch container free")
        c.ok("vm start all")
        cls.cons = {}
        for name in ("g", "p", "free"):
            cls.cons[name] = guest_console(cls.d, c, name)
            cls.addClassCleanup(cls.cons[name].close)

    def sh(self, cmd, vm="g", timeout=10):
        return self.cons[vm].sh(cmd, timeout)

    def inst(self, name):
        return os.path.join(self.d.base, self.c.vm(name)["id"])

    def probe(self, *args):
        out = self.sh("/scratch/tools/probe " + " ".join(args))
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    # Item 4 -------------------------------------------------------------

    def test_guest_setuid_binary_in_volume(self):
        # The host's path of the volume honours setuid bits: without herd's
        # fix, the attack below works.
        self.assertFalse(os.statvfs(self.vol).f_flag & os.ST_NOSUID)
        out = self.sh("cp /scratch/tools/euid /scratch/sh; chmod 4755 /scratch/sh; echo rc=$?; "
                      "chmod u+s,g+s /scratch/sh; echo rc2=$?")
        self.assertIn("rc=1", out)
        self.assertIn("rc2=1", out)
        assert_responsive(self.d)
        path = os.path.join(self.vol, "sh")
        self.assertEqual(os.stat(path).st_mode & 0o6000, 0)
        r = as_nobody([path])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("euid=65534 egid=65534", r.stdout)
        # Other ways to make a file that carries privileges: a setuid mode at
        # creation, a file capability.
        got = self.probe("/scratch/capsh")
        self.assertEqual(got["setfcap"], "EPERM")
        self.assertEqual(got["open_setuid"], "EPERM")
        self.assertEqual(got["mknod_setgid"], "EPERM")
        cap = os.path.join(self.vol, "capsh")
        self.assertEqual(os.stat(cap).st_mode & 0o6000, 0)
        with self.assertRaises(OSError):
            os.getxattr(cap, "security.capability")
        self.assertFalse(os.path.exists(cap + ".new"))
        # The bind inside the guest is nosuid and nodev too.
        opts = self.sh("awk '$2 == \"/scratch\" {print $4}' /proc/mounts").split(",")
        self.assertIn("nosuid", opts)
        self.assertIn("nodev", opts)
        assert_responsive(self.d)

    def test_guest_device_in_volume(self):
        # The guest's devices cgroup lets it make (not use) the few devices it
        # allows; on the host those nodes would work for anyone: 5:1 is the
        # host's console (root-only there), 136:N another user's terminal.
        self.assertFalse(os.statvfs(self.vol).f_flag & os.ST_NODEV)
        out = self.sh("mknod /scratch/console c 5 1; echo rc=$?; chmod 666 /scratch/console; "
                      "mknod -m 666 /scratch/pts0 c 136 0; echo rc2=$?")
        self.assertIn("rc=1", out)
        self.assertIn("rc2=1", out)
        assert_responsive(self.d)
        path = os.path.join(self.vol, "console")
        r = as_nobody(["python3", "-c", "import os; os.close(os.open(%r, os.O_WRONLY | "
                       "os.O_NOCTTY | os.O_NONBLOCK)); print('opened')" % path])
        self.assertNotIn("opened", r.stdout)
        self.assertFalse(os.path.exists(path))
        self.assertFalse(os.path.exists(os.path.join(self.vol, "pts0")))

    # Item 5 -------------------------------------------------------------

    def test_guest_files_not_world_writable(self):
        self.assertEqual(self.sh("grep Umask /proc/1/status"), "Umask:\t0022")
        out = self.sh("rm -rf /tmp/u1 /tmp/u2 /scratch/u3 /scratch/u4; touch /tmp/u1; "
                      "mkdir /tmp/u2; echo x > /scratch/u3; mkdir /scratch/u4; "
                      "stat -c %a /tmp/u1 /tmp/u2 /scratch/u3 /scratch/u4")
        self.assertEqual(out.split(), ["644", "755", "644", "755"])
        self.assertEqual(os.stat(os.path.join(self.vol, "u3")).st_mode & 0o777, 0o644)
        self.assertEqual(os.stat(os.path.join(self.vol, "u4")).st_mode & 0o777, 0o755)
        # A host user cannot change what the guest wrote to the volume.
        r = as_nobody(["sh", "-c", "echo evil > %s/u3" % self.vol])
        self.assertNotEqual(r.returncode, 0)

    # Item 6 -------------------------------------------------------------

    def test_uuid_read_only(self):
        host_uuid = os.path.join(self.inst("g"), "uuid")
        with open(host_uuid) as f:
            before = f.read()
        target = "/sys/devices/virtual/dmi/id/product_uuid"
        out = self.sh("echo 00000000-0000-0000-0000-000000000000 > %s; echo rc=$?" % target)
        self.assertNotIn("rc=0", out)
        assert_responsive(self.d)
        with open(host_uuid) as f:
            self.assertEqual(f.read(), before)
        self.assertEqual(self.sh("cat " + target), before.strip())
        line = self.sh("grep product_uuid /proc/self/mountinfo")
        self.assertTrue(line, "product_uuid is not a mount")
        self.assertNotIn(self.d.base, line)
        self.assertNotIn(self.d.tmp, line)
        self.assertIn(" ro", line)
        # Nor does the root's overlay name the instance's directories.
        root = self.sh("awk '$5 == \"/\"' /proc/self/mountinfo")
        self.assertIn("overlay", root)
        self.assertNotIn(self.d.base, root)

    # Item 7 -------------------------------------------------------------

    def test_preinit_normal(self):
        self.assertEqual(self.sh("cat /root/preinit.txt", vm="p"), "preinit-ran")
        self.assertEqual(self.sh("cat /etc/motd", vm="p"), "welcome from preinit")
        # The sysctl went to the container's network namespace, not the host's.
        self.assertEqual(self.sh("cat /proc/sys/net/ipv4/ip_default_ttl", vm="p"), "42")
        with open("/proc/sys/net/ipv4/ip_default_ttl") as f:
            self.assertEqual(f.read().strip(), self.host_ttl)

    def test_preinit_symlink_relaunch(self):
        # Runs last among the preinit tests (it leaves p dead).
        c = self.c
        self.assertEqual(self.sh("cat /root/preinit.txt", vm="p"), "preinit-ran")
        # Host-wide: a sysctl outside /proc/sys/net, and a host file's mode.
        sysctl = "/proc/sys/kernel/printk_ratelimit_burst"
        with open(sysctl) as f:
            sysctl_before = f.read()
        mode_before = os.stat(self.victim).st_mode
        self.addCleanup(lambda: open(sysctl, "w").write(sysctl_before))
        self.sh("rm -f /etc/motd /etc/sysctl; ln -s %s /etc/motd; ln -s %s /etc/perm; "
                "ln -s %s /etc/sysctl; ln -s %s /root/preinit.txt.x"
                % (self.victim, self.victim, sysctl, self.victim), vm="p")
        c.ok("vm kill p")
        wait_for(lambda: c.vm("p")["state"] == "QUIT", timeout=10)
        _, errors = c.run("vm start p")
        assert_responsive(self.d)
        with open(self.victim) as f:
            self.assertEqual(f.read(), "original\n")
        self.assertEqual(os.stat(self.victim).st_mode, mode_before, "chmod went through a link")
        with open(sysctl) as f:
            self.assertEqual(f.read(), sysctl_before, "a host-wide sysctl was written")
        self.assertTrue(errors, "relaunch with a redirected preinit write succeeded")
        # Landlock's EACCES, or EROFS from preinit's read-only view of the host.
        self.assertRegex("; ".join(errors), "Permission denied|Read-only file system")
        assert_responsive(self.d)

    # Item 16 ------------------------------------------------------------

    def test_syscalls_refused(self):
        got = self.probe()
        self.assertEqual(got["io_uring_setup"], "EPERM")
        self.assertEqual(got["personality_query"], "ok")
        for p in ("per_bsd", "read_implies_exec", "addr_no_randomize", "mmap_page_zero"):
            self.assertEqual(got[p], "EPERM", p)
        self.assertEqual(got["vsock"], "EPERM")
        self.assertEqual(got["nr1000"], "ENOSYS")
        self.assertEqual(got["clone3"], "ENOSYS")
        assert_responsive(self.d)
        # The container still works: a shell, pipes, forks, ping to itself.
        self.assertEqual(self.sh("echo hello | tr a-z A-Z"), "HELLO")
        out = self.sh("ping -c 1 -W 2 127.0.0.1 >/dev/null 2>&1; echo rc=$?")
        self.assertIn("rc=0", out)

    def test_default_profile_without_host_storage(self):
        # A guest writing only to its overlay (under the root-only base) keeps
        # Docker's default profile: package installs may make setuid files.
        out = self.sh("cp /bin/busybox /tmp/su; chmod 4755 /tmp/su; echo rc=$?; "
                      "mknod /tmp/null c 1 3; echo rc2=$?", vm="free")
        self.assertIn("rc=0", out)
        self.assertIn("rc2=0", out)
        eff = int(self.sh("awk '/^CapEff/ {print $2}' /proc/1/status", vm="free"), 16)
        for cap in (4, 27, 31):  # FSETID, MKNOD, SETFCAP
            self.assertTrue(eff & (1 << cap), "capability %d dropped" % cap)
        # The guest with a volume has the stricter profile.
        eff = int(self.sh("awk '/^CapEff/ {print $2}' /proc/1/status"), 16)
        for cap in (4, 27, 31):
            self.assertFalse(eff & (1 << cap), "capability %d kept" % cap)
        assert_responsive(self.d)

    def test_net_admin_only_with_nics(self):
        eff = int(self.sh("awk '/^CapEff/ {print $2}' /proc/1/status"), 16)
        self.assertFalse(eff & (1 << 12), "CAP_NET_ADMIN kept without NICs")
        out = self.sh("ip link add dummy0 type dummy 2>/dev/null; echo rc=$?")
        self.assertNotIn("rc=0", out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
