// vm net connect/disconnect. The switch port and the stored config always
// agree: a container with veths (BUILDING, RUNNING, PAUSED) has its host end
// moved before the config changes, and a failure changes neither (minimega
// only edits the config of a BUILDING container, so its port stays behind).
#include <fmt/format.h>
#include <sys/stat.h>

#include "base/fs.h"
#include "service/commands/commands.h"
#include "service/commands/vm_internal.h"
#include "service/gostr.h"
#include "service/vm_ops.h"

namespace herd {

namespace {

using cli::Command;

// minimega rewrites the instance's config file after either command
// (beneath the base, as the runtime writes it; absent under unit tests).
void rewriteConfig(const Herd& herd, const Vm& vm) {
    if (!herd.baseDir()) return;
    const std::string dir = std::to_string(vm.id);
    auto st = herd.baseDir()->lstat(dir);
    if (!st.ok() || !S_ISDIR(st->st_mode)) return;
    (void)herd.baseDir()->writeFile(dir + "/config", vm.config.configFile(), 0755);
}

void cliVmNet(Command& c, CommandContext& ctx) {
    const bool connect = c.flag("connect");
    auto pos = go::atoi(c.str("tap"));
    if (!pos.ok()) return ctx.fail(pos.error().text());
    int vlan = kDisconnectedVlan;
    std::string alias;
    if (connect) {
        // As minimega: the VLAN is resolved (an alias allocated) first.
        auto v = ctx.herd().vlans().lookup(ctx.ns(), c.str("vlan"));
        if (!v.ok()) return ctx.fail(v.error().text());
        vlan = *v;
        alias = go::atoi(c.str("vlan")).ok() ? std::to_string(vlan) : c.str("vlan");
    }
    const std::string bridge = c.has("bridge") ? c.str("bridge") : std::string();
    Runtime& rt = ctx.herd().runtime();
    auto r = applyTarget(
        ctx.herd(), ctx.ns(), c.str("vm"), [&](Vm& vm, bool, std::vector<std::string>& errors) {
            auto& nets = vm.config.networks;
            if (*pos < 0 || static_cast<size_t>(*pos) >= nets.size()) {
                bool live = inStates(vm.state, static_cast<unsigned>(VmState::Running) |
                                                   static_cast<unsigned>(VmState::Paused));
                errors.push_back(fmt::format("no network {}, {} only has {} networks", *pos,
                                             live ? "VM" : "container", nets.size()));
                return true;
            }
            size_t i = static_cast<size_t>(*pos);
            NetConfig& n = nets[i];
            if (!connect && n.vlan == kDisconnectedVlan) return true;  // nothing to do
            // Without a bridge: the one it is on, else the default.
            std::string br = bridge.empty() ? n.bridge : bridge;
            if (br.empty()) br = std::string(kDefaultBridge);
            if (auto m = rt.moveNic(vm, i, br, vlan, alias); !m.ok()) {
                errors.push_back(m.error().text());
                return true;
            }
            rewriteConfig(ctx.herd(), vm);
            return true;
        });
    okOrFail(ctx, r);
}

cli::SuggestFn vmNetSuggest() {
    auto vms = vmSuggest(true);
    return [vms](CommandContext& ctx, const std::string& key, const std::string& typed) {
        if (key == "vm") return vms(ctx, key, typed);
        std::vector<std::string> out;
        if (key == "vlan") {
            for (auto& [alias, _] : ctx.herd().vlans().aliases(ctx.ns()))
                if (alias.compare(0, typed.size(), typed) == 0) out.push_back(alias);
        }
        return out;
    };
}

}  // namespace

void registerVmNetCommands(Herd& herd) {
    addHandler(
        herd,
        makeHandler(
            "disconnect or move network connections",
            "Disconnect or move the network connections of one or more VMs. NICs are named by\n"
            "their position in `vm info` (zero indexed). To move NIC 0 of vm-0 to VLAN 100 on\n"
            "the bridge mega_bridge:\n\n"
            "\tvm net connect vm-0 0 100 mega_bridge\n\n"
            "Without a bridge, the NIC stays on its bridge (the default bridge if it is\n"
            "disconnected). To disconnect NIC 1 of vm-0 from every switch:\n\n"
            "\tvm net disconnect vm-0 1\n\n"
            "Works in every state: a container that has interfaces (building, running,\n"
            "paused) is moved at once, any other at its next start. See \"vm start\" for\n"
            "the targets.",
            {"vm net <connect,> <vm target> <tap position> <vlan> [bridge]",
             "vm net <disconnect,> <vm target> <tap position>"},
            cliVmNet, vmNetSuggest()));
}

}  // namespace herd
