// Virtual switches for container NICs, and the names herd gives host-side
// interfaces.
//
// A SwitchBackend makes the switch that carries a (bridge, VLAN) pair and
// attaches ports to it. The kernel-bridge backend lives here; the Open vSwitch
// one (port tags, batched OVSDB transactions) in runtime/ovs.h.
//
// This kernel has no bridge VLAN filtering (MEASUREMENTS.md), so the kernel
// backend isolates VLANs with one kernel bridge per (bridge name, VLAN).
//
// Names (all within 15 bytes; the daemon prefix P is 1-8 of [a-z0-9]):
//   P v<vmid>n<nic>      host end of a NIC (decimal), e.g. herdv12n0
//   P x<VMID>n<nic>      the same with the id in upper-case base 36, when the
//                        decimal form does not fit
//   P b<vlan>            kernel bridge of VLAN <vlan> on mega_bridge
//   P b<vlan>x<I>        ... on the I-th other bridge name (upper-case base 36)
//   P k<n>               any bridge whose name above does not fit
//   P t<n>               a host tap (`tap create` without a name)
//   P p<n>               the bridge end of a host tap's veth pair (kernel
//                        backend); deleting it deletes the tap, whatever its name
//   P m<n>               an Open vSwitch mirror port a whole-bridge capture reads
//   P u<n>               a tunnel port (`bridge tunnel`): a vxlan link, or an
//                        Open vSwitch vxlan/gre interface
//   P q<n>, P r<n>       the two ends of a trunk's veth pair for one VLAN
//                        (kernel backend, runtime/trunk.h)
//   P o<n>               an overflow bridge of a VLAN (kernel backend, below)
//   P d<n>, P e<n>       the two ends of overflow bridge n's uplink: P d<n> is
//                        a port of the VLAN's first bridge, P e<n> of P o<n>
//
// A kernel bridge holds at most 1023 ports (BR_MAX_PORTS = 1024, port number
// 0 unused). When a VLAN's first bridge has no room left, the kernel backend
// adds an overflow bridge P o<n> for the same VLAN, joined to the first one by
// the veth pair P d<n> / P e<n>: a star (each overflow bridge has exactly one
// uplink, to the first bridge), so there is no loop and no STP. The first
// bridge keeps kFirstBridgeReserve ports free for those uplinks and for
// trunks; new ports go to the first bridge with room. An overflow bridge is
// removed with its uplink once no container port is left on it. Trunks and
// tunnels attach to the first bridge only: frames reach the overflow bridges
// through the uplinks.
// Everything after P contains no lower-case letter but its markers, so no
// other daemon's names (whose prefix starts with P) match this grammar, and
// nuke can remove exactly what belongs to P.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "runtime/netlink.h"

