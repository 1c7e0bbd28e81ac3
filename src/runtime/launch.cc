#include "runtime/launch.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cstring>
#include <memory>

#include "runtime/landlock.h"
#include "runtime/rawsys.h"

namespace herd::runtime {

namespace {

// ---------------------------------------------------------------------------
// The message the child sends: ready, or the step that failed.

enum Step : int {
    kReady = 0,
    kSetsid,
    kConsole,
    kHostname,
    kPropagation,
    kOverlay,
    kBindRoot,
    kPreinit,
    kOpenTree,
    kPivot,
    kMkdir,
    kMount,
    kMknod,
    kSymlink,
    kCreate,
    kMoveMount,
    kMask,
    kReadonly,
    kInit,
    kCaps,
    kNoNewPrivs,
    kSeccomp,
    kExec,
    kLoopback,
    kUuid,
};

const char* stepName(int s) {
    switch (s) {
        case kSetsid:
            return "setsid";
        case kConsole:
            return "open console";
        case kHostname:
            return "sethostname";
        case kPropagation:
            return "make / private";
        case kOverlay:
            return "mount overlay on";
        case kBindRoot:
            return "bind root";
        case kPreinit:
            return "preinit";
        case kOpenTree:
            return "open_tree";
        case kPivot:
            return "pivot_root to";
        case kMkdir:
            return "mkdir";
        case kMount:
            return "mount";
        case kMknod:
            return "mknod";
        case kSymlink:
            return "symlink";
        case kCreate:
            return "create";
        case kMoveMount:
            return "bind mount on";
        case kMask:
            return "mask";
        case kReadonly:
            return "make read-only";
        case kInit:
            return "init";
        case kCaps:
            return "drop capabilities";
        case kNoNewPrivs:
            return "set no_new_privs";
        case kSeccomp:
            return "load seccomp filter";
        case kExec:
            return "exec init";
        case kLoopback:
            return "bring up";
        case kUuid:
            return "make product_uuid";
        default:
            return "launch step";
    }
}

struct Msg {
    int32_t step;
    int32_t err;
    char detail[512];
    char output[2048];  // preinit output
};

constexpr int kSyncFd = 3;  // the child's end of the sync socket, after dup2
// The overlay's layers are opened on kOverlayFd.. and named /proc/self/fd/N in
// its options: the guest's mountinfo shows those, not the host's paths.
constexpr int kOverlayFd = 4;
constexpr int kMaxBinds = 64;
constexpr size_t kStackSize = 256 * 1024;

// Everything the child reads: prepared by the parent, pointers into `strings`.
struct ChildArgs {
    const char* hostname = nullptr;
    const char* root = nullptr;
    const char* overlay_opts = nullptr;  // null: bind the root onto itself
    const char* overlay_dirs[3] = {};    // lower, upper, work: opened as kOverlayFd + i
    const char* console = nullptr;
    const char* preinit = nullptr;
    LandlockPlan preinit_landlock;
    char uuid[64] = {};  // product_uuid's contents (the host file is never bound)
    size_t uuid_len = 0;
    struct Bind {
        const char* source;
        const char* target;
        bool file;
        uint64_t attr;  // MOUNT_ATTR_* set on the bind before it is attached
    } binds[kMaxBinds];
    int nbinds = 0;
    const char* init_path = nullptr;
    char* const* init_argv = nullptr;
    char* const* envp = nullptr;
    bool cgroup_ns = false;
    uint64_t keep_caps = 0;
    int last_cap = 0;
    sock_fprog seccomp{};
    int sync_fd = -1;
    int parent_sync_fd = -1;
};

// ---------------------------------------------------------------------------
// Child side: raw syscalls only (see rawsys.h).

using raw::sys;

size_t slen(const char* s) {
    size_t n = 0;
    while (s && s[n]) ++n;
    return n;
}

void scopy(char* dst, size_t cap, const char* a, const char* b = nullptr) {
    size_t i = 0;
    for (const char* p = a; p && *p && i + 1 < cap; ++p) dst[i++] = *p;
    for (const char* p = b; p && *p && i + 1 < cap; ++p) dst[i++] = *p;
    dst[i] = 0;
}

[[noreturn]] void childFail(int step, long neg_errno, const char* detail,
                            const char* output = nullptr) {
    Msg m;
    m.step = step;
    m.err = static_cast<int32_t>(-neg_errno);
    scopy(m.detail, sizeof m.detail, detail);
    scopy(m.output, sizeof m.output, output);
    sys(SYS_sendto, kSyncFd, &m, sizeof m, MSG_NOSIGNAL, 0, 0);
    sys(SYS_exit_group, 1);
    __builtin_unreachable();
}

#define CHILD_TRY(expr, step, detail)                  \
    do {                                               \
        long rc_ = (expr);                             \
        if (rc_ < 0) childFail((step), rc_, (detail)); \
    } while (0)

// mkdir -p for an absolute path inside the (already pivoted) root.
void mkdirAll(const char* path, int mode) {
    char buf[4096];
    size_t n = slen(path);
    if (n >= sizeof buf) childFail(kMkdir, -ENAMETOOLONG, path);
    for (size_t i = 1; i <= n; ++i) {
        if (i == n || path[i] == '/') {
            scopy(buf, i + 1, path);
            long rc = sys(SYS_mkdirat, AT_FDCWD, buf, mode);
            if (rc < 0 && rc != -EEXIST) childFail(kMkdir, rc, buf);
        }
    }
}

void mountAt(const char* src, const char* target, const char* type, unsigned long flags,
             const char* data, int dir_mode = 0755) {
    mkdirAll(target, dir_mode);
    char detail[512];
    scopy(detail, sizeof detail, type, " on ");
    scopy(detail + slen(detail), sizeof detail - slen(detail), target);
    CHILD_TRY(sys(SYS_mount, src, target, type, flags, data), kMount, detail);
}

void createFile(const char* path) {
    long fd = sys(SYS_openat, AT_FDCWD, path, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0 && fd != -EEXIST) childFail(kCreate, fd, path);
    if (fd >= 0) sys(SYS_close, fd);
}

// Attaches a detached mount (from open_tree) at `target`, creating the target.
void attachTree(int fd, const char* target, bool file) {
    if (file) {
        // The parent dir of a file target.
        char dir[4096];
        scopy(dir, sizeof dir, target);
        // Cut at the last '/'; a top-level target (/cc) leaves "" (the root).
        size_t i = slen(dir);
        while (i > 0 && dir[i] != '/') --i;
        dir[i] = 0;
        if (dir[0]) mkdirAll(dir, 0755);
        createFile(target);
    } else {
        mkdirAll(target, 0755);
    }
    CHILD_TRY(sys(SYS_move_mount, fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH), kMoveMount,
              target);
    sys(SYS_close, fd);
}

long openTree(const char* path) {
    return sys(SYS_open_tree, AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
}

bool isDir(const char* path) {
    long fd = sys(SYS_openat, AT_FDCWD, path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return false;
    sys(SYS_close, fd);
    return true;
}

bool exists(const char* path) {
    return sys(SYS_faccessat, AT_FDCWD, path, F_OK, 0) == 0;
}

void runPreinit(const ChildArgs& a) {
    int p[2];
    CHILD_TRY(sys(SYS_pipe2, p, O_CLOEXEC), kPreinit, a.preinit);
    // A plain fork: the child gets its own copy of memory and may exec.
#if defined(__x86_64__)
    long pid = sys(SYS_clone, SIGCHLD, 0, 0, 0, 0);
#else
    long pid = sys(SYS_clone, SIGCHLD, 0, 0, 0, 0);
#endif
    if (pid < 0) childFail(kPreinit, pid, a.preinit);
    if (pid == 0) {
        sys(SYS_dup3, p[1], 1, 0);
        sys(SYS_dup3, p[1], 2, 0);
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
    }
    sys(SYS_close, p[1]);
    char out[2048];
    size_t used = 0;
    for (;;) {
        char buf[512];
        long n = sys(SYS_read, p[0], buf, sizeof buf);
        if (n == -EINTR) continue;
        if (n <= 0) break;
        for (long i = 0; i < n && used + 1 < sizeof out; ++i) out[used++] = buf[i];
    }
    out[used] = 0;
    sys(SYS_close, p[0]);
    int status = 0;
    long rc;
    do {
        rc = sys(SYS_wait4, pid, &status, 0, 0);
    } while (rc == -EINTR);
    if (rc < 0) childFail(kPreinit, rc, a.preinit);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
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

// Sets mount attributes on a detached tree (from open_tree) and everything
// under it.
long setTreeAttr(int fd, uint64_t attr) {
    if (!attr) return 0;
    mount_attr ma{};
    ma.attr_set = attr;
    return sys(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &ma, sizeof ma);
}

// product_uuid as a read-only file of a private tmpfs, made after pivot_root
// (the /dev tmpfs is the container's own): the guest cannot write the host's
// copy, and its mountinfo shows "tmpfs", not a host path. The small tmpfs is
// mounted on a temporary directory only long enough to write the file and
// clone a bind of it. Returns the detached bind.
int makeUuidTree(const ChildArgs& a) {
    const char* dir = "/dev/.herd-uuid";
    const char* file = "/dev/.herd-uuid/product_uuid";
    CHILD_TRY(sys(SYS_mkdirat, AT_FDCWD, dir, 0700), kUuid, dir);
    CHILD_TRY(sys(SYS_mount, "tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  "size=4k,nr_inodes=4,mode=0755"),
              kUuid, dir);
    long fd = sys(SYS_openat, AT_FDCWD, file, O_CREAT | O_WRONLY | O_CLOEXEC, 0444);
    if (fd < 0) childFail(kUuid, fd, file);
    long n = sys(SYS_write, fd, a.uuid, a.uuid_len);
    sys(SYS_close, fd);
    if (n != static_cast<long>(a.uuid_len)) childFail(kUuid, n < 0 ? n : -EIO, file);
    long tree = openTree(file);
    if (tree < 0) childFail(kOpenTree, tree, file);
    CHILD_TRY(setTreeAttr(static_cast<int>(tree), MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
                                                      MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC),
              kReadonly, "product_uuid");
    CHILD_TRY(sys(SYS_umount2, dir, MNT_DETACH), kUuid, dir);
    CHILD_TRY(sys(SYS_unlinkat, AT_FDCWD, dir, AT_REMOVEDIR), kUuid, dir);
    return static_cast<int>(tree);
}

struct Dirent64 {
    uint64_t ino;
    int64_t off;
    unsigned short reclen;
    unsigned char type;
    char name[1];
};

// /sys/devices/virtual/dmi/id/product_uuid, also on hosts without DMI: there
// the directory is recreated on a small tmpfs that re-binds the real entries.
void mountUuid(const ChildArgs& a, int uuid_fd) {
    const char* target = "/sys/devices/virtual/dmi/id/product_uuid";
    if (exists(target)) return attachTree(uuid_fd, target, true);

    const char* virt = "/sys/devices/virtual";
    long dfd = sys(SYS_openat, AT_FDCWD, virt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) childFail(kMount, dfd, virt);
    struct Entry {
        char name[64];
        int fd;
    } entries[48];
    int n = 0;
    char buf[4096];
    for (;;) {
        long got = sys(SYS_getdents64, dfd, buf, sizeof buf);
        if (got <= 0) break;
        for (long off = 0; off < got;) {
            auto* d = reinterpret_cast<Dirent64*>(buf + off);
            off += d->reclen;
            if (d->name[0] == '.' || n >= 48 || slen(d->name) >= 64) continue;
            long fd = sys(SYS_open_tree, dfd, d->name,
                          OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
            if (fd < 0) continue;  // an entry we cannot clone is simply not shown
            scopy(entries[n].name, 64, d->name);
            entries[n].fd = static_cast<int>(fd);
            ++n;
        }
    }
    sys(SYS_close, dfd);
    CHILD_TRY(sys(SYS_mount, "tmpfs", virt, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755"),
              kMount, "tmpfs on /sys/devices/virtual");
    for (int i = 0; i < n; ++i) {
        char path[256];
        scopy(path, sizeof path, "/sys/devices/virtual/", entries[i].name);
        attachTree(entries[i].fd, path, false);
    }
    attachTree(uuid_fd, target, true);
    CHILD_TRY(sys(SYS_mount, nullptr, virt, nullptr,
                  MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr),
              kReadonly, virt);
    (void)a;
}

void maskPaths() {
    // runc's masked paths, each only where this kernel has it.
    const char* const masked[] = {"/proc/acpi",
                                  "/proc/asound",
                                  "/proc/kcore",
                                  "/proc/keys",
                                  "/proc/latency_stats",
                                  "/proc/timer_list",
                                  "/proc/timer_stats",
                                  "/proc/sched_debug",
                                  "/proc/scsi",
                                  "/sys/firmware",
                                  "/sys/devices/virtual/powercap"};
    for (const char* p : masked) {
        if (!exists(p)) continue;
        long rc = isDir(p) ? sys(SYS_mount, "tmpfs", p, "tmpfs", MS_RDONLY, "size=0")
                           : sys(SYS_mount, "/dev/null", p, nullptr, MS_BIND, nullptr);
        if (rc < 0) childFail(kMask, rc, p);
    }
    const char* const readonly[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                    "/proc/sysrq-trigger"};
    for (const char* p : readonly) {
        if (!exists(p)) continue;
        CHILD_TRY(sys(SYS_mount, p, p, nullptr, MS_BIND | MS_REC, nullptr), kReadonly, p);
        CHILD_TRY(sys(SYS_mount, p, p, nullptr,
                      MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr),
                  kReadonly, p);
    }
}

void dropPrivileges(const ChildArgs& a) {
    for (int c = 0; c <= a.last_cap; ++c) {
        if (a.keep_caps & (uint64_t{1} << c)) continue;
        long rc = sys(SYS_prctl, PR_CAPBSET_DROP, c, 0, 0, 0);
        if (rc < 0 && rc != -EINVAL) childFail(kCaps, rc, "bounding set");
    }
    sys(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    for (int i = 0; i < 2; ++i) {
        uint32_t v = static_cast<uint32_t>(a.keep_caps >> (32 * i));
        data[i].effective = data[i].permitted = data[i].inheritable = v;
    }
    CHILD_TRY(sys(SYS_capset, &hdr, data), kCaps, "capset");
    CHILD_TRY(sys(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), kNoNewPrivs, "");
    CHILD_TRY(sys(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &a.seccomp), kSeccomp, "");
}

int childMain(void* arg) {
    const ChildArgs& a = *static_cast<const ChildArgs*>(arg);
    // The sync socket goes to a fixed fd; every other inherited fd is closed
    // now, so nothing of the daemon's leaks into the container.
    if (sys(SYS_dup3, a.sync_fd, kSyncFd, O_CLOEXEC) < 0) sys(SYS_exit_group, 2);
    sys(SYS_close_range, kSyncFd + 1, ~0U, 0);
    sys(SYS_close_range, 0, kSyncFd - 1, 0);

    CHILD_TRY(sys(SYS_setsid), kSetsid, "");
    long con = sys(SYS_openat, AT_FDCWD, a.console, O_RDWR | O_NOCTTY);
    if (con < 0) childFail(kConsole, con, a.console);
    for (int fd = 0; fd < 3; ++fd) sys(SYS_dup3, con, fd, 0);
    if (con > 2) sys(SYS_close, con);
    CHILD_TRY(sys(SYS_ioctl, 0, TIOCSCTTY, 0), kConsole, a.console);
    CHILD_TRY(sys(SYS_sethostname, a.hostname, slen(a.hostname)), kHostname, a.hostname);
    loopbackUp();

    // Nothing we mount may propagate back to the host.
    CHILD_TRY(sys(SYS_mount, nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), kPropagation,
              "/");
    if (a.overlay_opts) {
        for (int i = 0; i < 3; ++i) {
            long fd =
                sys(SYS_openat, AT_FDCWD, a.overlay_dirs[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
            if (fd < 0) childFail(kOverlay, fd, a.overlay_dirs[i]);
            if (fd != kOverlayFd + i) {
                CHILD_TRY(sys(SYS_dup3, fd, kOverlayFd + i, O_CLOEXEC), kOverlay,
                          a.overlay_dirs[i]);
                sys(SYS_close, fd);
            }
        }
        CHILD_TRY(sys(SYS_mount, "overlay", a.root, "overlay", 0, a.overlay_opts), kOverlay,
                  a.root);
        sys(SYS_close_range, kOverlayFd, kOverlayFd + 2, 0);
    } else {
        CHILD_TRY(sys(SYS_mount, a.root, a.root, nullptr, MS_BIND | MS_REC, nullptr), kBindRoot,
                  a.root);
    }
    if (a.preinit) runPreinit(a);

    // Host-side sources are taken as detached mounts now and attached after
    // pivot_root, where every target path resolves inside the container: a
    // symlink planted in a persistent root cannot redirect a mount to the host.
    // Their nosuid/nodev/ro attributes are set before they are attached, so
    // the guest never sees them without.
    int bind_fds[kMaxBinds];
    for (int i = 0; i < a.nbinds; ++i) {
        long fd = openTree(a.binds[i].source);
        if (fd < 0) childFail(kOpenTree, fd, a.binds[i].source);
        bind_fds[i] = static_cast<int>(fd);
        CHILD_TRY(setTreeAttr(bind_fds[i], a.binds[i].attr), kReadonly, a.binds[i].source);
    }
    long console_fd = openTree(a.console);
    if (console_fd < 0) childFail(kOpenTree, console_fd, a.console);

    CHILD_TRY(sys(SYS_chdir, a.root), kPivot, a.root);
    CHILD_TRY(sys(SYS_pivot_root, ".", "."), kPivot, a.root);
    CHILD_TRY(sys(SYS_umount2, ".", MNT_DETACH), kPivot, "detach old root");
    CHILD_TRY(sys(SYS_chdir, "/"), kPivot, "/");
    sys(SYS_umask, 0);  // device and directory modes exactly as given

    mountAt("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr, 0555);
    mountAt("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k");
    struct {
        const char* path;
        unsigned maj, min;
    } const devs[] = {{"/dev/null", 1, 3}, {"/dev/zero", 1, 5},   {"/dev/full", 1, 7},
                      {"/dev/tty", 5, 0},  {"/dev/random", 1, 8}, {"/dev/urandom", 1, 9}};
    for (const auto& d : devs) {
        CHILD_TRY(sys(SYS_mknodat, AT_FDCWD, d.path, S_IFCHR | 0666, makedev(d.maj, d.min)), kMknod,
                  d.path);
    }
    mountAt("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
            "newinstance,ptmxmode=0666,mode=0620,gid=5");
    mountAt("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=65536k", 01777);
    mountAt("mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
    struct {
        const char* target;
        const char* link;
    } const links[] = {{"pts/ptmx", "/dev/ptmx"},
                       {"/proc/self/fd", "/dev/fd"},
                       {"/proc/self/fd/0", "/dev/stdin"},
                       {"/proc/self/fd/1", "/dev/stdout"},
                       {"/proc/self/fd/2", "/dev/stderr"}};
    for (const auto& l : links) {
        CHILD_TRY(sys(SYS_symlinkat, l.target, AT_FDCWD, l.link), kSymlink, l.link);
    }
    attachTree(static_cast<int>(console_fd), "/dev/console", true);
    mountAt("sysfs", "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr, 0555);
    mountUuid(a, makeUuidTree(a));
    for (int i = 0; i < a.nbinds; ++i) attachTree(bind_fds[i], a.binds[i].target, a.binds[i].file);
    maskPaths();

    if (a.cgroup_ns) {
        // The parent says 'A' once the child is in its cgroup: the namespace
        // is rooted where the child is when it unshares.
        char attached = 0;
        long got;
        do {
            got = sys(SYS_read, kSyncFd, &attached, 1);
        } while (got == -EINTR);
        if (got != 1 || attached != 'A') sys(SYS_exit_group, 1);
        CHILD_TRY(sys(SYS_unshare, CLONE_NEWCGROUP), kMount, "cgroup namespace");
        // Best effort: a guest that does not look at cgroups runs without it.
        sys(SYS_mount, "cgroup2", "/sys/fs/cgroup", "cgroup2",
            MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
    }

    long acc = sys(SYS_faccessat, AT_FDCWD, a.init_path, X_OK, 0);
    if (acc < 0) childFail(kInit, acc, a.init_path);

    dropPrivileges(a);

    Msg ready{};
    ready.step = kReady;
    if (sys(SYS_sendto, kSyncFd, &ready, sizeof ready, MSG_NOSIGNAL, 0, 0) < 0) {
        sys(SYS_exit_group, 1);
    }
    char go = 0;
    long n;
    do {
        n = sys(SYS_read, kSyncFd, &go, 1);
    } while (n == -EINTR);
    if (n != 1 || go != 'G') sys(SYS_exit_group, 0);  // the daemon went away

    // Signals were blocked by the parent around clone(): restore defaults
    // (ignored signals would stay ignored across exec) and unblock.
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
    // The setup ran with umask 0 (modes exactly as given); init and what it
    // starts get the usual 022, so guest files are not world-writable.
    sys(SYS_umask, 022);
    long rc = sys(SYS_execve, a.init_path, a.init_argv, a.envp);
    childFail(kExec, rc, a.init_path);
}

// ---------------------------------------------------------------------------
// Parent side.

// Keeps the strings and pointer arrays the child reads alive until it is ready.
struct Arena {
    std::vector<std::string> strings;
    std::vector<std::vector<char*>> vecs;
    const char* add(const std::string& s) {
        strings.push_back(s);
        return strings.back().c_str();
    }
    char* const* addv(const std::vector<std::string>& v) {
        std::vector<char*> p;
        for (const auto& s : v) p.push_back(const_cast<char*>(add(s)));
        p.push_back(nullptr);
        vecs.push_back(std::move(p));
        return vecs.back().data();
    }
    Arena() { strings.reserve(256); }
};

Error childError(const Msg& m) {
    if (m.step == kPreinit && m.err == 0) {
        std::string out = m.output;
        while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
        return Error::msg(std::string("preinit ") + m.detail + (out.empty() ? "" : ": " + out));
    }
    if (m.err == 0) return Error::msg(std::string(stepName(m.step)) + " " + m.detail);
    return Error::sys(m.err, stepName(m.step), m.detail);
}

// The VM's UUID for product_uuid, from the instance's file (herd's own,
// under the 0700 instance directory).
Result<void> readUuid(const std::string& path, ChildArgs& args) {
    unique_fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) return Error::sysNow("open", path);
    ssize_t n = read(fd.get(), args.uuid, sizeof args.uuid - 1);
    if (n < 0) return Error::sysNow("read", path);
    args.uuid_len = static_cast<size_t>(n);
    return Ok();
}

// Reads one message; 0 = EOF, <0 = -errno, -ETIMEDOUT on timeout.
long readMsg(int fd, Msg& m, int timeout_ms) {
    pollfd p{fd, POLLIN, 0};
    for (;;) {
        int r = poll(&p, 1, timeout_ms);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -errno;
        if (r == 0) return -ETIMEDOUT;
        break;
    }
    ssize_t n = recv(fd, &m, sizeof m, 0);
    if (n < 0) return -errno;
    return n;
}

}  // namespace

Child::Child(Child&& o) noexcept {
    *this = std::move(o);
}

Child& Child::operator=(Child&& o) noexcept {
    if (this != &o) {
        if (pid_ > 0 && !reaped_) killAndReap();
        freeStack();
        pid_ = std::exchange(o.pid_, -1);
        keep_ = std::move(o.keep_);
        pidfd_ = std::move(o.pidfd_);
        sync_ = std::move(o.sync_);
        stack_ = std::exchange(o.stack_, nullptr);
        stack_size_ = std::exchange(o.stack_size_, 0);
        released_ = o.released_;
        reaped_ = std::exchange(o.reaped_, true);
    }
    return *this;
}

Child::~Child() {
    if (pid_ > 0 && !reaped_) killAndReap();
    freeStack();
}

void Child::freeStack() {
    if (stack_) munmap(stack_, stack_size_);
    stack_ = nullptr;
    keep_.reset();
}

Result<void> Child::release() {
    char g = 'G';
    if (send(sync_.get(), &g, 1, MSG_NOSIGNAL) != 1) return Error::sysNow("release", "container");
    released_ = true;
    return Ok();
}

Result<void> Child::waitExec(int timeout_ms) {
    Msg m{};
    long n = readMsg(sync_.get(), m, timeout_ms);
    sync_.reset();
    if (n == 0) {
        freeStack();  // the child runs its own memory now
        return Ok();
    }
    if (n < 0) return Error::sys(static_cast<int>(-n), "wait for exec of", "init");
    return childError(m);
}

int Child::killAndReap() {
    if (pid_ <= 0 || reaped_) return 0;
    syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
    siginfo_t si{};
    while (waitid(P_PIDFD, pidfd_.get(), &si, WEXITED) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    freeStack();
    return si.si_code == CLD_EXITED ? W_EXITCODE(si.si_status, 0) : si.si_status;
}

std::optional<int> Child::tryReap() {
    if (pid_ <= 0 || reaped_) return std::nullopt;
    siginfo_t si{};
    if (waitid(P_PIDFD, pidfd_.get(), &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0) {
        return std::nullopt;
    }
    reaped_ = true;
    freeStack();
    return si.si_code == CLD_EXITED ? W_EXITCODE(si.si_status, 0) : si.si_status;
}

void Child::forget() {
    reaped_ = true;
}

Result<Child> launch(const LaunchSpec& spec, const Isolation& iso,
                     const std::function<Result<void>(int)>& attach) {
    if (spec.binds.size() > kMaxBinds) return Error::msg("too many volumes and fifos");
    if (spec.init.empty()) return Error::msg("init: no command configured");

    // The child reads these until it execs: the Child keeps them alive.
    struct State {
        Arena arena;
        ChildArgs args;
    };
    auto state = std::make_shared<State>();
    Arena& arena = state->arena;
    ChildArgs* args = &state->args;
    args->hostname = arena.add(spec.hostname);
    args->root = arena.add(spec.root);
    if (!spec.lowerdir.empty()) {
        const std::string fd = "/proc/self/fd/";
        args->overlay_opts = arena.add("lowerdir=" + fd + std::to_string(kOverlayFd) +
                                       ",upperdir=" + fd + std::to_string(kOverlayFd + 1) +
                                       ",workdir=" + fd + std::to_string(kOverlayFd + 2));
        args->overlay_dirs[0] = arena.add(spec.lowerdir);
        args->overlay_dirs[1] = arena.add(spec.upperdir);
        args->overlay_dirs[2] = arena.add(spec.workdir);
    }
    args->console = arena.add(spec.console);
    args->preinit = spec.preinit.empty() ? nullptr : arena.add(spec.preinit);
    if (args->preinit) {
        if (auto r = planPreinitLandlock(args->preinit_landlock, args->root); !r.ok()) {
            return r.error();
        }
    }
    HERD_TRY(readUuid(spec.uuid_file, *args));
    for (const auto& b : spec.binds) {
        uint64_t attr = 0;
        if (b.readonly) attr |= MOUNT_ATTR_RDONLY;
        if (!b.allow_suid) attr |= MOUNT_ATTR_NOSUID;
        if (!b.allow_dev) attr |= MOUNT_ATTR_NODEV;
        args->binds[args->nbinds++] = {arena.add(b.source), arena.add(b.target), b.file, attr};
    }
    args->init_path = arena.add(spec.init[0]);
    args->init_argv = arena.addv(spec.init);
    args->envp = arena.addv(spec.env);
    args->cgroup_ns = spec.cgroup_ns;
    args->keep_caps = iso.caps(spec.host_storage) | (spec.net_admin ? netAdminCapability() : 0);
    args->last_cap = iso.last_cap;
    args->seccomp = iso.program(spec.host_storage);

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        return Error::sysNow("socketpair", "launch sync");
    }
    unique_fd parent_end(sv[0]), child_end(sv[1]);
    args->sync_fd = child_end.get();

    Child child;
    child.keep_ = state;
    child.stack_size_ = kStackSize;
    child.stack_ = mmap(nullptr, kStackSize, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (child.stack_ == MAP_FAILED) {
        child.stack_ = nullptr;
        return Error::sysNow("mmap", "launch stack");
    }

    // Block every signal across clone(): the child must never run one of the
    // daemon's handlers on shared memory. It restores defaults before exec.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int pidfd = -1;
    const int flags = CLONE_VM | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC |
                      CLONE_NEWUTS | CLONE_PIDFD | SIGCHLD;
    int pid = clone(childMain, static_cast<char*>(child.stack_) + kStackSize, flags, args, &pidfd);
    int clone_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (pid < 0) return Error::sys(clone_errno, "clone", "container");
    child.pid_ = pid;
    child.pidfd_.reset(pidfd);
    child_end.reset();

    if (auto r = attach(pid); !r.ok()) return r.error();  // ~Child kills and reaps
    if (spec.cgroup_ns) {
        char a = 'A';
        if (send(parent_end.get(), &a, 1, MSG_NOSIGNAL) != 1) {
            return Error::sysNow("launch: tell container", "cgroup attached");
        }
    }

    Msg m{};
    long n = readMsg(parent_end.get(), m, 30000);
    if (n == 0) return Error::msg("launch: container exited during setup");
    if (n < 0) return Error::sys(static_cast<int>(-n), "launch: wait for", "container setup");
    if (m.step != kReady) return childError(m);
    child.sync_ = std::move(parent_end);
    return child;
}

}  // namespace herd::runtime
