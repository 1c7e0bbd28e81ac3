#include "runtime/hostcheck.h"

#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

namespace herd::runtime {

std::vector<std::string> checkHost() {
    std::vector<std::string> problems;
    if (geteuid() != 0) problems.push_back("herd must run as root to create containers");

    struct {
        const char* ns;
        const char* config;
    } const namespaces[] = {{"mnt", "CONFIG_NAMESPACES"},
                            {"pid", "CONFIG_PID_NS"},
                            {"net", "CONFIG_NET_NS"},
                            {"ipc", "CONFIG_IPC_NS"},
                            {"uts", "CONFIG_UTS_NS"}};
    for (const auto& n : namespaces) {
        if (access((std::string("/proc/self/ns/") + n.ns).c_str(), F_OK) != 0) {
            problems.push_back(std::string("the kernel has no ") + n.ns +
                               " namespaces: rebuild it with " + n.config);
        }
    }

    std::ifstream fss("/proc/filesystems");
    std::string all((std::istreambuf_iterator<char>(fss)), std::istreambuf_iterator<char>());
    if (all.find("\toverlay\n") == std::string::npos) {
        problems.push_back(
            "overlayfs is not available: load it with `modprobe overlay` "
            "(or launch containers with `vm config snapshot false`)");
    }
    if (all.find("\tdevpts\n") == std::string::npos) {
        problems.push_back("devpts is not available (CONFIG_UNIX98_PTYS)");
    }

    // mount_setattr needs 5.12 (every container's binds and masks), close_range
    // with CLOSE_RANGE_UNSHARE 5.9, pidfds 5.3, open_tree/move_mount 5.2.
    utsname u{};
    if (uname(&u) == 0) {
        int major = 0, minor = 0;
        char dot;
        std::istringstream(u.release) >> major >> dot >> minor;
        if (major < 5 || (major == 5 && minor < 12)) {
            problems.push_back(std::string("kernel ") + u.release +
                               " is too old: herd needs Linux 5.12 or newer (mount_setattr)");
        }
    }
    return problems;
}

namespace {

Result<uint64_t> readNumber(const std::string& path) {
    std::ifstream f(path);
    uint64_t v = 0;
    if (!(f >> v)) return Error::sys(f.is_open() ? EINVAL : ENOENT, "read", path);
    return v;
}

// Rounded up to a whole 1024, for a suggested limit.
uint64_t roomFor(uint64_t need) {
    return (need + 1023) / 1024 * 1024;
}

}  // namespace

unsigned long raiseFileLimit() {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
    auto ceiling = readNumber("/proc/sys/fs/nr_open");
    if (ceiling.ok() && *ceiling > rl.rlim_max) {
        rlimit up{*ceiling, *ceiling};
        if (setrlimit(RLIMIT_NOFILE, &up) == 0) return up.rlim_cur;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur;
}

Result<HostUsage> readHostUsage() {
    HostUsage u;
    const std::pair<uint64_t*, const char*> numbers[] = {
        {&u.pty_max, "/proc/sys/kernel/pty/max"},
        {&u.ptys, "/proc/sys/kernel/pty/nr"},
        {&u.pid_max, "/proc/sys/kernel/pid_max"},
        {&u.threads_max, "/proc/sys/kernel/threads-max"}};
    for (const auto& [field, path] : numbers) {
        auto v = readNumber(path);
        if (!v.ok()) return v.error();
        *field = *v;
    }
    // /proc/loadavg: "0.10 0.20 0.30 <running>/<tasks> <last pid>".
    std::ifstream load("/proc/loadavg");
    std::string a, b, c, running;
    if (!(load >> a >> b >> c >> running) || running.find('/') == std::string::npos)
        return Error::sys(EINVAL, "read", "/proc/loadavg");
    u.tasks = std::strtoull(running.c_str() + running.find('/') + 1, nullptr, 10);
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return Error::sysNow("getrlimit", "RLIMIT_NOFILE");
    u.nofile = rl.rlim_cur;
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
        ++u.fds;
    if (ec) return Error::sys(ec.value(), "list", "/proc/self/fd");
    return u;
}

Result<void> checkCapacity(const HostUsage& u, uint64_t n, uint64_t with_cc,
                           const ContainerCost& each) {
    const std::string what =
        "cannot launch " + std::to_string(n) + " container" + (n == 1 ? "" : "s") + ": ";
    if (u.ptys + n * each.ptys > u.pty_max) {
        return Error::msg(what + "kernel.pty.max is " + std::to_string(u.pty_max) + " with " +
                          std::to_string(u.ptys) + " ptys in use, and each container's console " +
                          "is one (raise it: sysctl -w kernel.pty.max=" +
                          std::to_string(roomFor(u.ptys + n * each.ptys)) + ")");
    }
    const bool by_pids = u.pid_max <= u.threads_max;
    const uint64_t tasks_max = by_pids ? u.pid_max : u.threads_max;
    if (u.tasks + n * each.tasks > tasks_max) {
        const std::string name = by_pids ? "kernel.pid_max" : "kernel.threads-max";
        return Error::msg(what + name + " is " + std::to_string(tasks_max) + " with " +
                          std::to_string(u.tasks) + " tasks running, and each container runs " +
                          "about " + std::to_string(each.tasks) + " (raise it: sysctl -w " + name +
                          "=" + std::to_string(roomFor(u.tasks + n * each.tasks)) + ")");
    }
    // A little room for everything else (clients, viewers, capture files).
    const uint64_t fds = u.fds + n * each.fds + with_cc * each.cc_fds + 64;
    if (fds > u.nofile) {
        return Error::msg(what + "the daemon's open file limit (RLIMIT_NOFILE) is " +
                          std::to_string(u.nofile) + " with " + std::to_string(u.fds) +
                          " open, and it holds " + std::to_string(each.fds) +
                          " per container and " + std::to_string(each.cc_fds) +
                          " more per cc agent (raise the hard limit the daemon starts with, " +
                          "e.g. `ulimit -Hn " + std::to_string(roomFor(fds)) +
                          "` or LimitNOFILE= in its service, up to fs.nr_open)");
    }
    return Ok();
}

}  // namespace herd::runtime
