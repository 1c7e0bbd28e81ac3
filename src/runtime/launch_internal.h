// What the pieces of launch() share: the arguments the parent prepares for
// the child (ChildArgs), the message the child sends back (Msg, Step), and
// the child's steps, one file per subsystem:
//
//   launch.cc                  parent: prepares ChildArgs, clones, waits; Child
//   launch_child.cc            child: the order of the steps, the handshakes
//                              with the parent, exec of init
//   launch_child_mounts.cc     child: root, pivot_root, /proc, binds, masked paths
//   launch_child_dev.cc        child: /dev (device nodes, ptys, the console)
//   launch_child_sysfs.cc      child: /sys and product_uuid
//   launch_preinit.cc          child: runs preinit (fork, Landlock, output)
//   launch_child_privileges.cc child: capabilities, no_new_privs, seccomp
//
// Everything declared here that runs in the child shares its parent's memory
// (CLONE_VM): it uses raw syscalls only (rawsys.h), never allocates, never
// calls into libc (which may lock or set errno), and reads only ChildArgs.
#pragma once

#include <linux/filter.h>
#include <sys/mount.h>

#include <cstddef>
#include <cstdint>

#include "runtime/landlock.h"
#include "runtime/rawsys.h"

namespace herd::runtime::launch_detail {

// ---------------------------------------------------------------------------
// The message the child sends: ready, or the step that failed.

enum Step : int {
    kReady = 0,
    kSetsid,
    kConsole,
    kHostname,
    kPropagation,
    kOverlay,
    kBindRoot,
    kPreinit,
    kOpenTree,
    kPivot,
    kMkdir,
    kMount,
    kMknod,
    kSymlink,
    kCreate,
    kMoveMount,
    kMask,
    kReadonly,
    kInit,
    kCaps,
    kNoNewPrivs,
    kSeccomp,
    kExec,
    kLoopback,
    kUuid,
};

// The words an error message starts with for a failed step (parent side).
const char* stepName(int step);

struct Msg {
    int32_t step;
    int32_t err;
    char detail[512];
    char output[2048];  // preinit output
};

constexpr int kSyncFd = 3;  // the child's end of the sync socket, after dup2
// The directory the upper and work layers are beneath, when they are not
// host paths (ChildArgs::layers_fd), after dup2.
constexpr int kLayersFd = 4;
// The overlay's layers are opened on kOverlayFd.. and named /proc/self/fd/N in
// its options: the guest's mountinfo shows those, not the host's paths.
constexpr int kOverlayFd = 5;
constexpr int kMaxBinds = 64;

// Everything the child reads: prepared by the parent, pointers into strings
// the parent keeps alive until the child has exec'd.
struct ChildArgs {
    const char* hostname = nullptr;
    const char* root = nullptr;
    const char* overlay_opts = nullptr;  // null: bind the root onto itself
    const char* overlay_dirs[3] = {};    // lower, upper, work: opened as kOverlayFd + i
    int layers_fd = -1;  // the parent's fd upper and work are relative to (moved to kLayersFd)
    const char* console = nullptr;
    const char* preinit = nullptr;
    LandlockPlan preinit_landlock;
    char uuid[64] = {};  // product_uuid's contents (the host file is never bound)
    size_t uuid_len = 0;
    struct Bind {
        const char* source;
        const char* target;
        bool file;
        uint64_t attr;  // MOUNT_ATTR_* set on the bind before it is attached
    } binds[kMaxBinds];
    int nbinds = 0;
    const char* init_path = nullptr;
    char* const* init_argv = nullptr;
    char* const* envp = nullptr;
    bool cgroup_ns = false;
    uint64_t keep_caps = 0;
    int last_cap = 0;
    sock_fprog seccomp{};
    int sync_fd = -1;  // the child's end of the sync socket (moved to kSyncFd)
    // Cloned with CLONE_FILES (the keeper: launch.h, sharedTableParent): the
    // child first gets a table of its own holding only the descriptors below
    // this (close_range with CLOSE_RANGE_UNSHARE copies just those), then
    // sets `unshared`, which the parent waits for before it reuses them.
    // -1: cloned with a table of its own.
    int unshare_below = -1;
    int unshared = 0;

