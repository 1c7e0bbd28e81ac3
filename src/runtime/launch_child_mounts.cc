// Launch child: the mount namespace (root, pivot_root, /proc, binds, masked
// paths) and the mount helpers the other child steps use.
//
// Runs in the launch child, which shares the daemon's memory (CLONE_VM): raw
// syscalls only (rawsys.h), no allocation, no libc that may lock or set errno.
#include <fcntl.h>
#include <sys/mount.h>

#include "runtime/launch_internal.h"

namespace herd::runtime::launch_detail {

using raw::sys;

namespace {

// Read-only: an existing target may be on a read-only mount (product_uuid in
// sysfs on a host with DMI), where opening it for writing fails with EROFS.
void createFile(const char* path) {
    long fd = sys(SYS_openat, AT_FDCWD, path, O_CREAT | O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0 && fd != -EEXIST) childFail(kCreate, fd, path);
    if (fd >= 0) sys(SYS_close, fd);
}

bool isDir(const char* path) {
    long fd = sys(SYS_openat, AT_FDCWD, path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return false;
    sys(SYS_close, fd);
    return true;
}

}  // namespace

// mkdir -p for an absolute path inside the (already pivoted) root.
void mkdirAll(const char* path, int mode) {
    char buf[4096];
    size_t n = slen(path);
    if (n >= sizeof buf) childFail(kMkdir, -ENAMETOOLONG, path);
    for (size_t i = 1; i <= n; ++i) {
        if (i == n || path[i] == '/') {
            scopy(buf, i + 1, path);
            long rc = sys(SYS_mkdirat, AT_FDCWD, buf, mode);
            if (rc < 0 && rc != -EEXIST) childFail(kMkdir, rc, buf);
        }
    }
}

void mountAt(const char* src, const char* target, const char* type, unsigned long flags,
             const char* data, int dir_mode) {
    mkdirAll(target, dir_mode);
    char detail[512];
    scopy(detail, sizeof detail, type, " on ");
    scopy(detail + slen(detail), sizeof detail - slen(detail), target);
    CHILD_TRY(sys(SYS_mount, src, target, type, flags, data), kMount, detail);
}

void attachTree(int fd, const char* target, bool file) {
    if (file) {
        // The parent dir of a file target.
        char dir[4096];
        scopy(dir, sizeof dir, target);
        // Cut at the last '/'; a top-level target (/cc) leaves "" (the root).
        size_t i = slen(dir);
        while (i > 0 && dir[i] != '/') --i;
        dir[i] = 0;
        if (dir[0]) mkdirAll(dir, 0755);
        createFile(target);
    } else {
        mkdirAll(target, 0755);
    }
    CHILD_TRY(sys(SYS_move_mount, fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH), kMoveMount,
              target);
    sys(SYS_close, fd);
}

long openTree(const char* path) {
    return sys(SYS_open_tree, AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
}

int cloneTree(const char* path, uint64_t attr, int step) {
    long fd = openTree(path);
    if (fd < 0) childFail(step, fd, path);
    CHILD_TRY(setTreeAttr(static_cast<int>(fd), attr), step, path);
    return static_cast<int>(fd);
}

long setTreeAttr(int fd, uint64_t attr) {
    if (!attr) return 0;
    mount_attr ma{};
    ma.attr_set = attr;
    return sys(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &ma, sizeof ma);
}

bool exists(const char* path) {
    return sys(SYS_faccessat, AT_FDCWD, path, F_OK, 0) == 0;
}

void mountRoot(const ChildArgs& a) {
    // Nothing we mount may propagate back to the host.
    CHILD_TRY(sys(SYS_mount, nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), kPropagation,
              "/");
    if (!a.overlay_opts) {
        CHILD_TRY(sys(SYS_mount, a.root, a.root, nullptr, MS_BIND | MS_REC, nullptr), kBindRoot,
                  a.root);
        return;
    }
    for (int i = 0; i < 3; ++i) {
        // The lower layer is a host path; upper and work may be beneath
        // the VM's detached disk.
        const int at = i > 0 && a.layers_fd >= 0 ? kLayersFd : AT_FDCWD;
        long fd = sys(SYS_openat, at, a.overlay_dirs[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) childFail(kOverlay, fd, a.overlay_dirs[i]);
        if (fd != kOverlayFd + i) {
            CHILD_TRY(sys(SYS_dup3, fd, kOverlayFd + i, O_CLOEXEC), kOverlay, a.overlay_dirs[i]);
            sys(SYS_close, fd);
        }
    }
    CHILD_TRY(sys(SYS_mount, "overlay", a.root, "overlay", 0, a.overlay_opts), kOverlay, a.root);
    sys(SYS_close_range, kLayersFd, kOverlayFd + 2, 0);
}

// Host-side sources are taken as detached mounts before pivot_root and
// attached after it, where every target path resolves inside the container:
// a symlink planted in a persistent root cannot redirect a mount to the host.
// Their nosuid/nodev/ro attributes are set before they are attached, so the
// guest never sees them without.
void detachBinds(const ChildArgs& a, int* bind_fds) {
    for (int i = 0; i < a.nbinds; ++i) {
        long fd = openTree(a.binds[i].source);
        if (fd < 0) childFail(kOpenTree, fd, a.binds[i].source);
        bind_fds[i] = static_cast<int>(fd);
        CHILD_TRY(setTreeAttr(bind_fds[i], a.binds[i].attr), kReadonly, a.binds[i].source);
    }
}

void attachBinds(const ChildArgs& a, const int* bind_fds) {
    for (int i = 0; i < a.nbinds; ++i) attachTree(bind_fds[i], a.binds[i].target, a.binds[i].file);
}

void pivotIntoRoot(const ChildArgs& a) {
    CHILD_TRY(sys(SYS_chdir, a.root), kPivot, a.root);
    CHILD_TRY(sys(SYS_pivot_root, ".", "."), kPivot, a.root);
    CHILD_TRY(sys(SYS_umount2, ".", MNT_DETACH), kPivot, "detach old root");
    CHILD_TRY(sys(SYS_chdir, "/"), kPivot, "/");
}

void mountProc() {
    mountAt("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr, 0555);
}

void maskPaths(int empty_fd) {
    // runc's masked paths, each only where this kernel has it.
    const char* const masked[] = {"/proc/acpi",
                                  "/proc/asound",
                                  "/proc/kcore",
                                  "/proc/keys",
                                  "/proc/latency_stats",
                                  "/proc/timer_list",
                                  "/proc/timer_stats",
                                  "/proc/sched_debug",
                                  "/proc/scsi",
                                  "/sys/firmware",
                                  "/sys/devices/virtual/powercap"};
    // Every masked directory shows the stash's /empty, read-only: the first
    // gets the clone, the others binds of it (no superblock of their own).
    const char* first = nullptr;
    for (const char* p : masked) {
        if (!exists(p)) continue;
        if (!isDir(p)) {
            CHILD_TRY(sys(SYS_mount, "/dev/null", p, nullptr, MS_BIND, nullptr), kMask, p);
        } else if (!first) {
            CHILD_TRY(sys(SYS_move_mount, empty_fd, "", AT_FDCWD, p, MOVE_MOUNT_F_EMPTY_PATH),
                      kMask, p);
            first = p;
        } else {
            int fd = cloneTree(first, kLockedAttrs | MOUNT_ATTR_RDONLY, kMask);
            CHILD_TRY(sys(SYS_move_mount, fd, "", AT_FDCWD, p, MOVE_MOUNT_F_EMPTY_PATH), kMask, p);
            sys(SYS_close, fd);
        }
    }
    sys(SYS_close, empty_fd);
    const char* const readonly[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                    "/proc/sysrq-trigger"};
    for (const char* p : readonly) {
        if (!exists(p)) continue;
        CHILD_TRY(sys(SYS_mount, p, p, nullptr, MS_BIND | MS_REC, nullptr), kReadonly, p);
        CHILD_TRY(sys(SYS_mount, p, p, nullptr,
                      MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr),
                  kReadonly, p);
    }
}

}  // namespace herd::runtime::launch_detail
