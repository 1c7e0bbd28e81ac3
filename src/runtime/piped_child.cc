#include "runtime/piped_child.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace herd::runtime {

PipedChild::PipedChild(PipedChild&& o) noexcept
    : in(std::move(o.in)),
      out(std::move(o.out)),
      err(std::move(o.err)),
      pid_(std::exchange(o.pid_, -1)) {}

PipedChild& PipedChild::operator=(PipedChild&& o) noexcept {
    if (this != &o) {
        kill();
        wait();
        in = std::move(o.in);
        out = std::move(o.out);
        err = std::move(o.err);
        pid_ = std::exchange(o.pid_, -1);
    }
    return *this;
}

PipedChild::~PipedChild() {
    kill();
    wait();
}

void PipedChild::kill() {
    if (pid_ > 0) ::kill(-pid_, SIGKILL);
}

int PipedChild::wait() {
    if (pid_ <= 0) return -1;
    int status = 0;
    pid_t r;
    while ((r = waitpid(pid_, &status, 0)) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return r < 0 ? -1 : status;
}

Result<PipedChild> PipedChild::start(const std::string& path, const std::vector<std::string>& argv,
                                     const std::map<std::string, std::string>& env,
                                     bool unprivileged) {
    int p[3][2];
    int made = 0;
    for (; made < 3; ++made) {
        if (pipe2(p[made], O_CLOEXEC) != 0) {
            int e = errno;
            for (int i = 0; i < made; ++i) {
                ::close(p[i][0]);
                ::close(p[i][1]);
            }
            return Error::sys(e, "pipe2", path);
        }
    }
    // Everything the child needs, made before the fork.
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::vector<std::string> vars;
    for (const auto& [k, v] : env) vars.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& v : vars) envp.push_back(v.data());
    envp.push_back(nullptr);
    const bool drop = unprivileged && geteuid() == 0;
    const char* exe = path.c_str();

    pid_t pid = fork();
    if (pid == 0) {
        // The child: async-signal-safe calls only.
        setpgid(0, 0);
        dup2(p[0][0], 0);
        dup2(p[1][1], 1);
        dup2(p[2][1], 2);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        signal(SIGPIPE, SIG_DFL);
        if (chdir("/") != 0) _exit(126);
        if (drop) {
            // Raw system calls: the child of a threaded process must not
            // take glibc's set*id locks.
            if (syscall(SYS_setgroups, 0, nullptr) != 0 ||
                syscall(SYS_setresgid, kNobody, kNobody, kNobody) != 0 ||
                syscall(SYS_setresuid, kNobody, kNobody, kNobody) != 0)
                _exit(126);
        }
        execve(exe, args.data(), envp.data());
        _exit(errno == ENOENT ? 127 : 126);
    }
    int e = errno;
    ::close(p[0][0]);
    ::close(p[1][1]);
    ::close(p[2][1]);
    PipedChild c;
    c.in.reset(p[0][1]);
    c.out.reset(p[1][0]);
    c.err.reset(p[2][0]);
    if (pid < 0) return Error::sys(e, "fork", path);
    c.pid_ = pid;
    return c;
}

Result<std::string> filterThrough(const std::string& path, const std::vector<std::string>& argv,
                                  const std::map<std::string, std::string>& env,
                                  const std::string& input, size_t max_out,
                                  std::chrono::milliseconds timeout) {
    auto started = PipedChild::start(path, argv, env, true);
    if (!started.ok()) return started.error();
    PipedChild child = std::move(*started);
    fcntl(child.in.get(), F_SETFL, O_NONBLOCK);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string out;
    size_t written = 0;
    if (input.empty()) child.in.reset();
    char buf[16384];
    for (;;) {
        pollfd p[3] = {{child.in ? child.in.get() : -1, POLLOUT, 0},
                       {child.out ? child.out.get() : -1, POLLIN, 0},
                       {child.err ? child.err.get() : -1, POLLIN, 0}};
        if (!child.out && !child.err) break;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0)
            return Error::msg("timed out after " + std::to_string(timeout.count()) + " ms");
        int r = poll(p, 3, static_cast<int>(left.count()));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return Error::sysNow("poll", path);
        if (p[0].revents) {
            ssize_t w = ::write(child.in.get(), input.data() + written, input.size() - written);
            if (w > 0) written += static_cast<size_t>(w);
            if (w < 0 && errno != EAGAIN && errno != EINTR) written = input.size();
            if (written == input.size()) child.in.reset();
        }
        for (int i = 1; i < 3; ++i) {
            if (!p[i].revents) continue;
            unique_fd& fd = i == 1 ? child.out : child.err;
            ssize_t n = ::read(fd.get(), buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                fd.reset();
                continue;
            }
            if (i == 1) {
                out.append(buf, static_cast<size_t>(n));
                if (out.size() > max_out)
                    return Error::msg("output over " + std::to_string(max_out) + " bytes");
            }
        }
    }
    int status = child.wait();
    if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return Error::msg(status >= 0 && WIFEXITED(status)
                              ? "exit status " + std::to_string(WEXITSTATUS(status))
                              : std::string("killed"));
    return out;
}

}  // namespace herd::runtime
