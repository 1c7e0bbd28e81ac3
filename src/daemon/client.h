// Client modes, as minimega's: `-e <command...>` and `-attach`. Both speak
// the control-socket protocol to a running daemon, so they work against
// minimega's daemon too.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "daemon/protocol.h"

namespace herd::daemon {

// A blocking connection to `<base>/minimega`.
class ClientConn {
  public:
    // Dials, retrying with exponential backoff (10 ms, doubling, ~5 s in all)
    // while the error is temporary (EAGAIN: the listen backlog is full).
    static Result<ClientConn> dial(const std::string& path);

    ClientConn(ClientConn&& o) noexcept;
    ClientConn& operator=(ClientConn&&) = delete;
    ~ClientConn();

    Result<void> send(const Request& r);
    // Reads the next reply (one JSON value per line).
    Result<Reply> read();

    // Sends `line`, prints each reply's rendered text to stdout and its errors
    // to stderr until the last reply. Returns whether any response carried an
    // error; fails if the daemon went away.
    Result<bool> runAndPrint(const std::string& line);

    // Whole-line suggestions for `line`.
    std::vector<std::string> suggest(const std::string& line);

  private:
    explicit ClientConn(int fd) : fd_(fd) {}
    int fd_ = -1;
    std::string buf_;
};

// The command `-e` sends: one argument verbatim, several joined with spaces,
// quoting those holding whitespace (Go's quoteJoin); `namespace "<ns>" ` in
// front when `ns` is set.
std::string commandFromArgs(const std::vector<std::string>& args, const std::string& ns);

// Process exit status of `herd -e`: 0, or 1 on any error or connection failure.
int runExec(const std::string& base, const std::vector<std::string>& args, const std::string& ns);

// Interactive prompt proxied to the daemon; returns the exit status.
int runAttach(const std::string& base, const std::string& ns);

}  // namespace herd::daemon
