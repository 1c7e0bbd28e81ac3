#include "runtime/switch_select.h"

namespace herd::runtime {

Result<std::unique_ptr<SwitchBackend>> makeSwitchBackend(const SwitchOptions& o, std::string* why) {
    auto say = [why](std::string s) {
        if (why) *why = std::move(s);
    };
    if (o.kind == "kernel") {
        say("kernel bridges (-switch kernel)");
        return makeKernelBridgeBackend(o.prefix, o.keep_links);
    }
    if (o.kind != "ovs" && o.kind != "auto") {
        return Error::msg("unknown switch backend " + o.kind + ": expected auto, kernel or ovs");
    }
    OvsOptions oo;
    oo.prefix = o.prefix;
    oo.db = o.ovsdb;
    oo.datapath = o.ovs_datapath;
    const std::string dp = oo.datapath.empty() ? defaultOvsDatapath() : oo.datapath;
    auto ovs = makeOvsBackend(oo);
    if (ovs.ok()) {
        say("open vswitch at " + o.ovsdb + ", datapath " + dp + " (-switch " + o.kind + ")");
        return ovs;
    }
    if (o.kind == "ovs") return ovs.error().wrap("open vswitch");
    say("kernel bridges (-switch auto: no open vswitch: " + ovs.error().text() + ")");
    return makeKernelBridgeBackend(o.prefix, o.keep_links);
}

Result<void> nukeSwitches(const SwitchOptions& o) {
    auto links = nukeLinks(o.prefix);
    Result<void> ovs;
    if (o.kind != "kernel") ovs = nukeOvs(o.ovsdb, o.prefix, /*required=*/o.kind == "ovs");
    if (!links.ok()) return links;
    return ovs;
}

}  // namespace herd::runtime