    // After it reported ready, the child closes its end of the sync socket
    // and waits for these words, which its parent (sharing its memory)
    // sets: no descriptor is held anywhere for a BUILDING container.
    //   go     0 until the parent says kGo (exec init).
    //   tid    1 while the child uses this memory; the kernel sets it to 0
    //          and wakes its waiters when the child execs or exits
    //          (CLONE_CHILD_CLEARTID).
    //   failed set with exec_error before the child exits because exec failed.
    int go = 0;
    int tid = 1;
    int failed = 0;
    Msg exec_error{};
};

constexpr int kGo = 1;

// ---------------------------------------------------------------------------
// Child side: raw syscalls only (see rawsys.h).

inline size_t slen(const char* s) {
    size_t n = 0;
    while (s && s[n]) ++n;
    return n;
}

// Copies a, then b, into dst, truncating to cap - 1 bytes; always terminated.
inline void scopy(char* dst, size_t cap, const char* a, const char* b = nullptr) {
    size_t i = 0;
    for (const char* p = a; p && *p && i + 1 < cap; ++p) dst[i++] = *p;
    for (const char* p = b; p && *p && i + 1 < cap; ++p) dst[i++] = *p;
    dst[i] = 0;
}

// Reports the failed step to the parent (errno from a raw syscall's negative
// return; 0 = none) and exits.
[[noreturn]] void childFail(int step, long neg_errno, const char* detail,
                            const char* output = nullptr);

#define CHILD_TRY(expr, step, detail)                  \
    do {                                               \
        long rc_ = (expr);                             \
        if (rc_ < 0) childFail((step), rc_, (detail)); \
    } while (0)

// The child's entry point (clone's fn): sets up the container, reports ready,
// waits for the parent's go and execs init. Never returns.
int childMain(void* arg);

// launch_child_mounts.cc
// mkdir -p for an absolute path.
void mkdirAll(const char* path, int mode);
// Mounts `src` on `target` (created with `dir_mode`).
void mountAt(const char* src, const char* target, const char* type, unsigned long flags,
             const char* data, int dir_mode = 0755);
// Attaches a detached mount (from open_tree) at `target`, creating the target
// (a directory, or an empty file if `file`); closes fd.
void attachTree(int fd, const char* target, bool file);
// A detached recursive clone of the mount at `path`: an fd, or -errno.
long openTree(const char* path);
// Sets mount attributes on a detached tree and everything under it.
long setTreeAttr(int fd, uint64_t attr);
// openTree(path) with `attr` set; fails the launch at `step` if it cannot.
int cloneTree(const char* path, uint64_t attr, int step);
// What every mount herd makes for the guest (not the device-holding /dev) has.
constexpr uint64_t kLockedAttrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
bool exists(const char* path);
// Makes every mount private and mounts the root (overlay, or a bind onto
// itself) on a.root.
void mountRoot(const ChildArgs& a);
// Takes each bind's source as a detached mount with its attributes set;
// bind_fds has room for kMaxBinds.
void detachBinds(const ChildArgs& a, int* bind_fds);
// Makes a.root the root and the working directory; the old root is gone.
void pivotIntoRoot(const ChildArgs& a);
void mountProc();
void attachBinds(const ChildArgs& a, const int* bind_fds);
// Masks runc's list of /proc and /sys paths: files with /dev/null, directories
// with the stash's empty one (Stash::empty, closed here).
void maskPaths(int empty_fd);

// launch_child_dev.cc
// Every superblock a container makes costs kernel memory in every memory
// cgroup on the host (the shrinker info each memory cgroup keeps, a slot per
// superblock), so it grows with the square of the number of containers. A
// container has one tmpfs, the stash, that holds everything herd makes
// rather than mounts: /dev with /dev/shm, product_uuid, the empty directory
// masked paths show, and /sys/devices/virtual on hosts without DMI. Its
// superblocks are the overlay, proc, sysfs, devpts, the stash and its IPC
// namespace's mqueue. docs/density.md has the figures.
// Detached clones of the stash's parts, each for one attach.
struct Stash {
    int dev = -1;    // /dev, writable
    int uuid = -1;   // product_uuid, read-only
    int empty = -1;  // an empty directory, read-only
    int virt = -1;   // a directory for /sys/devices/virtual, writable until mountSys
};
// Makes the stash (staged on /dev for a moment, then unreachable by path).
Stash makeStash(const ChildArgs& a);
// Attaches /dev with its nodes, ptys, shm, mqueue and the console (a
// detached mount of the pty slave).
void mountDev(int dev_fd, int console_fd);

// launch_child_sysfs.cc: a read-only /sys with the VM's product_uuid.
void mountSys(const Stash& s);

// launch_preinit.cc: runs a.preinit; fails the launch if it does not exit 0.
void runPreinit(const ChildArgs& a);

// launch_child_privileges.cc: capabilities, no_new_privs, seccomp.
void dropPrivileges(const ChildArgs& a);

}  // namespace herd::runtime::launch_detail
