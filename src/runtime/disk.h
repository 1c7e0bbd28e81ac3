// A container's disk limit: a size-limited tmpfs that holds its overlay's
// upper and work directories.
//
// Where it lives: a detached mount (fsopen + fsmount), reached only through
// a descriptor the daemon holds and passes to the launch child, which opens
// the overlay's upper and work directories beneath it. Nothing appears in
// the host's mount table, so a container's launch does not copy one mount
// per other container into its new mount namespace (with thousands of
// containers that copy made every launch slower than the one before). On a
// kernel whose overlayfs refuses layers on a detached mount (before Linux
// 6.15), the tmpfs is mounted in the host's mount namespace at
// `<instance dir>/disk` instead (DiskMount), with that cost.
//
// Why tmpfs: a guest writes to its root filesystem through the overlay, and
// those writes land in the upper directory. On the host's filesystem they
// would be bounded only by the host's free space, so one guest could fill
// the host's disk. The host filesystem here is ext4 without project quotas,
// so no per-directory limit is available there. A tmpfs has a hard size: a
// write past it fails with ENOSPC inside the guest and nowhere else. Its
// pages are charged to the memory cgroup of the task that writes them, i.e.
// to the container's memory limit. The mount stays while the VM exists (its
// changes survive `vm kill` + `vm start`) and goes at `vm flush` (a
// detached one when its last user, the daemon's descriptor or a container's
// overlay, is gone; also when the daemon dies).
//
// A project quota (XFS, or ext4 mounted with prjquota) on the base's
// filesystem would give the same limit without using RAM; it is not
// implemented: it needs a filesystem this host does not have, and a project
// id allocator that survives a daemon's SIGKILL.
#pragma once

#include <cstdint>
#include <set>
#include <string>

#include "base/result.h"
#include "base/unique_fd.h"

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

    // One a previous daemon mounted at `path`, or lets go of this one
    // without unmounting it (`quit keep`): see Disk::adopt.
    static DiskMount adopt(std::string path) {
        DiskMount m;
        m.path_ = std::move(path);
        return m;
    }
    void abandon() { path_.clear(); }

  private:
    std::string path_;
};

// A VM's disk: detached where the kernel allows (see the top of this file),
// else a DiskMount at the fallback path. Either way its root holds the
// directories `upper` and `work` (mode 0755) for the overlay.
class Disk {
  public:
    Disk() = default;

    // `fallback_path` is used only when the disk cannot be detached.
    static Result<Disk> create(const std::string& fallback_path, uint64_t size_mib);

    // Detached: a descriptor of the mount's root (O_PATH); the overlay's
    // layers are `upper` and `work` beneath it. Else -1.
    int layersFd() const { return fd_.get(); }
    // Attached: the mount point (the layers are beneath it). Else empty.
    const std::string& path() const { return attached_.path(); }
    // Detached and kept by the container's parent (ContainerParent::keepDisk)
    // under a key: this process holds no descriptor of it.
    bool kept() const { return kept_; }
    // The parent has taken the detached disk over: the descriptor goes.
    void keptByParent() {
        fd_.reset();
        kept_ = true;
    }

    // Attached: unmounts (see DiskMount::unmount). Detached: lets go of the
    // daemon's reference.
    Result<void> release();

    // A disk a previous daemon made, taken over by a new one (adoption,
    // runtime/keeper.h): its detached layers (`layers`, kept by the keeper),
    // or else its mount at `path`.
    static Disk adopt(unique_fd layers, const std::string& path, bool kept = false) {
        Disk d;
        d.kept_ = kept;
        if (kept) return d;
        if (layers) {
            d.fd_ = std::move(layers);
        } else {
            d.attached_ = DiskMount::adopt(path);
        }
        return d;
    }
    // Lets go without unmounting (`quit keep`): the container keeps it.
    void abandon() {
        fd_.reset();
        kept_ = false;
        attached_.abandon();
    }

  private:
    unique_fd fd_;
    bool kept_ = false;
    DiskMount attached_;
};

// Whether overlayfs takes its upper and work layers on a detached mount
// here. Probed once (a detached tmpfs and an overlay that is created and
// never attached: nothing visible outside the daemon), then remembered.
bool detachedLayersWork();

// Unmounts every herd disk mount at `<base>/<number>/disk`, as a daemon that
// was SIGKILLed leaves them (daemon start, `nuke`, `herd -nuke`). Returns how
// many it unmounted. The mounts named in `keep` (`<number>/disk`, relative
// to the base) are adopted containers': spared.
Result<int> unmountStaleDisks(const std::string& base, const std::set<std::string>& keep = {});

}  // namespace herd::runtime
