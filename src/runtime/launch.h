// Launching a container's first process (parent side and child side).
//
// launch() clones one process into new mount, PID, network, IPC and UTS
// namespaces. The child sets up the root filesystem, /dev, /proc, /sys, the
// console, volumes and fifos, pivots into the root, drops capabilities, sets
// no_new_privs and the seccomp filter, reports "ready" and then blocks right
// before exec'ing init: that is a BUILDING container. Child::startAll()
// releases it.
//
// The child shares its parent's memory (CLONE_VM): it runs only raw syscalls
// on data prepared for it (see rawsys.h), so a BUILDING container costs a
// task, a small stack and its namespaces, not a copy of its parent. Its
// parent is a ContainerParent: in the daemon, the keeper process.
//
// launch.cc is the parent's side; launch_internal.h lists the child's steps
// and the files they are in.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "runtime/isolation.h"

namespace herd::runtime {

struct BindSpec {
    std::string source;  // host path
    std::string target;  // absolute path inside the container
    bool file = false;   // a file (fifo, uuid) rather than a directory
    // The bind is nosuid and nodev unless these say otherwise (a guest must
    // not plant setuid binaries or device nodes that host users can use).
    bool readonly = false;
    bool allow_suid = false;
    bool allow_dev = false;
};

struct LaunchSpec {
    std::string hostname;
    std::string root;      // host path the root is mounted on (or the filesystem itself)
    std::string lowerdir;  // overlay: lower layer (the filesystem); empty = no overlay
    std::string upperdir;  // host paths, or relative to layers_fd when that is set
    std::string workdir;
    // A directory descriptor the upper and work layers are opened beneath (a
    // VM's detached disk mount, runtime/disk.h), or -1. Borrowed: the caller
    // keeps it open until launch() returns.
    int layers_fd = -1;
    // Or: the disk the parent keeps under this key (ContainerParent::keepDisk).
    std::string disk_key;
    std::vector<BindSpec> binds;  // volumes and fifos
    // Its contents are shown read-only at /sys/devices/virtual/dmi/id/product_uuid
    // (a copy on a private tmpfs: the host file is not bound into the guest).
    std::string uuid_file;
    std::string console;  // host path of the console pty's slave (/dev/pts/N)
    // Host program run in the new namespaces before isolation, with the
    // container's root as $1 and umask 022, confined by Landlock (landlock.h);
    // refused where the kernel lacks Landlock.
    std::string preinit;
    std::vector<std::string> init;  // argv; init[0] is a path inside the container
    std::vector<std::string> env;   // KEY=VALUE
    // cgroup v2 hosts: a cgroup namespace rooted at the container's own group
    // (entered once the parent has moved the child there), with cgroup2
    // mounted read-only at /sys/fs/cgroup.
    bool cgroup_ns = false;
    // Keep CAP_NET_ADMIN (set for containers with NICs: the guest configures
    // its own veths).
    bool net_admin = false;
    // The guest writes to host storage other users may reach (a read-write
    // volume, or the filesystem without a snapshot): the stricter isolation
    // profile, with which it cannot make set-ID files, file capabilities or
    // device nodes there (Isolation, hostStorageCapabilities).
    bool host_storage = false;
};

// Who clones containers and is their parent: the only process that can reap
// them and learn how they ended. In the daemon that is the keeper
// (runtime/keeper.h), a small process that outlives the daemon; in tests it
// can be the calling process itself (selfParent).
//
// A child shares its parent's memory until it execs: a BUILDING one waits
// there for start(), holding no descriptor, and the parent learns of its
// exec through the same memory. A child is named by its pid and by which of
// the parent's launches it is (its serial): a pid is reused once the parent
// has reaped it, a serial never is, and the parent acts on a request only if
// both still name one of its children, so a signal never reaches a process
// that reused the pid, and an exit is never taken for another child's.
struct ChildRef {
    int pid = -1;
    uint64_t serial = 0;
};

class ContainerParent {
  public:
    virtual ~ContainerParent() = default;
    using Cloned = ChildRef;
    // Clones the container `spec` describes, with `child_sync` as its end of
    // the sync socket (see launch()). Returns once the child runs.
    virtual Result<Cloned> clone(const LaunchSpec& spec, int child_sync) = 0;
    // Lets each of `pids` (BUILDING: ready and waiting) exec its init, then
    // waits until each has, or failed to, for at most timeout_ms in all.
    // One result per pid, in order.
    virtual std::vector<Result<void>> start(const std::vector<ChildRef>& children,
                                            int timeout_ms) = 0;
    // Whether `pid` is set up and has not been told to start (BUILDING).
    virtual bool waiting(int /*pid*/) { return false; }
    // Sends `sig` to the child if it is still one, not yet reaped.
    virtual void kill(const ChildRef& child, int sig) = 0;
    // The child's wait status once it has exited; nullopt while it runs, or
    // when that cannot be known (the keeper died: see keeper.h).
    virtual std::optional<int> tryReap(const ChildRef& child) = 0;
    // Blocks until the child has exited; its wait status (SIGKILL when that
    // cannot be known any more: the caller then kills through the cgroup).
    virtual int reap(const ChildRef& child) = 0;
    // A pidfd of the child, not yet reaped (for setns into it).
    virtual Result<unique_fd> pidfd(const ChildRef& child) = 0;
    // Calls `on_exit` once, on any thread, when the child has exited (at
    // once if it already has). Reaping is still the caller's.
    virtual void watch(const ChildRef& child, std::function<void()> on_exit) = 0;
    // Keeps copies of descriptors that must outlive the daemon (a console's
    // pty master: while a copy is open the guest's shell gets no hangup),
    // under `key`, replacing what the key held. The calling process as the
    // parent keeps nothing: it holds them itself.
    virtual void hold(const std::string& /*key*/, const std::vector<int>& /*fds*/) {}
    // Takes over a container's detached disk (`mount_fd`, disk.h) under
    // `key`, without a descriptor per disk; a launch then names it in
    // LaunchSpec::disk_key, and drop(key) lets it go. False: the caller
    // keeps the disk itself (the calling process as the parent does).
    virtual bool keepDisk(const std::string& /*key*/, int /*mount_fd*/) { return false; }
    virtual void drop(const std::string& /*key*/) {}
};

// The calling process as the parent: clones here (sharing this process's
// memory until exec, see rawsys.h) and reaps with waitid.
std::shared_ptr<ContainerParent> selfParent(const Isolation& iso);

// The same for a single-threaded process that holds many descriptors (the
// keeper): a child shares the caller's descriptor table (CLONE_FILES) and, as
// its first step, takes a table of its own with only the descriptors below
// first_slot + 2 (close_range with CLOSE_RANGE_UNSHARE), so a launch does not
// copy the caller's whole table, however many descriptors it holds. The
// caller keeps descriptors first_slot and first_slot + 1 open on
// `placeholder` (e.g. /dev/null) and opens nothing below them but stdio;
// clone() puts the child's descriptors there and back. Not thread-safe.
std::shared_ptr<ContainerParent> sharedTableParent(const Isolation& iso, int first_slot,
                                                   int placeholder);

// A launched container's first process, as its parent's pid: no descriptor
// is held for it. Destroying a Child that was never reaped kills and reaps
// it, so a failed launch leaves no zombie behind.
class Child {
  public:
    Child() = default;
    Child(Child&&) noexcept;
    Child& operator=(Child&&) noexcept;
    ~Child();