namespace herd::runtime {

inline constexpr std::string_view kDefaultBridgeName = "mega_bridge";

// Host-side name of NIC `nic` of VM `vmid`; an error when it cannot fit.
Result<std::string> vethHostName(std::string_view prefix, int vmid, int nic);
// The tap of qos delay line `n` (runtime/delay_line.h): P w<n>. Numbered,
// not named after its NIC: a tap being closed in the background may still
// hold its old name while the NIC gets a new delay line.
Result<std::string> delayTapName(std::string_view prefix, int n);

// Whether `ifname` is a name that a daemon with `prefix` makes.
bool isOwnedLink(std::string_view prefix, std::string_view ifname);

// The default name of host tap `n` (P t<n>); an error when it cannot fit.
Result<std::string> hostTapName(std::string_view prefix, int n);

// The name of capture mirror port `n` (P m<n>); an error when it cannot fit.
Result<std::string> mirrorPortName(std::string_view prefix, int n);

// Overflow bridge `n` of a VLAN (P o<n>) and its uplink's ends: P d<n> on the
// VLAN's first bridge, P e<n> on the overflow bridge. Errors when over 15 bytes.
Result<std::string> overflowBridgeName(std::string_view prefix, int n);
Result<std::pair<std::string, std::string>> overflowUplinkNames(std::string_view prefix, int n);

// Ports a kernel bridge can hold: BR_MAX_PORTS (1024) less port number 0.
inline constexpr int kBridgePortSlots = 1023;
// Ports of a VLAN's first bridge kept free for overflow uplinks and trunks.
inline constexpr int kFirstBridgeReserve = 32;
// Which of a VLAN's kernel bridges a new port goes to, given the ports each
// holds or has been promised (`used[0]` the first bridge, then the overflow
// bridges, whose uplink is not counted): the first one with room, or -1 when
// every one is full and an overflow bridge must be added.
int pickBridge(const std::vector<int>& used);

// The (bridge, VLAN) -> kernel bridge name mapping; names are assigned on
// first use and kept for the daemon's life.
class BridgeNames {
  public:
    explicit BridgeNames(std::string prefix) : prefix_(std::move(prefix)) {}
    Result<std::string> name(const std::string& bridge, int vlan);
    // The pair a kernel name stands for, if this mapping assigned it.
    std::optional<std::pair<std::string, int>> lookup(const std::string& kernel) const;
    // Takes over a name a previous daemon gave (`bridge`, `vlan`) ->
    // `kernel` (adoption): later names do not collide with it. An error when
    // `kernel` is not a name this mapping could have given the pair, or the
    // pair or its bridge already has another.
    Result<void> assign(const std::string& bridge, int vlan, const std::string& kernel);

