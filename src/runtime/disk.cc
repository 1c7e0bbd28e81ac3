#include "runtime/disk.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <sstream>
#include <string_view>
#include <vector>

namespace herd::runtime {

namespace {

// /proc/self/mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescapeMountinfo(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 3 < s.size()) {
            const char a = s[i + 1], b = s[i + 2], c = s[i + 3];
            if (a >= '0' && a <= '3' && b >= '0' && b <= '7' && c >= '0' && c <= '7') {
                out += static_cast<char>((a - '0') * 64 + (b - '0') * 8 + (c - '0'));
                i += 3;
                continue;
            }
        }
        out += s[i];
    }
    return out;
}

// `<number>/disk`: the part of a disk mount's path under the base.
bool isDiskSubpath(std::string_view rest) {
    auto slash = rest.find('/');
    if (slash == 0 || slash == std::string_view::npos) return false;
    for (size_t i = 0; i < slash; ++i)
        if (rest[i] < '0' || rest[i] > '9') return false;
    return rest.substr(slash) == "/disk";
}

// One inode per 4 KiB of size (at least 4096), so that empty files cannot
// take more kernel memory than data would.
uint64_t diskInodes(uint64_t size_mib) {
    return std::max<uint64_t>(size_mib * 256, 4096);
}

// A tmpfs of `size_mib` MiB, mode 0700, nosuid and nodev, as a detached
// mount: its descriptor (O_PATH, close-on-exec) is the only way to it.
Result<unique_fd> detachedTmpfs(uint64_t size_mib) {
    unique_fd fs(::fsopen("tmpfs", FSOPEN_CLOEXEC));
    if (!fs) return Error::sysNow("fsopen", "tmpfs");
    const std::string size = std::to_string(size_mib) + "m";
    const std::string inodes = std::to_string(diskInodes(size_mib));
    const std::pair<const char*, const char*> opts[] = {{"source", kDiskSource},
                                                        {"size", size.c_str()},
                                                        {"nr_inodes", inodes.c_str()},
                                                        {"mode", "0700"}};
    for (const auto& [key, value] : opts) {
        if (::fsconfig(fs.get(), FSCONFIG_SET_STRING, key, value, 0) != 0)
            return Error::sysNow("configure tmpfs", std::string(key) + "=" + value);
    }
    if (::fsconfig(fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0)
        return Error::sysNow("create tmpfs", "size=" + size);
    unique_fd mnt(::fsmount(fs.get(), FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV));
    if (!mnt) return Error::sysNow("fsmount", "tmpfs");
    return mnt;
}

// The overlay's `upper` and `work` directories in the disk's root.
Result<void> makeLayers(int root, const std::string& what) {
    for (const char* d : {"upper", "work"}) {
        if (::mkdirat(root, d, 0755) != 0 && errno != EEXIST)
            return Error::sysNow("mkdir", what + "/" + d);
    }
    return Ok();
}

bool probeDetachedLayers() {
    auto disk = detachedTmpfs(1);
    if (!disk.ok()) return false;
    unique_fd layer[3];
    const char* names[3] = {"lower", "upper", "work"};
    for (int i = 0; i < 3; ++i) {
        if (::mkdirat(disk->get(), names[i], 0755) != 0) return false;
        layer[i].reset(::openat(disk->get(), names[i], O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!layer[i]) return false;
    }
    unique_fd ov(::fsopen("overlay", FSOPEN_CLOEXEC));
    if (!ov) return false;
    for (int i = 0; i < 3; ++i) {
        const std::string key = std::string(names[i]) + "dir";
        const std::string path = "/proc/self/fd/" + std::to_string(layer[i].get());
        if (::fsconfig(ov.get(), FSCONFIG_SET_STRING, key.c_str(), path.c_str(), 0) != 0)
            return false;
    }
    // Creating the overlay takes private clones of its layers' mounts: the
    // step that older kernels refuse for a detached mount.
    return ::fsconfig(ov.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) == 0;
}

}  // namespace

bool detachedLayersWork() {
    // HERD_DISK_ATTACHED=1 (a test hook) takes the older kernels' way.
    static const bool works = [] {
        const char* attached = ::getenv("HERD_DISK_ATTACHED");
        return !(attached && std::string_view(attached) == "1") && probeDetachedLayers();
    }();
    return works;
}

Result<Disk> Disk::create(const std::string& fallback_path, uint64_t size_mib) {
    Disk d;
    if (detachedLayersWork()) {
        auto fd = detachedTmpfs(size_mib);
        if (!fd.ok()) return fd.error();
        HERD_TRY(makeLayers(fd->get(), "disk"));
        d.fd_ = std::move(*fd);
        return d;
    }
    auto m = DiskMount::mount(fallback_path, size_mib);
    if (!m.ok()) return m.error();
    unique_fd root(::open(fallback_path.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!root) return Error::sysNow("open", fallback_path);
    HERD_TRY(makeLayers(root.get(), fallback_path));
    d.attached_ = std::move(*m);
    return d;
}

Result<void> Disk::release() {
    fd_.reset();
    kept_ = false;  // the parent is told (ContainerParent::drop)
    return attached_.unmount();
}

DiskMount& DiskMount::operator=(DiskMount&& o) noexcept {
    if (this != &o) {
        (void)unmount();
        path_ = std::move(o.path_);
        o.path_.clear();
    }
    return *this;
}

Result<DiskMount> DiskMount::mount(const std::string& path, uint64_t size_mib) {
    if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) return Error::sysNow("mkdir", path);
    const uint64_t inodes = diskInodes(size_mib);
    const std::string opts = fmt::format("size={}m,nr_inodes={},mode=0700", size_mib, inodes);
    if (::mount(kDiskSource, path.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, opts.c_str()) != 0) {
        return Error::sysNow("mount tmpfs (" + opts + ") on", path);
    }
    DiskMount d;
    d.path_ = path;
    return d;
}

Result<void> DiskMount::unmount() {
    if (path_.empty()) return Ok();
    std::string p = std::move(path_);
    path_.clear();
    if (::umount2(p.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0 && errno != EINVAL &&
        errno != ENOENT) {
        return Error::sysNow("unmount", p);
    }
    return Ok();
}

Result<int> unmountStaleDisks(const std::string& base, const std::set<std::string>& keep) {
    char real[PATH_MAX];
    if (::realpath(base.c_str(), real) == nullptr) {
        if (errno == ENOENT) return 0;  // no base: nothing mounted under it
        return Error::sysNow("resolve", base);
    }
    const std::string prefix = std::string(real) == "/" ? "/" : std::string(real) + "/";
    std::ifstream in("/proc/self/mountinfo");
    if (!in) return Error::sysNow("open", "/proc/self/mountinfo");
    std::vector<std::string> targets;
    std::string line;
    while (std::getline(in, line)) {
        // id parent major:minor root mount-point options [optional...] - fstype source ...
        std::istringstream ls(line);
        std::vector<std::string> f;
        for (std::string w; ls >> w;) f.push_back(w);
        size_t dash = 6;
        while (dash < f.size() && f[dash] != "-") ++dash;
        if (f.size() < 5 || dash + 2 >= f.size()) continue;
        if (f[dash + 1] != "tmpfs" || f[dash + 2] != kDiskSource) continue;
        std::string mp = unescapeMountinfo(f[4]);
        if (mp.compare(0, prefix.size(), prefix) != 0) continue;
        if (!isDiskSubpath(std::string_view(mp).substr(prefix.size()))) continue;
        if (keep.count(mp.substr(prefix.size()))) continue;
        targets.push_back(std::move(mp));
    }
    int n = 0;
    Result<void> first;
    for (const auto& t : targets) {
        if (::umount2(t.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) == 0) {
            ++n;
        } else if (errno != EINVAL && errno != ENOENT && first.ok()) {
            first = Error::sysNow("unmount", t);
        }
    }
    if (!first.ok()) return first.error();
    return n;
}

}  // namespace herd::runtime
