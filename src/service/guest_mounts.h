// `cc mount`: containers' root filesystems shown on host directories
// (runtime/guest_mount.h says how, and why it is safe to read them). Each
// mount is recorded in <base>/guest-mounts, so that `herd -nuke` or the next
// daemon removes what a killed daemon left. A mount goes with its VM (kill,
// flush), with `clear cc [mount ...]`, its namespace and the daemon.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/fs.h"
#include "base/result.h"
#include "runtime/guest_mount.h"
#include "service/vm.h"

namespace herd {

struct CcMount {
    std::string ns;
    int vm_id = 0;
    std::string vm_name;
    std::string uuid;
    runtime::GuestMount mount;
};

class GuestMounts {
  public:
    explicit GuestMounts(std::shared_ptr<const Dir> base) : base_(std::move(base)) {}
    ~GuestMounts();  // unmounts everything

    // Mounts `vm`'s root at `path` (an existing directory).
    Result<void> add(Runtime& rt, const std::string& ns, const Vm& vm, const std::string& path);
    // Unmounts what matches `key` (a VM's uuid or name, or a mount path) in
    // `ns`; every mount of `ns` when `key` is empty. Nothing matching: Ok.
    Result<void> remove(const std::string& ns, const std::string& key);
    std::vector<const CcMount*> list(const std::string& ns) const;
    // These VMs are about to go (kill, flush).
    void vmsDown(const std::vector<Vm*>& vms);

  private:
    void removeAt(size_t i, std::vector<std::string>& errors);
    void save();
    std::shared_ptr<const Dir> base_;
    std::vector<CcMount> mounts_;
};

// For `herd -nuke` and a daemon's start: unmounts the mounts recorded in
// <base>/guest-mounts that are still in place, and removes the record.
Result<void> nukeGuestMounts(const Dir& base);

}  // namespace herd
