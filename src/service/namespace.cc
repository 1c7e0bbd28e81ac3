#include "service/namespace.h"

namespace herd {

Namespaces::Namespaces() { getOrCreate("minimega"); }

Namespace& Namespaces::active() { return getOrCreate(active_); }

Namespace& Namespaces::getOrCreate(const std::string& name) {
    auto& slot = all_[name];
    if (!slot) {
        slot = std::make_unique<Namespace>();
        slot->name = name;
    }
    return *slot;
}

Namespace* Namespaces::find(const std::string& name) {
    auto it = all_.find(name);
    return it == all_.end() ? nullptr : it->second.get();
}

void Namespaces::setActive(const std::string& name) {
    getOrCreate(name);
    active_ = name;
}

}  // namespace herd
