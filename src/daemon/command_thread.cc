#include "daemon/command_thread.h"

#include "base/log.h"

namespace herd::daemon {

CommandThread::~CommandThread() {
    stop(std::chrono::seconds(5));
}

void CommandThread::start() {
    thread_ = std::thread([this] { loop(); });
}

bool CommandThread::post(Job job) {
    {
        std::lock_guard lock(mu_);
        if (stopping_) return false;
        jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
    return true;
}

void CommandThread::loop() {
    for (;;) {
        Job job;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
            if (stopping_) break;
            job = std::move(jobs_.front());
            jobs_.pop_front();
        }
        job();
    }
    std::lock_guard lock(mu_);
    finished_ = true;
    done_cv_.notify_all();
}

bool CommandThread::stop(std::chrono::milliseconds timeout) {
    std::deque<Job> dropped;
    {
        std::unique_lock lock(mu_);
        stopping_ = true;
        dropped.swap(jobs_);
    }
    cv_.notify_all();
    dropped.clear();  // outside the lock: jobs may own connections
    if (!thread_.joinable()) return true;
    {
        std::unique_lock lock(mu_);
        if (!done_cv_.wait_for(lock, timeout, [this] { return finished_; })) {
            HERD_LOG(warn, "command thread still busy after {} ms, leaving it", timeout.count());
            thread_.detach();
            return false;
        }
    }
    thread_.join();
    return true;
}

}  // namespace herd::daemon
