// Files under a directory the daemon owns, reached through a descriptor of
// that directory and never through a symbolic link.
//
// The daemon runs as root and keeps its state in a base directory (-base)
// whose parent is often world-writable (/tmp). A path string is looked up
// again at every use, so a symbolic link planted anywhere on it (by a local
// user in a directory they can write, or by a guest in its overlay's upper
// layer, which lives under the base) would redirect a root write or removal
// to any file of the host. Here a directory is opened once, checked, and
// kept as a descriptor; every file under it is opened relative to that
// descriptor with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), or, on
// kernels without openat2, one component at a time with O_NOFOLLOW.
//
// Relative paths (`rel`) name something beneath the directory: "state",
// "3/upper". Absolute paths, "..", and symbolic links on the way fail
// (EXDEV, ELOOP). Errors carry the operation, the full path and errno.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"

namespace herd {

class Dir {
  public:
    Dir() = default;
    Dir(unique_fd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
    Dir(Dir&&) noexcept = default;
    Dir& operator=(Dir&&) noexcept = default;

    // Opens `path` as a directory. Symbolic links in `path` itself are
    // followed: the caller trusts it (a path the user gave).
    static Result<Dir> open(const std::string& path);

    int fd() const { return fd_.get(); }
    bool valid() const { return static_cast<bool>(fd_); }
    const std::string& path() const { return path_; }
    // `<path>/<rel>`, for messages and for programs that take a path.
    std::string pathOf(std::string_view rel) const;
    // A path that reaches `rel` through this descriptor
    // (/proc/self/fd/<fd>/<rel>): for bind(), which has no *at form. Short,
    // whatever the length of path(), and valid while this Dir is open.
    std::string viaFd(std::string_view rel) const;

    // The directory `rel`.
    Result<Dir> openDir(std::string_view rel) const;
    // Makes `rel` and any missing directory above it (`mode`; existing ones
    // are kept as they are) and opens it.
    Result<Dir> makeDirs(std::string_view rel, mode_t mode) const;
    // Makes the directory `rel` (its parent must exist); an existing
    // directory is fine, anything else there is EEXIST.
    Result<void> mkdir(std::string_view rel, mode_t mode) const;
    // Opens `rel` with open(2) `flags` (O_CLOEXEC and O_NOFOLLOW are added);
    // `mode` when O_CREAT makes it.
    Result<unique_fd> openFile(std::string_view rel, int flags, mode_t mode = 0600) const;
    // Creates or truncates `rel` and writes `data`.
    Result<void> writeFile(std::string_view rel, std::string_view data, mode_t mode) const;
    // Replaces `rel` by a file holding `data`, all or nothing: a temporary
    // file beside it is written and synced, renamed over it, and the
    // directory synced, so that after a crash `rel` is the old or the new
    // file, never a part of one.
    Result<void> writeFileAtomic(std::string_view rel, std::string_view data, mode_t mode) const;
    // The contents of `rel`; EFBIG if it holds more than `limit` bytes.
    Result<std::string> readFile(std::string_view rel, size_t limit) const;
    // Makes the FIFO `rel`; an existing FIFO is fine.
    Result<void> mkfifo(std::string_view rel, mode_t mode) const;
    // Removes the file (not directory) `rel`: a symbolic link is removed
    // itself. A missing one is fine.
    Result<void> unlink(std::string_view rel) const;
    // Removes `rel` and, for a directory, everything under it. Symbolic
    // links are removed, never followed, and the removal stays on the
    // directory's file system (a mount point under it is an error). A
    // missing `rel` is fine.
    Result<void> removeTree(std::string_view rel) const;
    // The names in this directory, "." and ".." aside.
    Result<std::vector<std::string>> list() const;
    // lstat(2) of `rel` (a final symbolic link is described, not followed).
    Result<struct stat> lstat(std::string_view rel) const;
    bool exists(std::string_view rel) const { return lstat(rel).ok(); }

  private:
    // Opens the directory holding `rel`'s last component; `leaf` gets it.
    Result<Dir> parentOf(std::string_view rel, std::string& leaf) const;

    unique_fd fd_;
    std::string path_;
};

// Opens a directory that nobody but the daemon's user (root) can change.
// Refuses, with a message naming the path, its owner and mode and how to
// fix it:
//  - `path` a symbolic link, or not a directory;
//  - `path` not owned by the daemon's effective user, or writable by its
//    group or others;
//  - an ancestor through which another user could replace `path`: one not
//    owned by root (or the daemon's user), or writable by group or others
//    without the sticky bit (a sticky /tmp, root's, is fine). Symbolic links
//    among the ancestors are followed only when root owns them.
// When `create`, a missing `path` is made with `mode` (exactly: the umask
// does not apply) and missing ancestors with 0755. `what` names the
// directory in messages ("base directory").
Result<Dir> openPrivateDir(const std::string& path, mode_t mode, bool create,
                           const std::string& what);

// Checks an open directory as openPrivateDir checks its `path`.
Result<void> checkPrivateDir(const Dir& dir, const std::string& what);

// Tests only: with false, behave as on a kernel without openat2 (the
// component-by-component fallback); true restores the default.
void setOpenat2ForTesting(bool enabled);

// Writes all of `data` to `fd` (retrying short writes and EINTR); `path`
// names it in the error. A write that makes no progress is ENOSPC.
Result<void> writeAll(int fd, std::string_view data, const std::string& path);

// At most `limit` bytes of the file at `path` (for /proc files); EFBIG past it.
Result<std::string> readSmallFile(const std::string& path, size_t limit);

// The number in a one-number kernel file (/proc/sys/kernel/cap_last_cap, a
// cgroup's memory.current): decimal digits with white space around them, at
// most `max`. A file that cannot be read gives the open or read error
// (errnum() set); one that holds anything else gives an error naming the
// file and the numbers allowed (errnum() 0), never an exception or a 0.
Result<uint64_t> readNumberFile(const std::string& path, uint64_t max);

}  // namespace herd
