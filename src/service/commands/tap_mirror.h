// `tap mirror` and `clear tap mirror` (tap_mirror.cc), dispatched from the
// `tap` and `clear tap` handlers of net.cc.
#pragma once

#include "service/commands/vm_internal.h"

namespace herd {

void tapMirrorCommand(cli::Command& c, CommandContext& ctx);
void clearTapMirrorCommand(cli::Command& c, CommandContext& ctx);

}  // namespace herd
