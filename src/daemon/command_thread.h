// Where the service layer runs. Herd, Executor, sessions and handlers are not
// thread-safe: every front end (socket clients, the stdin prompt, the web
// page, timers, runtime and cc events) hands its work here as a job, and jobs
// run one at a time, in FIFO order, holding the command lock (minimega's
// cmdLock: commands never interleave their changes to the daemon's state).
//
// A job that has to wait for something outside the daemon's state (the child
// of `shell`, the sampling window of `vm top`) calls unlocked(): it gives the
// lock up while it waits, other jobs run meanwhile on another worker thread,
// and it gets the lock back (before any queued job) to finish. So one
// client's long command never holds up the others, nor cc or the web page,
// while each client's own commands still run in order (the control socket
// sends a client's next request only once its previous one has finished).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace herd::daemon {

class CommandThread {
  public:
    using Job = std::function<void()>;

    // At most this many jobs wait unlocked at once; further ones wait holding
    // the lock (as every command did before), so a flood of `shell sleep`
    // cannot grow the daemon's threads without bound.
    static constexpr int kMaxUnlocked = 64;

    CommandThread() = default;
    ~CommandThread();
    CommandThread(const CommandThread&) = delete;
    CommandThread& operator=(const CommandThread&) = delete;

    void start();

    // Queues a job; false once stopping (the job is dropped).
    bool post(Job job);

    // Called by a running job: runs `wait` without the command lock and
    // returns once `wait` has returned and the lock is held again. `wait`
    // must not touch the daemon's state. `cancel`, when given, is called
    // (on another thread, at most once) if the daemon stops while `wait`
    // runs, and must make it return soon.
    void unlocked(const std::function<void()>& wait, const std::function<void()>& cancel = {});

    // Stops taking jobs and drops the queued ones; running jobs finish (those
    // waiting unlocked are cancelled). Waits up to `timeout` for the workers
    // to end: false if they did not (a handler is stuck; they are then left
    // behind, detached).
    bool stop(std::chrono::milliseconds timeout);

  private:
    void loop();
    void spawnWorkerLocked();

    std::mutex mu_;
    std::condition_variable cv_;       // jobs queued, lock released, or stopping
    std::condition_variable done_cv_;  // a worker finished
    std::deque<Job> jobs_;
    bool stopping_ = false;
    bool held_ = false;  // the command lock: a job runs with it
    int resuming_ = 0;   // jobs waiting to get the lock back (they go first)
    int in_job_ = 0;     // workers inside a job (holding the lock or unlocked)
    int unlocked_ = 0;   // jobs waiting without the lock
    int finished_ = 0;   // workers that ended
    std::vector<std::thread> workers_;
    uint64_t next_cancel_ = 0;
    std::map<uint64_t, std::function<void()>> cancels_;
};

}  // namespace herd::daemon
