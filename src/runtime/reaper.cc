#include "runtime/reaper.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace herd::runtime {

namespace {
constexpr uint64_t kWakeKey = ~uint64_t{0};
}

Result<std::unique_ptr<ExitWatcher>> ExitWatcher::start(OnExit on_exit) {
    std::unique_ptr<ExitWatcher> w(new ExitWatcher(std::move(on_exit)));
    w->epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
    if (!w->epoll_) return Error::sysNow("epoll_create1", "reaper");
    w->wake_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!w->wake_) return Error::sysNow("eventfd", "reaper");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kWakeKey;
    if (epoll_ctl(w->epoll_.get(), EPOLL_CTL_ADD, w->wake_.get(), &ev) != 0) {
        return Error::sysNow("epoll_ctl", "reaper");
    }
    w->thread_ = std::thread([p = w.get()] { p->loop(); });
    return w;
}

ExitWatcher::~ExitWatcher() {
    uint64_t one = 1;
    if (wake_) (void)!::write(wake_.get(), &one, sizeof one);
    if (thread_.joinable()) thread_.join();
}

void ExitWatcher::watch(int id, uint64_t generation, int pidfd) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.u64 = (static_cast<uint64_t>(id) << 32) | (generation & 0xffffffffu);
    epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, pidfd, &ev);
}

void ExitWatcher::loop() {
    epoll_event evs[64];
    for (;;) {
        int n = epoll_wait(epoll_.get(), evs, 64, -1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return;
        for (int i = 0; i < n; ++i) {
            uint64_t key = evs[i].data.u64;
            if (key == kWakeKey) return;
            on_exit_(static_cast<int>(key >> 32), key & 0xffffffffu);
        }
    }
}

CgroupJanitor::CgroupJanitor() : thread_([this] { loop(); }) {}

CgroupJanitor::~CgroupJanitor() {
    drain();
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
}

void CgroupJanitor::add(std::unique_ptr<Cgroup> cg) {
    {
        std::lock_guard lock(mu_);
        queue_.push_back(std::move(cg));
    }
    cv_.notify_one();
}

void CgroupJanitor::drain() {
    std::unique_lock lock(mu_);
    idle_.wait(lock, [this] { return queue_.empty() && !busy_; });
}

void CgroupJanitor::loop() {
    std::unique_lock lock(mu_);
    for (;;) {
        cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping
        auto cg = std::move(queue_.front());
        queue_.pop_front();
        busy_ = true;
        lock.unlock();
        (void)cg->remove();
        cg.reset();
        lock.lock();
        busy_ = false;
        if (queue_.empty()) idle_.notify_all();
    }
}

}  // namespace herd::runtime
