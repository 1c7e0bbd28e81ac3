#include "service/owned_child.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

#include "base/unique_fd.h"

namespace herd {

Result<std::unique_ptr<OwnedChild>> OwnedChild::spawn(const std::vector<std::string>& argv,
                                                      unique_fd log, OnExit on_exit) {
    if (argv.empty()) return Error::msg("spawn: no program");
    // Everything the child needs is prepared before fork: after it, in a
    // multi-threaded parent, only async-signal-safe calls are allowed.
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    char* envp[] = {const_cast<char*>("PATH=/usr/sbin:/usr/bin:/sbin:/bin"), nullptr};
    if (!log) return Error::sys(EBADF, "spawn (no log)", argv[0]);
    unique_fd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!devnull) return Error::sysNow("open", "/dev/null");
    const pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) return Error::sysNow("fork", argv[0]);
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (::getppid() != parent) _exit(127);  // the daemon died already
        // A fresh signal state: the daemon blocks some signals in threads.
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        for (int s = 1; s < NSIG; ++s) signal(s, SIG_DFL);
        ::setsid();
        if (::dup2(devnull.get(), 0) < 0 || ::dup2(log.get(), 1) < 0 || ::dup2(log.get(), 2) < 0)
            _exit(127);
        ::syscall(SYS_close_range, 3u, ~0u, 0u);
        ::execve(args[0], args.data(), envp);
        static const char msg[] = "herd: exec failed\n";
        (void)!::write(2, msg, sizeof msg - 1);
        _exit(127);
    }
    log.reset();
    devnull.reset();
    // Nobody else reaps this pid, so it cannot be reused before the waiter
    // reaps it: the pidfd refers to our child.
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (pidfd < 0) {
        // Without it stop() could never signal the child and would wait for
        // it forever: take it down now (still ours: not reaped) and fail.
        int e = errno;
        ::kill(pid, SIGKILL);
        while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
        }
        return Error::sys(e, "pidfd_open", argv[0]);
    }
    std::unique_ptr<OwnedChild> c(new OwnedChild());
    c->pid_ = pid;
    c->pidfd_ = pidfd;
    c->on_exit_ = std::move(on_exit);
    c->thread_ = std::thread([p = c.get()] { p->waiter(); });
    return c;
}

void OwnedChild::waiter() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0) {
        if (errno != EINTR) break;
    }
    {
        std::lock_guard lock(mu_);
        status_ = status;
        exited_ = true;
    }
    cv_.notify_all();
    if (on_exit_) on_exit_(status);
}

bool OwnedChild::waitExit(int timeout_ms) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                        [this] { return exited_.load(); });
}

void OwnedChild::stop(int grace_ms) {
    if (pid_ > 0 && !exited_) {
        if (pidfd_ >= 0) ::syscall(SYS_pidfd_send_signal, pidfd_, SIGTERM, nullptr, 0);
        if (!waitExit(grace_ms) && pidfd_ >= 0) {
            ::syscall(SYS_pidfd_send_signal, pidfd_, SIGKILL, nullptr, 0);
        }
    }
    if (thread_.joinable()) thread_.join();
    if (pidfd_ >= 0) {
        ::close(pidfd_);
        pidfd_ = -1;
    }
}

OwnedChild::~OwnedChild() {
    stop();
}

}  // namespace herd
