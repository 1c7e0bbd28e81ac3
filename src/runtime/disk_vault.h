// Where the keeper keeps the disks (disk.h) of containers: as mounts in a
// mount namespace of their own, held by one descriptor, instead of one
// descriptor per disk. A host limits each process's descriptors (here
// RLIMIT_NOFILE 20,000, which root cannot raise without CAP_SYS_RESOURCE);
// with a console master and a disk per container, the keeper would run out
// of descriptors at about 10,000 containers.
//
// The namespace holds nothing of the host's: its root is a small tmpfs, and
// the disks are mounted on directories in it, one per key. Nothing there is
// visible in the host's mount table, so launching a container (which copies
// its parent's mount namespace, not this one) costs the same with 10 or
// 10,000 disks kept. The namespace, and every disk in it, goes with the
// last process or descriptor that refers to it: the keeper.
//
// The calling process must be single-threaded (setns into a mount namespace
// is refused to a process whose threads share their filesystem context).
#pragma once

#include <set>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"

namespace herd::runtime {

class DiskVault {
  public:
    static Result<DiskVault> create();

    // Keeps the detached mount `mount_fd` (e.g. fsmount's) under `key`
    // (letters, digits, '/', '-', '.', '_'), replacing what the key held.
    Result<void> put(const std::string& key, int mount_fd);
    // A detached clone of the disk under `key` (the same filesystem): for a
    // launch, which opens the overlay's layers beneath it.
    Result<unique_fd> get(const std::string& key);
    // Unmounts it (lazily: a container that still uses it keeps it).
    void drop(const std::string& key);
    void dropAll();
    bool has(const std::string& key) const;
    std::vector<std::string> keys() const;

  private:
    // Runs `fn` inside the vault's namespace, then back in the caller's.
    template <typename F>
    auto inside(F fn) -> decltype(fn());
    std::string pathOf(const std::string& key) const;

    unique_fd host_ns_;
    unique_fd vault_ns_;
    std::set<std::string> keys_;
};

}  // namespace herd::runtime
