// Launch child: the container's /sys, read-only, with the VM's UUID at
// /sys/devices/virtual/dmi/id/product_uuid.
//
// Runs in the launch child, which shares the daemon's memory (CLONE_VM): raw
// syscalls only (rawsys.h), no allocation, no libc that may lock or set errno.
#include <fcntl.h>
#include <sys/mount.h>

#include "runtime/launch_internal.h"

namespace herd::runtime::launch_detail {

using raw::sys;

namespace {

// product_uuid as a read-only file of a private tmpfs, made after pivot_root
// (the /dev tmpfs is the container's own): the guest cannot write the host's
// copy, and its mountinfo shows "tmpfs", not a host path. The small tmpfs is
// mounted on a temporary directory only long enough to write the file and
// clone a bind of it. Returns the detached bind.
int makeUuidTree(const ChildArgs& a) {
    const char* dir = "/dev/.herd-uuid";
    const char* file = "/dev/.herd-uuid/product_uuid";
    CHILD_TRY(sys(SYS_mkdirat, AT_FDCWD, dir, 0700), kUuid, dir);
    CHILD_TRY(sys(SYS_mount, "tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  "size=4k,nr_inodes=4,mode=0755"),
              kUuid, dir);
    long fd = sys(SYS_openat, AT_FDCWD, file, O_CREAT | O_WRONLY | O_CLOEXEC, 0444);
    if (fd < 0) childFail(kUuid, fd, file);
    long n = sys(SYS_write, fd, a.uuid, a.uuid_len);
    sys(SYS_close, fd);
    if (n != static_cast<long>(a.uuid_len)) childFail(kUuid, n < 0 ? n : -EIO, file);
    long tree = openTree(file);
    if (tree < 0) childFail(kOpenTree, tree, file);
    CHILD_TRY(setTreeAttr(static_cast<int>(tree), MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
                                                      MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC),
              kReadonly, "product_uuid");
    CHILD_TRY(sys(SYS_umount2, dir, MNT_DETACH), kUuid, dir);
    CHILD_TRY(sys(SYS_unlinkat, AT_FDCWD, dir, AT_REMOVEDIR), kUuid, dir);
    return static_cast<int>(tree);
}

struct Dirent64 {
    uint64_t ino;
    int64_t off;
    unsigned short reclen;
    unsigned char type;
    char name[1];
};

// /sys/devices/virtual/dmi/id/product_uuid, also on hosts without DMI: there
// the directory is recreated on a small tmpfs that re-binds the real entries.
void mountUuid(int uuid_fd) {
    const char* target = "/sys/devices/virtual/dmi/id/product_uuid";
    if (exists(target)) return attachTree(uuid_fd, target, true);

    const char* virt = "/sys/devices/virtual";
    long dfd = sys(SYS_openat, AT_FDCWD, virt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) childFail(kMount, dfd, virt);
    struct Entry {
        char name[64];
        int fd;
    } entries[48];
    int n = 0;
    char buf[4096];
    for (;;) {
        long got = sys(SYS_getdents64, dfd, buf, sizeof buf);
        if (got <= 0) break;
        for (long off = 0; off < got;) {
            auto* d = reinterpret_cast<Dirent64*>(buf + off);
            off += d->reclen;
            if (d->name[0] == '.' || n >= 48 || slen(d->name) >= 64) continue;
            long fd = sys(SYS_open_tree, dfd, d->name,
                          OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
            if (fd < 0) continue;  // an entry we cannot clone is simply not shown
            scopy(entries[n].name, 64, d->name);
            entries[n].fd = static_cast<int>(fd);
            ++n;
        }
    }
    sys(SYS_close, dfd);
    CHILD_TRY(sys(SYS_mount, "tmpfs", virt, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755"),
              kMount, "tmpfs on /sys/devices/virtual");
    for (int i = 0; i < n; ++i) {
        char path[256];
        scopy(path, sizeof path, "/sys/devices/virtual/", entries[i].name);
        attachTree(entries[i].fd, path, false);
    }
    attachTree(uuid_fd, target, true);
    CHILD_TRY(sys(SYS_mount, nullptr, virt, nullptr,
                  MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr),
              kReadonly, virt);
}

}  // namespace

void mountSys(const ChildArgs& a) {
    mountAt("sysfs", "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr, 0555);
    mountUuid(makeUuidTree(a));
}

}  // namespace herd::runtime::launch_detail
