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

#include <linux/futex.h>

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "runtime/landlock.h"
#include "runtime/launch_internal.h"
#include "runtime/reaper.h"

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

long futex(int* word, int op, int val, const timespec* timeout = nullptr) {
    return syscall(SYS_futex, word, op, val, timeout, nullptr, 0);
}

// Waits until the kernel cleared `tid` (the child exec'd or exited), until
// `deadline`; false on timeout.
bool waitCleared(int* tid, std::chrono::steady_clock::time_point deadline) {
    using namespace std::chrono;
    for (;;) {
        int v = __atomic_load_n(tid, __ATOMIC_ACQUIRE);
        if (v == 0) return true;
        auto left = deadline - steady_clock::now();
        if (left <= nanoseconds(0)) return false;
        auto ns = duration_cast<nanoseconds>(left).count();
        timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
        futex(tid, FUTEX_WAIT, v, &ts);
    }
}

class SelfParent : public ContainerParent {
  public:
    // first_slot < 0: each child copies this process's descriptor table.
    // Otherwise children share it (CLONE_FILES) until their first step, and
    // get the sync socket and layers directory on first_slot and the one
    // after, which hold `placeholder` between launches (sharedTableParent).
    SelfParent(const Isolation& iso, int first_slot, int placeholder)
        : iso_(iso), slot_(first_slot), placeholder_(placeholder) {}

    ~SelfParent() override { exits_.reset(); }

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
                    CLONE_NEWUTS | CLONE_CHILD_CLEARTID | SIGCHLD;
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
        int pid = ::clone(childMain, static_cast<char*>(state->stack) + kStackSize, flags, &args,
                          nullptr, nullptr, &args.tid);
        int clone_errno = errno;
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
        if (pid < 0) {
            clearSlots();
            return Error::sys(clone_errno, "clone", "container");
        }
        if (slot_ >= 0) {
            // The slots are the child's until it has a table of its own: then
            // this process lets go of its copies (the sync socket must close
            // when the child execs). tid clears if it died first.
            while (!__atomic_load_n(&args.unshared, __ATOMIC_ACQUIRE) &&
                   __atomic_load_n(&args.tid, __ATOMIC_ACQUIRE) != 0) {
                sched_yield();
            }
            clearSlots();
        }
        std::lock_guard<std::mutex> lock(mu_);
        states_[pid] = std::move(state);
        live_.insert(pid);
        Cloned c;
        c.pid = pid;
        c.serial = ++serial_;
        return c;
    }

    std::vector<Result<void>> start(const std::vector<ChildRef>& children,
                                    int timeout_ms) override {
        using namespace std::chrono;
        const auto deadline = steady_clock::now() + milliseconds(timeout_ms);
        std::vector<int> pids;
        for (const auto& c : children) pids.push_back(c.pid);
        std::vector<Result<void>> out(pids.size());
        std::vector<ChildArgs*> args(pids.size(), nullptr);
        {
            std::lock_guard<std::mutex> lock(mu_);
            std::set<int> seen;
            for (size_t i = 0; i < pids.size(); ++i) {
                if (!seen.insert(pids[i]).second) {
                    out[i] = Error::msg("start: the same child twice");
                    continue;
                }
                auto it = states_.find(pids[i]);
                if (it == states_.end() ||
                    __atomic_load_n(&it->second->args.tid, __ATOMIC_ACQUIRE) == 0) {
                    out[i] = Error::msg("start: init is not waiting to start (it exited or ran)");
                    continue;
                }
                args[i] = &it->second->args;
                __atomic_store_n(&args[i]->go, kGo, __ATOMIC_RELEASE);
                futex(&args[i]->go, FUTEX_WAKE_PRIVATE, 1);
            }
        }
        // The states stay while this waits: only this thread or a reap frees
        // them, and the caller does not reap what it starts.
        for (size_t i = 0; i < pids.size(); ++i) {
            if (!args[i]) continue;
            if (!waitCleared(&args[i]->tid, deadline)) {
                out[i] = Error::sys(ETIMEDOUT, "wait for exec of", "init");
                continue;
            }
            if (__atomic_load_n(&args[i]->failed, __ATOMIC_ACQUIRE))
                out[i] = childError(args[i]->exec_error);
            forget(pids[i]);
        }
        return out;
    }

    bool waiting(int pid) override {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = states_.find(pid);
        return it != states_.end() &&
               __atomic_load_n(&it->second->args.go, __ATOMIC_ACQUIRE) == 0 &&
               __atomic_load_n(&it->second->args.tid, __ATOMIC_ACQUIRE) != 0;
    }

    void kill(const ChildRef& child, int sig) override {
        // Under the lock that reaping takes: an unreaped child's pid cannot
        // have been reused, so the signal reaches this child or its zombie.
        std::lock_guard<std::mutex> lock(mu_);
        if (live_.count(child.pid)) ::kill(child.pid, sig);
    }

    std::optional<int> tryReap(const ChildRef& child) override {
        return reapPid(child.pid, WNOHANG);
    }

    int reap(const ChildRef& child) override {
        auto s = reapPid(child.pid, 0);
        return s ? *s : SIGKILL;
    }

    Result<unique_fd> pidfd(const ChildRef& child) override {
        const int pid = child.pid;
        std::lock_guard<std::mutex> lock(mu_);
        if (!live_.count(pid)) return Error::sys(ESRCH, "pidfd_open", std::to_string(pid));
        unique_fd fd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
        if (!fd) return Error::sysNow("pidfd_open", std::to_string(pid));
        return fd;
    }

    void watch(const ChildRef& child, std::function<void()> on_exit) override {
        auto fd = pidfd(child);
        if (!fd.ok()) {
            on_exit();  // reaped already
            return;
        }
        std::lock_guard<std::mutex> lock(watch_mu_);
        if (!exits_) {
            auto w = ExitWatcher::start([this](int key, uint64_t) { fired(key); });
            if (!w.ok()) return;
            exits_ = std::move(*w);
        }
        int key = next_key_++;
        exits_->watch(key, 0, fd->get());
        watched_[key] = {std::move(*fd), std::move(on_exit)};
    }

  private:
    void clearSlots() {
        if (slot_ < 0) return;
        dup3(placeholder_, slot_, O_CLOEXEC);
        dup3(placeholder_, slot_ + 1, O_CLOEXEC);
    }

    // Waits for pid (flags: WNOHANG or 0) without reaping, then reaps it
    // under the lock kill() takes.
    std::optional<int> reapPid(int pid, int flags) {
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (!live_.count(pid)) return std::nullopt;
        }
        siginfo_t si{};
        for (;;) {
            int r = waitid(P_PID, static_cast<id_t>(pid), &si, WEXITED | WNOWAIT | flags);
            if (r < 0 && errno == EINTR) continue;
            if (r < 0 || si.si_pid == 0) return std::nullopt;
            break;
        }
        std::lock_guard<std::mutex> lock(mu_);
        if (!live_.count(pid)) return std::nullopt;  // another thread reaped it
        siginfo_t done{};
        while (waitid(P_PID, static_cast<id_t>(pid), &done, WEXITED) < 0 && errno == EINTR) {
        }
        live_.erase(pid);
        states_.erase(pid);
        return statusOf(si);
    }

    void forget(int pid) {
        std::unique_ptr<ChildState> gone;
        std::lock_guard<std::mutex> lock(mu_);
        auto it = states_.find(pid);
        if (it == states_.end()) return;
        gone = std::move(it->second);
        states_.erase(it);
    }

    void fired(int key) {
        std::function<void()> cb;
        {
            std::lock_guard<std::mutex> lock(watch_mu_);
            auto it = watched_.find(key);
            if (it == watched_.end()) return;
            cb = std::move(it->second.second);
            watched_.erase(it);  // closes the pidfd
        }
        if (cb) cb();
    }

    Isolation iso_;
    const int slot_;
    const int placeholder_;
    std::mutex mu_;  // states_, live_
    std::map<int, std::unique_ptr<ChildState>> states_;
    std::set<int> live_;  // cloned and not yet reaped here
    uint64_t serial_ = 0;
    // watch(): the calling process as the parent, without a keeper (tests).
    std::mutex watch_mu_;
    std::unique_ptr<ExitWatcher> exits_;
    std::map<int, std::pair<unique_fd, std::function<void()>>> watched_;
    int next_key_ = 1;
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
        if (ref_.pid > 0 && !reaped_) killAndReap();
        ref_ = std::exchange(o.ref_, ChildRef{});
        parent_ = std::move(o.parent_);
        released_ = o.released_;
        reaped_ = std::exchange(o.reaped_, true);
    }
    return *this;
}

