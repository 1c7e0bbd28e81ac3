// Choosing and building the runtime at daemon start, and `herd -nuke`.
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <string>

#include "runtime/switch_select.h"
#include "service/herd.h"

namespace herd::daemon {

struct RuntimeFlags {
    std::string kind = "container";  // "container" or "dry"
    std::string image;               // default guest image ("" = next to the binary)
    std::string console_address;     // -console-addr ("" = no TCP consoles)
    std::string console_token;       // the daemon's access token, for TCP consoles
    runtime::SwitchOptions net;      // -switch, -ovsdb, -ovs-datapath
};

// Builds the container runtime (checking the host first and logging what is
// missing). If containers cannot run here, VMs fail to launch with the
// reason; `-runtime dry` selects the state-only runtime instead.
std::shared_ptr<Runtime> makeRuntime(const RuntimeFlags& flags, const Herd& herd,
                                     boost::asio::io_context& io,
                                     std::function<void(std::function<void()>)> post);

// `herd -nuke`: with no daemon running on `base`, kills every container under
// `prefix`'s cgroups, removes them and herd's files in `base`. Idempotent.
int nukeStandalone(const Options& opts, const runtime::SwitchOptions& net = {});

}  // namespace herd::daemon
