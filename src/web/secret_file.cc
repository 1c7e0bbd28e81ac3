#include "web/secret_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/unique_fd.h"

namespace herd::web {

Result<void> writeSecretFile(const std::string& path, const std::string& content) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Error::sysNow("remove", path);
    // O_EXCL: created here, with this mode, or not at all.
    unique_fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) return Error::sysNow("create", path);
    if (::fchmod(fd.get(), 0600) != 0) return Error::sysNow("chmod", path);
    return writeAll(fd.get(), content, path);
}

}  // namespace herd::web
