// Launch child: the container's one tmpfs (the stash), its /dev with the
// usual device nodes, its own devpts instance, shm, mqueue, the /dev/fd links
// and the console.
//
// Runs in the launch child, which shares the daemon's memory (CLONE_VM): raw
// syscalls only (rawsys.h), no allocation, no libc that may lock or set errno.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "runtime/launch_internal.h"

namespace herd::runtime::launch_detail {

using raw::sys;

namespace {

void makeDir(const char* path, int mode) {
    CHILD_TRY(sys(SYS_mkdirat, AT_FDCWD, path, mode), kMkdir, path);
}

}  // namespace

Stash makeStash(const ChildArgs& a) {
    // Staged on /dev, where nothing else is yet, only while the clones are
    // taken: afterwards no path leads to the stash's root, and the guest sees
    // the clones alone (its mountinfo names them /dev, /uuid/product_uuid,
    // /empty and /virtual of a tmpfs).
    // 128 MiB, what /dev and /dev/shm had between them as tmpfs mounts of
    // their own (memory is taken only as files are written).
    mountAt("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=131072k");
    makeDir("/dev/dev", 0755);
    makeDir("/dev/empty", 0555);
    makeDir("/dev/virtual", 0755);
    makeDir("/dev/uuid", 0755);
    const char* uuid = "/dev/uuid/product_uuid";
    long fd = sys(SYS_openat, AT_FDCWD, uuid, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0444);
    if (fd < 0) childFail(kUuid, fd, uuid);
    long n = sys(SYS_write, fd, a.uuid, a.uuid_len);
    sys(SYS_close, fd);
    if (n != static_cast<long>(a.uuid_len)) childFail(kUuid, n < 0 ? n : -EIO, uuid);

    Stash s;
    s.dev = cloneTree("/dev/dev", 0, kOpenTree);
    s.uuid = cloneTree(uuid, MOUNT_ATTR_RDONLY | kLockedAttrs, kOpenTree);
    s.empty = cloneTree("/dev/empty", MOUNT_ATTR_RDONLY | kLockedAttrs, kOpenTree);
    s.virt = cloneTree("/dev/virtual", kLockedAttrs, kOpenTree);
    CHILD_TRY(sys(SYS_umount2, "/dev", MNT_DETACH), kMount, "unstage the stash from /dev");
    return s;
}

void mountDev(int dev_fd, int console_fd) {
    attachTree(dev_fd, "/dev", false);
    struct {
        const char* path;
        unsigned maj, min;
    } const devs[] = {{"/dev/null", 1, 3}, {"/dev/zero", 1, 5},   {"/dev/full", 1, 7},
                      {"/dev/tty", 5, 0},  {"/dev/random", 1, 8}, {"/dev/urandom", 1, 9}};
    for (const auto& d : devs) {
        CHILD_TRY(sys(SYS_mknodat, AT_FDCWD, d.path, S_IFCHR | 0666, makedev(d.maj, d.min)), kMknod,
                  d.path);
    }
    mountAt("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
            "newinstance,ptmxmode=0666,mode=0620,gid=5");
    // /dev/shm shares /dev's 128 MiB (a tmpfs of its own would be one more
    // superblock): a bind of itself, so that it is nosuid and nodev.
    makeDir("/dev/shm", 01777);
    attachTree(cloneTree("/dev/shm", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, kOpenTree), "/dev/shm",
               false);
    // The IPC namespace's own mqueue superblock, made with the namespace.
    mountAt("mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
    struct {
        const char* target;
        const char* link;
    } const links[] = {{"pts/ptmx", "/dev/ptmx"},
                       {"/proc/self/fd", "/dev/fd"},
                       {"/proc/self/fd/0", "/dev/stdin"},
                       {"/proc/self/fd/1", "/dev/stdout"},
                       {"/proc/self/fd/2", "/dev/stderr"}};
    for (const auto& l : links) {
        CHILD_TRY(sys(SYS_symlinkat, l.target, AT_FDCWD, l.link), kSymlink, l.link);
    }
    attachTree(console_fd, "/dev/console", true);
}

}  // namespace herd::runtime::launch_detail
