// Launching a container: the parent's side (launch.h). The child's steps are
// in launch_child*.cc and launch_preinit.cc (see launch_internal.h).
#include "runtime/launch.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <deque>
#include <map>
#include <memory>
#include <mutex>

#include "runtime/landlock.h"
#include "runtime/launch_internal.h"

namespace herd::runtime {

namespace launch_detail {

const char* stepName(int s) {
    switch (s) {
        case kSetsid:
            return "setsid";
        case kConsole:
            return "open console";
        case kHostname:
            return "sethostname";
        case kPropagation:
            return "make / private";
        case kOverlay:
            return "mount overlay on";
        case kBindRoot:
            return "bind root";
        case kPreinit:
            return "preinit";
        case kOpenTree:
            return "open_tree";
        case kPivot:
            return "pivot_root to";
        case kMkdir:
            return "mkdir";
        case kMount:
            return "mount";
        case kMknod:
            return "mknod";
        case kSymlink:
            return "symlink";
        case kCreate:
            return "create";
        case kMoveMount:
            return "bind mount on";
        case kMask:
            return "mask";
        case kReadonly:
            return "make read-only";
        case kInit:
            return "init";
        case kCaps:
            return "drop capabilities";
        case kNoNewPrivs:
            return "set no_new_privs";
        case kSeccomp:
            return "load seccomp filter";
        case kExec:
            return "exec init";
        case kLoopback:
            return "bring up";
        case kUuid:
            return "make product_uuid";
        default:
            return "launch step";
    }
}

}  // namespace launch_detail

namespace {

using namespace launch_detail;

constexpr size_t kStackSize = 256 * 1024;

// Keeps the strings and pointer arrays the child reads alive until it execs.
// A deque never moves its elements: a short string's characters live inside
// the std::string itself, so a vector that grew would leave the child's
// pointers dangling.
struct Arena {
    std::deque<std::string> strings;
    std::vector<std::vector<char*>> vecs;
    const char* add(const std::string& s) {
        strings.push_back(s);
        return strings.back().c_str();
    }
    char* const* addv(const std::vector<std::string>& v) {
        std::vector<char*> p;
        for (const auto& s : v) p.push_back(const_cast<char*>(add(s)));
        p.push_back(nullptr);
        vecs.push_back(std::move(p));
        return vecs.back().data();
    }
};

Error childError(const Msg& m) {
    if (m.step == kPreinit && m.err == 0) {
        std::string out = m.output;
        while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
        return Error::msg(std::string("preinit ") + m.detail + (out.empty() ? "" : ": " + out));
    }
    if (m.err == 0) return Error::msg(std::string(stepName(m.step)) + " " + m.detail);
    return Error::sys(m.err, stepName(m.step), m.detail);
}

// The VM's UUID for product_uuid, from the instance's file (herd's own,
// under the 0700 instance directory).
Result<void> readUuid(const std::string& path, ChildArgs& args) {
    unique_fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) return Error::sysNow("open", path);
    ssize_t n = read(fd.get(), args.uuid, sizeof args.uuid - 1);
    if (n < 0) return Error::sysNow("read", path);
    args.uuid_len = static_cast<size_t>(n);
    return Ok();
}

// Reads one message; 0 = EOF, <0 = -errno, -ETIMEDOUT on timeout.
long readMsg(int fd, Msg& m, int timeout_ms) {
    pollfd p{fd, POLLIN, 0};
    for (;;) {
        int r = poll(&p, 1, timeout_ms);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -errno;
        if (r == 0) return -ETIMEDOUT;
        break;
    }
    ssize_t n = recv(fd, &m, sizeof m, 0);
    if (n < 0) return -errno;
    return n;
}

// Copies what the child needs from the spec into args (strings into arena).
Result<void> prepareArgs(const LaunchSpec& spec, const Isolation& iso, Arena& arena,
                         ChildArgs& args) {
    args.hostname = arena.add(spec.hostname);
    args.root = arena.add(spec.root);
    if (!spec.lowerdir.empty()) {
        const std::string fd = "/proc/self/fd/";
        args.overlay_opts = arena.add("lowerdir=" + fd + std::to_string(kOverlayFd) +
                                      ",upperdir=" + fd + std::to_string(kOverlayFd + 1) +
                                      ",workdir=" + fd + std::to_string(kOverlayFd + 2));
        args.overlay_dirs[0] = arena.add(spec.lowerdir);
        args.overlay_dirs[1] = arena.add(spec.upperdir);
        args.overlay_dirs[2] = arena.add(spec.workdir);
        args.layers_fd = spec.layers_fd;
    }
    args.console = arena.add(spec.console);
    args.preinit = spec.preinit.empty() ? nullptr : arena.add(spec.preinit);
    if (args.preinit) HERD_TRY(planPreinitLandlock(args.preinit_landlock, args.root));
    HERD_TRY(readUuid(spec.uuid_file, args));
    for (const auto& b : spec.binds) {
        uint64_t attr = 0;
        if (b.readonly) attr |= MOUNT_ATTR_RDONLY;
        if (!b.allow_suid) attr |= MOUNT_ATTR_NOSUID;
        if (!b.allow_dev) attr |= MOUNT_ATTR_NODEV;
        args.binds[args.nbinds++] = {arena.add(b.source), arena.add(b.target), b.file, attr};
    }
    args.init_path = arena.add(spec.init[0]);
    args.init_argv = arena.addv(spec.init);
    args.envp = arena.addv(spec.env);
    args.cgroup_ns = spec.cgroup_ns;
    args.keep_caps = iso.caps(spec.host_storage) | (spec.net_admin ? netAdminCapability() : 0);
    args.last_cap = iso.last_cap;
    args.seccomp = iso.program(spec.host_storage);
    return Ok();
}

// What a cloned child reads until it execs: its arguments and its stack.
struct ChildState {
    Arena arena;
    ChildArgs args;
    void* stack = nullptr;
    ~ChildState() {
        if (stack) munmap(stack, kStackSize);
    }
};

int statusOf(const siginfo_t& si) {
    return si.si_code == CLD_EXITED ? W_EXITCODE(si.si_status, 0) : si.si_status;
}

class SelfParent : public ContainerParent {
  public:
    // first_slot < 0: each child copies this process's descriptor table.
    // Otherwise children share it (CLONE_FILES) until their first step, and
    // get the sync socket and layers directory on first_slot and the one
    // after, which hold `placeholder` between launches (sharedTableParent).
    SelfParent(const Isolation& iso, int first_slot, int placeholder)
        : iso_(iso), slot_(first_slot), placeholder_(placeholder) {}

