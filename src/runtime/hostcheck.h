// What the kernel must offer for containers, checked once at start so that a
// missing feature is reported plainly, with how to fix it, instead of as a
// launch failure deep in a mount.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"

namespace herd::runtime {

// Each entry is one problem, in words a user can act on. Empty = all good.
std::vector<std::string> checkHost();

// Raises RLIMIT_NOFILE (each container holds its console's pty master, and
// its cc agent's connection):
// both limits to the kernel's ceiling (fs.nr_open) where the process may
// (root may), else the soft limit to the hard one. Returns the soft limit.
unsigned long raiseFileLimit();

// Host limits that a large launch meets, as they stand now.
struct HostUsage {
    uint64_t pty_max = 0, ptys = 0;         // kernel.pty.max; ptys in use (kernel.pty.nr)
    uint64_t pid_max = 0, threads_max = 0;  // kernel.pid_max, kernel.threads-max
    uint64_t tasks = 0;                     // processes and threads now
    uint64_t nofile = 0, fds = 0;           // this process's RLIMIT_NOFILE (soft); open now
};
Result<HostUsage> readHostUsage();

// What one container takes of them: its console's pty; its tasks (5 in a
// running container of the built-in image: init, the console's shell, the
// agent and its threads); the daemon's descriptors for it: the console's
// pty master, and with the cc agent its connection (the keeper holds one,
// the master's copy, so it meets its limit no sooner than the daemon).
struct ContainerCost {
    uint64_t ptys = 1, tasks = 5, fds = 1, cc_fds = 1;
};

// Whether `n` more containers fit, `with_cc` of them with the cc agent: an
// error naming the first limit they would pass, its value, and the command
// that raises it. Pure.
Result<void> checkCapacity(const HostUsage& u, uint64_t n, uint64_t with_cc = 0,
                           const ContainerCost& each = {});

}  // namespace herd::runtime
