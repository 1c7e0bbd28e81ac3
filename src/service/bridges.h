// `bridge trunk|notrunk|tunnel|notunnel|config|destroy`: the checks on what
// the user names, the remembered `bridge config` pairs, and the tunnel port
// names. The switch work is the backend's (SwitchBackend::addTrunk, ...).
// Not namespace-aware, as minimega's bridges.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "runtime/bridge.h"
#include "runtime/netlink.h"

namespace herd {

class Bridges {
  public:
    explicit Bridges(std::string prefix) : prefix_(std::move(prefix)) {}

    // Says whether a name is one of herd's own ports (a VM NIC's host end or
    // a host tap), which cannot become a trunk.
    using IsHerdPort = std::function<bool(const std::string&)>;

    // `bridge trunk`: `iface` must exist, not be the loopback, not be one of
    // herd's interfaces and not be a port of any bridge.
    Result<void> trunk(runtime::SwitchBackend& sw, const std::string& bridge,
                       const std::string& iface, const IsHerdPort& herd_port);
    Result<void> notrunk(runtime::SwitchBackend& sw, const std::string& bridge,
                         const std::string& iface);
    // `bridge tunnel <type> <bridge> <remote> [key]`: the new port's name.
    Result<std::string> tunnel(runtime::SwitchBackend& sw, const std::string& type,
                               const std::string& bridge, const std::string& remote,
                               const std::string& key);
    Result<void> notunnel(runtime::SwitchBackend& sw, const std::string& bridge,
                          const std::string& iface);
    // `bridge config <bridge> <key=value>`: applied, then remembered.
    Result<void> config(runtime::SwitchBackend& sw, const std::string& bridge,
                        const std::string& pair);
    // The switch part of `bridge destroy` (the caller removed taps,
    // mirrors and captures); forgets the bridge's config.
    Result<void> destroy(runtime::SwitchBackend& sw, const std::string& bridge);

    // The remembered pairs of `bridge`, as the listing's JSON object.
    std::string configJson(const std::string& bridge) const;
    std::vector<std::string> configured() const;
    // After nuke: nothing is left to remember.
    void forget() { config_.clear(); }

  private:
    Result<runtime::Netlink*> netlink();
    Result<void> checkTrunkInterface(const std::string& iface, const IsHerdPort& herd_port);

    std::string prefix_;
    std::map<std::string, std::map<std::string, std::string>> config_;
    std::optional<runtime::Netlink> nl_;
    int next_tunnel_ = 0;
};

}  // namespace herd
