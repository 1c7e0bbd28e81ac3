// Which switch backend carries the NICs: `-switch auto|kernel|ovs`.
// auto is minimega's rule: Open vSwitch when it answers, kernel bridges
// otherwise.
#pragma once

#include <memory>
#include <set>
#include <string>

#include "base/result.h"
#include "runtime/bridge.h"
#include "runtime/ovs.h"

namespace herd::runtime {

struct SwitchOptions {
    std::string kind = "auto";  // auto | kernel | ovs
    std::string prefix;
    std::string ovsdb = std::string(kDefaultOvsdb);  // ovsdb-server's unix socket
    std::string ovs_datapath;                        // "" = defaultOvsDatapath()
    // Links of the prefix that the start-up sweep spares: adopted
    // containers' NICs (makeKernelBridgeBackend).
    std::set<std::string> keep_links;
};

// The backend `o.kind` names. `why` (if given) receives one line for the log
// saying which backend was chosen and, for auto, why.
Result<std::unique_ptr<SwitchBackend>> makeSwitchBackend(const SwitchOptions& o,
                                                         std::string* why = nullptr);

// nuke's network part: every link named by the prefix, and, unless the kind
// is kernel, the prefix's OVS ports and bridges (auto: if an ovsdb answers).
Result<void> nukeSwitches(const SwitchOptions& o);

}  // namespace herd::runtime
