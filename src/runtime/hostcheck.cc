#include "runtime/hostcheck.h"

#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

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

    // clone(CLONE_PIDFD) needs 5.3, open_tree/move_mount 5.2, cgroup.kill 5.14.
    utsname u{};
    if (uname(&u) == 0) {
        int major = 0, minor = 0;
        char dot;
        std::istringstream(u.release) >> major >> dot >> minor;
        if (major < 5 || (major == 5 && minor < 3)) {
            problems.push_back(std::string("kernel ") + u.release +
                               " is too old: herd needs Linux 5.3 or newer (pidfds, open_tree)");
        }
    }
    return problems;
}

unsigned long raiseFileLimit() {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur;
}

}  // namespace herd::runtime
