// The daemon: startup (minimega's, adapted: the base directory, its pid file,
// then the control socket, with herd's lock and checks added), its threads,
// and a clean shutdown on `quit`, SIGINT/SIGTERM/SIGHUP or EOF on stdin.
//
// Threads: main (startup, then the stdin prompt or a wait), one io thread
// (Boost.Asio: control socket, signals, the `quit <n>` timer) and the command
// thread (the service layer).
#pragma once

#include <memory>
#include <string>

#include "base/fs.h"
#include "base/result.h"
#include "daemon/flags.h"

namespace herd::daemon {

// Holds <base>/minimega.pid: an flock on it marks a live herd daemon.
class BaseLock {
  public:
    // Opens <base> (made 0700 when missing; refused when another user could
    // change it or what it holds: see openPrivateDir), locks the pid file and
    // checks <base>/minimega. Refuses when another daemon holds the lock or a
    // live socket answers there, unless `force`; a stale socket is removed.
    static Result<BaseLock> acquire(const std::string& base, bool force);

    BaseLock(BaseLock&& o) noexcept = default;
    BaseLock& operator=(BaseLock&&) = delete;

    // The base, opened once: every file of the daemon under it is opened
    // beneath this descriptor.
    const std::shared_ptr<const Dir>& dir() const { return dir_; }
    // Writes our pid (decimal, no newline).
    Result<void> writePid();
    // Removes the pid file if it still holds our pid, and unlocks.
    void release();

  private:
    BaseLock(std::shared_ptr<const Dir> dir, unique_fd fd)
        : dir_(std::move(dir)), fd_(std::move(fd)) {}
    std::shared_ptr<const Dir> dir_;
    unique_fd fd_;
};

// The file root (-filepath): beneath the base, and held to the same rules,
// when it is under it; else the directory the user named. Made when missing.
Result<std::shared_ptr<const Dir>> openFileRoot(const Dir& base, const std::string& filepath);

// Runs the daemon until it is told to stop; returns the exit status.
int runDaemon(const Flags& flags);

}  // namespace herd::daemon
