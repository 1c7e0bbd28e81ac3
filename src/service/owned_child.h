// A long-running helper process the daemon starts and owns (dnsmasq, a host
// tap's DHCP client): a waiter thread reaps it the moment it exits and tells
// its owner; stopping it signals through a pidfd, so a pid the kernel has
// meanwhile given to another process is never signalled.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"

namespace herd {

class OwnedChild {
  public:
    // Called on the waiter thread with the raw wait status, once.
    using OnExit = std::function<void(int status)>;

    // Starts argv[0] (an absolute path) with stdin on /dev/null and
    // stdout/stderr on `log` (opened by the caller, e.g. O_APPEND beneath the
    // base with Dir::openFile), no other descriptor inherited.
    // The child gets SIGTERM if the daemon dies (unless it changes its
    // credentials, which clears that: nuke covers it then).
    static Result<std::unique_ptr<OwnedChild>> spawn(const std::vector<std::string>& argv,
                                                     unique_fd log, OnExit on_exit);
    ~OwnedChild();  // stop()
    OwnedChild(const OwnedChild&) = delete;
    OwnedChild& operator=(const OwnedChild&) = delete;

    int pid() const { return pid_; }
    bool running() const { return !exited_.load(); }
    // Waits up to `timeout_ms` for an exit; true when it has exited.
    bool waitExit(int timeout_ms);
    // SIGTERM, then SIGKILL after `grace_ms`; returns once reaped.
    void stop(int grace_ms = 2000);
    // The wait status once exited.
    int status() const { return status_; }

  private:
    OwnedChild() = default;
    void waiter();

    int pid_ = -1;
    int pidfd_ = -1;
    OnExit on_exit_;
    std::atomic<bool> exited_{false};
    int status_ = 0;
    std::mutex mu_;
    std::condition_variable cv_;
    std::thread thread_;
};

}  // namespace herd
