#include "runtime/rootfs.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/unique_fd.h"

namespace herd::runtime {

namespace {

Result<void> checkExecutable(int fd, const std::string& what) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return Error::sysNow("stat", what);
    if (!S_ISREG(st.st_mode)) return Error::msg(what + ": not a regular file");
    if ((st.st_mode & 0111) == 0) return Error::msg(what + ": not executable");
    return Ok();
}

}  // namespace

Result<void> checkRootfs(const std::string& root, const std::string& init) {
    unique_fd dir(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!dir) return Error::sysNow("filesystem", root);
    if (init.empty() || init[0] != '/') {
        return Error::msg("init `" + init + "`: must be an absolute path inside the filesystem");
    }
    open_how how{};
    how.flags = O_PATH | O_CLOEXEC;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    long fd = ::syscall(SYS_openat2, dir.get(), init.c_str(), &how, sizeof how);
    if (fd < 0 && errno == ENOSYS) {
        // Kernels before 5.6: a plain lookup (an absolute symlink in the
        // image would be followed on the host; this is only a check).
        fd = ::open((root + init).c_str(), O_PATH | O_CLOEXEC);
    }
    if (fd < 0) return Error::sysNow("init", init);
    unique_fd f(static_cast<int>(fd));
    return checkExecutable(f.get(), "init " + init);
}

Result<void> checkHostProgram(const std::string& path) {
    unique_fd f(::open(path.c_str(), O_PATH | O_CLOEXEC));
    if (!f) return Error::sysNow("open", path);
    return checkExecutable(f.get(), path);
}

}  // namespace herd::runtime
