#include "service/bridges.h"

#include <net/if.h>

#include <nlohmann/json.hpp>

namespace herd {

Result<runtime::Netlink*> Bridges::netlink() {
    if (!nl_) {
        auto nl = runtime::Netlink::open();
        if (!nl.ok()) return nl.error();
        nl_.emplace(std::move(*nl));
    }
    return &*nl_;
}

Result<void> Bridges::checkTrunkInterface(const std::string& iface, const IsHerdPort& herd_port) {
    const std::string bad = "cannot trunk to " + iface + ": ";
    if (iface.empty() || iface.size() > runtime::kMaxIfName || iface.find('/') != std::string::npos)
        return Error::msg(bad + "not a valid interface name (1 to 15 bytes, no `/`)");
    if (runtime::isOwnedLink(prefix_, iface) || (herd_port && herd_port(iface)))
        return Error::msg(bad + "it is one of herd's own interfaces");
    auto nl = netlink();
    if (!nl.ok()) return nl.error();
    auto l = (*nl)->link(iface);
    if (!l.ok()) {
        if (l.error().errnum() == ENODEV) return Error::msg(bad + "no such interface");
        return l.error();
    }
    if (l->flags & IFF_LOOPBACK) return Error::msg(bad + "it is the loopback interface");
    if (l->kind == "bridge" || l->kind == "openvswitch")
        return Error::msg(bad + "it is a bridge, not a port");
    if (l->master > 0) {
        std::string master = "ifindex " + std::to_string(l->master);
        if (auto all = (*nl)->links(); all.ok())
            for (const auto& m : *all)
                if (m.index == l->master) master = m.name;
        return Error::msg(bad + "it is already a port of bridge " + master);
    }
    return Ok();
}

Result<void> Bridges::trunk(runtime::SwitchBackend& sw, const std::string& bridge,
                            const std::string& iface, const IsHerdPort& herd_port) {
    for (const auto& u : sw.uplinks())
        if (u.bridge == bridge && u.iface == iface && !u.tunnel)
            return Error::msg("bridge already trunking to " + iface);
    HERD_TRY(checkTrunkInterface(iface, herd_port));
    auto nl = netlink();
    if (!nl.ok()) return nl.error();
    return sw.addTrunk(**nl, bridge, iface);
}

Result<void> Bridges::notrunk(runtime::SwitchBackend& sw, const std::string& bridge,
                              const std::string& iface) {
    auto nl = netlink();
    if (!nl.ok()) return nl.error();
    return sw.removeUplink(**nl, bridge, iface, /*tunnel=*/false);
}

Result<std::string> Bridges::tunnel(runtime::SwitchBackend& sw, const std::string& type,
                                    const std::string& bridge, const std::string& remote,
                                    const std::string& key) {
    runtime::SwitchBackend::TunnelSpec t;
    t.type = type;
    if (!runtime::parseIp(remote, t.remote))
        return Error::msg("invalid remote ip: `" + remote + "` (an IPv4 or IPv6 address)");
    if (!key.empty()) {
        // A vxlan VNI has 24 bits; a gre key 32.
        const uint64_t max = type == "vxlan" ? 0xffffff : 0xffffffff;
        uint64_t v = 0;
        bool ok = key.size() <= 10;
        for (char ch : key) {
            ok = ok && ch >= '0' && ch <= '9';
            if (ok) v = v * 10 + static_cast<uint64_t>(ch - '0');
        }
        if (!ok || v > max)
            return Error::msg("invalid key: `" + key + "` (" + type + " keys are 0 to " +
                              std::to_string(max) + ")");
        t.key = static_cast<uint32_t>(v);
    }
    auto nl = netlink();
    if (!nl.ok()) return nl.error();
    // The next P u<n> that no interface has.
    for (;; ++next_tunnel_) {
        auto name = runtime::tunnelPortName(prefix_, next_tunnel_);
        if (!name.ok()) return name.error();
        auto idx = (*nl)->ifindex(*name);
        if (idx.ok()) continue;
        if (idx.error().errnum() != ENODEV) return idx.error();
        t.name = *name;
        break;
    }
    ++next_tunnel_;
    HERD_TRY(sw.addTunnel(**nl, bridge, t));
    return t.name;
}

Result<void> Bridges::notunnel(runtime::SwitchBackend& sw, const std::string& bridge,
                               const std::string& iface) {
    auto nl = netlink();
    if (!nl.ok()) return nl.error();
    return sw.removeUplink(**nl, bridge, iface, /*tunnel=*/true);
}

Result<void> Bridges::config(runtime::SwitchBackend& sw, const std::string& bridge,
                             const std::string& pair) {
    auto eq = pair.find('=');
    if (eq == std::string::npos || pair.find('=', eq + 1) != std::string::npos)
        return Error::msg("expected key=value");
    const std::string key = pair.substr(0, eq), value = pair.substr(eq + 1);
    if (key.empty()) return Error::msg("expected key=value");
    HERD_TRY(sw.setBridgeConfig(bridge, key, value));
    config_[bridge][key] = value;
    return Ok();
}

Result<void> Bridges::destroy(runtime::SwitchBackend& sw, const std::string& bridge) {
    auto nl = netlink();
    if (!nl.ok()) return nl.error();
    HERD_TRY(sw.destroyBridge(**nl, bridge));
    config_.erase(bridge);
    return Ok();
}

std::string Bridges::configJson(const std::string& bridge) const {
    nlohmann::json j = nlohmann::json::object();
    if (auto it = config_.find(bridge); it != config_.end())
        for (const auto& [k, v] : it->second) j[k] = v;
    return j.dump();
}

std::vector<std::string> Bridges::configured() const {
    std::vector<std::string> out;
    for (const auto& [b, kv] : config_) out.push_back(b);
    return out;
}

}  // namespace herd
