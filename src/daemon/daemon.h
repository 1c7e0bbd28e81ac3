// The daemon: startup (reference §1.2 adapted), its threads, and a clean
// shutdown on `quit`, SIGINT/SIGTERM/SIGHUP or EOF on stdin.
//
// Threads: main (startup, then the stdin prompt or a wait), one io thread
// (Boost.Asio: control socket, signals, the `quit <n>` timer) and the command
// thread (the service layer).
#pragma once

#include <string>

#include "base/result.h"
#include "daemon/flags.h"

namespace herd::daemon {

// Holds <base>/minimega.pid: an flock on it marks a live herd daemon.
class BaseLock {
  public:
    // Creates <base> (0770), locks the pid file and checks <base>/minimega.
    // Refuses when another daemon holds the lock or a live socket answers
    // there, unless `force`; a stale socket file is removed.
    static Result<BaseLock> acquire(const std::string& base, bool force);

    BaseLock(BaseLock&& o) noexcept;
    BaseLock& operator=(BaseLock&&) = delete;
    ~BaseLock();

    // Writes our pid (decimal, no newline).
    Result<void> writePid();
    // Removes the pid file if it still holds our pid, and unlocks.
    void release();

  private:
    BaseLock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
    int fd_ = -1;
    std::string path_;
};

// `mkdir -p` with `mode` for the directories it creates.
Result<void> makeDirs(const std::string& path, unsigned mode);

// Runs the daemon until it is told to stop; returns the exit status.
int runDaemon(const Flags& flags);

}  // namespace herd::daemon
