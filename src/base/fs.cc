#include "base/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pwd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <vector>

#include <fmt/format.h>

#include "base/strings.h"

namespace herd {

namespace {

// -1: not known yet, 0: the kernel has no openat2 (ENOSYS), 1: it has.
std::atomic<int> g_openat2{-1};

// Splits `rel` into its components; an absolute path, "..", or an empty
// path is refused (EXDEV, as openat2 does for what is not beneath).
Result<std::vector<std::string>> components(std::string_view rel, const std::string& full,
                                            const char* op) {
    std::vector<std::string> out;
    if (rel.empty() || rel.front() == '/') return Error::sys(EXDEV, op, full);
    for (std::string& c : split(rel, "/")) {
        if (c.empty() || c == ".") continue;
        if (c == "..") return Error::sys(EXDEV, op, full);
        out.push_back(std::move(c));
    }
    if (out.empty()) return Error::sys(EXDEV, op, full);
    return out;
}

// openat(dirfd, rel) beneath dirfd, through no symbolic link.
Result<unique_fd> openBeneath(int dirfd, std::string_view rel, int flags, mode_t mode,
                              const std::string& full) {
    auto comps = components(rel, full, "open");
    if (!comps.ok()) return comps.error();
    flags |= O_CLOEXEC | O_NOFOLLOW;
    const bool creates = (flags & O_CREAT) != 0;
    if (g_openat2.load(std::memory_order_relaxed) != 0) {
        open_how how{};
        how.flags = static_cast<uint64_t>(flags);
        how.mode = creates ? mode : 0;
        how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
        std::string r(rel);
        for (int attempt = 0;; ++attempt) {
            long fd = ::syscall(SYS_openat2, dirfd, r.c_str(), &how, sizeof how);
            if (fd >= 0) {
                g_openat2.store(1, std::memory_order_relaxed);
                return unique_fd(static_cast<int>(fd));
            }
            // EAGAIN: a rename elsewhere raced the lookup; it is safe to retry.
            if (errno == EAGAIN && attempt < 8) continue;
            if (errno != ENOSYS) return Error::sysNow("open", full);
            g_openat2.store(0, std::memory_order_relaxed);
            break;
        }
    }
    // One component at a time, none of them a symbolic link.
    unique_fd cur;
    int at = dirfd;
    for (size_t i = 0; i + 1 < comps->size(); ++i) {
        unique_fd next(
            ::openat(at, (*comps)[i].c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!next) return Error::sysNow("open", full);
        cur = std::move(next);
        at = cur.get();
    }
    unique_fd fd(::openat(at, comps->back().c_str(), flags, creates ? mode : 0));
    if (!fd) return Error::sysNow("open", full);
    return fd;
}

Result<std::string> readAll(int fd, size_t limit, const std::string& path) {
    std::string out;
    char buf[8192];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Error::sysNow("read", path);
        if (n == 0) return out;
        if (out.size() + static_cast<size_t>(n) > limit) return Error::sys(EFBIG, "read", path);
        out.append(buf, static_cast<size_t>(n));
    }
}

std::string join(const std::string& dir, std::string_view name) {
    if (dir.empty() || dir.back() == '/') return dir + std::string(name);
    return dir + "/" + std::string(name);
}

std::string userName(uid_t uid) {
    passwd pw{};
    passwd* res = nullptr;
    char buf[1024];
    if (::getpwuid_r(uid, &pw, buf, sizeof buf, &res) == 0 && res) {
        return fmt::format("{} ({})", uid, res->pw_name);
    }
    return std::to_string(uid);
}

std::string describe(const struct stat& st) {
    return fmt::format("owner uid {}, mode {:04o}", userName(st.st_uid), st.st_mode & 07777);
}

bool trustedOwner(uid_t uid) {
    return uid == 0 || uid == ::geteuid();
}

// An ancestor through which nobody else can replace what it holds.
Result<void> checkAncestor(int fd, const std::string& path, const std::string& target,
                           const std::string& what) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return Error::sysNow("stat", path);
    bool open_to_others = (st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && !(st.st_mode & S_ISVTX);
    if (trustedOwner(st.st_uid) && !open_to_others) return Ok();
    return Error::msg(fmt::format(
        "{} {} is not safe: {} above it ({}) lets another user replace it. Every "
        "directory above it must be owned by root and not writable by group or others, unless "
        "sticky as /tmp is: choose another place for it, or fix {}",
        what, target, path, describe(st), path));
}

Result<void> checkOwnedStat(const struct stat& st, const std::string& path,
                            const std::string& what) {
    if (!S_ISDIR(st.st_mode)) return Error::sys(ENOTDIR, what, path);
    if (st.st_uid == ::geteuid() && (st.st_mode & (S_IWGRP | S_IWOTH)) == 0) return Ok();
    return Error::msg(fmt::format(
        "{} {} is not safe ({}): it must be owned by {} and writable by no one else, or "
        "another user can change what herd keeps there. Remove it (herd makes it anew, mode "
        "0700), or, if you trust what it holds: chown {} {} && chmod 0700 {}",
        what, path, describe(st), userName(::geteuid()), ::geteuid(), path, path));
}

}  // namespace

Result<void> writeAll(int fd, std::string_view data, const std::string& path) {
    size_t off = 0;
    while (off < data.size()) {
        ssize_t n = ::write(fd, data.data() + off, data.size() - off);
        if (n < 0 && errno == EINTR) continue;
        // A write that makes no progress sets no errno: the disk is full.
        if (n <= 0) return Error::sys(n < 0 ? errno : ENOSPC, "write", path);
        off += static_cast<size_t>(n);
    }
    return Ok();
}

void setOpenat2ForTesting(bool enabled) {
    g_openat2.store(enabled ? -1 : 0);
}

Result<Dir> Dir::open(const std::string& path) {
    unique_fd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return Error::sysNow("open", path);
    return Dir(std::move(fd), path);
}

std::string Dir::pathOf(std::string_view rel) const {
    return join(path_, rel);
}

std::string Dir::viaFd(std::string_view rel) const {
    return join("/proc/self/fd/" + std::to_string(fd_.get()), rel);
}

Result<Dir> Dir::parentOf(std::string_view rel, std::string& leaf) const {
    auto comps = components(rel, pathOf(rel), "open");
    if (!comps.ok()) return comps.error();
    leaf = comps->back();
    if (comps->size() == 1) {
        unique_fd dup(::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0));
        if (!dup) return Error::sysNow("dup", path_);
        return Dir(std::move(dup), path_);
    }
    std::string parent;
    for (size_t i = 0; i + 1 < comps->size(); ++i) parent = join(parent, (*comps)[i]);
    return openDir(parent);
}

