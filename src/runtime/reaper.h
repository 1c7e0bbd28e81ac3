// The two background threads that deal with containers going down: one
// notices when a container's init exits, one removes the cgroups of stopped
// containers. Neither changes anything the command thread owns.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "base/result.h"
#include "base/unique_fd.h"
#include "runtime/cgroup.h"

namespace herd::runtime {

// Waits on the pidfds of containers' inits (one epoll set) and reports each
// exit once, with the container's id and the launch's generation (low 32
// bits), on its own thread: the callee posts it to whoever reaps.
class ExitWatcher {
  public:
    using OnExit = std::function<void(int id, uint64_t generation)>;
    static Result<std::unique_ptr<ExitWatcher>> start(OnExit on_exit);
    ~ExitWatcher();  // stops and joins the thread
    ExitWatcher(const ExitWatcher&) = delete;
    ExitWatcher& operator=(const ExitWatcher&) = delete;

    // Reports the exit of the process behind `pidfd` (kept open by the
    // caller until reaped) as (id, generation).
    void watch(int id, uint64_t generation, int pidfd);

  private:
    explicit ExitWatcher(OnExit on_exit) : on_exit_(std::move(on_exit)) {}
    void loop();
    OnExit on_exit_;
    unique_fd epoll_;
    unique_fd wake_;
    std::thread thread_;
};

// Removes the cgroups of stopped containers in the background: reclaiming
// what is still charged to a memcg before rmdir takes a few ms, which `vm
// kill` need not wait for. Drained before nuke and shutdown.
class CgroupJanitor {
  public:
    CgroupJanitor();
    ~CgroupJanitor();  // drains, then stops
    CgroupJanitor(const CgroupJanitor&) = delete;
    CgroupJanitor& operator=(const CgroupJanitor&) = delete;
    void add(std::unique_ptr<Cgroup> cg);
    void drain();

  private:
    void loop();
    std::mutex mu_;
    std::condition_variable cv_, idle_;
    std::deque<std::unique_ptr<Cgroup>> queue_;
    bool busy_ = false;
    bool stop_ = false;
    std::thread thread_;
};

}  // namespace herd::runtime
