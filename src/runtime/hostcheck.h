// What the kernel must offer for containers, checked once at start so that a
// missing feature is reported plainly, with how to fix it, instead of as a
// launch failure deep in a mount.
#pragma once

#include <string>
#include <vector>

namespace herd::runtime {

// Each entry is one problem, in words a user can act on. Empty = all good.
std::vector<std::string> checkHost();

// Raises RLIMIT_NOFILE's soft limit to the hard limit (each container holds a
// pty, sockets and a pidfd). Returns the new soft limit.
unsigned long raiseFileLimit();

}  // namespace herd::runtime
