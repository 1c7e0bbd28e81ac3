// Messages with file descriptors over a unix socket (SCM_RIGHTS).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"

namespace herd {

// At most this many descriptors go with one message.
inline constexpr size_t kMaxPassedFds = 16;

// Sends `bytes` (one message on a SOCK_SEQPACKET socket) with `fds`.
Result<void> sendWithFds(int sock, std::string_view bytes, const std::vector<int>& fds);

struct Received {
    std::string bytes;  // empty with eof: the peer closed the connection
    std::vector<unique_fd> fds;
    bool eof = false;
};

// Receives one message of at most `max_bytes` and the descriptors that came
// with it (close-on-exec). A message that was cut short, or that carried more
// descriptors than kMaxPassedFds, is an error (its descriptors are closed).
Result<Received> recvWithFds(int sock, size_t max_bytes);

}  // namespace herd
