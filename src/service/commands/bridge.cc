// `bridge`: the listing, and trunk, notrunk, tunnel, notunnel, config and
// destroy (minimega's forms and error texts; service/bridges.h).
#include <algorithm>
#include <map>
#include <set>

#include "service/bridges.h"
#include "service/capture.h"
#include "service/commands/commands.h"
#include "service/commands/vm_internal.h"
#include "service/gostr.h"
#include "service/hostnet.h"
#include "service/names.h"
#include "service/tap_mirror.h"
#include "service/vm.h"
#include "service/vm_ops.h"

namespace herd {

namespace {

using cli::Command;

// minimega's columns, then herd's: which backend carries the bridge, the
// switches behind it (one kernel bridge per VLAN, or the OVS bridge) and
// its host taps. Not namespace-aware (as minimega), but VLANs print with
// the active namespace's aliases.
void listBridges(CommandContext& ctx) {
    struct Row {
        bool preexisting = true;
        std::set<int> vlans;
        std::set<std::string> switches, trunks, tunnels;
        std::vector<std::string> taps;
    };
    std::map<std::string, Row> bridges;
    std::string backend;
    if (runtime::SwitchBackend* swp = ctx.herd().runtime().switchBackend()) {
        auto& sw = *swp;
        backend = std::string(sw.kind());
        for (const auto& s : sw.switches()) {
            Row& r = bridges[s.bridge];
            r.preexisting = r.preexisting && (s.overflow || !s.created);
            r.vlans.insert(s.vlan);
            r.switches.insert(s.kernel);
        }
        for (const auto& u : sw.uplinks()) {
            Row& r = bridges[u.bridge];
            (u.tunnel ? r.tunnels : r.trunks).insert(u.iface);
        }
    }
    if (ctx.herd().hostnetIfAny())
        for (const HostTap* t : ctx.herd().hostnet().taps())
            bridges[t->bridge].taps.push_back(t->name);
    if (Bridges* b = ctx.herd().bridgesIfAny())
        for (const auto& name : b->configured()) bridges[name];
    std::vector<std::vector<std::string>> rows;
    for (auto& [name, r] : bridges) {
        std::vector<std::string> vlans;
        for (int v : r.vlans) vlans.push_back(ctx.herd().vlans().print(ctx.ns(), v));
        std::sort(vlans.begin(), vlans.end());
        std::vector<std::string> switches(r.switches.begin(), r.switches.end());
        std::vector<std::string> trunks(r.trunks.begin(), r.trunks.end());
        std::vector<std::string> tunnels(r.tunnels.begin(), r.tunnels.end());
        Bridges* b = ctx.herd().bridgesIfAny();
        const std::string config = b ? b->configJson(name) : std::string("{}");
        // A bridge with no switch yet (only a trunk, or a config) was made by herd.
        const bool preexisting = r.preexisting && !r.switches.empty();
        rows.push_back({name, preexisting ? "true" : "false", go::list(vlans), go::list(trunks),
                        go::list(tunnels), "[]", config, backend, go::list(switches),
                        go::list(r.taps)});
    }
    emitTable(ctx,
              {"bridge", "preexisting", "vlans", "trunks", "tunnels", "bonds", "config", "backend",
               "switches", "taps"},
              std::move(rows), "");
}

bool isHerdPort(Herd& herd, const std::string& name) {
    for (const auto& ns : herd.namespaces().names())
        for (Vm* vm : herd.vms().inNamespace(ns))
            for (const auto& n : vm->config.networks)
                if (n.tap == name) return true;
    return herd.hostnetIfAny() && herd.hostnet().findTap(name);
}

// The bridge's host taps, mirrors and captures (every namespace's), then
// its trunks, tunnels and switches. Refused while VMs have NICs on it.
Result<void> destroyBridge(Herd& herd, runtime::SwitchBackend& sw, const std::string& bridge) {
    const bool known =
        sw.hasBridge(bridge) || (herd.bridgesIfAny() && herd.bridges().configJson(bridge) != "{}");
    if (!known) return Error::msg("bridge not found: " + bridge);
    std::vector<std::string> vms;
    for (const auto& ns : herd.namespaces().names())
        for (Vm* vm : herd.vms().inNamespace(ns))
            for (const auto& n : vm->config.networks)
                if (n.bridge == bridge && inStates(vm->state, kKillable)) {
                    vms.push_back(vm->name);
                    break;
                }
    if (!vms.empty())
        return Error::msg("cannot destroy bridge " + bridge +
                          ": VMs have NICs on it: " + go::list(vms) + " (kill them first)");
    if (TapMirrors* tm = herd.tapMirrorsIfAny())
        for (const auto& ns : herd.namespaces().names())
            for (const TapMirror* m : tm->list(ns))
                if (m->bridge == bridge) HERD_TRY(tm->remove(&sw, ns, m->dst));
    if (HostNet* hn = herd.hostnetIfAny()) {
        std::vector<std::string> taps;
        for (const HostTap* t : hn->taps())
            if (t->bridge == bridge) taps.push_back(t->name);
        if (TapMirrors* tm = herd.tapMirrorsIfAny()) tm->portsGone(&sw, taps);
        for (const auto& t : taps) HERD_TRY(hn->deleteTap(&sw, t));
    }
    if (CaptureService* cs = herd.capturesIfAny())
        for (const auto& ns : herd.namespaces().names())
            HERD_TRY(cs->deleteBridge(ns, bridge, &sw));
    return herd.bridges().destroy(sw, bridge);
}

void bridgeCommand(Command& c, CommandContext& ctx) {
    Herd& herd = ctx.herd();
    const bool change = c.flag("trunk") || c.flag("notrunk") || c.flag("tunnel") ||
                        c.flag("notunnel") || c.flag("config") || c.flag("destroy");
    if (!change) return listBridges(ctx);
    const std::string bridge = c.str("bridge");
    if (bridge == std::string(kWildcard))
        return ctx.fail("`" + bridge + "` is a reserved word -- cannot use for bridge name");
    if (c.flag("config")) {
        // minimega's check comes before any switch work.
        const std::string& pair = c.str("config=value");
        auto eq = pair.find('=');
        if (eq == std::string::npos || eq == 0 || pair.find('=', eq + 1) != std::string::npos)
            return ctx.fail("expected key=value");
    }
    runtime::SwitchBackend* sw = herd.runtime().switchBackend();
    if (!sw) return ctx.fail("bridge changes need the container runtime (not -runtime dry)");
    Bridges& b = herd.bridges();
    if (c.flag("trunk")) {
        return okOrFail(ctx, b.trunk(*sw, bridge, c.str("interface"),
                                     [&](const std::string& n) { return isHerdPort(herd, n); }));
    }
    if (c.flag("notrunk")) return okOrFail(ctx, b.notrunk(*sw, bridge, c.str("interface")));
    if (c.flag("notunnel")) return okOrFail(ctx, b.notunnel(*sw, bridge, c.str("interface")));
    if (c.flag("tunnel")) {
        auto name = b.tunnel(*sw, c.flag("vxlan") ? "vxlan" : "gre", bridge, c.str("remote"),
                             c.has("key") ? c.str("key") : "");
        if (!name.ok()) return ctx.fail(name.error().text());
        return ctx.ok();
    }
    if (c.flag("config")) return okOrFail(ctx, b.config(*sw, bridge, c.str("config=value")));
    okOrFail(ctx, destroyBridge(herd, *sw, bridge));
}

}  // namespace

void registerBridgeCommands(Herd& herd) {
    addHandler(
        herd,
        makeHandler("display information and modify virtual bridges",
                    "With no arguments, list the bridges VMs and host taps use: whether they "
                    "existed\nbefore herd, their VLANs, trunks, tunnels and remembered config, "
                    "the backend\ncarrying them (kernel: one kernel bridge per VLAN; ovs), the "
                    "switches behind\nthem and their host taps. Not namespace-aware.\n\n"
                    "To carry every VLAN of a bridge, each frame with its 802.1Q tag, over a "
                    "host\ninterface (a trunk), and to stop:\n\n"
                    "\tbridge trunk mega_bridge eth1\n\tbridge notrunk mega_bridge eth1\n\n"
                    "To do the same over a vxlan or gre tunnel to another host (the new "
                    "port's name\nis <prefix>u<n>, shown by `bridge`), and to stop:\n\n"
                    "\tbridge tunnel vxlan mega_bridge 10.0.0.2 [key]\n"
                    "\tbridge notunnel mega_bridge <prefix>u0\n\n"
                    "On the kernel-bridge backend the tagging is done by tc BPF programs and "
                    "gre is\nnot available. To set a column of the Open vSwitch bridge "
                    "(remembered and\nlisted), and to remove a bridge with its taps, trunks, "
                    "tunnels and captures:\n\n"
                    "\tbridge config mega_bridge stp_enable=true\n\tbridge destroy mega_bridge",
                    {"bridge", "bridge <trunk,> <bridge> <interface>",
                     "bridge <notrunk,> <bridge> <interface>",
                     "bridge <tunnel,> <vxlan,gre> <bridge> <remote ip> [key]",
                     "bridge <notunnel,> <bridge> <interface>",
                     "bridge <config,> <bridge> <config=value>", "bridge <destroy,> <bridge>"},
                    bridgeCommand));
}

}  // namespace herd