Result<Dir> Dir::openDir(std::string_view rel) const {
    auto fd = openBeneath(fd_.get(), rel, O_RDONLY | O_DIRECTORY, 0, pathOf(rel));
    if (!fd.ok()) return fd.error();
    return Dir(std::move(*fd), pathOf(rel));
}

Result<void> Dir::mkdir(std::string_view rel, mode_t mode) const {
    std::string leaf;
    auto parent = parentOf(rel, leaf);
    if (!parent.ok()) return parent.error();
    if (::mkdirat(parent->fd(), leaf.c_str(), mode) == 0) return Ok();
    if (errno != EEXIST) return Error::sysNow("mkdir", pathOf(rel));
    struct stat st {};
    if (::fstatat(parent->fd(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
        return Ok();
    return Error::sys(EEXIST, "mkdir", pathOf(rel));
}

Result<Dir> Dir::makeDirs(std::string_view rel, mode_t mode) const {
    auto comps = components(rel, pathOf(rel), "mkdir");
    if (!comps.ok()) return comps.error();
    unique_fd dup(::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0));
    if (!dup) return Error::sysNow("dup", path_);
    Dir cur(std::move(dup), path_);
    for (const auto& c : *comps) {
        HERD_TRY(cur.mkdir(c, mode));
        auto next = cur.openDir(c);
        if (!next.ok()) return next.error();
        cur = std::move(*next);
    }
    return cur;
}

Result<unique_fd> Dir::openFile(std::string_view rel, int flags, mode_t mode) const {
    return openBeneath(fd_.get(), rel, flags, mode, pathOf(rel));
}

Result<void> Dir::writeFile(std::string_view rel, std::string_view data, mode_t mode) const {
    auto fd = openFile(rel, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (!fd.ok()) return fd.error();
    return writeAll(fd->get(), data, pathOf(rel));
}

Result<void> Dir::writeFileAtomic(std::string_view rel, std::string_view data, mode_t mode) const {
    std::string leaf;
    auto parent = parentOf(rel, leaf);
    if (!parent.ok()) return parent.error();
    static std::atomic<unsigned> counter{0};
    const std::string tmp = fmt::format(".{}.tmp.{}.{}", leaf, ::getpid(), counter.fetch_add(1));
    const std::string tmp_path = parent->pathOf(tmp);
    unique_fd fd(::openat(parent->fd(), tmp.c_str(),
                          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
    if (!fd) return Error::sysNow("create", tmp_path);
    auto fail = [&](Error e) -> Result<void> {
        ::unlinkat(parent->fd(), tmp.c_str(), 0);
        return e;
    };
    if (auto r = writeAll(fd.get(), data, tmp_path); !r.ok()) return fail(r.error());
    if (::fsync(fd.get()) != 0) return fail(Error::sysNow("fsync", tmp_path));
    fd.reset();
    if (::renameat(parent->fd(), tmp.c_str(), parent->fd(), leaf.c_str()) != 0)
        return fail(Error::sysNow("rename", pathOf(rel)));
    if (::fsync(parent->fd()) != 0) return Error::sysNow("fsync", parent->path());
    return Ok();
}

Result<std::string> Dir::readFile(std::string_view rel, size_t limit) const {
    // Non-blocking: opening a FIFO for reading would wait for a writer.
    auto fd = openFile(rel, O_RDONLY | O_NONBLOCK);
    if (!fd.ok()) return fd.error();
    struct stat st {};
    if (::fstat(fd->get(), &st) != 0) return Error::sysNow("stat", pathOf(rel));
    if (!S_ISREG(st.st_mode)) return Error::sys(EINVAL, "read (not a regular file)", pathOf(rel));
    return readAll(fd->get(), limit, pathOf(rel));
}

Result<void> Dir::mkfifo(std::string_view rel, mode_t mode) const {
    std::string leaf;
    auto parent = parentOf(rel, leaf);
    if (!parent.ok()) return parent.error();
    if (::mkfifoat(parent->fd(), leaf.c_str(), mode) == 0) return Ok();
    if (errno != EEXIST) return Error::sysNow("mkfifo", pathOf(rel));
    struct stat st {};
    if (::fstatat(parent->fd(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISFIFO(st.st_mode))
        return Ok();
    return Error::sys(EEXIST, "mkfifo", pathOf(rel));
}

Result<void> Dir::unlink(std::string_view rel) const {
    std::string leaf;
    auto parent = parentOf(rel, leaf);
    if (!parent.ok()) {
        if (parent.error().errnum() == ENOENT) return Ok();
        return parent.error();
    }
    if (::unlinkat(parent->fd(), leaf.c_str(), 0) != 0 && errno != ENOENT)
        return Error::sysNow("unlink", pathOf(rel));
    return Ok();
}

Result<std::vector<std::string>> Dir::list() const {
    // A new open file description: reading starts at the first entry.
    unique_fd fd(::openat(fd_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return Error::sysNow("open", path_);
    DIR* d = ::fdopendir(fd.get());
    if (!d) return Error::sysNow("opendir", path_);
    fd.release();
    std::unique_ptr<DIR, int (*)(DIR*)> closer(d, ::closedir);
    std::vector<std::string> out;
    errno = 0;
    while (dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        if (name != "." && name != "..") out.push_back(std::move(name));
    }
    if (errno != 0) return Error::sysNow("readdir", path_);
    return out;
}

Result<struct stat> Dir::lstat(std::string_view rel) const {
    std::string leaf;
    auto parent = parentOf(rel, leaf);
    if (!parent.ok()) return parent.error();
    struct stat st {};
    if (::fstatat(parent->fd(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
        return Error::sysNow("stat", pathOf(rel));
    return st;
}

// Depth-first with one descriptor at a time (a guest may have made a tree
// deeper than the descriptor limit): down by name with O_NOFOLLOW, back up
// through "..", checked to be the directory we came from.
Result<void> Dir::removeTree(std::string_view rel) const {
    std::string leaf;
    auto parent = parentOf(rel, leaf);
    if (!parent.ok()) {
        if (parent.error().errnum() == ENOENT) return Ok();
        return parent.error();
    }
    const std::string top = pathOf(rel);
    struct stat pst {
    }, st{};
    if (::fstat(parent->fd(), &pst) != 0) return Error::sysNow("stat", parent->path());
    if (::fstatat(parent->fd(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) return Ok();
        return Error::sysNow("stat", top);
    }
    if (!S_ISDIR(st.st_mode)) {
        if (::unlinkat(parent->fd(), leaf.c_str(), 0) != 0 && errno != ENOENT)
            return Error::sysNow("remove", top);
        return Ok();
    }
    unique_fd cur(
        ::openat(parent->fd(), leaf.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!cur) return Error::sysNow("open", top);
    struct stat cst {};
    if (::fstat(cur.get(), &cst) != 0) return Error::sysNow("stat", top);
    if (cst.st_dev != pst.st_dev) return Error::sys(EXDEV, "remove (a mount point)", top);
    struct Level {
        dev_t parent_dev;
        ino_t parent_ino;
        std::string name;
    };
    std::vector<Level> stack;  // the directories entered below `top`
    std::string path = top;
    for (;;) {
        // A new open file description, so that reading starts at the first
        // entry each time we come back to this directory.
        unique_fd scan(::openat(cur.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!scan) return Error::sysNow("open", path);
        DIR* d = ::fdopendir(scan.get());
        if (!d) return Error::sysNow("opendir", path);
        scan.release();
        std::unique_ptr<DIR, int (*)(DIR*)> closer(d, ::closedir);
        bool descended = false;
        for (;;) {
            errno = 0;
            dirent* e = ::readdir(d);
            if (!e) {
                if (errno != 0) return Error::sysNow("readdir", path);
                break;
            }
            std::string name = e->d_name;
            if (name == "." || name == "..") continue;
            bool is_dir = e->d_type == DT_DIR;
            if (e->d_type == DT_UNKNOWN) {
                struct stat est {};
                if (::fstatat(cur.get(), e->d_name, &est, AT_SYMLINK_NOFOLLOW) != 0) {
                    if (errno == ENOENT) continue;
                    return Error::sysNow("stat", join(path, name));
                }
                is_dir = S_ISDIR(est.st_mode);
            }
            if (!is_dir) {
                if (::unlinkat(cur.get(), e->d_name, 0) != 0 && errno != ENOENT)
                    return Error::sysNow("remove", join(path, name));
                continue;
            }
            unique_fd child(
                ::openat(cur.get(), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            if (!child) return Error::sysNow("open", join(path, name));
            struct stat chst {};
            if (::fstat(child.get(), &chst) != 0) return Error::sysNow("stat", join(path, name));
            if (chst.st_dev != cst.st_dev)
                return Error::sys(EXDEV, "remove (a mount point)", join(path, name));
            stack.push_back({cst.st_dev, cst.st_ino, name});
            cur = std::move(child);
            cst = chst;
            path = join(path, name);
            descended = true;
            break;
        }
        if (descended) continue;
        // `cur` is empty now.
        if (stack.empty()) {
            if (::unlinkat(parent->fd(), leaf.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
                return Error::sysNow("remove", top);
            return Ok();
        }
        Level up = std::move(stack.back());
        stack.pop_back();
        unique_fd p(::openat(cur.get(), "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!p) return Error::sysNow("open", path + "/..");
        struct stat upst {};
        if (::fstat(p.get(), &upst) != 0) return Error::sysNow("stat", path + "/..");
        path.resize(path.size() - up.name.size() - 1);
        if (upst.st_dev != up.parent_dev || upst.st_ino != up.parent_ino)
            return Error::sys(ESTALE, "remove (moved during the removal)", path);
        if (::unlinkat(p.get(), up.name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
            return Error::sysNow("remove", join(path, up.name));
        cur = std::move(p);
        cst = upst;
    }
}

Result<void> checkPrivateDir(const Dir& dir, const std::string& what) {
    struct stat st {};
    if (::fstat(dir.fd(), &st) != 0) return Error::sysNow("stat", dir.path());
    return checkOwnedStat(st, dir.path(), what);
}

Result<Dir> openPrivateDir(const std::string& path, mode_t mode, bool create,
                           const std::string& what) {
    std::string abs = path;
    if (abs.empty() || abs.front() != '/') {
        char buf[4096];
        if (!::getcwd(buf, sizeof buf)) return Error::sysNow("getcwd");
        abs = join(buf, path);
    }
    std::deque<std::string> todo;
    for (size_t pos = 0; pos <= abs.size();) {
        size_t next = abs.find('/', pos);
        if (next == std::string::npos) next = abs.size();
        std::string c = abs.substr(pos, next - pos);
        pos = next + 1;
        if (!c.empty() && c != ".") todo.push_back(c);
    }
    if (todo.empty()) return Error::msg(what + " must not be /");
    unique_fd cur(::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!cur) return Error::sysNow("open", "/");
    std::string at = "/";  // where `cur` is, for messages
    HERD_TRY(checkAncestor(cur.get(), at, abs, what));
    int links = 0;
    while (!todo.empty()) {
        const std::string name = todo.front();
        todo.pop_front();
        const bool last = todo.empty();
        if (name == "..") {
            unique_fd up(::openat(cur.get(), "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
            if (!up) return Error::sysNow("open", join(at, ".."));
            cur = std::move(up);
            auto slash = at.find_last_of('/');
            at = slash == 0 || slash == std::string::npos ? "/" : at.substr(0, slash);
            if (last) return Error::msg(what + " " + abs + " must not end in ..");
            continue;
        }
        const std::string here = join(at, name);
        struct stat st {};
        bool created = false;
        if (::fstatat(cur.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno != ENOENT || !create) return Error::sysNow("open", here);
            if (::mkdirat(cur.get(), name.c_str(), last ? mode : 0755) == 0) {
                created = true;
            } else if (errno != EEXIST) {
                return Error::sysNow("mkdir", here);
            }
            if (::fstatat(cur.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
                return Error::sysNow("stat", here);
        }
        if (S_ISLNK(st.st_mode)) {
            char buf[4096];
            ssize_t n = ::readlinkat(cur.get(), name.c_str(), buf, sizeof buf - 1);
            std::string target = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "?";
            if (last) {
                return Error::msg(fmt::format(
                    "{} {} is a symbolic link (to {}): herd needs a real directory there, so "
                    "that nobody can point it elsewhere. Remove the link, or give the real path",
                    what, abs, target));
            }
            // Its directory passed: only its owner or root can change it.
            if (!trustedOwner(st.st_uid)) {
                return Error::msg(fmt::format(
                    "{} {} is not safe: {} on its path is a symbolic link owned by uid {}, "
                    "who can point it elsewhere: give a path without it",
                    what, abs, here, userName(st.st_uid)));
            }
            if (n <= 0) return Error::sysNow("readlink", here);
            if (++links > 40) return Error::sys(ELOOP, "open", abs);
            std::deque<std::string> more;
            for (size_t pos = 0; pos <= target.size();) {
                size_t next = target.find('/', pos);
                if (next == std::string::npos) next = target.size();
                std::string c = target.substr(pos, next - pos);
                pos = next + 1;
                if (!c.empty() && c != ".") more.push_back(c);
            }
            todo.insert(todo.begin(), more.begin(), more.end());
            if (target.front() == '/') {
                cur.reset(::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
                if (!cur) return Error::sysNow("open", "/");
                at = "/";
            }
            if (todo.empty()) return Error::msg(what + " " + abs + " resolves to /");
            continue;
        }
        if (!S_ISDIR(st.st_mode)) return Error::sys(ENOTDIR, "open", last ? abs : here);
        unique_fd next(
            ::openat(cur.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!next) return Error::sysNow("open", here);
        // The umask must not loosen or tighten what we asked for.
        if (created && ::fchmod(next.get(), last ? mode : 0755) != 0)
            return Error::sysNow("chmod", here);
        if (last) {
            Dir d(std::move(next), abs);
            HERD_TRY(checkPrivateDir(d, what));
            return d;
        }
        HERD_TRY(checkAncestor(next.get(), here, abs, what));
        cur = std::move(next);
        at = here;
    }
    return Error::sys(ENOENT, "open", abs);  // not reached: the last component returns
}

Result<std::string> readSmallFile(const std::string& path, size_t limit) {
    unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    if (!fd) return Error::sysNow("open", path);
    return readAll(fd.get(), limit, path);
}

Result<uint64_t> readNumberFile(const std::string& path, uint64_t max) {
    // 20 digits and a newline; a little more for white space.
    auto text = readSmallFile(path, 64);
    if (!text.ok()) return text.error();
    return parseUint(trim(*text), 0, max, path);
}

}  // namespace herd
