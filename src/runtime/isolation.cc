#include "runtime/isolation.h"

#include <linux/capability.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sched.h>
#include <cstdlib>
#include <memory>
#include <string>

#include "base/fs.h"
#include "base/unique_fd.h"

namespace herd::runtime {

// Docker's default set.
uint64_t defaultCapabilities() {
    const int caps[] = {CAP_CHOWN,   CAP_DAC_OVERRIDE, CAP_FSETID,           CAP_FOWNER,
                        CAP_MKNOD,   CAP_NET_RAW,      CAP_SETGID,           CAP_SETUID,
                        CAP_SETFCAP, CAP_SETPCAP,      CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT,
                        CAP_KILL,    CAP_AUDIT_WRITE};
    uint64_t m = 0;
    for (int c : caps) m |= uint64_t{1} << c;
    return m;
}

// For a container that writes to host storage (a read-write volume, or its
// filesystem used without a snapshot): Docker's set less three capabilities
// whose only use there is to make files that grant privileges to whoever runs
// or opens them on the host. A host user reaches such storage through the
// host's own path, which a nosuid/nodev bind inside the container does not
// cover. (A container's overlay layers are not host storage in this sense:
// they live under the base directory, which only root can enter.)
//  - CAP_MKNOD: device nodes. The guest's devices cgroup keeps it from using
//    them, but a node in a volume works for any host user it lets in (a 0666
//    copy of the host's disk or of another user's pty). herd makes the
//    guest's /dev nodes itself before dropping capabilities.
//  - CAP_SETFCAP: file capabilities (security.capability), which a host user
//    running the file would get.
//  - CAP_FSETID: keeps set-user-ID bits when root writes to a file, so a
//    guest could replace the contents of a setuid program placed in a volume.
// Setting set-user/group-ID bits directly is refused by that container's
// seccomp filter; inside the guest they mean nothing anyway (no_new_privs).
uint64_t hostStorageCapabilities() {
    return defaultCapabilities() & ~((uint64_t{1} << CAP_MKNOD) | (uint64_t{1} << CAP_SETFCAP) |
                                     (uint64_t{1} << CAP_FSETID));
}

// Guests configure their own NICs (veths herd moved into their network
// namespace): addresses, routes, qdiscs, link state. Without NICs there is
// nothing to configure (herd brings lo up itself), so the capability is not
// kept.
uint64_t netAdminCapability() {
    return uint64_t{1} << CAP_NET_ADMIN;
}
const char* capabilityName(int cap) {
    static const char* const names[] = {"chown",
                                        "dac_override",
                                        "dac_read_search",
                                        "fowner",
                                        "fsetid",
                                        "kill",
                                        "setgid",
                                        "setuid",
                                        "setpcap",
                                        "linux_immutable",
                                        "net_bind_service",
                                        "net_broadcast",
                                        "net_admin",
                                        "net_raw",
                                        "ipc_lock",
                                        "ipc_owner",
                                        "sys_module",
                                        "sys_rawio",
                                        "sys_chroot",
                                        "sys_ptrace",
                                        "sys_pacct",
                                        "sys_admin",
                                        "sys_boot",
                                        "sys_nice",
                                        "sys_resource",
                                        "sys_time",
                                        "sys_tty_config",
                                        "mknod",
                                        "lease",
                                        "audit_write",
                                        "audit_control",
                                        "setfcap",
                                        "mac_override",
                                        "mac_admin",
                                        "syslog",
                                        "wake_alarm",
                                        "block_suspend",
                                        "audit_read",
                                        "perfmon",
                                        "bpf",
                                        "checkpoint_restore"};
    if (cap < 0 || cap >= static_cast<int>(sizeof names / sizeof names[0])) return "unknown";
    return names[cap];
}

namespace {

// Docker's default allow-list (its unconditional part), without io_uring
// (its operations open, chmod and connect without passing through this
// filter), adjtimex/clock_adjtime and name_to_handle_at (herd never allowed
// them). Names this architecture lacks are skipped.
const char* const kAllowed[] = {
    "accept", "accept4", "access", "alarm", "bind", "brk", "capget", "capset", "chdir", "chown",
    "chown32", "clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64",
    "clock_nanosleep", "clock_nanosleep_time64", "close", "close_range", "connect",
    "copy_file_range", "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl",
    "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd",
    "eventfd2", "execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64",
    "fadvise64_64", "fallocate", "fanotify_mark", "fchdir", "fchown", "fchown32", "fchownat",
    "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr",
    "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate",
    "ftruncate64", "futex", "futex_time64", "futex_waitv", "futimesat", "getcpu", "getcwd",
    "getdents", "getdents64", "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32",
    "getgroups", "getgroups32", "getitimer", "getpeername", "getpgid", "getpgrp", "getpid",
    "getppid", "getpriority", "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32",
    "getrlimit", "get_robust_list", "getrusage", "getsid", "getsockname", "getsockopt",
    "get_thread_area", "gettid", "gettimeofday", "getuid", "getuid32", "getxattr",
    "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl",
    "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64", "ioprio_get",
    "ioprio_set", "io_setup", "io_submit", "ipc", "kill", "landlock_add_rule",
    "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lchown32", "lgetxattr", "link",
    "linkat", "listen", "listxattr", "llistxattr", "_llseek", "lremovexattr", "lseek", "lsetxattr",
    "lstat", "lstat64", "madvise", "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir",
    "mkdirat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr",
    "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend",
    "mq_timedsend_time64", "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync",
    "munlock", "munlockall", "munmap", "nanosleep", "newfstatat", "_newselect", "pause",
    "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect",
    "poll", "ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2", "prlimit64",
    "process_mrelease", "pselect6", "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read",
    "readahead", "readlink", "readlinkat", "readv", "recv", "recvfrom", "recvmmsg",
    "recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr", "rename", "renameat",
    "renameat2", "restart_syscall", "rmdir", "rseq", "rt_sigaction", "rt_sigpending",
    "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
    "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr",
    "sched_getparam", "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
    "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr",
    "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl", "semget",
    "semop", "semtimedop", "semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg",
    "sendmsg", "sendto", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32",
    "setgroups", "setgroups32", "setitimer", "setpgid", "setpriority", "setregid", "setregid32",
    "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32", "setrlimit",
    "set_robust_list", "setsid", "setsockopt", "set_thread_area", "set_tid_address", "setuid",
    "setuid32", "setxattr", "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack",
    "signalfd", "signalfd4", "sigprocmask", "sigreturn", "socketcall", "socketpair", "splice",
    "stat", "stat64", "statfs", "statfs64", "statx", "symlink", "symlinkat", "sync",
    "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create", "timer_delete",
    "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64",
    "timerfd_create", "timerfd_gettime", "timerfd_gettime64", "timerfd_settime",
    "timerfd_settime64", "times", "tkill", "truncate", "truncate64", "ugetrlimit", "umask", "uname",
    "unlink", "unlinkat", "utime", "utimensat", "utimensat_time64", "utimes", "vfork", "vmsplice",
    "wait4", "waitid", "waitpid", "write", "writev",
    // Docker's per-architecture entries.
    "arch_prctl", "modify_ldt", "sync_file_range2", "set_tls", "cacheflush",
    // Guests keep CAP_SYS_CHROOT (Docker allows chroot with it).
    "chroot",
    // Newer than Docker's list, harmless: futex variants, cachestat (like
    // mincore), shadow stacks for CET-enabled libcs.
    "futex_wake", "futex_wait", "futex_requeue", "cachestat", "map_shadow_stack"};

// ptrace requests a guest may make: everything but PTRACE_ATTACH (16) and
// PTRACE_SEIZE (0x4206), so a process traces its own children (strace, gdb
// run a program) but never attaches to another task. Requests below 16 are
// allowed as a range; libseccomp takes one comparison per argument and rule.
const unsigned long kPtraceAllowed[] = {17,     18,     19,     24,     25,     26,     30,
                                        31,     32,     33,     0x4200, 0x4201, 0x4202, 0x4203,
                                        0x4204, 0x4205, 0x4207, 0x4208, 0x4209, 0x420a, 0x420b,
                                        0x420c, 0x420d, 0x420e, 0x420f, 0x4210, 0x4211, 0x4212};

// Docker's personalities: PER_LINUX, PER_LINUX32, UNAME26 with each, and the
// query 0xffffffff. Others (e.g. READ_IMPLIES_EXEC, PER_BSD) are refused.
const unsigned long kPersonalities[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};

// clone() may not create namespaces: NEWNS, NEWCGROUP, NEWUTS, NEWIPC,
// NEWUSER, NEWPID, NEWNET.
constexpr unsigned long kCloneNsFlags = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS |
                                        CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET;

// Calls that set a file's mode, and which argument holds it: for containers
// that write to host storage, allowed only without S_ISUID and S_ISGID (see
// hostStorageCapabilities).
struct ModeArg {
    const char* name;
    unsigned arg;
};
const ModeArg kModeCalls[] = {{"chmod", 1},     {"fchmod", 1}, {"fchmodat", 2},
                              {"fchmodat2", 2}, {"open", 2},   {"openat", 3},
                              {"creat", 1},     {"mknod", 1},  {"mknodat", 2}};

constexpr int kAfVsock = 40;

struct Ctx {
    std::unique_ptr<void, void (*)(void*)> p{nullptr, [](void* c) { seccomp_release(c); }};
    void* get() const { return p.get(); }
};

Result<void> addRule(const Ctx& ctx, uint32_t action, const char* name, unsigned n = 0,
                     const scmp_arg_cmp* cmp = nullptr) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) return Ok();  // not on this architecture
    int rc = seccomp_rule_add_array(ctx.get(), action, nr, n, cmp);
    if (rc < 0) return Error::sys(-rc, "seccomp_rule_add", name);
    return Ok();
}

}  // namespace