    Result<Cloned> clone(const LaunchSpec& spec, int child_sync) override {
        auto state = std::make_unique<ChildState>();
        ChildArgs& args = state->args;
        HERD_TRY(prepareArgs(spec, iso_, state->arena, args));
        args.sync_fd = child_sync;
        state->stack = mmap(nullptr, kStackSize, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (state->stack == MAP_FAILED) {
            state->stack = nullptr;
            return Error::sysNow("mmap", "launch stack");
        }
        int flags = CLONE_VM | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC |
                    CLONE_NEWUTS | CLONE_PIDFD | SIGCHLD;
        if (slot_ >= 0) {
            if (dup3(child_sync, slot_, O_CLOEXEC) < 0) return Error::sysNow("dup3", "sync socket");
            args.sync_fd = slot_;
            if (spec.layers_fd >= 0) {
                if (dup3(spec.layers_fd, slot_ + 1, O_CLOEXEC) < 0) {
                    clearSlots();
                    return Error::sysNow("dup3", "layers directory");
                }
                args.layers_fd = slot_ + 1;
            }
            args.unshare_below = slot_ + 2;
            flags |= CLONE_FILES;
        }
        // Block every signal across clone(): the child must never run one of
        // this process's handlers on shared memory. It restores defaults
        // before exec.
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        int pidfd = -1;
        int pid =
            ::clone(childMain, static_cast<char*>(state->stack) + kStackSize, flags, &args, &pidfd);
        int clone_errno = errno;
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
        if (pid < 0) {
            clearSlots();
            return Error::sys(clone_errno, "clone", "container");
        }
        if (slot_ >= 0) {
            // The slots are the child's until it has a table of its own: then
            // this process lets go of its copies (the sync socket must close
            // when the child execs).
            while (!__atomic_load_n(&args.unshared, __ATOMIC_ACQUIRE)) {
                pollfd p{pidfd, POLLIN, 0};
                if (poll(&p, 1, 0) == 1) break;  // it died first
                sched_yield();
            }
            clearSlots();
        }
        {
            std::lock_guard<std::mutex> lock(mu_);
            states_[pid] = std::move(state);
        }
        Cloned c;
        c.pid = pid;
        c.pidfd.reset(pidfd);
        return c;
    }

    std::optional<int> tryReap(int pid, int pidfd) override {
        siginfo_t si{};
        if (waitid(P_PIDFD, pidfd, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0) {
            return std::nullopt;
        }
        execd(pid);
        return statusOf(si);
    }

    int reap(int pid, int pidfd) override {
        siginfo_t si{};
        while (waitid(P_PIDFD, pidfd, &si, WEXITED) < 0 && errno == EINTR) {
        }
        execd(pid);
        return statusOf(si);
    }

    void execd(int pid) override {
        std::unique_ptr<ChildState> gone;
        std::lock_guard<std::mutex> lock(mu_);
        auto it = states_.find(pid);
        if (it == states_.end()) return;
        gone = std::move(it->second);
        states_.erase(it);
    }

  private:
    void clearSlots() {
        if (slot_ < 0) return;
        dup3(placeholder_, slot_, O_CLOEXEC);
        dup3(placeholder_, slot_ + 1, O_CLOEXEC);
    }

    Isolation iso_;
    const int slot_;
    const int placeholder_;
    std::mutex mu_;
    std::map<int, std::unique_ptr<ChildState>> states_;
};

}  // namespace

std::shared_ptr<ContainerParent> selfParent(const Isolation& iso) {
    return std::make_shared<SelfParent>(iso, -1, -1);
}

std::shared_ptr<ContainerParent> sharedTableParent(const Isolation& iso, int first_slot,
                                                   int placeholder) {
    return std::make_shared<SelfParent>(iso, first_slot, placeholder);
}

Child::Child(Child&& o) noexcept {
    *this = std::move(o);
}

Child& Child::operator=(Child&& o) noexcept {
    if (this != &o) {
        if (pid_ > 0 && !reaped_) killAndReap();
        pid_ = std::exchange(o.pid_, -1);
        pidfd_ = std::move(o.pidfd_);
        sync_ = std::move(o.sync_);
        parent_ = std::move(o.parent_);
        released_ = o.released_;
        reaped_ = std::exchange(o.reaped_, true);
        execd_ = o.execd_;
    }
    return *this;
}

Child::~Child() {
    if (pid_ > 0 && !reaped_) killAndReap();
}

Result<void> Child::release() {
    char g = 'G';
    if (send(sync_.get(), &g, 1, MSG_NOSIGNAL) != 1) {
        // EPIPE: the child's end is closed, so it exec'd (released by a
        // previous daemon that died before it heard) or died: waitExec
        // tells which.
        if (errno == EPIPE) {
            released_ = true;
            return Ok();
        }
        return Error::sysNow("release", "container");
    }
    released_ = true;
    return Ok();
}

Result<void> Child::waitExec(int timeout_ms) {
    Msg m{};
    long n = readMsg(sync_.get(), m, timeout_ms);
    sync_.reset();
    if (n == 0) {
        execd_ = true;
        if (parent_) parent_->execd(pid_);  // the child runs its own memory now
        return Ok();
    }
    if (n < 0) return Error::sys(static_cast<int>(-n), "wait for exec of", "init");
    return childError(m);
}

void Child::kill() {
    if (pid_ > 0 && !reaped_) syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
}

int Child::killAndReap() {
    if (pid_ <= 0 || reaped_) return 0;
    syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
    reaped_ = true;
    return parent_->reap(pid_, pidfd_.get());
}

std::optional<int> Child::tryReap() {
    if (pid_ <= 0 || reaped_) return std::nullopt;
    auto status = parent_->tryReap(pid_, pidfd_.get());
    if (status) reaped_ = true;
    return status;
}

Child Child::adopt(int pid, unique_fd pidfd, unique_fd sync,
                   std::shared_ptr<ContainerParent> parent, bool released) {
    Child c;
    c.pid_ = pid;
    c.pidfd_ = std::move(pidfd);
    c.sync_ = std::move(sync);
    c.parent_ = std::move(parent);
    c.released_ = released;
    c.execd_ = released && !c.sync_;
    return c;
}

void Child::abandon() {
    pid_ = -1;
    pidfd_.reset();
    sync_.reset();
    reaped_ = true;
}

Result<Child> launch(const LaunchSpec& spec, const std::shared_ptr<ContainerParent>& parent,
                     const std::function<Result<void>(int)>& attach) {
    if (spec.binds.size() > kMaxBinds) return Error::msg("too many volumes and fifos");
    if (spec.init.empty()) return Error::msg("init: no command configured");

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        return Error::sysNow("socketpair", "launch sync");
    }
    unique_fd parent_end(sv[0]), child_end(sv[1]);
    auto cloned = parent->clone(spec, child_end.get());
    if (!cloned.ok()) return cloned.error();
    child_end.reset();

    Child child;
    child.parent_ = parent;
    child.pid_ = cloned->pid;
    child.pidfd_ = std::move(cloned->pidfd);

    if (auto r = attach(child.pid_); !r.ok()) return r.error();  // ~Child kills and reaps
    if (spec.cgroup_ns) {
        char a = 'A';
        if (send(parent_end.get(), &a, 1, MSG_NOSIGNAL) != 1) {
            return Error::sysNow("launch: tell container", "cgroup attached");
        }
    }

    Msg m{};
    long n = readMsg(parent_end.get(), m, 30000);
    if (n == 0) return Error::msg("launch: container exited during setup");
    if (n < 0) return Error::sys(static_cast<int>(-n), "launch: wait for", "container setup");
    if (m.step != kReady) return childError(m);
    child.sync_ = std::move(parent_end);
    return child;
}

}  // namespace herd::runtime
