#include "base/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "base/strings.h"
#include "base/unique_fd.h"

namespace herd {

namespace {

bool isExecutable(const std::string& p) {
    struct stat st {};
    return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111);
}

struct CArgs {
    std::vector<std::string> store;
    std::vector<char*> ptrs;
    explicit CArgs(std::vector<std::string> s) : store(std::move(s)) {
        for (auto& x : store) ptrs.push_back(x.data());
        ptrs.push_back(nullptr);
    }
    char** get() { return ptrs.data(); }
};

CArgs envArgs(const std::map<std::string, std::string>& env) {
    std::vector<std::string> v;
    for (const auto& [k, val] : env) v.push_back(k + "=" + val);
    return CArgs(std::move(v));
}

// What the daemon ignores (SIGPIPE) or blocks must not carry over to the
// programs it runs: `yes | head` would end with "Broken pipe" on stderr.
void defaultSignals(posix_spawnattr_t& attr, short flags) {
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(
        &attr, static_cast<short>(flags | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK));
}

}  // namespace

// Registers a spawned child with its canceller until it is reaped.
class ProcessRun {
  public:
    ProcessRun(ProcessCanceller* c, pid_t pid) : c_(c) {
        if (!c_) return;
        std::lock_guard lock(c_->mu_);
        c_->pid_ = pid;
        if (c_->cancelled_) killLocked(*c_);
    }
    ~ProcessRun() { reaping(); }
    ProcessRun(const ProcessRun&) = delete;
    ProcessRun& operator=(const ProcessRun&) = delete;

    // Before the child is reaped: from then on its pid may be reused.
    void reaping() {
        if (!c_) return;
        std::lock_guard lock(c_->mu_);
        c_->pid_ = 0;
    }

    static void killLocked(ProcessCanceller& c) {
        if (c.pid_ <= 0) return;
        ::kill(-c.pid_, SIGKILL);  // its group: what it started holds our pipes
        ::kill(c.pid_, SIGKILL);
    }

  private:
    ProcessCanceller* c_;
};

void ProcessCanceller::cancel() {
    std::lock_guard lock(mu_);
    cancelled_ = true;
    ProcessRun::killLocked(*this);
}

Result<std::string> lookPath(const std::string& file, const std::string& path_env) {
    if (file.find('/') != std::string::npos) {
        if (isExecutable(file)) return file;
        return Error::msg(
            "exec: \"" + file + "\": " +
            (access(file.c_str(), F_OK) == 0 ? "permission denied" : "file does not exist"));
    }
    for (std::string cand : split(path_env, ":")) {
        // An empty element means the current directory, as in a shell.
        if (cand.empty()) cand = ".";
        cand += '/';
        cand += file;
        if (isExecutable(cand)) return cand;
    }
    return Error::msg("exec: \"" + file + "\": executable file not found in $PATH");
}

Result<ProcessOutput> runProcess(const std::string& path, const std::vector<std::string>& argv,
                                 const std::map<std::string, std::string>& env,
                                 ProcessCanceller* canceller) {
    int outp[2], errp[2];
    if (pipe2(outp, O_CLOEXEC) != 0) return Error::sysNow("pipe");
    unique_fd out_r(outp[0]), out_w(outp[1]);
    if (pipe2(errp, O_CLOEXEC) != 0) return Error::sysNow("pipe");
    unique_fd err_r(errp[0]), err_w(errp[1]);

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out_w.get(), 1);
    posix_spawn_file_actions_adddup2(&fa, err_w.get(), 2);
    // A group of its own: cancelling kills whatever it started too, and a ^C
    // at the daemon's terminal does not reach it.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    defaultSignals(attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    CArgs args(argv);
    CArgs envp = envArgs(env);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, path.c_str(), &fa, &attr, args.get(), envp.get());
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) return Error::sys(rc, "spawn", path);
    out_w.reset();
    err_w.reset();
    ProcessRun run(canceller, pid);

    ProcessOutput po;
    pollfd fds[2] = {{out_r.get(), POLLIN, 0}, {err_r.get(), POLLIN, 0}};
    std::string* dst[2] = {&po.out, &po.err};
    int open_count = 2;
    char buf[65536];
    while (open_count > 0) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t n = read(fds[i].fd, buf, sizeof buf);
            if (n > 0) {
                dst[i]->append(buf, n);
            } else if (n == 0 || errno != EINTR) {
                fds[i].fd = -1;
                --open_count;
            }
        }
    }
    // Waits for the exit without reaping, so that a cancel meanwhile still
    // names this process, then reaps.
    siginfo_t si{};
    while (waitid(P_PID, static_cast<id_t>(pid), &si, WEXITED | WNOWAIT) < 0) {
        if (errno != EINTR) break;  // waitpid below reports it
    }
    run.reaping();
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return Error::sysNow("waitpid", path);
    }
    po.status = status;
    return po;
}

Result<int> spawnBackground(const std::string& path, const std::vector<std::string>& argv,
                            const std::map<std::string, std::string>& env, int log) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, log, 1);
    posix_spawn_file_actions_adddup2(&fa, log, 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    defaultSignals(attr, 0);
    CArgs args(argv);
    CArgs envp = envArgs(env);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, path.c_str(), &fa, &attr, args.get(), envp.get());
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) return Error::sys(rc, "spawn", path);
    return static_cast<int>(pid);
}

std::string waitStatusText(int status) {
    if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        const char* d = sigdescr_np(sig);
        std::string s = d ? d : "signal " + std::to_string(sig);
        // Go prints lower-case descriptions ("signal: killed").
        if (!s.empty()) s[0] = static_cast<char>(tolower(static_cast<unsigned char>(s[0])));
        return "signal: " + s;
    }
    return "unknown wait status " + std::to_string(status);
}

}  // namespace herd
