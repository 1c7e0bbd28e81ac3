// The Open vSwitch switch backend: what minimega does with ovs-vsctl, done as
// OVSDB transactions over ovsdb-server's socket (runtime/ovsdb.h).
//
// minimega's model: the bridge the user names (mega_bridge by default) is the
// OVS bridge itself and a VLAN is a port's tag. A container NIC's host end
// (a veth made without master) becomes a Port+Interface row; a host tap is an
// internal port with the tag. Every row herd inserts carries
// external_ids:herd-prefix=<prefix>, so that what a daemon made can be found
// and removed after it died (nuke), and bridges it did not make are kept with
// only its ports removed.
//
// Consistency with a switch that stops answering: each change is one
// transaction (all rows or none), waited for at most the timeout. A
// transaction that timed out may still be applied later, so the next contact
// first removes rows with our tag that herd does not know of.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"
#include "runtime/bridge.h"

namespace herd::runtime {

inline constexpr std::string_view kDefaultOvsdb = "/var/run/openvswitch/db.sock";
inline constexpr std::string_view kOvsPrefixKey = "herd-prefix";

struct OvsOptions {
    std::string prefix;
    std::string db = std::string(kDefaultOvsdb);  // ovsdb-server's unix socket
    std::string datapath;                         // "" = defaultOvsDatapath()
    std::chrono::milliseconds timeout{5000};      // per request
};

// "system" when the openvswitch kernel module is loaded, else "netdev" (the
// userspace datapath).
std::string defaultOvsDatapath();

// Connects and checks the database (an Open_vSwitch row); removes what an
// earlier daemon with the same prefix left.
Result<std::unique_ptr<SwitchBackend>> makeOvsBackend(OvsOptions opts);

// Removes every port with this prefix's tag and every bridge herd made with it
// (a bridge on which others added ports is kept). Nothing to do, and Ok, when
// no ovsdb answers at `db` and `required` is false.
Result<void> nukeOvs(const std::string& db, std::string_view prefix, bool required,
                     std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));

}  // namespace herd::runtime
