// A container's disk limit: a size-limited tmpfs that holds its overlay's
// upper and work directories, mounted in the host's mount namespace at
// `<instance dir>/disk`.
//
// Why tmpfs: a guest writes to its root filesystem through the overlay, and
// those writes land in the upper directory. On the host's filesystem they
// would be bounded only by the host's free space, so one guest could fill
// the host's disk. The host filesystem here is ext4 without project quotas,
// so no per-directory limit is available there. A tmpfs has a hard size: a
// write past it fails with ENOSPC inside the guest and nowhere else. Its
// pages are charged to the memory cgroup of the task that writes them, i.e.
// to the container's memory limit. The mount stays while the VM exists (its
// changes survive `vm kill` + `vm start`) and goes at `vm flush`.
//
// A project quota (XFS, or ext4 mounted with prjquota) on the base's
// filesystem would give the same limit without using RAM; it is not
// implemented: it needs a filesystem this host does not have, and a project
// id allocator that survives a daemon's SIGKILL.
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"

namespace herd::runtime {

// The mount's source name, which tells herd's disk mounts from any other
// tmpfs (nuke unmounts only these).
inline constexpr const char* kDiskSource = "herd-disk";

class DiskMount {
  public:
    DiskMount() = default;
    DiskMount(DiskMount&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
    DiskMount& operator=(DiskMount&& o) noexcept;
    DiskMount(const DiskMount&) = delete;
    DiskMount& operator=(const DiskMount&) = delete;
    ~DiskMount() { (void)unmount(); }

    // Creates `path` (mode 0700) and mounts a tmpfs of `size_mib` MiB on it:
    // nosuid, nodev, root directory mode 0700, one inode per 4 KiB of size
    // (so that empty files cannot take more kernel memory than data would).
    static Result<DiskMount> mount(const std::string& path, uint64_t size_mib);

    bool mounted() const { return !path_.empty(); }
    const std::string& path() const { return path_; }

    // Detaches the mount (MNT_DETACH: a container that still uses it keeps
    // it until it dies). Idempotent.
    Result<void> unmount();

  private:
    std::string path_;
};

// Unmounts every herd disk mount at `<base>/<number>/disk`, as a daemon that
// was SIGKILLed leaves them (daemon start, `nuke`, `herd -nuke`). Returns how
// many it unmounted.
Result<int> unmountStaleDisks(const std::string& base);

}  // namespace herd::runtime
