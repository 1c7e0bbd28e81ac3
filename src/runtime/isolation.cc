#include "runtime/isolation.h"

#include <linux/capability.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sched.h>
#include <fstream>
#include <memory>

#include "base/unique_fd.h"

namespace herd::runtime {

uint64_t defaultCapabilities() {
    const int caps[] = {CAP_CHOWN,   CAP_DAC_OVERRIDE, CAP_FSETID,           CAP_FOWNER,
                        CAP_MKNOD,   CAP_NET_RAW,      CAP_SETGID,           CAP_SETUID,
                        CAP_SETFCAP, CAP_SETPCAP,      CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT,
                        CAP_KILL,    CAP_AUDIT_WRITE,  CAP_NET_ADMIN};
    uint64_t m = 0;
    for (int c : caps) m |= uint64_t{1} << c;
    return m;
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

Result<std::vector<sock_filter>> buildSeccompFilter() {
    std::unique_ptr<void, void (*)(void*)> ctx(seccomp_init(SCMP_ACT_ALLOW),
                                               [](void* c) { seccomp_release(c); });
    if (!ctx) return Error::msg("seccomp_init failed");

    const int eperm = SCMP_ACT_ERRNO(EPERM);
    const char* const denied[] = {"mount",
                                  "umount",
                                  "umount2",
                                  "pivot_root",
                                  "unshare",
                                  "setns",
                                  "bpf",
                                  "kexec_load",
                                  "kexec_file_load",
                                  "init_module",
                                  "finit_module",
                                  "delete_module",
                                  "create_module",
                                  "keyctl",
                                  "add_key",
                                  "request_key",
                                  "open_by_handle_at",
                                  "name_to_handle_at",
                                  "process_vm_readv",
                                  "process_vm_writev",
                                  "kcmp",
                                  "fsopen",
                                  "fsconfig",
                                  "fsmount",
                                  "fspick",
                                  "move_mount",
                                  "open_tree",
                                  "mount_setattr",
                                  "swapon",
                                  "swapoff",
                                  "acct",
                                  "settimeofday",
                                  "clock_settime",
                                  "clock_adjtime",
                                  "adjtimex",
                                  "stime",
                                  "syslog",
                                  "lookup_dcookie",
                                  "perf_event_open",
                                  "quotactl",
                                  "quotactl_fd",
                                  "nfsservctl",
                                  "userfaultfd",
                                  "iopl",
                                  "ioperm",
                                  "vhangup",
                                  "uselib",
                                  "_sysctl",
                                  "get_kernel_syms",
                                  "query_module",
                                  "fanotify_init",
                                  "lsm_set_self_attr"};
    for (const char* name : denied) {
        int nr = seccomp_syscall_resolve_name(name);
        if (nr == __NR_SCMP_ERROR) continue;  // not on this architecture
        int rc = seccomp_rule_add(ctx.get(), eperm, nr, 0);
        if (rc < 0) return Error::sys(-rc, "seccomp_rule_add", name);
    }
    // ptrace may trace the caller's own children, never attach to other tasks.
    for (unsigned long req : {16UL /*PTRACE_ATTACH*/, 0x4206UL /*PTRACE_SEIZE*/}) {
        scmp_arg_cmp cmp{0, SCMP_CMP_EQ, req, 0};
        int rc = seccomp_rule_add_array(ctx.get(), eperm, SCMP_SYS(ptrace), 1, &cmp);
        if (rc < 0) return Error::sys(-rc, "seccomp_rule_add", "ptrace");
    }
    // No new namespaces through clone(); clone3's flags are in memory that a
    // filter cannot read, so it answers ENOSYS and libc falls back to clone().
    for (unsigned long flag : {CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID,
                               CLONE_NEWNET, CLONE_NEWCGROUP}) {
        scmp_arg_cmp cmp{0, SCMP_CMP_MASKED_EQ, flag, flag};
        int rc = seccomp_rule_add_array(ctx.get(), eperm, SCMP_SYS(clone), 1, &cmp);
        if (rc < 0) return Error::sys(-rc, "seccomp_rule_add", "clone");
    }
    int clone3 = seccomp_syscall_resolve_name("clone3");
    if (clone3 != __NR_SCMP_ERROR) {
        int rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(ENOSYS), clone3, 0);
        if (rc < 0) return Error::sys(-rc, "seccomp_rule_add", "clone3");
    }

    // libseccomp 2.5 exports BPF only to an fd: use a memfd.
    unique_fd mem(memfd_create("herd-seccomp", MFD_CLOEXEC));
    if (!mem) return Error::sysNow("memfd_create", "seccomp");
    int rc = seccomp_export_bpf(ctx.get(), mem.get());
    if (rc < 0) return Error::sys(-rc, "seccomp_export_bpf");
    off_t size = lseek(mem.get(), 0, SEEK_END);
    if (size <= 0 || size % sizeof(sock_filter)) return Error::msg("seccomp_export_bpf: bad size");
    std::vector<sock_filter> prog(size / sizeof(sock_filter));
    if (pread(mem.get(), prog.data(), size, 0) != size) return Error::sysNow("pread", "seccomp");
    return prog;
}

Result<Isolation> makeIsolation() {
    Isolation iso;
    std::ifstream f("/proc/sys/kernel/cap_last_cap");
    if (!(f >> iso.last_cap)) iso.last_cap = CAP_LAST_CAP;
    iso.keep_caps = defaultCapabilities();
    auto prog = buildSeccompFilter();
    if (!prog.ok()) return prog.error();
    iso.seccomp = std::move(*prog);
    return iso;
}

}  // namespace herd::runtime
