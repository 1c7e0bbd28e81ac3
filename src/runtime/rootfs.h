// Checks of a container's root filesystem made before a launch is queued, so
// that a missing image or init is reported when the user types the command,
// not later as a launch failure.
#pragma once

#include <string>

#include "base/result.h"

namespace herd::runtime {

// `root` must be a directory; `init` (a path inside the container) must name
// an executable regular file there. Symlinks in the image resolve inside
// `root` (RESOLVE_IN_ROOT), as they will for the container.
Result<void> checkRootfs(const std::string& root, const std::string& init);

// `path` (a host program, e.g. a preinit) must be an executable regular file.
Result<void> checkHostProgram(const std::string& path);

}  // namespace herd::runtime
