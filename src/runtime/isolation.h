// What the container keeps of the kernel's privileges: its capability set
// and its seccomp filter. Built once per daemon, shared by every launch.
#pragma once

#include <linux/filter.h>

#include <cstdint>
#include <vector>

#include "base/result.h"

namespace herd::runtime {

struct Isolation {
    uint64_t keep_caps = 0;            // bit i = capability i kept
    int last_cap = 0;                  // /proc/sys/kernel/cap_last_cap
    std::vector<sock_filter> seccomp;  // compiled BPF program

    sock_fprog program() const {
        return {static_cast<unsigned short>(seccomp.size()),
                const_cast<sock_filter*>(seccomp.data())};
    }
};

// Docker's default capability set without CAP_FSETID, CAP_MKNOD and
// CAP_SETFCAP (see isolation.cc: a guest must not make files that give a host
// user privileges). CAP_NET_ADMIN is added per launch, for containers with
// NICs (LaunchSpec::net_admin). herd drops everything else up to cap_last_cap.
uint64_t defaultCapabilities();

// The capability a container with NICs keeps on top of the default set.
uint64_t netAdminCapability();

// Compiles the seccomp filter with libseccomp. It is an allow-list after
// Docker's default profile: a syscall the filter does not name fails with
// EPERM, a syscall number unknown to the filter (one a newer kernel added)
// with ENOSYS so that libc falls back to an older call, as does clone3.
// Besides Docker's rules (no namespace flags for clone, no AF_VSOCK sockets,
// only the harmless personalities), herd refuses io_uring (it bypasses this
// filter's argument checks), ptrace attach, process_vm_*, kcmp,
// name_to_handle_at, adjtimex, and setting the set-user-ID or set-group-ID
// bit on any file (chmod family, open/creat/mknod modes; openat2 answers
// ENOSYS because its mode is in memory the filter cannot read).
Result<std::vector<sock_filter>> buildSeccompFilter();

// Capability names, index = capability number (for tests and messages).
const char* capabilityName(int cap);

// Reads cap_last_cap and builds the filter.
Result<Isolation> makeIsolation();

}  // namespace herd::runtime