Result<std::vector<sock_filter>> buildSeccompFilter(bool host_storage) {
    // Default: EPERM for every call the rules below do not allow (known
    // calls not listed, and listed calls whose arguments do not match).
    Ctx ctx;
    ctx.p.reset(seccomp_init(SCMP_ACT_ERRNO(EPERM)));
    if (!ctx.get()) return Error::msg("seccomp_init failed");
    // A binary tree of syscall numbers instead of a linear list: the filter
    // runs on every guest syscall.
    seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2);

    for (const char* name : kAllowed) HERD_TRY(addRule(ctx, SCMP_ACT_ALLOW, name));
    for (const auto& m : kModeCalls) {
        if (!host_storage) {
            HERD_TRY(addRule(ctx, SCMP_ACT_ALLOW, m.name));
            continue;
        }
        scmp_arg_cmp cmp{m.arg, SCMP_CMP_MASKED_EQ, S_ISUID | S_ISGID, 0};
        HERD_TRY(addRule(ctx, SCMP_ACT_ALLOW, m.name, 1, &cmp));
    }
    {
        scmp_arg_cmp cmp{0, SCMP_CMP_MASKED_EQ, kCloneNsFlags, 0};
        HERD_TRY(addRule(ctx, SCMP_ACT_ALLOW, "clone", 1, &cmp));
        cmp = {0, SCMP_CMP_NE, kAfVsock, 0};
        HERD_TRY(addRule(ctx, SCMP_ACT_ALLOW, "socket", 1, &cmp));
        cmp = {0, SCMP_CMP_LT, 16, 0};
        HERD_TRY(addRule(ctx, SCMP_ACT_ALLOW, "ptrace", 1, &cmp));
    }
    for (unsigned long req : kPtraceAllowed) {
        scmp_arg_cmp cmp{0, SCMP_CMP_EQ, req, 0};
        HERD_TRY(addRule(ctx, SCMP_ACT_ALLOW, "ptrace", 1, &cmp));
    }
    for (unsigned long p : kPersonalities) {
        scmp_arg_cmp cmp{0, SCMP_CMP_EQ, p, 0};
        HERD_TRY(addRule(ctx, SCMP_ACT_ALLOW, "personality", 1, &cmp));
    }
    // clone3's flags and openat2's mode are in memory a filter cannot read:
    // ENOSYS makes libc use clone() and openat(), which the rules above check.
    HERD_TRY(addRule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3"));
    HERD_TRY(addRule(ctx, SCMP_ACT_ERRNO(ENOSYS), "openat2"));

    // Numbers that name no syscall of this architecture (holes in the table)
    // answer ENOSYS as the kernel would; so do numbers above the highest one
    // libseccomp knows, through a check put in front of its program below.
    int max_known = 0;
    for (int nr = 0; nr < 4096; ++nr) {
        char* name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
        if (name) max_known = nr;
        free(name);
    }
    for (int nr = 0; nr < max_known; ++nr) {
        char* name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
        if (!name) {
            int rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(ENOSYS), nr, 0);
            if (rc < 0) return Error::sys(-rc, "seccomp_rule_add", "syscall " + std::to_string(nr));
        }
        free(name);
    }

    // libseccomp 2.5 exports BPF only to an fd: use a memfd.
    unique_fd mem(memfd_create("herd-seccomp", MFD_CLOEXEC));
    if (!mem) return Error::sysNow("memfd_create", "seccomp");
    int rc = seccomp_export_bpf(ctx.get(), mem.get());
    if (rc < 0) return Error::sys(-rc, "seccomp_export_bpf");
    off_t size = lseek(mem.get(), 0, SEEK_END);
    if (size <= 0 || size % sizeof(sock_filter)) return Error::msg("seccomp_export_bpf: bad size");
    std::vector<sock_filter> body(size / sizeof(sock_filter));
    if (pread(mem.get(), body.data(), size, 0) != size) return Error::sysNow("pread", "seccomp");

    // In front: on this architecture, a number above max_known is a syscall
    // newer than the filter; answer ENOSYS (libc falls back, as with a kernel
    // that lacks it) instead of the default EPERM. Anything else goes on to
    // libseccomp's program, which starts by checking the architecture itself.
    const uint32_t arch = seccomp_arch_native();
    std::vector<sock_filter> prog = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 4),  // seccomp_data.arch
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0),  // seccomp_data.nr
        BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, static_cast<uint32_t>(max_known), 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
    };
    prog.insert(prog.end(), body.begin(), body.end());
    if (prog.size() > BPF_MAXINSNS) return Error::msg("seccomp filter too long");
    return prog;
}

Result<Isolation> makeIsolation() {
    Isolation iso;
    // Capability sets are 64-bit masks. A kernel without the file (before
    // 3.2) knows no more capabilities than the headers herd was built with.
    auto last = readNumberFile("/proc/sys/kernel/cap_last_cap", 63);
    if (!last.ok() && last.error().errnum() == 0) return last.error();
    iso.last_cap = last.ok() ? static_cast<int>(*last) : CAP_LAST_CAP;
    iso.keep_caps = defaultCapabilities();
    iso.keep_caps_host_storage = hostStorageCapabilities();
    auto prog = buildSeccompFilter(false);
    if (!prog.ok()) return prog.error();
    iso.seccomp = std::move(*prog);
    prog = buildSeccompFilter(true);
    if (!prog.ok()) return prog.error();
    iso.seccomp_host_storage = std::move(*prog);
    return iso;
}

}  // namespace herd::runtime