Child::~Child() {
    if (ref_.pid > 0 && !reaped_) killAndReap();
}

std::vector<Result<void>> Child::startAll(const std::vector<Child*>& children, int timeout_ms) {
    std::vector<Result<void>> out(children.size());
    // By parent (one in practice): one request for all of a parent's.
    std::map<ContainerParent*, std::vector<size_t>> by_parent;
    for (size_t i = 0; i < children.size(); ++i) {
        Child* c = children[i];
        if (c->ref_.pid <= 0 || c->reaped_ || !c->parent_) {
            out[i] = Error::msg("start: init is not running");
            continue;
        }
        by_parent[c->parent_.get()].push_back(i);
    }
    for (auto& [parent, idx] : by_parent) {
        std::vector<ChildRef> refs;
        for (size_t i : idx) {
            refs.push_back(children[i]->ref_);
            children[i]->released_ = true;
        }
        auto rs = parent->start(refs, timeout_ms);
        for (size_t k = 0; k < idx.size(); ++k)
            out[idx[k]] = k < rs.size() ? rs[k] : Error::msg("start: no answer");
    }
    return out;
}

void Child::kill() {
    if (ref_.pid > 0 && !reaped_) parent_->kill(ref_, SIGKILL);
}

int Child::killAndReap() {
    if (ref_.pid <= 0 || reaped_) return 0;
    parent_->kill(ref_, SIGKILL);
    reaped_ = true;
    return parent_->reap(ref_);
}

std::optional<int> Child::tryReap() {
    if (ref_.pid <= 0 || reaped_) return std::nullopt;
    auto status = parent_->tryReap(ref_);
    if (status) reaped_ = true;
    return status;
}

Child Child::adopt(const ChildRef& ref, std::shared_ptr<ContainerParent> parent, bool released) {
    Child c;
    c.ref_ = ref;
    c.parent_ = std::move(parent);
    c.released_ = released;
    c.reaped_ = false;
    return c;
}

void Child::abandon() {
    ref_ = ChildRef{};
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
    child.ref_ = *cloned;
    child.reaped_ = false;

    if (auto r = attach(child.ref_.pid); !r.ok()) return r.error();  // ~Child kills and reaps
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
    // BUILDING: the child waits on its parent's memory (ContainerParent::start).
    return child;
}

}  // namespace herd::runtime
