#include "base/peer.h"

#include <sys/socket.h>
#include <unistd.h>

namespace herd {

Result<void> requireTrustedPeer(int fd, const std::string& path) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        return Error::sysNow("SO_PEERCRED", path);
    }
    if (cred.uid == 0 || cred.uid == ::geteuid()) return Ok();
    return Error::msg("refusing " + path + ": it is served by uid " + std::to_string(cred.uid) +
                      " (pid " + std::to_string(cred.pid) +
                      "), not by root: another user may have planted it");
}

}  // namespace herd
