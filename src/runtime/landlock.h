// Landlock for preinit: a trusted host program that runs with the host's root
// and tools but must not write through paths the guest controls.
//
// preinit runs in the container's namespaces before its isolation, with the
// container's root (the overlay, mounted but not yet pivoted into) as $1. A
// guest that ran before (a relaunch keeps its overlay) may have planted
// symlinks there, e.g. /etc/motd -> /etc/shadow: a preinit writing
// "$1/etc/motd" would then write the host's file. Under the ruleset below,
// preinit may read, list and execute everything, but may write, create,
// remove, rename or truncate only
//   - beneath the container's root,
//   - in /proc/sys/net (the network sysctls, which are the container's
//     network namespace's; the rest of /proc/sys is the host's),
//   - on /dev/null, /dev/zero and /dev/full,
// plus whatever it reaches through descriptors it already has (its stdout
// and stderr pipes). A write that a symlink sends outside those places fails
// with EACCES. Landlock does not cover chmod, chown, extended attributes or
// timestamps: for those, preinit also runs in a mount namespace of its own in
// which everything but the container's root and /proc/sys/net is read-only
// (launch_preinit.cc), so such changes fail with EROFS outside them.
//
// The plan is made in the daemon (planPreinitLandlock) and applied by the
// forked preinit process right before exec (applyLandlock), which may only
// use raw syscalls (see rawsys.h).
#pragma once

#include <cstdint>

#include "base/result.h"

namespace herd::runtime {

struct LandlockPlan {
    uint64_t handled = 0;  // the filesystem rights the ruleset restricts
    struct Rule {
        const char* path;
        uint64_t access;
        bool required;  // false: skipped when the path does not exist
    } rules[8];
    int nrules = 0;
};

// The running kernel's Landlock ABI version; an error when it has none
// (not built in, or not enabled at boot).
Result<int> landlockAbi();

// Fills `plan` for a preinit whose container root is `root` (a string that
// must outlive the plan). Fails with a clear message where the kernel lacks
// Landlock: preinit is then refused rather than run unconfined.
Result<void> planPreinitLandlock(LandlockPlan& plan, const char* root);

// Child side, raw syscalls only: restricts the calling process (and what it
// execs) to the plan. Returns 0, or -errno with *what naming the step.
long applyLandlock(const LandlockPlan& plan, const char** what);

}  // namespace herd::runtime
