// Choosing and building the runtime at daemon start, and `herd -nuke`.
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <string>

#include "base/fs.h"
#include "base/unique_fd.h"
#include "runtime/switch_select.h"
#include "service/herd.h"

namespace herd::daemon {

struct RuntimeFlags {
    std::string kind = "container";           // "container" or "dry"
    std::string image;                        // default guest image ("" = next to the binary)
    std::string console_address;              // -console-addr ("" = no TCP consoles)
    std::string console_token;                // the daemon's access token, for TCP consoles
    runtime::SwitchOptions net;               // -switch, -ovsdb, -ovs-datapath
    std::shared_ptr<unique_fd> prefix_claim;  // claimed at start (claimPrefixAtStart)
};

// For a daemon that runs containers, makes sure the base and the prefix
// belong together and to this daemon alone, before anything is made: the
// prefix is not held by another live daemon (claimed here), and the base does
// not record another prefix while it holds what a daemon made (a killed
// daemon's leftovers would be orphaned). Then records the prefix in
// <base>/prefix, for `herd -nuke`.
Result<std::shared_ptr<unique_fd>> claimPrefixAtStart(const Dir& base, const std::string& path,
                                                      const std::string& prefix, bool containers);

// Removes the <base>/prefix record (at a clean shutdown, when nothing with
// the prefix is left).
void forgetPrefix(const Dir& base);

// Builds the container runtime (checking the host first and logging what is
// missing). If containers cannot run here, VMs fail to launch with the
// reason; `-runtime dry` selects the state-only runtime instead.
std::shared_ptr<Runtime> makeRuntime(const RuntimeFlags& flags, const Herd& herd,
                                     boost::asio::io_context& io,
                                     std::function<void(std::function<void()>)> post);

// A runtime that runs nothing: every launch fails with `why` (a host that
// cannot run containers, a daemon shutting down).
std::shared_ptr<Runtime> makeUnavailableRuntime(std::string why);

// `herd -nuke`: with no daemon running on `base`, kills every container under
// the prefix's cgroups, removes them and herd's files in `base`. Idempotent.
// The prefix is the one the base records (<base>/prefix); `opts.prefix`, when
// `prefix_given`, must agree with it, and is used when there is no record.
// Without either, it refuses: it cannot know what to remove.
int nukeStandalone(const Options& opts, const runtime::SwitchOptions& net = {},
                   bool prefix_given = true);

}  // namespace herd::daemon
