#include "service/vlan_alias.h"

#include <fmt/format.h>

#include "service/gostr.h"

namespace herd {

Result<int> VlanAliases::lookup(const std::string& ns, const std::string& alias) {
    if (auto n = go::atoi(alias); n.ok()) {
        if (*n < 0 || *n >= 4096) return Error::msg("invalid VLAN (0 <= vlan < 4096)");
        int v = static_cast<int>(*n);
        bool aliased = false;
        for (auto& [_, a] : aliases_) aliased = aliased || a == v;
        if (!aliased) blacklist_.insert(v);
        return v;
    }
    std::string key = alias.find("//") != std::string::npos ? alias : ns + "//" + alias;
    if (auto it = aliases_.find(key); it != aliases_.end()) return it->second;
    std::set<int> used(blacklist_);
    for (auto& [_, v] : aliases_) used.insert(v);
    for (int v = min_; v < max_; ++v) {
        if (used.count(v)) continue;
        aliases_[key] = v;
        return v;
    }
    return Error::msg("out of VLANs");
}

std::string VlanAliases::print(const std::string& ns, int vlan) const {
    const std::string prefix = ns + "//";
    for (auto& [key, v] : aliases_) {
        if (v != vlan) continue;
        if (key.compare(0, prefix.size(), prefix) == 0)
            return fmt::format("{} ({})", key.substr(prefix.size()), vlan);
        return fmt::format("{} ({})", key, vlan);
    }
    return std::to_string(vlan);
}

void VlanAliases::clearNamespace(const std::string& ns) {
    const std::string prefix = ns + "//";
    for (auto it = aliases_.begin(); it != aliases_.end();) {
        if (it->first.compare(0, prefix.size(), prefix) == 0)
            it = aliases_.erase(it);
        else
            ++it;
    }
}

}  // namespace herd
