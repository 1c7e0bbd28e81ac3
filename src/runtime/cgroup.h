// cgroups: one interface, a v1 and a v2 implementation (as youki does).
//
// Each daemon owns one subtree per hierarchy, named by its prefix
// (`<root>/<controller>/<prefix>` on v1, `<root>/<prefix>` on v2); each
// container gets `<subtree>/<name>`. Device rules are set once on the
// daemon's subtree and inherited by every container group.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "base/result.h"

namespace herd::runtime {

struct CgroupLimits {
    uint64_t memory_bytes = 0;  // 0 = unlimited
    uint64_t vcpus = 0;         // CPU quota in whole CPUs; 0 = unlimited
    uint64_t pids_max = 0;      // 0 = unlimited
};

struct CgroupStats {
    uint64_t memory_bytes = 0;  // current usage
    uint64_t cpu_ns = 0;        // total CPU time
    size_t procs = 0;
};

// One container's group(s).
class Cgroup {
  public:
    virtual ~Cgroup() = default;
    virtual Result<void> attach(int pid) = 0;
    virtual Result<void> freeze() = 0;
    virtual Result<void> thaw() = 0;
    // SIGKILLs every process in the group (thawing it first if needed).
    virtual Result<void> kill() = 0;
    // Removes the group; fails while processes remain (EBUSY).
    virtual Result<void> remove() = 0;
    virtual Result<CgroupStats> stats() = 0;
    virtual std::vector<int> procs() = 0;
    virtual const std::string& name() const = 0;
};

class CgroupDriver {
  public:
    virtual ~CgroupDriver() = default;
    virtual const char* version() const = 0;  // "v1" or "v2"
    // Creates the daemon's subtree with the device allow-list.
    virtual Result<void> setup() = 0;
    virtual Result<std::unique_ptr<Cgroup>> create(const std::string& name,
                                                   const CgroupLimits& limits) = 0;
    // A group a previous daemon created (adoption): ENOENT when it is gone.
    virtual Result<std::unique_ptr<Cgroup>> open(const std::string& name) = 0;
    // Kills the processes of every group under the daemon's subtree but
    // those named in `keep`, and removes those groups (the adopting daemon's
    // sweep of what a dead one left).
    virtual Result<void> removeExcept(const std::set<std::string>& keep) = 0;
    // Kills every process under the daemon's subtree and removes it all
    // (`nuke`; also what a clean shutdown ends with). Safe to run twice.
    virtual Result<void> nuke() = 0;
};

// Picks the implementation for this host: v2 when the cgroup2 mount has the
// memory controller, else v1 when v1 hierarchies exist. `root` overrides where
// to look (the `-cgroup` flag; default /sys/fs/cgroup). Errors say what is
// missing and how to fix it.
Result<std::unique_ptr<CgroupDriver>> detectCgroups(const std::string& root,
                                                    const std::string& prefix);

// Explicit constructors (tests run both on this host and on fake trees).
// v1: `mounts` maps a controller (memory, cpu, cpuacct, pids, devices,
// freezer) to the directory of its hierarchy.
std::unique_ptr<CgroupDriver> makeCgroupV1(std::vector<std::pair<std::string, std::string>> mounts,
                                           const std::string& prefix);
// v2: `device_program` false skips the eBPF device program (fake trees).
std::unique_ptr<CgroupDriver> makeCgroupV2(const std::string& mount, const std::string& prefix,
                                           bool device_program = true);

// Device rules every container gets: runc's default set plus the console and
// ptys. Each entry: type ('c'), major, minor (-1 = any), access "rwm".
struct DeviceRule {
    char type;
    int major;
    int minor;
};
const std::vector<DeviceRule>& defaultDeviceRules();

}  // namespace herd::runtime
