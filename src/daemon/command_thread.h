// The one thread that runs the service layer. Herd, Executor, sessions and
// handlers are not thread-safe: every front end (socket clients, the stdin
// prompt, timers) hands its work to this thread as a job, in FIFO order, so
// commands run one at a time as minimega's command lock makes them.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace herd::daemon {

class CommandThread {
  public:
    using Job = std::function<void()>;

    CommandThread() = default;
    ~CommandThread();
    CommandThread(const CommandThread&) = delete;
    CommandThread& operator=(const CommandThread&) = delete;

    void start();

    // Queues a job; false once stopping (the job is dropped).
    bool post(Job job);

    // Stops taking jobs and drops the queued ones; the running job finishes.
    // Waits up to `timeout` for the thread to end: false if it did not (a
    // handler is stuck; the thread is then left behind, detached).
    bool stop(std::chrono::milliseconds timeout);

    bool onThisThread() const { return std::this_thread::get_id() == thread_.get_id(); }

  private:
    void loop();

    std::mutex mu_;
    std::condition_variable cv_;       // jobs queued or stopping
    std::condition_variable done_cv_;  // thread finished
    std::deque<Job> jobs_;
    bool stopping_ = false;
    bool finished_ = false;
    std::thread thread_;
};

}  // namespace herd::daemon