    int pid() const { return ref_.pid; }
    const ChildRef& ref() const { return ref_; }
    const std::shared_ptr<ContainerParent>& parent() const { return parent_; }
    bool released() const { return released_; }
    bool reaped() const { return reaped_; }

    // `vm start` of BUILDING children: lets each exec init and waits until
    // each did (one deadline for all). One result per child, in order.
    static std::vector<Result<void>> startAll(const std::vector<Child*>& children, int timeout_ms);

    // SIGKILL (by the parent); reaps (blocking) and returns the wait status.
    int killAndReap();
    // SIGKILL, leaving the reaping to whoever watches the exit.
    void kill();
    // Non-blocking reap; returns the wait status if the process has exited.
    std::optional<int> tryReap();

    // Takes over a child a previous daemon launched through `parent` (the
    // keeper, which outlived that daemon).
    static Child adopt(const ChildRef& ref, std::shared_ptr<ContainerParent> parent, bool released);
    // Lets go of the child without killing it (`quit keep`): it goes on
    // under its parent, for a later daemon to adopt.
    void abandon();

  private:
    friend Result<Child> launch(const LaunchSpec&, const std::shared_ptr<ContainerParent>&,
                                const std::function<Result<void>(int)>&);
    ChildRef ref_;
    std::shared_ptr<ContainerParent> parent_;
    bool released_ = false;
    bool reaped_ = false;
};

// Launches a container through `parent`. `attach(pid)` runs in this process
// while the child sets up (put it into its cgroups); if it fails the child
// is killed. Returns when the child is ready (BUILDING) or has failed; the
// error names the step, the object and errno, e.g. `mount proc on /proc:
// Permission denied (EACCES)`.
Result<Child> launch(const LaunchSpec& spec, const std::shared_ptr<ContainerParent>& parent,
                     const std::function<Result<void>(int pid)>& attach);

}  // namespace herd::runtime
