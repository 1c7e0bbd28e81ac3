// The VM registry: ids, names, uuids, tags, states (minimega's lifecycle),
// the `vm info` columns, and the Runtime interface the container runtime
// implements.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "service/vmconfig.h"

namespace herd {

class VlanAliases;

// Bit values so that sets of states can be masks, as in minimega.
enum class VmState : unsigned {
    Building = 1,
    Running = 2,
    Paused = 4,
    Quit = 8,
    Error = 16,
};
inline constexpr unsigned kKillable = 1 | 2 | 4;
inline bool inStates(VmState s, unsigned mask) {
    return (static_cast<unsigned>(s) & mask) != 0;
}
std::string_view stateString(VmState s);

std::string_view typeString(VmType t);

struct Vm {
    int id = 0;
    std::string name;
    std::string ns;    // namespace
    std::string host;  // where it runs (this host)
    VmType type = VmType::Container;
    VmState state = VmState::Building;
    std::chrono::steady_clock::time_point launch_time;  // first launch; kept on relaunch
    bool cc_active = false;
    int pid = 0;
    int console_port = 0;
    std::string instance_path;  // <base>/<id>
    // The launch-time copy of `vm config` (uuid and hostname filled in).
    // config.tags are the VM's tags (`vm tag`).
    VmConfig config;

    const std::string& uuid() const { return config.uuid; }
    std::map<std::string, std::string>& tags() { return config.tags; }

    // A `vm info` column; an error for columns that do not apply to this
    // VM type (rendered `N/A`).
    Result<std::string> info(std::string_view column, const VlanAliases& vlans) const;
};

// `vm info` columns in minimega's order, and the `summary` subset.
const std::vector<std::string>& vmInfoColumns();
const std::vector<std::string>& vmInfoSummaryColumns();

// `qos`: the shaping NIC `nic` of `vm` (a VM with veths) is to have; empty
// for none.
struct QosRequest {
    Vm* vm = nullptr;
    size_t nic = 0;
    NicQos qos;
};

// What starts, stops and removes VMs. Implementations move `vm.state` (and
// set the `error` tag on failure); the registry only keeps the books.
class Runtime {
  public:
    virtual ~Runtime() = default;
    // First launch of a created VM: leaves it BUILDING (or ERROR).
    virtual Result<void> launch(Vm& vm) = 0;
    // BUILDING/PAUSED -> RUNNING; QUIT/ERROR: relaunch, then RUNNING.
    virtual Result<void> start(Vm& vm) = 0;
    // RUNNING -> PAUSED.
    virtual Result<void> stop(Vm& vm) = 0;
    // BUILDING/RUNNING/PAUSED -> QUIT; returns once the VM is down.
    virtual Result<void> kill(Vm& vm) = 0;
    // QUIT/ERROR: release everything the VM holds on the host.
    virtual Result<void> flush(Vm& vm) = 0;
    // Refuses a configuration that cannot launch (a missing filesystem or
    // init), when the launch is queued rather than when it runs.
    virtual Result<void> checkConfig(const VmConfig& /*config*/) const { return Ok(); }
    // Shapes the host ends of NICs (`qos`); one result per request, in
    // order. The caller records what succeeded in the NICs' `qos`; kill
    // forgets it (the veths go). Default: nothing to shape (dry runtime).
    virtual std::vector<Result<void>> applyQos(const std::vector<QosRequest>& reqs);

    // The same for many VMs at once: a runtime may overlap the work (the
    // container runtime launches on both cores). One result per VM, in order.
    virtual std::vector<Result<void>> launchMany(const std::vector<Vm*>& vms);
    virtual std::vector<Result<void>> startMany(const std::vector<Vm*>& vms);
    virtual std::vector<Result<void>> killMany(const std::vector<Vm*>& vms);
    virtual std::vector<Result<void>> flushMany(const std::vector<Vm*>& vms);
};

// All VMs of the daemon, every namespace. Ids start at 0 and are never
// reused within a run.
class VmRegistry {
  public:
    // Creates a VM (state BUILDING, launch time now): random lower-case v4
    // uuid when the config has none, hostname = name when unset, random MACs
    // for NICs without one.
    Vm& create(const std::string& name, const std::string& ns, const std::string& host, VmType type,
               VmConfig config, const std::string& base);

    // By id (integer text) or name, within namespace `ns`.
    Vm* find(const std::string& ns, std::string_view idOrName);
    // VMs of a namespace, by id.
    std::vector<Vm*> inNamespace(const std::string& ns);
    void erase(int id);
    bool empty() const { return vms_.empty(); }

  private:
    std::map<int, std::unique_ptr<Vm>> vms_;
    int next_id_ = 0;
};

// A random RFC 4122 version 4 UUID, lower case.
std::string randomUuid();
// A random MAC with a registered vendor prefix.
std::string randomMac();

}  // namespace herd
