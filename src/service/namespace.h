// minimega namespaces on one host: each owns its `vm config` and saved configs,
// its launch queue and its vm-N counter. VMs themselves live in the daemon-wide
// VmRegistry (ids are global), tagged with their namespace.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "service/vm.h"
#include "service/vmconfig.h"

namespace herd {

inline constexpr const char* kDefaultNamespace = "minimega";

// VMs waiting for the scheduler: one `vm launch <type> <names>`.
struct QueuedVms {
    std::vector<std::string> names;  // "" = unnamed, named vm-<k> when scheduled
    VmType type = VmType::Container;
    VmConfig config;
};

struct Namespace {
    std::string name;

    VmConfig vm_config;
    std::map<std::string, VmConfig> saved_configs;
    std::vector<QueuedVms> queue;
    bool queueing = false;           // `ns queueing`: `vm launch <type> <names>` only queues
    int vm_counter = 0;              // next k of vm-<k>
    int vlan_min = 0, vlan_max = 0;  // `vlans range`; 0,0 = unset
};

class Namespaces {
  public:
    Namespaces();
    // The active namespace (always exists; `minimega` by default, recreated
    // on demand after it was destroyed).
    Namespace& active();
    const std::string& activeName() const { return active_; }
    // Finds or creates `name` (caller validated it).
    Namespace& getOrCreate(const std::string& name);
    Namespace* find(const std::string& name);
    void setActive(const std::string& name);

    // Names, sorted.
    std::vector<std::string> names() const;
    // Forgets a namespace (the caller released its VMs first). Destroying
    // the active one makes `minimega` active; destroying `minimega` leaves a
    // fresh, empty one.
    void erase(const std::string& name);

  private:
    std::map<std::string, std::unique_ptr<Namespace>> all_;
    std::string active_ = kDefaultNamespace;
};

}  // namespace herd
