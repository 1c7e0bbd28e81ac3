// Handlers of the cc tunnel family (cc_tunnel.cc), dispatched from `cc`.
#pragma once

#include "cli/command.h"
#include "service/env.h"

namespace herd {

void ccTunnel(cli::Command& c, Env& env);    // cc tunnel [list|close]
void ccRtunnel(cli::Command& c, Env& env);   // cc rtunnel
void ccTestConn(cli::Command& c, Env& env);  // cc test-conn
void ccLogLevel(cli::Command& c, Env& env);  // cc log level
void ccListen(cli::Command& c, Env& env);    // cc listen (refused)
void ccMount(cli::Command& c, Env& env);     // cc mount (refused)

}  // namespace herd
