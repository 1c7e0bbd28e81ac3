// Files that hand the daemon's access token to root: <base>/token and
// <base>/web.url (the page's address with its token), readable by root alone.
#pragma once

#include <string>

#include "base/result.h"

namespace herd::web {

// Writes `content` to `path` as a new file of mode 0600 owned by the daemon's
// user: whatever was there is removed first, and a symlink planted in its
// place is never followed.
Result<void> writeSecretFile(const std::string& path, const std::string& content);

}  // namespace herd::web
