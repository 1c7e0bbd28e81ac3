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

struct Dirent64 {
    uint64_t ino;
    int64_t off;
    unsigned short reclen;
    unsigned char type;
    char name[1];
};

// /sys/devices/virtual/dmi/id/product_uuid, also on hosts without DMI: there
// the directory is recreated on the stash's /virtual, which re-binds the real
// entries.
void mountUuid(const Stash& s) {
    const char* target = "/sys/devices/virtual/dmi/id/product_uuid";
    if (exists(target)) {
        sys(SYS_close, s.virt);
        return attachTree(s.uuid, target, true);
    }

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
    attachTree(s.virt, virt, false);
    for (int i = 0; i < n; ++i) {
        char path[256];
        scopy(path, sizeof path, "/sys/devices/virtual/", entries[i].name);
        attachTree(entries[i].fd, path, false);
    }
    attachTree(s.uuid, target, true);
    // This mount only: the stash's other clones (/dev) stay writable.
    CHILD_TRY(sys(SYS_mount, nullptr, virt, nullptr,
                  MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr),
              kReadonly, virt);
}

}  // namespace

void mountSys(const Stash& s) {
    mountAt("sysfs", "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr, 0555);
    mountUuid(s);
}

}  // namespace herd::runtime::launch_detail