  private:
    std::string prefix_;
    std::map<std::string, int> bridge_index_;  // bridge name -> I (mega_bridge = 0)
    std::map<std::pair<std::string, int>, std::string> names_;
    int next_index_ = 1;
    int next_fallback_ = 0;
};

// The name of tunnel port `n` (P u<n>); an error when it cannot fit.
Result<std::string> tunnelPortName(std::string_view prefix, int n);

// Where a new port goes: filled on the command thread, used by the workers.
struct PortPlan {
    int master = 0;           // kernel bridge ifindex to enslave the host end to (0 = none)
    std::string switch_name;  // the switch (kernel bridge or OVS bridge)
    int vlan = -1;            // the VLAN (an OVS port tag)
};

struct SwitchInfo {
    std::string bridge;  // as the user names it
    int vlan = 0;
    std::string kernel;     // the switch the host sees
    bool created = false;   // made by herd (removed at shutdown)
    bool overflow = false;  // an overflow bridge of the VLAN (kernel backend)
};

class SwitchBackend {
  public:
    virtual ~SwitchBackend() = default;
    virtual std::string_view kind() const = 0;
    // Makes sure the switch carrying `vlan` on `bridge` exists and says how to
    // attach to it. Command thread only.
    virtual Result<PortPlan> prepare(const std::string& bridge, int vlan) = 0;
    // Attaches an existing host interface when its creation could not (the
    // kernel backend enslaves in the veth's creation message: no-op there).
    // Called from launch workers: must be thread-safe.
    virtual Result<void> attach(Netlink& nl, const std::string& port, const PortPlan& plan) = 0;
    // attach() for the NICs of a whole `vm launch` batch, after their veths
    // exist: all or none (OVS: one transaction). Command thread only.
    struct PortRequest {
        std::string name;
        PortPlan plan;
    };
    virtual Result<void> attachMany(const std::vector<PortRequest>& ports) {
        (void)ports;
        return Ok();  // the kernel backend attached them when creating them
    }
    // The host ends of `ports` vanished with their container's network
    // namespace: drop what the switch still holds for them, at once (OVS:
    // their Port rows, one transaction; kernel: nothing, a deleted interface
    // leaves its bridge). Names the switch does not hold are ignored.
    virtual Result<void> releasePorts(const std::vector<std::string>& ports) {
        (void)ports;
        return Ok();
    }
    // Takes `port` off its switch; the interface itself stays (kernel:
    // release from the bridge; OVS: delete the port record). Used by `vm net
    // connect/disconnect` and, on OVS, when a container's veths die.
    virtual Result<void> detach(Netlink& nl, const std::string& port) = 0;
    // A host-side interface named `name` on the switch in `plan`, for the
    // host's own addresses (`tap create`): on the kernel backend a veth pair
    // whose other end is enslaved to the bridge, on OVS an internal port with
    // the VLAN tag. Command thread only.
    virtual Result<void> createHostPort(Netlink& nl, const std::string& name,
                                        const PortPlan& plan) {
        (void)nl;
        (void)plan;
        return Error::msg("tap " + name + ": host taps are not supported on the " +
                          std::string(kind()) + " switch");
    }
    virtual Result<void> deleteHostPort(Netlink& nl, const std::string& name) {
        (void)nl;
        return Error::msg("tap " + name + ": host taps are not supported on the " +
                          std::string(kind()) + " switch");
    }
    // The host interfaces that see every frame on `bridge`, for a capture
    // (`capture pcap bridge`). Here: the kernel switches carrying it (the
    // kernel backend's bridges, one per VLAN and its overflow bridges, read
    // in promiscuous mode). The
    // OVS backend instead makes the port `mirror` with a mirror of the
    // whole bridge onto it, which releaseCapture removes. `bridge not
    // found: <bridge>` when no switch carries it. Command thread only.
    virtual Result<std::vector<std::string>> openCapture(Netlink& nl, const std::string& bridge,
                                                         const std::string& mirror) {
        (void)nl;
        (void)mirror;
        std::vector<std::string> out;
        for (const auto& s : switches())
            if (s.bridge == bridge) out.push_back(s.kernel);
        if (out.empty()) return Error::msg("bridge not found: " + bridge);
        return out;
    }
    virtual Result<void> releaseCapture(Netlink& nl, const std::string& mirror) {
        (void)nl;
        (void)mirror;
        return Ok();
    }
    // `tap mirror`: every frame port `src` sends or receives is copied out of
    // port `dst` (a NIC's host end, whose guest then reads the copies, or a
    // host tap). Both must be ports of `bridge`; a mirror is named by its
    // destination. Errors are minimega's: `source tap is not on bridge`,
    // `destination tap is not on bridge`, `destination tap is already a
    // mirror`. Kernel backend: tc mirred filters on `src` (runtime/tc_mirror.h);
    // OVS: a Mirror row. Command thread only.
    virtual Result<void> addTapMirror(Netlink& nl, const std::string& bridge,
                                      const std::string& src, const std::string& dst) {
        (void)nl;
        (void)bridge;
        (void)src;
        (void)dst;
        return Error::msg("tap mirror is not supported on the " + std::string(kind()) + " switch");
    }
    // Removes the mirror whose destination is `dst`: `not a valid mirror` when
    // there is none.
    virtual Result<void> removeTapMirror(Netlink& nl, const std::string& dst) {
        (void)nl;
        (void)dst;
        return Error::msg("not a valid mirror");
    }
    // Trunks and tunnels (`bridge trunk|tunnel`): interfaces that carry
    // every VLAN of a bridge, each frame with its 802.1Q tag (an OVS port
    // without a tag). A trunk is a host interface the user names (checked by
    // the caller: it exists and is nobody's port); a tunnel is one herd makes
    // (`name`, P u<n>) towards `remote`. Both make the bridge when it does
    // not exist yet. Command thread only.
    struct Uplink {
        std::string bridge;
        std::string iface;
        bool tunnel = false;
    };
    struct TunnelSpec {
        std::string type;  // vxlan | gre
        std::string name;
        IpPrefix remote;
        std::optional<uint32_t> key;  // vxlan VNI / gre key
    };
    // Errors: `bridge already trunking to <iface>`, or `add port failed: ...`.
    virtual Result<void> addTrunk(Netlink& nl, const std::string& bridge,
                                  const std::string& iface) {
        (void)nl;
        (void)bridge;
        (void)iface;
        return Error::msg("add port failed: trunks are not supported on the " +
                          std::string(kind()) + " switch");
    }
    // `add tunnel failed: ...`.
    virtual Result<void> addTunnel(Netlink& nl, const std::string& bridge, const TunnelSpec& t) {
        (void)nl;
        (void)bridge;
        (void)t;
        return Error::msg("add tunnel failed: tunnels are not supported on the " +
                          std::string(kind()) + " switch");
    }
    // Removes trunk or tunnel `iface` of `bridge` (a tunnel's interface goes
    // too; a trunk's stays). `unknown trunk: <iface>` / `unknown tunnel:
    // <iface>` when `bridge` has none of that name.
    virtual Result<void> removeUplink(Netlink& nl, const std::string& bridge,
                                      const std::string& iface, bool tunnel) {
        (void)nl;
        (void)bridge;
        return Error::msg(std::string(tunnel ? "unknown tunnel: " : "unknown trunk: ") + iface);
    }
    virtual std::vector<Uplink> uplinks() const { return {}; }
    // `bridge config <bridge> <key>=<value>` (OVS: a column of the Bridge
    // row, or `column:key` of a map column). `set config failed: ...`.
    virtual Result<void> setBridgeConfig(const std::string& bridge, const std::string& key,
                                         const std::string& value) {
        (void)bridge;
        (void)key;
        (void)value;
        return Error::msg("set config failed: the " + std::string(kind()) +
                          " switch has no bridge settings");
    }
    // Whether the switch carries `bridge` (a VLAN, a trunk or a tunnel).
    virtual bool hasBridge(const std::string& bridge) const {
        for (const auto& s : switches())
            if (s.bridge == bridge) return true;
        for (const auto& u : uplinks())
            if (u.bridge == bridge) return true;
        return false;
    }
    // `bridge destroy`: removes the bridge's trunks and tunnels, then what
    // herd made of the bridge itself (a bridge that existed before is kept,
    // without herd's ports). The caller removed taps, mirrors and captures
    // first. `bridge not found: <bridge>`.
    virtual Result<void> destroyBridge(Netlink& nl, const std::string& bridge) {
        (void)nl;
        return Error::msg("bridge not found: " + bridge);
    }
    // Takes over the host ends of NICs a previous daemon made (adoption,
    // docs/durability.md), each to be on the switch of its (bridge, VLAN)
    // again. The kernel backend takes over the bridges they are still on
    // (the start-up sweep spared them) and removes the prefix's other
    // bridges; the default attaches each port anew. Errors are per port and
    // do not stop the others. Command thread only.
    struct AdoptedPort {
        std::string name;
        std::string bridge;
        int vlan = 0;
    };
    virtual std::vector<Result<void>> adoptPorts(Netlink& nl,
                                                 const std::vector<AdoptedPort>& ports);
    // Removes the switches herd created; keeps ones that existed before.
    virtual Result<void> shutdown() = 0;
    // Forgets every switch (after nuke removed them).
    virtual void forget() = 0;
    virtual std::vector<SwitchInfo> switches() const = 0;
};

// Claims `prefix` for this process in its network namespace (an abstract
// unix socket bound to "herd-prefix-<P>", released by the kernel when the
// process dies, even by SIGKILL): an error when a live daemon holds it. A
// container runtime holds it for its life: the names, cgroups and switch rows
// of a prefix are one daemon's, so what carries it is a dead daemon's leftover.
Result<unique_fd> claimPrefix(std::string_view prefix);

// Removes every link in the prefix's grammar (what a killed daemon with this
// prefix left) before the first bridge is made, so a leftover P b<vlan> and its
// ports never carry over into this daemon's VLANs. Call it with the prefix
// claimed (claimPrefix): a live daemon's links are not leftovers. The links
// named in `keep` are adopted containers' NICs (docs/durability.md): they
// stay, off any bridge, until the adopting daemon attaches them again.
Result<std::unique_ptr<SwitchBackend>> makeKernelBridgeBackend(
    std::string prefix, const std::set<std::string>& keep = {});

// Deletes every link named by this prefix's grammar (host veth ends first,
// then bridges) but those in `keep`; with a `keep`, the kernel backend's
// bridges and overflow uplinks stay too, for adoptPorts to take over or
// remove. Works on what a dead daemon left.
Result<void> nukeLinks(std::string_view prefix, const std::set<std::string>& keep = {});

}  // namespace herd::runtime
