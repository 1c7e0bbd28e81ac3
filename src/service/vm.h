// The VM registry: ids, names, uuids, tags, states (minimega's lifecycle),
// the `vm info` columns, and the Runtime interface the container runtime
// implements.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "service/vmconfig.h"

namespace herd::runtime {
class Console;
class SwitchBackend;
struct CgroupStats;
struct GuestMount;
}  // namespace herd::runtime

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

// One `vm info` column, resolved once for a whole table: the name is
// looked up here, not again for every VM (a table of 10,000 VMs has 440,000
// cells). cell() is what Vm::info gives, nullopt where the column does not
// apply to the VM's type or does not exist (both shown `N/A`).
class VmInfoColumn {
  public:
    explicit VmInfoColumn(std::string_view column);
    std::optional<std::string> cell(const Vm& vm, const VlanAliases& vlans) const;

  private:
    enum class Kind {
        Id,
        Name,
        State,
        Uptime,
        Type,
        CcActive,
        Pid,
        ConsolePort,
        Vlan,
        Bridge,
        Tap,
        Mac,
        Ip,
        Ip6,
        Qos,
        Qinq,
        Config,  // a `vm config` field's column
        None,    // no such column
    };
    Kind kind_ = Kind::None;
    std::vector<const ConfigField*> fields_;  // Kind::Config: those with this column
};

// `vm info` columns in minimega's order, and the `summary` subset.
const std::vector<std::string>& vmInfoColumns();
const std::vector<std::string>& vmInfoSummaryColumns();

// A DHCP server's host interface and the switch it sits on.
struct DhcpServerPort {
    std::string ifname;
    std::string bridge;  // as the user names it
    int vlan = 0;
};

// The cc backchannel (service/cc.h), as a runtime uses it. `open` makes the
// VM's listening socket (kept across relaunches) and returns its host path,
// bound to /cc in the container; `drop` disconnects the VM's agent when the
// container goes down; `close` removes the socket at flush.
struct Backchannel {
    std::function<Result<std::string>(Vm&)> open;
    // The listening socket open() made, for the keeper to keep (-1: none);
    // `adopt` listens on one a previous daemon made (the guest's /cc is that
    // very socket).
    std::function<int(const Vm&)> listener;
    std::function<Result<void>(Vm&, int fd)> adopt;
    std::function<void(Vm&)> drop;
    std::function<void(Vm&)> close;
};

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
    // Whether `containers` more containers fit the host's limits (ptys,
    // tasks, descriptors): checked before a launch changes anything.
    // Whether `containers` more fit on the host, `with_cc` of them with the
    // cc agent (each agent's connection is one more descriptor).
    virtual Result<void> checkCapacity(size_t /*containers*/, size_t /*with_cc*/) const {
        return Ok();
    }
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

    // What a runtime that runs containers does besides the lifecycle. The
    // defaults are those of one that runs none (the dry runtime): no
    // figures, no console, no switch, NICs that only change their config.

    // Whether VMs get real containers (`vm top` and host taps need them).
    virtual bool runsContainers() const { return false; }
    // A live container's figures (`vm top`, the web page); an error when
    // it has none.
    virtual Result<runtime::CgroupStats> stats(const Vm& vm);
    virtual std::vector<int> procs(const Vm& vm);
    virtual std::shared_ptr<runtime::Console> console(const Vm& vm);
    // `cc mount`: the running container's root filesystem on the host
    // directory `target` (runtime/guest_mount.h).
    virtual Result<runtime::GuestMount> mountRoot(const Vm& vm, const std::string& target);
    // The host-side interfaces of a VM's NICs (`qos`, `capture`), in NIC
    // order, while its container has them (BUILDING, RUNNING, PAUSED);
    // empty otherwise.
    virtual std::vector<std::string> nicHostNames(const Vm& vm) const;
    // The switch every NIC and host tap is attached to; null when none.
    virtual runtime::SwitchBackend* switchBackend() { return nullptr; }
    // `vm net connect/disconnect` of NIC `index` (checked by the caller): to
    // `vlan` on `bridge`, or off every switch when `vlan` is
    // kDisconnectedVlan. On failure nothing changes.
    virtual Result<void> moveNic(Vm& vm, size_t index, const std::string& bridge, int vlan,
                                 const std::string& alias);
    // The DHCP servers herd runs (`dnsmasq start` on a host tap): a lease
    // shows in `vm info` only when one of them acknowledged the NIC's own
    // request and sits on the NIC's switch.
    virtual void setDhcpServers(std::vector<DhcpServerPort> /*servers*/) {}
    virtual void setBackchannel(Backchannel /*b*/) {}
    // Kills every container and removes everything under this daemon's
    // prefix; also works on what a SIGKILLed daemon left.
    virtual Result<void> nuke() { return Ok(); }

    // Durability (docs/durability.md). What changed in these VMs outside
    // the runtime (tags, qos) goes to their records on disk.
    virtual void saveRecords(const std::vector<Vm*>& /*vms*/) {}
    // The VMs a previous daemon on this base left running or stopped, taken
    // over once at start, before any command: the caller registers them.
    virtual std::vector<std::unique_ptr<Vm>> adoptLeftovers() { return {}; }
    // `quit keep`: writes every record and lets go of every container
    // without stopping it; the runtime does nothing more afterwards.
    virtual void keepAll() {}
    // The orderly stop (`quit`): kills and removes whatever is left. A
    // runtime destroyed without it or keepAll() kills nothing (a daemon
    // whose start failed half way leaves the containers to the next one).
    virtual void shutdown() {}
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
    // Registers a VM a previous daemon made (adoption), under its own id;
    // later ids come after it. Null when the id is taken.
    Vm* adopt(std::unique_ptr<Vm> vm);

  private:
    std::map<int, std::unique_ptr<Vm>> vms_;
    int next_id_ = 0;
};

// A random RFC 4122 version 4 UUID, lower case.
std::string randomUuid();
// A random MAC with a registered vendor prefix.
std::string randomMac();

}  // namespace herd
