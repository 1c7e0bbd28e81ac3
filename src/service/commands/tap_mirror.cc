// `tap mirror` and `clear tap mirror`: minimega's forms and error texts.
#include "service/commands/tap_mirror.h"

#include <fmt/format.h>

#include "runtime/bridge.h"
#include "service/gostr.h"
#include "service/names.h"
#include "service/tap_mirror.h"
#include "service/vm.h"
#include "service/vm_ops.h"

namespace herd {

namespace {

// An interface index as minimega reads it for `tap mirror`.
Result<int> mirrorInterface(const std::string& s) {
    auto v = go::atoi(s);
    if (!v.ok() || !go::isInt32(s)) return Error::msg("invalid interface number: `" + s + "`");
    return static_cast<int>(*v);
}

struct Nic {
    std::string tap;
    std::string bridge;
};

Result<Nic> vmNic(const Vm& vm, const std::string& index) {
    auto i = mirrorInterface(index);
    if (!i.ok()) return i.error();
    const auto& nets = vm.config.networks;
    if (*i < 0 || static_cast<size_t>(*i) >= nets.size())
        return Error::msg(fmt::format("no such interface {} for {}", *i, vm.name));
    const NetConfig& n = nets[static_cast<size_t>(*i)];
    // A VM that does not run has no host end: no tap of that name exists.
    const bool live = inStates(vm.state, kKillable);
    return Nic{live ? n.tap : std::string(), n.bridge};
}

}  // namespace

void tapMirrorCommand(cli::Command& c, CommandContext& ctx) {
    Herd& herd = ctx.herd();
    runtime::SwitchBackend* sw = herd.runtime().switchBackend();
    std::string src, dst, bridge;
    if (c.has("vm")) {
        Vm* a = herd.vms().find(ctx.ns(), c.str("vm"));
        Vm* b = herd.vms().find(ctx.ns(), c.str("vm2"));
        if (!a || !b) {
            return ctx.fail("vms are not colocated or invalid vm name: " +
                            (a ? c.str("vm2") : c.str("vm")));
        }
        if (a == b && c.str("interface") == c.str("interface2"))
            return ctx.fail("cannot mirror tap to itself");
        auto na = vmNic(*a, c.str("interface"));
        if (!na.ok()) return ctx.fail(na.error().text());
        auto nb = vmNic(*b, c.str("interface2"));
        if (!nb.ok()) return ctx.fail(nb.error().text());
        if (na->bridge != nb->bridge) {
            return ctx.fail("interfaces on different bridges: " + na->bridge + " and " +
                            nb->bridge);
        }
        src = na->tap;
        dst = nb->tap;
        bridge = na->bridge;
        if (src.empty()) return ctx.fail("source tap is not on bridge");
        if (dst.empty()) return ctx.fail("destination tap is not on bridge");
    } else {
        src = c.str("src");
        dst = c.str("dst");
        bridge = c.has("bridge") ? c.str("bridge") : std::string(runtime::kDefaultBridgeName);
    }
    if (src == dst) return ctx.fail("cannot mirror tap to itself");
    if (!sw) return ctx.fail("tap mirror needs the container runtime (not -runtime dry)");
    okOrFail(ctx, herd.tapMirrors().add(*sw, ctx.ns(), bridge, src, dst));
}

void clearTapMirrorCommand(cli::Command& c, CommandContext& ctx) {
    Herd& herd = ctx.herd();
    runtime::SwitchBackend* sw = herd.runtime().switchBackend();
    TapMirrors& tm = herd.tapMirrors();
    if (c.has("vm")) {
        Vm* vm = herd.vms().find(ctx.ns(), c.str("vm"));
        if (!vm) return ctx.fail("vm not found: " + c.str("vm"));
        const std::string which = c.str("interface");
        std::vector<std::string> dsts;
        if (which == std::string(kWildcard)) {
            for (const auto& n : vm->config.networks)
                if (!n.tap.empty() && tm.isDestination(ctx.ns(), n.tap)) dsts.push_back(n.tap);
        } else {
            auto nic = vmNic(*vm, which);
            if (!nic.ok()) return ctx.fail(nic.error().text());
            dsts.push_back(nic->tap);
        }
        for (const auto& d : dsts)
            if (auto r = tm.remove(sw, ctx.ns(), d); !r.ok()) return ctx.fail(r.error().text());
        return ctx.ok();
    }
    if (c.has("name")) return okOrFail(ctx, tm.remove(sw, ctx.ns(), c.str("name")));
    okOrFail(ctx, tm.removeAll(sw, ctx.ns()));
}

}  // namespace herd
