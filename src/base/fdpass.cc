#include "base/fdpass.h"

#include <sys/socket.h>

#include <cstring>

namespace herd {

Result<void> sendWithFds(int sock, std::string_view bytes, const std::vector<int>& fds) {
    if (fds.size() > kMaxPassedFds) return Error::msg("too many descriptors for one message");
    msghdr mh{};
    iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxPassedFds)] = {};
    if (!fds.empty()) {
        mh.msg_control = control;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
        cmsghdr* c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    for (;;) {
        ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);
        if (n >= 0) return Ok();
        if (errno != EINTR) return Error::sysNow("sendmsg", "unix socket");
    }
}

Result<Received> recvWithFds(int sock, size_t max_bytes) {
    Received out;
    out.bytes.resize(max_bytes);
    msghdr mh{};
    iovec iov{out.bytes.data(), out.bytes.size()};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxPassedFds)] = {};
    mh.msg_control = control;
    mh.msg_controllen = sizeof control;
    ssize_t n;
    do {
        n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return Error::sysNow("recvmsg", "unix socket");
    for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; ++i) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            out.fds.emplace_back(fd);
        }
    }
    if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
        return Error::msg("unix socket: a message longer than " + std::to_string(max_bytes) +
                          " bytes or with more than " + std::to_string(kMaxPassedFds) +
                          " descriptors");
    }
    out.bytes.resize(static_cast<size_t>(n));
    out.eof = n == 0;
    return out;
}

}  // namespace herd
