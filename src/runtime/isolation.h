// What the container keeps of the kernel's privileges: its capability set
// and its seccomp filter. Built once per daemon, shared by every launch.
#pragma once

#include <linux/filter.h>

#include <cstdint>
#include <vector>

#include "base/result.h"

namespace herd::runtime {

// Two profiles: the default one, and a stricter one for containers that write
// to host storage other users may reach (see hostStorageCapabilities).
struct Isolation {
    uint64_t keep_caps = 0;                         // bit i = capability i kept
    uint64_t keep_caps_host_storage = 0;            // the same, stricter profile
    int last_cap = 0;                               // /proc/sys/kernel/cap_last_cap
    std::vector<sock_filter> seccomp;               // compiled BPF program
    std::vector<sock_filter> seccomp_host_storage;  // the same, stricter profile

    uint64_t caps(bool host_storage) const {
        return host_storage ? keep_caps_host_storage : keep_caps;
    }
    sock_fprog program(bool host_storage) const {
        const auto& p = host_storage ? seccomp_host_storage : seccomp;
        return {static_cast<unsigned short>(p.size()), const_cast<sock_filter*>(p.data())};
    }
};

// Docker's default capability set. CAP_NET_ADMIN is added per launch, for
// containers with NICs (LaunchSpec::net_admin). herd drops everything else up
// to cap_last_cap.
uint64_t defaultCapabilities();

// For containers that write to host storage (a read-write volume, or the
// filesystem itself without a snapshot): the default set without CAP_FSETID,
// CAP_MKNOD and CAP_SETFCAP, so that a guest cannot leave a file there that
// gives a host user privileges (see isolation.cc).
uint64_t hostStorageCapabilities();

// The capability a container with NICs keeps on top of the default set.
uint64_t netAdminCapability();

// Compiles the seccomp filter with libseccomp. It is an allow-list after
// Docker's default profile: a syscall the filter does not name fails with
// EPERM, a syscall number unknown to the filter (one a newer kernel added)
// with ENOSYS so that libc falls back to an older call, as does clone3.
// Besides Docker's rules (no namespace flags for clone, no AF_VSOCK sockets,
// only the harmless personalities), herd refuses io_uring (it bypasses this
// filter's argument checks), ptrace attach, process_vm_*, kcmp,
// name_to_handle_at and adjtimex; openat2 answers ENOSYS because its mode is
// in memory the filter cannot read. With `host_storage`, setting the
// set-user-ID or set-group-ID bit on any file (chmod family, open/creat/mknod
// modes) is refused too.
Result<std::vector<sock_filter>> buildSeccompFilter(bool host_storage);

// Capability names, index = capability number (for tests and messages).
const char* capabilityName(int cap);

// Reads cap_last_cap and builds the filter.
Result<Isolation> makeIsolation();

}  // namespace herd::runtime
