// Handlers of the cc tunnel family (cc_tunnel.cc), dispatched from `cc`.
#pragma once

#include "cli/command.h"
#include "service/command_context.h"

namespace herd {

void ccTunnel(cli::Command& c, CommandContext& ctx);      // cc tunnel [list|close]
void ccRtunnel(cli::Command& c, CommandContext& ctx);     // cc rtunnel
void ccTestConn(cli::Command& c, CommandContext& ctx);    // cc test-conn
void ccLogLevel(cli::Command& c, CommandContext& ctx);    // cc log level
void ccListen(cli::Command& c, CommandContext& ctx);      // cc listen (refused)
void ccMount(cli::Command& c, CommandContext& ctx);       // cc mount [vm path]
void clearCcMount(cli::Command& c, CommandContext& ctx);  // clear cc mount [id]

}  // namespace herd
