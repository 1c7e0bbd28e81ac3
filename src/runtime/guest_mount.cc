#include "runtime/guest_mount.h"

#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>

#include "base/unique_fd.h"

namespace herd::runtime {

namespace {

// The steps of the helper process, reported with their errno when one fails.
enum Step : int { kEnter = 1, kClone, kSetattr, kLeave, kAttach };

const char* stepName(int step) {
    switch (step) {
        case kEnter:
            return "setns into the container's mount namespace";
        case kClone:
            return "open_tree of the container's root";
        case kSetattr:
            return "mount_setattr nosuid,nodev,noexec,nosymfollow";
        case kLeave:
            return "setns back to the host's mount namespace";
        case kAttach:
            return "move_mount";
        default:
            return "guest mount helper";
    }
}

Result<uint64_t> mountIdOf(int dirfd) {
    struct statx st {};
    if (::statx(dirfd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &st) != 0)
        return Error::sysNow("statx", "mount id");
    if (!(st.stx_mask & STATX_MNT_ID)) return Error::msg("statx: this kernel gives no mount id");
    return static_cast<uint64_t>(st.stx_mnt_id);
}

// In the helper process (single-threaded, so it may change its mount
// namespace): clone the container's root, make it harmless, come back and
// attach it. Returns the failed step with errno, or {0, 0}.
std::array<int, 2> cloneAndAttach(int pidfd, int host_ns, int target) {
    if (::setns(pidfd, CLONE_NEWNS) != 0) return {kEnter, errno};
    // setns made the container's root this process's root and cwd.
    int tree = static_cast<int>(::syscall(SYS_open_tree, AT_FDCWD, "/", OPEN_TREE_CLONE));
    if (tree < 0) return {kClone, errno};
    struct mount_attr attr {};
    attr.attr_set =
        MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC | MOUNT_ATTR_NOSYMFOLLOW;
    if (::syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr) != 0)
        return {kSetattr, errno};
    if (::setns(host_ns, CLONE_NEWNS) != 0) return {kLeave, errno};
    if (::syscall(SYS_move_mount, tree, "", target, "",
                  MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
        return {kAttach, errno};
    return {0, 0};
}

}  // namespace

Result<GuestMount> mountGuestRoot(int pidfd, const std::string& target) {
    // Resolved here, in the host's namespace, without following a link at
    // the last component.
    unique_fd dir(::open(target.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir) return Error::sysNow("open mount point", target);
    unique_fd host_ns(::open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC));
    if (!host_ns) return Error::sysNow("open", "/proc/self/ns/mnt");
    auto before = mountIdOf(dir.get());
    if (!before.ok()) return before.error();

    // The daemon has threads, and setns(CLONE_NEWNS) needs a process with
    // one: a forked helper does the work and reports through a pipe.
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return Error::sysNow("pipe2", "guest mount helper");
    unique_fd rd(p[0]), wr(p[1]);
    pid_t pid = ::fork();
    if (pid < 0) return Error::sysNow("fork", "guest mount helper");
    if (pid == 0) {
        auto r = cloneAndAttach(pidfd, host_ns.get(), dir.get());
        (void)!::write(wr.get(), r.data(), sizeof r);
        ::_exit(r[0] == 0 ? 0 : 1);
    }
    wr.reset();
    std::array<int, 2> r{kAttach, EIO};
    ssize_t n;
    do n = ::read(rd.get(), r.data(), sizeof r);
    while (n < 0 && errno == EINTR);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (n != static_cast<ssize_t>(sizeof r)) return Error::msg("guest mount helper died");
    if (r[0] != 0) return Error::sys(r[1], stepName(r[0]), target);

    // The new mount is on top of `target` now; `dir` still names the
    // directory under it, so look again.
    unique_fd top(::open(target.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!top) return Error::sysNow("open mount point", target);
    auto id = mountIdOf(top.get());
    if (!id.ok()) return id.error();
    if (*id == *before) return Error::msg("mount at " + target + " not found after attaching it");
    return GuestMount{target, *id};
}

Result<void> unmountGuestRoot(const GuestMount& m) {
    unique_fd top(::open(m.target.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!top) return Ok();  // the directory is gone, and the mount with it
    auto id = mountIdOf(top.get());
    if (!id.ok() || *id != m.mnt_id) return Ok();  // not ours on top any more
    if (::umount2(m.target.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0 && errno != EINVAL)
        return Error::sysNow("umount2", m.target);
    return Ok();
}

}  // namespace herd::runtime
