// Launch child: preinit, a host program run in the container's new
// namespaces with its root as $1, before pivot_root and the privilege drop.
// It runs in a plain fork (its own copy of memory, so it may exec), in a mount
// namespace of its own where only the container's root and /proc/sys/net are
// writable, confined by Landlock (landlock.h) right before exec; its stdout and stderr go to a
// pipe, and what it wrote (up to 2 KiB) is reported to the parent if it fails.
//
// Runs in the launch child, which shares its parent's memory (CLONE_VM): raw
// syscalls only (rawsys.h), no allocation, no libc that may lock or set errno.
#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include "runtime/launch_internal.h"

namespace herd::runtime::launch_detail {

using raw::sys;

namespace {

// Sets or clears `attr` on the mounts at and below `path`.
long setMountAttr(const char* path, uint64_t set, uint64_t clr) {
    mount_attr attr{};
    attr.attr_set = set;
    attr.attr_clr = clr;
    return sys(SYS_mount_setattr, AT_FDCWD, path, AT_RECURSIVE, &attr, sizeof attr);
}

// preinit's own mount namespace, in which every mount is read-only but the
// container's root and /proc/sys/net (a bind of itself, made writable). A
// guest-planted symlink that leads a chmod, chown, setxattr or utimes of
// preinit's outside them then fails with EROFS: Landlock does not cover
// those. Writes to devices and pipes are not affected by read-only mounts.
long makeHostReadOnly(const ChildArgs& a, const char** what) {
    *what = "unshare mount namespace";
    long rc = sys(SYS_unshare, CLONE_NEWNS);
    if (rc < 0) return rc;
    *what = "make the host read-only";
    if ((rc = setMountAttr("/", MOUNT_ATTR_RDONLY, 0)) < 0) return rc;
    *what = a.root;
    if ((rc = setMountAttr(a.root, 0, MOUNT_ATTR_RDONLY)) < 0) return rc;
    const char* net = "/proc/sys/net";
    if (sys(SYS_mount, net, net, nullptr, MS_BIND, nullptr) == 0) {
        *what = net;
        if ((rc = setMountAttr(net, 0, MOUNT_ATTR_RDONLY)) < 0) return rc;
    }
    return 0;
}

// The forked process: output to the pipe, a read-only host, Landlock, umask
// 022, exec.
[[noreturn]] void execPreinit(const ChildArgs& a, int out_fd) {
    sys(SYS_dup3, out_fd, 1, 0);
    sys(SYS_dup3, out_fd, 2, 0);
    {
        const char* what = "";
        long rc = makeHostReadOnly(a, &what);
        if (rc < 0) {
            char msg[512];
            scopy(msg, sizeof msg, "herd: cannot confine preinit's mounts: ", what);
            sys(SYS_write, 2, msg, slen(msg));
            sys(SYS_exit_group, 126);
        }
    }
    // Confined before exec (see landlock.h): a failure is reported on the
    // output pipe and as exit status 126.
    const char* what = "";
    long rc = applyLandlock(a.preinit_landlock, &what);
    if (rc < 0) {
        char msg[512];
        scopy(msg, sizeof msg, "herd: cannot confine preinit with Landlock: ", what);
        sys(SYS_write, 2, msg, slen(msg));
        sys(SYS_exit_group, 126);
    }
    sys(SYS_umask, 022);
    const char* argv[] = {a.preinit, a.root, nullptr};
    sys(SYS_execve, a.preinit, argv, a.envp);
    sys(SYS_exit_group, 127);
    __builtin_unreachable();
}

// Reads the pipe to EOF, keeping what fits in out (terminated).
void readOutput(int fd, char* out, size_t cap) {
    size_t used = 0;
    for (;;) {
        char buf[512];
        long n = sys(SYS_read, fd, buf, sizeof buf);
        if (n == -EINTR) continue;
        if (n <= 0) break;
        for (long i = 0; i < n && used + 1 < cap; ++i) out[used++] = buf[i];
    }
    out[used] = 0;
}

// Fails the launch with "<preinit>: exit status N" or "...: killed by signal
// N" and the output.
[[noreturn]] void failStatus(const ChildArgs& a, int status, const char* out) {
    char detail[512];
    const char* why = WIFEXITED(status) ? ": exit status " : ": killed by signal ";
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status);
    char num[12];
    int k = 11;
    num[k] = 0;
    do {
        num[--k] = static_cast<char>('0' + code % 10);
        code /= 10;
    } while (code && k > 0);
    scopy(detail, sizeof detail, a.preinit, why);
    scopy(detail + slen(detail), sizeof detail - slen(detail), num + k);
    childFail(kPreinit, 0, detail, out);
}

}  // namespace

void runPreinit(const ChildArgs& a) {
    int p[2];
    CHILD_TRY(sys(SYS_pipe2, p, O_CLOEXEC), kPreinit, a.preinit);
    // A plain fork: the child gets its own copy of memory and may exec.
    long pid = sys(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (pid < 0) childFail(kPreinit, pid, a.preinit);
    if (pid == 0) execPreinit(a, p[1]);
    sys(SYS_close, p[1]);
    char out[2048];
    readOutput(p[0], out, sizeof out);
    sys(SYS_close, p[0]);
    int status = 0;
    long rc;
    do {
        rc = sys(SYS_wait4, pid, &status, 0, 0);
    } while (rc == -EINTR);
    if (rc < 0) childFail(kPreinit, rc, a.preinit);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failStatus(a, status, out);
}

}  // namespace herd::runtime::launch_detail
