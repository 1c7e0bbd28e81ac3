// What a container is made from, and what it is once made.
//
// ContainerSpec is the plain description the service builds from a VM's
// configuration (the runtime knows nothing of VMs or of the command
// language). planContainer() derives, without touching the host, everything
// a launch does with it: the instance directory's files, the overlay's
// layers, the binds, the isolation profile, the cgroup limits and the NICs'
// veths. runtime::Container (container.h) carries the plan out.
//
// ContainerRecord is the small record of a made container, what a daemon
// would write to `<base>/<id>/` to find the container again after it
// restarted (init's identity, its cgroup, network namespace, veths, disk,
// console): enough to compare with the kernel, never trusted alone. It is
// made by Container::record() and is meant to be kept, written atomically,
// as `<base>/<id>/container.json`; nothing writes or adopts it yet.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "runtime/cgroup.h"
#include "runtime/launch.h"
#include "runtime/netlink.h"

namespace herd::runtime {

// A host directory shown in the container (`vm config volume`).
struct VolumeSpec {
    std::string source;  // host path, lexically clean
    std::string target;  // path in the container, absolute
    bool readonly = false;
    bool allow_suid = false;
    bool allow_dev = false;
};

// One NIC: a veth whose container end is `veth<i>` with `mac`, whose host
// end is on the switch carrying `vlan` on `bridge` (or on none).
struct NicSpec {
    std::string mac;     // empty: the kernel picks one
    std::string bridge;  // as the user names it
    int vlan = 0;
    bool connected = true;  // false: the host end is on no switch
};

struct ContainerSpec {
    int id = 0;  // names the instance directory, cgroup and veths
    std::string name;
    std::string uuid;
    std::string hostname;
    std::string filesystem;  // the root filesystem (a host directory)
    bool snapshot = true;    // an overlay on `filesystem`, else `filesystem` itself
    // MiB of tmpfs under the overlay's upper layer (disk.h); 0: the layers
    // are plain directories in the instance directory, unlimited.
    uint64_t disk_limit_mib = 0;
    uint64_t fifos = 0;  // /dev/fifos/fifoN, host ends <instance>/fifoN
    std::vector<VolumeSpec> volumes;
    std::string cc_socket;  // host path of the cc socket, bound at /cc; "" = none
    std::string preinit;    // host program (launch.h)
    std::vector<std::string> init;
    uint64_t memory_mib = 0;  // 0 = unlimited
    uint64_t vcpus = 0;       // 0 = unlimited
    std::vector<NicSpec> nics;
};

// What a plan depends on besides the spec: facts about this daemon and host.
struct PlanContext {
    std::string base;    // the base directory's path
    std::string prefix;  // the daemon's prefix (veth names)
    uint64_t pids_max = 0;
    bool cgroup_ns = false;  // cgroup v2: the container gets a cgroup namespace
};

struct ContainerPlan {
    std::string dir;                  // the instance directory, relative to the base ("<id>")
    std::string path;                 // the same, as a path (<base>/<id>)
    std::vector<std::string> mkdirs;  // relative to the base, made in order (0755)
    std::vector<std::string> fifos;   // relative to the base (0660), kept across relaunches
    // A disk to hold the overlay's layers (disk_limit_mib); `launch.upperdir`
    // and `workdir` are then relative to its root.
    uint64_t disk_mib = 0;
    std::string disk_fallback;  // where the disk is mounted if it cannot be detached
    LaunchSpec launch;          // all but `console` and `layers_fd`
    CgroupLimits limits;
    std::vector<VethSpec> veths;  // one per NIC; the switch fills `master`
};

// The instance directory of container `id`, relative to the base.
std::string instanceDirName(int id);

// A pure function of its arguments: no file is read or made. Errors: a NIC
// whose host name cannot fit.
Result<ContainerPlan> planContainer(const ContainerSpec& spec, const PlanContext& ctx);

// Where a container's disk lives (disk.h), as a record says it.
enum class DiskKind { None, Detached, Attached };

struct ContainerRecord {
    static constexpr int kVersion = 1;
    int id = 0;
    std::string name;
    std::string uuid;
    uint64_t generation = 0;  // which launch of the container this is
    // init: its pid, and its start time (field 22 of /proc/<pid>/stat, clock
    // ticks since boot), which tells it from a later process given the same
    // pid. 0 when the container is down.
    int init_pid = 0;
    uint64_t init_start = 0;
    bool released = false;  // init was let exec (RUNNING or PAUSED, not BUILDING)
    std::string cgroup;     // the group's name under the daemon's subtree ("" = none)
    // The network namespace's identity, as /proc/<pid>/ns/net links to it
    // ("net:[4026532001]"); "" when the container is down.
    std::string netns;
    std::vector<std::string> veths;  // host ends, in NIC order
    DiskKind disk = DiskKind::None;
    std::string disk_path;  // Attached: its mount point
    uint64_t disk_mib = 0;
    std::string console;  // the unix socket its console is reached through (with the id line)
    std::string root;     // where the root filesystem is mounted or lies on the host
};

std::string recordToJson(const ContainerRecord& r);
// Refuses text that is not a record of this version (wrong types, missing
// fields): a record is read after a crash and may be torn or stale.
Result<ContainerRecord> recordFromJson(std::string_view text);

}  // namespace herd::runtime
