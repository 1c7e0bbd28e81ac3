// `herd -console <vm>`: the terminal on a container's console, through the
// running daemon's unix console socket (<base>/console, root's alone; the
// first line sent is the VM's id), so that no socat is needed. Ctrl-]
// detaches.
#pragma once

#include <string>
#include <vector>

namespace herd::daemon {

// `args`: one VM name or id, looked up in namespace `ns` (the daemon's
// current one when empty). Returns the exit status.
int runConsole(const std::string& base, const std::vector<std::string>& args,
               const std::string& ns);

}  // namespace herd::daemon
