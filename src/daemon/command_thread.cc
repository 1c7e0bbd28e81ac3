#include "daemon/command_thread.h"

#include "base/log.h"

namespace herd::daemon {

CommandThread::~CommandThread() {
    stop(std::chrono::seconds(5));
}

void CommandThread::start() {
    std::lock_guard lock(mu_);
    if (workers_.empty()) spawnWorkerLocked();
}

void CommandThread::spawnWorkerLocked() {
    workers_.emplace_back([this] { loop(); });
}

bool CommandThread::post(Job job) {
    {
        std::lock_guard lock(mu_);
        if (stopping_) return false;
        jobs_.push_back(std::move(job));
    }
    cv_.notify_all();
    return true;
}

void CommandThread::loop() {
    std::unique_lock lock(mu_);
    for (;;) {
        // A job waiting to get the lock back goes before the queue: its
        // client is waiting for the end of a command already begun.
        cv_.wait(lock,
                 [this] { return stopping_ || (!jobs_.empty() && !held_ && resuming_ == 0); });
        if (stopping_) break;
        Job job = std::move(jobs_.front());
        jobs_.pop_front();
        held_ = true;
        ++in_job_;
        lock.unlock();
        job();
        job = nullptr;  // what it holds (a connection) goes before the lock does
        lock.lock();
        held_ = false;
        --in_job_;
        cv_.notify_all();
    }
    ++finished_;
    done_cv_.notify_all();
}

void CommandThread::unlocked(const std::function<void()>& wait,
                             const std::function<void()>& cancel) {
    std::unique_lock lock(mu_);
    if (stopping_ || unlocked_ >= kMaxUnlocked) {
        if (unlocked_ >= kMaxUnlocked) {
            HERD_LOG(warn, "{} commands already wait unlocked; this one keeps the lock", unlocked_);
        }
        const bool stopping = stopping_;
        lock.unlock();
        if (stopping && cancel) cancel();
        wait();
        return;
    }
    ++unlocked_;
    uint64_t id = 0;
    if (cancel) {
        id = ++next_cancel_;
        cancels_.emplace(id, cancel);
    }
    held_ = false;
    // Someone must run the queue meanwhile: a worker outside any job.
    const int idle = static_cast<int>(workers_.size()) - finished_ - in_job_;
    if (idle <= 0) spawnWorkerLocked();
    cv_.notify_all();
    lock.unlock();

    auto relock = [&] {
        lock.lock();
        if (id) cancels_.erase(id);
        ++resuming_;
        cv_.wait(lock, [this] { return !held_; });
        --resuming_;
        held_ = true;
        --unlocked_;
    };
    try {
        wait();
    } catch (...) {
        relock();
        throw;
    }
    relock();
}

bool CommandThread::stop(std::chrono::milliseconds timeout) {
    std::deque<Job> dropped;
    std::vector<std::function<void()>> cancels;
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
        dropped.swap(jobs_);
        for (auto& [id, c] : cancels_) cancels.push_back(std::move(c));
        cancels_.clear();
    }
    cv_.notify_all();
    dropped.clear();  // outside the lock: jobs may own connections
    for (auto& c : cancels) c();
    {
        std::unique_lock lock(mu_);
        if (!done_cv_.wait_for(lock, timeout,
                               [this] { return finished_ == static_cast<int>(workers_.size()); })) {
            HERD_LOG(warn, "command thread still busy after {} ms, leaving it", timeout.count());
            for (auto& t : workers_) t.detach();
            workers_.clear();
            finished_ = 0;
            return false;
        }
    }
    // No worker is made once stopping: the list is final.
    for (auto& t : workers_) t.join();
    workers_.clear();
    finished_ = 0;
    return true;
}

}  // namespace herd::daemon
