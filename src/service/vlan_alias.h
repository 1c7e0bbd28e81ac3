// VLAN numbers and namespace-scoped aliases, as minimega's vlans package keeps
// them: every VLAN in use maps to the alias that owns it or to "blacklisted" (a
// number typed literally, or `vlans blacklist`); aliases are allocated from
// their namespace's range (`vlans range`) or the default one, which skips the
// ranges other namespaces reserved.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"

namespace herd {

class VlanAliases {
  public:
    VlanAliases() { reset(); }

    // A number 0..4095 is used as is (and, unless it has an alias,
    // blacklisted from automatic allocation); any other text is an alias in
    // `ns` (or `other//alias`), allocated from the range on first use.
    Result<int> lookup(const std::string& ns, const std::string& alias);

    // `alias (n)`, `other//alias (n)` for another namespace's alias, or `n`.
    std::string print(const std::string& ns, int vlan) const;

    // `vlans add`: `alias already in use`, `vlan already in use`.
    Result<void> add(const std::string& ns, const std::string& alias, int vlan);
    // `vlans blacklist <vlan>`: takes the VLAN from its alias, if any.
    Result<void> blacklist(int vlan);
    std::vector<int> blacklisted() const;  // ascending
    // `vlans`: (alias, vlan) rows of `ns`, by alias.
    std::vector<std::pair<std::string, int>> aliases(const std::string& ns) const;
    // Every alias as `ns//alias`, with its VLAN (the <base>/vlans file).
    std::vector<std::pair<std::string, int>> allAliases() const;

    struct Range {
        int min = 0, max = 0, next = 0;
    };
    // `vlans range min max` for namespace `ns` ("" = the default range, which
    // the default namespace sets). Errors: `range overlaps with another
    // namespace: <ns>`, invalid bounds.
    Result<void> setRange(const std::string& ns, int min, int max);
    std::optional<Range> range(const std::string& ns) const;

    // `clear vlans [prefix]` in `ns`: forgets the namespace's aliases that
    // start with `prefix`; with no prefix also its range, and allocation
    // restarts from the bottom of every range.
    void clear(const std::string& ns, const std::string& prefix);
    // Forgets the aliases (and range) of one namespace.
    void clearNamespace(const std::string& ns) { clear(ns, ""); }
    // `clear vlans all`: forgets everything (aliases, blacklist, ranges).
    void reset();

    int rangeMin() const { return ranges_.at("").min; }
    int rangeMax() const { return ranges_.at("").max; }

  private:
    struct Alias {
        std::string ns, value;  // ns empty and value empty: blacklisted
        std::string key() const { return ns + "//" + value; }
    };
    static Alias parse(const std::string& ns, const std::string& s);
    Result<int> allocate(const Alias& a);

    std::map<int, Alias> by_vlan_;
    std::map<std::string, int> by_alias_;  // by Alias::key()
    std::map<std::string, Range> ranges_;  // by namespace; "" = default
};

}  // namespace herd
