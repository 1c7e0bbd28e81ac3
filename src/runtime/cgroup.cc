#include "runtime/cgroup.h"

#include <fstream>
#include <sstream>

#include "base/strings.h"
#include "runtime/cgroup_fs.h"

namespace herd::runtime {

const std::vector<DeviceRule>& defaultDeviceRules() {
    // runc's default allow-list (null, zero, full, random, urandom, tty,
    // console, ptmx, tun) and every pty (136:*). No "mknod anything".
    static const std::vector<DeviceRule> rules = {
        {'c', 1, 3}, {'c', 1, 5}, {'c', 1, 7}, {'c', 1, 8},    {'c', 1, 9},
        {'c', 5, 0}, {'c', 5, 1}, {'c', 5, 2}, {'c', 136, -1}, {'c', 10, 200},
    };
    return rules;
}

namespace {

bool under(const std::string& path, const std::string& root) {
    return path == root || path.rfind(root + "/", 0) == 0;
}

}  // namespace

Result<std::unique_ptr<CgroupDriver>> detectCgroups(const std::string& root,
                                                    const std::string& prefix) {
    std::ifstream mounts("/proc/self/mounts");
    std::string line;
    std::string v2;
    std::vector<std::pair<std::string, std::string>> v1;
    while (std::getline(mounts, line)) {
        std::istringstream in(line);
        std::string dev, dir, type, opts;
        if (!(in >> dev >> dir >> type >> opts) || !under(dir, root)) continue;
        if (type == "cgroup2" && v2.empty()) {
            v2 = dir;
        } else if (type == "cgroup") {
            for (const std::string& opt : split(opts, ",")) {
                for (const char* c : {"memory", "cpu", "cpuacct", "pids", "devices", "freezer"}) {
                    if (opt == c) v1.emplace_back(c, dir);
                }
            }
        }
    }
    if (!v2.empty()) {
        auto ctrls = cgfs::read(v2 + "/cgroup.controllers");
        if (ctrls.ok() && ctrls->find("memory") != std::string::npos) {
            return makeCgroupV2(v2, prefix);
        }
    }
    int found = 0;
    for (const char* need : {"memory", "cpu", "pids", "devices", "freezer"}) {
        for (const auto& [c, d] : v1) {
            if (c == need) {
                ++found;
                break;
            }
        }
    }
    if (found == 5) return makeCgroupV1(std::move(v1), prefix);
    return Error::msg("no usable cgroup hierarchy under " + root +
                      ": herd needs cgroup v2 with the memory controller enabled, or cgroup v1 "
                      "hierarchies for memory, cpu, pids, devices and freezer (mount them, or "
                      "point -cgroup at where they are)");
}

}  // namespace herd::runtime
