#include "runtime/disk_vault.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>

namespace herd::runtime {

namespace {

constexpr const char* kOldRoot = "/old-root";

bool validKey(const std::string& key) {
    if (key.empty() || key.size() > 200) return false;
    for (char c : key) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '/' || c == '-' || c == '.' || c == '_';
        if (!ok) return false;
    }
    return key.find("..") == std::string::npos;
}

}  // namespace

template <typename F>
auto DiskVault::inside(F fn) -> decltype(fn()) {
    if (::setns(vault_ns_.get(), CLONE_NEWNS) != 0) {
        return Error::sysNow("setns", "disk vault");
    }
    auto r = fn();
    // Back where the caller was; failing that, the process would go on in
    // the wrong namespace: nothing sensible is left to do.
    if (::setns(host_ns_.get(), CLONE_NEWNS) != 0) ::abort();
    return r;
}

std::string DiskVault::pathOf(const std::string& key) const {
    std::string flat = key;
    std::replace(flat.begin(), flat.end(), '/', '_');
    return "/" + flat;
}

Result<DiskVault> DiskVault::create() {
    DiskVault v;
    v.host_ns_.reset(::open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC));
    if (!v.host_ns_) return Error::sysNow("open", "/proc/self/ns/mnt");
    if (::unshare(CLONE_NEWNS) != 0) return Error::sysNow("unshare", "disk vault namespace");
    // From here on this process is in the new namespace until it goes back.
    auto made = [&]() -> Result<void> {
        // The namespace's descriptor, while /proc is still in view.
        v.vault_ns_.reset(::open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC));
        if (!v.vault_ns_) return Error::sysNow("open", "the new /proc/self/ns/mnt");
        // Nothing done here may reach the host's mounts.
        if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
            return Error::sysNow("make private", "/");
        // A small tmpfs becomes the root; the host's tree is let go.
        if (::mount("herd-vault", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                    "size=1m,mode=0700") != 0) {
            return Error::sysNow("mount tmpfs on", "/tmp");
        }
        if (::mkdir((std::string("/tmp") + kOldRoot).c_str(), 0700) != 0)
            return Error::sysNow("mkdir", kOldRoot);
        if (::syscall(SYS_pivot_root, "/tmp", (std::string("/tmp") + kOldRoot).c_str()) != 0)
            return Error::sysNow("pivot_root", "disk vault");
        if (::chdir("/") != 0) return Error::sysNow("chdir", "/");
        if (::umount2(kOldRoot, MNT_DETACH) != 0) return Error::sysNow("umount", kOldRoot);
        ::rmdir(kOldRoot);
        return Ok();
    }();
    if (::setns(v.host_ns_.get(), CLONE_NEWNS) != 0) ::abort();
    if (!made.ok()) return made.error();
    return v;
}

Result<void> DiskVault::put(const std::string& key, int mount_fd) {
    if (!validKey(key)) return Error::msg("disk vault: not a key: " + key);
    if (has(key)) drop(key);
    const std::string path = pathOf(key);
    HERD_TRY(inside([&]() -> Result<void> {
        if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
            return Error::sysNow("mkdir", path);
        if (::syscall(SYS_move_mount, mount_fd, "", AT_FDCWD, path.c_str(),
                      MOVE_MOUNT_F_EMPTY_PATH) != 0) {
            int e = errno;
            ::rmdir(path.c_str());
            return Error::sys(e, "move_mount disk to", path);
        }
        return Ok();
    }));
    keys_.insert(key);
    return Ok();
}

Result<unique_fd> DiskVault::get(const std::string& key) {
    if (!has(key)) return Error::sys(ENOENT, "disk vault", key);
    const std::string path = pathOf(key);
    return inside([&]() -> Result<unique_fd> {
        unique_fd fd(static_cast<int>(
            ::syscall(SYS_open_tree, AT_FDCWD, path.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)));
        if (!fd) return Error::sysNow("open_tree", path);
        return fd;
    });
}

void DiskVault::drop(const std::string& key) {
    if (keys_.erase(key) == 0) return;
    const std::string path = pathOf(key);
    (void)inside([&]() -> Result<void> {
        ::umount2(path.c_str(), MNT_DETACH);
        ::rmdir(path.c_str());
        return Ok();
    });
}

void DiskVault::dropAll() {
    auto all = keys_;
    for (const auto& k : all) drop(k);
}

bool DiskVault::has(const std::string& key) const {
    return keys_.count(key) > 0;
}

std::vector<std::string> DiskVault::keys() const {
    return {keys_.begin(), keys_.end()};
}

}  // namespace herd::runtime
