// `cc mount` for containers: a container's root filesystem shown on a host
// directory. The tree the container sees as "/" is cloned from inside its
// mount namespace and attached at the host directory nosuid, nodev, noexec
// and nosymfollow: nothing in it runs on the host, and a guest's symbolic
// link (say to /etc/shadow) is never followed by a host program reading the
// mount. Only the root filesystem is shown, not the container's own
// submounts (/proc, /dev, /sys, tmpfs mounts made inside it).
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"

namespace herd::runtime {

struct GuestMount {
    std::string target;   // the host directory it covers
    uint64_t mnt_id = 0;  // the mount's id (statx), to remove exactly it
};

// Attaches the root filesystem of the container whose init is `pidfd` at
// `target`, which must be an existing directory (not a symbolic link).
Result<GuestMount> mountGuestRoot(int pidfd, const std::string& target);

// Detaches the mount, if `target` still has it on top (by mount id): a
// mount someone else put there since is left alone. Gone already: Ok.
Result<void> unmountGuestRoot(const GuestMount& m);

}  // namespace herd::runtime
