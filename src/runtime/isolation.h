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

// Docker's default capability set plus CAP_NET_ADMIN (reference §4.3 keeps a
// similar list; herd drops everything else up to cap_last_cap, which
// minimega fails to do for caps above 37).
uint64_t defaultCapabilities();

// Compiles the default seccomp filter with libseccomp: mount, umount,
// pivot_root, unshare, setns, namespace-creating clone flags, clone3, bpf,
// kexec, kernel modules, keyrings, open_by_handle_at, ptrace attach, the new
// mount API, swap, clock setting, perf and similar calls fail with EPERM.
Result<std::vector<sock_filter>> buildSeccompFilter();

// Capability names, index = capability number (for tests and messages).
const char* capabilityName(int cap);

// Reads cap_last_cap and builds the filter.
Result<Isolation> makeIsolation();

}  // namespace herd::runtime
