#include "runtime/disk.h"

#include <fmt/format.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <sstream>
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

}  // namespace

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
    const uint64_t inodes = std::max<uint64_t>(size_mib * 256, 4096);
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

Result<int> unmountStaleDisks(const std::string& base) {
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
