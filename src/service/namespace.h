// minimega namespaces on one host (reference §8.2).
// PLACEHOLDER owned by the VM/namespace module: extend freely.
#pragma once

#include <map>
#include <memory>
#include <string>

namespace herd {

struct Namespace {
    std::string name;
};

class Namespaces {
public:
    Namespaces();
    // The active namespace (always exists; `minimega` by default).
    Namespace& active();
    const std::string& activeName() const { return active_; }
    // Finds or creates `name` (caller validated it).
    Namespace& getOrCreate(const std::string& name);
    Namespace* find(const std::string& name);
    void setActive(const std::string& name);

private:
    std::map<std::string, std::unique_ptr<Namespace>> all_;
    std::string active_ = "minimega";
};

}  // namespace herd
