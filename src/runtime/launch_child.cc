// Launch child: the order of the steps that turn the cloned process into a
// BUILDING container, its handshakes with the parent (cgroup attached and ready over the
// sync socket, go through shared memory), and the exec of init.
//
// Runs in the launch child, which shares its parent's memory (CLONE_VM): raw
// syscalls only (rawsys.h), no allocation, no libc that may lock or set errno.
#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/futex.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "runtime/launch_internal.h"

namespace herd::runtime::launch_detail {

using raw::sys;

void childFail(int step, long neg_errno, const char* detail, const char* output) {
    Msg m;
    m.step = step;
    m.err = static_cast<int32_t>(-neg_errno);
    scopy(m.detail, sizeof m.detail, detail);
    scopy(m.output, sizeof m.output, output);
    sys(SYS_sendto, kSyncFd, &m, sizeof m, MSG_NOSIGNAL, 0, 0);
    sys(SYS_exit_group, 1);
    __builtin_unreachable();
}

namespace {

// The sync socket on kSyncFd and nothing else of the parent's; a new session
// whose controlling terminal and stdio are the console; the hostname.
void setupSession(const ChildArgs& a) {
    // Every other inherited fd is closed now, so nothing of the parent's
    // leaks into the container. Both kept fds go above their final numbers
    // first, so that neither overwrites the other on the way.
    constexpr int kAbove = kLayersFd + 1;
    long sync = sys(SYS_fcntl, a.sync_fd, F_DUPFD_CLOEXEC, kAbove);
    long layers = a.layers_fd < 0 ? -1 : sys(SYS_fcntl, a.layers_fd, F_DUPFD_CLOEXEC, kAbove);
    if (sync < 0 || (a.layers_fd >= 0 && layers < 0)) sys(SYS_exit_group, 2);
    if (sys(SYS_dup3, sync, kSyncFd, O_CLOEXEC) < 0) sys(SYS_exit_group, 2);
    if (layers >= 0 && sys(SYS_dup3, layers, kLayersFd, O_CLOEXEC) < 0) sys(SYS_exit_group, 2);
    sys(SYS_close_range, layers >= 0 ? kLayersFd + 1 : kSyncFd + 1, ~0U, 0);
    sys(SYS_close_range, 0, kSyncFd - 1, 0);

    CHILD_TRY(sys(SYS_setsid), kSetsid, "");
    long con = sys(SYS_openat, AT_FDCWD, a.console, O_RDWR | O_NOCTTY);
    if (con < 0) childFail(kConsole, con, a.console);
    for (int fd = 0; fd < 3; ++fd) sys(SYS_dup3, con, fd, 0);
    if (con > 2) sys(SYS_close, con);
    CHILD_TRY(sys(SYS_ioctl, 0, TIOCSCTTY, 0), kConsole, a.console);
    CHILD_TRY(sys(SYS_sethostname, a.hostname, slen(a.hostname)), kHostname, a.hostname);
}

// The new network namespace's loopback comes up here, while the child still
// has CAP_NET_ADMIN: a container without NICs does not keep that capability.
void loopbackUp() {
    long s = sys(SYS_socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) childFail(kLoopback, s, "lo");
    ifreq ifr{};
    scopy(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    CHILD_TRY(sys(SYS_ioctl, s, SIOCGIFFLAGS, &ifr), kLoopback, "lo");
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    CHILD_TRY(sys(SYS_ioctl, s, SIOCSIFFLAGS, &ifr), kLoopback, "lo");
    sys(SYS_close, s);
}

// Reads one byte from the parent; false on EOF, error or another byte.
bool awaitByte(char want) {
    char got = 0;
    long n;
    do {
        n = sys(SYS_read, kSyncFd, &got, 1);
    } while (n == -EINTR);
    return n == 1 && got == want;
}

// cgroup v2: the parent says 'A' once the child is in its cgroup, and the
// namespace is rooted where the child is when it unshares.
void enterCgroupNamespace() {
    if (!awaitByte('A')) sys(SYS_exit_group, 1);
    CHILD_TRY(sys(SYS_unshare, CLONE_NEWCGROUP), kMount, "cgroup namespace");
    // Best effort: a guest that does not look at cgroups runs without it.
    sys(SYS_mount, "cgroup2", "/sys/fs/cgroup", "cgroup2",
        MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
}

// Waits until the parent sets a.go; returns it (anything but kGo: exit).
int awaitGo(ChildArgs& a) {
    for (;;) {
        int go = __atomic_load_n(&a.go, __ATOMIC_ACQUIRE);
        if (go != 0) return go;
        sys(SYS_futex, &a.go, FUTEX_WAIT_PRIVATE, 0, nullptr, nullptr, 0);
    }
}

// Signals were blocked by the parent around clone(): restore defaults
// (ignored signals would stay ignored across exec) and unblock.
void resetSignals() {
    struct KSigaction {
        void* handler;
        unsigned long flags;
        void* restorer;
        uint64_t mask;
    } dfl{};
    for (int s = 1; s < 65; ++s) {
        if (s != SIGKILL && s != SIGSTOP) sys(SYS_rt_sigaction, s, &dfl, nullptr, 8);
    }
    uint64_t empty = 0;
    sys(SYS_rt_sigprocmask, SIG_SETMASK, &empty, nullptr, 8);
}

}  // namespace

int childMain(void* arg) {
    ChildArgs& a = *static_cast<ChildArgs*>(arg);
    // A BUILDING container waits on its parent's memory: if the parent dies,
    // nobody would ever say go, so it dies too (cleared before exec).
    sys(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (a.unshare_below >= 0) {
        // Before anything else touches the parent's table, which is shared
        // until now: only the descriptors below unshare_below are copied.
        if (sys(SYS_close_range, a.unshare_below, ~0U, CLOSE_RANGE_UNSHARE) < 0) {
            __atomic_store_n(&a.unshared, 1, __ATOMIC_RELEASE);
            sys(SYS_exit_group, 2);
        }
        __atomic_store_n(&a.unshared, 1, __ATOMIC_RELEASE);
    }
    setupSession(a);
    loopbackUp();
    mountRoot(a);
    if (a.preinit) runPreinit(a);

    // Taken before pivot_root, attached after it (see detachBinds).
    int bind_fds[kMaxBinds];
    detachBinds(a, bind_fds);
    long console_fd = openTree(a.console);
    if (console_fd < 0) childFail(kOpenTree, console_fd, a.console);

    pivotIntoRoot(a);
    sys(SYS_umask, 0);  // device and directory modes exactly as given
    mountProc();
    Stash stash = makeStash(a);
    mountDev(stash.dev, static_cast<int>(console_fd));
    mountSys(stash);
    attachBinds(a, bind_fds);
    maskPaths(stash.empty);
    if (a.cgroup_ns) enterCgroupNamespace();

    long acc = sys(SYS_faccessat, AT_FDCWD, a.init_path, X_OK, 0);
    if (acc < 0) childFail(kInit, acc, a.init_path);

    dropPrivileges(a);

    Msg ready{};
    ready.step = kReady;
    if (sys(SYS_sendto, kSyncFd, &ready, sizeof ready, MSG_NOSIGNAL, 0, 0) < 0) {
        sys(SYS_exit_group, 1);
    }
    // BUILDING: nothing open but the console; wait for the parent's word.
    sys(SYS_close, kSyncFd);
    if (awaitGo(a) != kGo) sys(SYS_exit_group, 0);

    resetSignals();
    // The setup ran with umask 0 (modes exactly as given); init and what it
    // starts get the usual 022, so guest files are not world-writable.
    sys(SYS_umask, 022);
    // A running container outlives its parent (the keeper's children go to
    // init if the keeper dies); only a BUILDING one dies with it.
    sys(SYS_prctl, PR_SET_PDEATHSIG, 0, 0, 0, 0);
    long rc = sys(SYS_execve, a.init_path, a.init_argv, a.envp);
    Msg& m = a.exec_error;
    m.step = kExec;
    m.err = static_cast<int32_t>(-rc);
    scopy(m.detail, sizeof m.detail, a.init_path);
    __atomic_store_n(&a.failed, 1, __ATOMIC_RELEASE);
    sys(SYS_exit_group, 1);
    __builtin_unreachable();
}

}  // namespace herd::runtime::launch_detail
