#include "service/namespace.h"

namespace herd {

Namespaces::Namespaces() {
    getOrCreate(kDefaultNamespace);
}

Namespace& Namespaces::active() {
    return getOrCreate(active_);
}

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

std::vector<std::string> Namespaces::names() const {
    std::vector<std::string> out;
    for (auto& [n, _] : all_) out.push_back(n);
    return out;
}

void Namespaces::erase(const std::string& name) {
    all_.erase(name);
    if (active_ == name) active_ = kDefaultNamespace;
    // `minimega` always exists: destroying it starts a fresh one.
    if (name == kDefaultNamespace) getOrCreate(kDefaultNamespace);
}

}  // namespace herd
