#include "service/vlan_alias.h"

#include <fmt/format.h>

#include <algorithm>

#include "service/gostr.h"

namespace herd {

namespace {

constexpr int kVlanStart = 101, kVlanEnd = 4096;
constexpr const char* kSep = "//";

Result<void> checkVlan(int vlan) {
    if (vlan < 0 || vlan >= 4096) return Error::msg("invalid VLAN (0 <= vlan < 4096)");
    return Ok();
}

bool isBlacklisted(const auto& a) {
    return a.ns.empty() && a.value.empty();
}

}  // namespace

VlanAliases::Alias VlanAliases::parse(const std::string& ns, const std::string& s) {
    auto sep = s.find(kSep);
    if (sep == std::string::npos) return {ns, s};
    return {s.substr(0, sep), s.substr(sep + 2)};
}

void VlanAliases::reset() {
    by_vlan_.clear();
    by_alias_.clear();
    ranges_.clear();
    ranges_[""] = {kVlanStart, kVlanEnd, kVlanStart};
}

Result<int> VlanAliases::lookup(const std::string& ns, const std::string& s) {
    if (s.empty()) return Error::msg("VLAN must be non-empty string");
    Alias a = parse(ns, s);
    if (auto n = go::atoi(a.value); n.ok()) {
        if (*n < 0 || *n >= 4096) return Error::msg("invalid VLAN (0 <= vlan < 4096)");
        int v = static_cast<int>(*n);
        // Typed literally: kept from automatic allocation unless an alias has it.
        if (!by_vlan_.count(v)) by_vlan_[v] = Alias{};
        return v;
    }
    if (auto it = by_alias_.find(a.key()); it != by_alias_.end()) return it->second;
    return allocate(a);
}

Result<int> VlanAliases::allocate(const Alias& a) {
    Range* r = &ranges_[""];
    if (auto it = ranges_.find(a.ns); it != ranges_.end()) r = &it->second;
    const bool global = r == &ranges_[""];
    for (;;) {
        while (by_vlan_.count(r->next)) ++r->next;
        if (r->next >= r->max) return Error::msg("out of VLANs");
        // The default range never hands out what a namespace reserved.
        bool moved = false;
        if (global) {
            for (auto& [name, other] : ranges_) {
                if (name.empty()) continue;
                if (r->next >= other.min && r->next < other.max) {
                    r->next = other.max;
                    moved = true;
                }
            }
        }
        if (!moved) break;
    }
    by_vlan_[r->next] = a;
    by_alias_[a.key()] = r->next;
    return r->next;
}

std::string VlanAliases::print(const std::string& ns, int vlan) const {
    auto it = by_vlan_.find(vlan);
    if (it == by_vlan_.end() || isBlacklisted(it->second)) return std::to_string(vlan);
    const Alias& a = it->second;
    return fmt::format("{} ({})", a.ns == ns ? a.value : a.key(), vlan);
}

Result<void> VlanAliases::add(const std::string& ns, const std::string& alias, int vlan) {
    HERD_TRY(checkVlan(vlan));
    Alias a = parse(ns, alias);
    if (a.value.empty()) return Error::msg("empty alias");
    if (by_alias_.count(a.key())) return Error::msg("alias already in use");
    if (by_vlan_.count(vlan)) return Error::msg("vlan already in use");
    by_vlan_[vlan] = a;
    by_alias_[a.key()] = vlan;
    return Ok();
}

Result<void> VlanAliases::blacklist(int vlan) {
    HERD_TRY(checkVlan(vlan));
    if (auto it = by_vlan_.find(vlan); it != by_vlan_.end() && !isBlacklisted(it->second))
        by_alias_.erase(it->second.key());
    by_vlan_[vlan] = Alias{};
    return Ok();
}

std::vector<int> VlanAliases::blacklisted() const {
    std::vector<int> out;
    for (const auto& [v, a] : by_vlan_)
        if (isBlacklisted(a)) out.push_back(v);
    return out;
}

std::vector<std::pair<std::string, int>> VlanAliases::aliases(const std::string& ns) const {
    std::vector<std::pair<std::string, int>> out;
    for (const auto& [v, a] : by_vlan_)
        if (!isBlacklisted(a) && a.ns == ns) out.emplace_back(a.value, v);
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<std::pair<std::string, int>> VlanAliases::allAliases() const {
    std::vector<std::pair<std::string, int>> out;
    for (const auto& [key, v] : by_alias_) out.emplace_back(key, v);
    return out;
}

Result<void> VlanAliases::setRange(const std::string& ns, int min, int max) {
    if (min < 0 || max > kVlanEnd || max <= min)
        return Error::msg(
            fmt::format("invalid VLAN range [{}, {}): expected 0 <= min < max <= 4096", min, max));
    for (const auto& [name, r] : ranges_) {
        if (name == ns || name.empty()) continue;
        if (min < r.max && r.min <= max)
            return Error::msg("range overlaps with another namespace: " + name);
    }
    ranges_[ns] = {min, max, min};
    return Ok();
}

std::optional<VlanAliases::Range> VlanAliases::range(const std::string& ns) const {
    auto it = ranges_.find(ns);
    if (it == ranges_.end()) return std::nullopt;
    return it->second;
}

void VlanAliases::clear(const std::string& ns, const std::string& prefix) {
    for (auto it = by_alias_.begin(); it != by_alias_.end();) {
        auto vit = by_vlan_.find(it->second);
        const Alias& a = vit->second;
        if (a.ns == ns && a.value.compare(0, prefix.size(), prefix) == 0) {
            by_vlan_.erase(vit);
            it = by_alias_.erase(it);
        } else {
            ++it;
        }
    }
    if (!prefix.empty()) return;
    if (!ns.empty()) ranges_.erase(ns);
    for (auto& [_, r] : ranges_) r.next = r.min;
}

}  // namespace herd
