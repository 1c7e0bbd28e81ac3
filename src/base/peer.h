// Who is at the other end of a unix socket.
#pragma once

#include <string>

#include "base/result.h"

namespace herd {

// Fails unless the process that created the listening socket behind the
// connected unix socket `fd` runs as root or as this process's user. herd's
// clients run as root: a socket at the expected path that another local
// user planted (say, in a base directory they made first) must not receive
// root's commands or show root output of its choosing.
Result<void> requireTrustedPeer(int fd, const std::string& path);

}  // namespace herd
