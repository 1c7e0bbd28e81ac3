// VLAN numbers and namespace-scoped aliases (reference §5.2), the minimum
// `vm config networks` and the `vm info` vlan column need. The full `vlans`
// command set belongs to the networking issue and can grow this class.
#pragma once

#include <map>
#include <set>
#include <string>

#include "base/result.h"

namespace herd {

class VlanAliases {
  public:
    // A number 0..4095 is used as is (and kept from automatic allocation);
    // any other text is an alias in `ns` (or `other//alias`), allocated from
    // the range on first use.
    Result<int> lookup(const std::string& ns, const std::string& alias);

    // `alias (n)`, `other//alias (n)` for another namespace's alias, or `n`.
    std::string print(const std::string& ns, int vlan) const;

    // Forgets the aliases of one namespace.
    void clearNamespace(const std::string& ns);
    // Forgets everything (aliases and numbers in use).
    void reset() {
        aliases_.clear();
        blacklist_.clear();
    }

    int rangeMin() const { return min_; }
    int rangeMax() const { return max_; }

  private:
    std::map<std::string, int> aliases_;  // "ns//alias" -> vlan
    std::set<int> blacklist_;
    int min_ = 101, max_ = 4096;
};

}  // namespace herd
