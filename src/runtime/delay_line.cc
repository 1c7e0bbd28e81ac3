#include "runtime/delay_line.h"

#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "base/log.h"
#include "base/unique_fd.h"
#include "runtime/tc_bpf.h"
#include "runtime/tc_mirror.h"

namespace herd::runtime {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

// A tap that goes when its descriptor closes, with no IPv6 (the host would
// send its router solicitations and neighbour discovery out of it, and the
// delay line would pass them to the guest) and no ARP.
Result<unique_fd> openTap(Netlink& nl, const std::string& name) {
    unique_fd fd(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
    if (!fd) return Error::sysNow("open /dev/net/tun for", name);
    ifreq ifr{};
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
    if (::ioctl(fd.get(), TUNSETIFF, &ifr) != 0) return Error::sysNow("create tap", name);
    const std::string v6 = "/proc/sys/net/ipv6/conf/" + name + "/disable_ipv6";
    if (unique_fd f(::open(v6.c_str(), O_WRONLY | O_CLOEXEC)); f) {
        if (::write(f.get(), "1", 1) != 1) return Error::sysNow("write", v6);
    } else if (errno != ENOENT) {  // ENOENT: a kernel without IPv6
        return Error::sysNow("open", v6);
    }
    HERD_TRY(nl.setUp(name));
    return fd;
}

// What sends frames out of the host end: a packet socket that receives
// nothing (protocol 0) and marks what it sends.
Result<unique_fd> openSender(const std::string& ifname) {
    unique_fd fd(::socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) return Error::sysNow("open packet socket for", ifname);
    const uint32_t mark = kDelayMark;
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_MARK, &mark, sizeof mark) != 0)
        return Error::sysNow("SO_MARK on packet socket for", ifname);
    const int sndbuf = 4 << 20;
    (void)::setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf);
    return fd;
}

// Loads the program and puts it on the host end's egress hook (making the
// clsact qdisc when there is none), replacing the one there.
Result<void> attachFilter(Netlink& nl, int ifindex, const std::string& ifname, int tap_ifindex,
                          double loss_percent) {
    const std::string op = "attach delay filter to";
    auto prog = loadTcProgram(delayProgram(loss_percent, tap_ifindex, kDelayMark), "herd_delay");
    if (!prog.ok()) return prog.error().wrap(op + " " + ifname);
    char buf[kTcMirrorMsgSize];
    auto q = nl.request(buildAddClsact(buf, ifindex), "add clsact qdisc to", ifname);
    if (!q.ok() && q.error().errnum() != EEXIST) return q.error().wrap(op + " " + ifname);
    return nl.request(
        buildReplaceBpfFilter(buf, ifindex, false, kDelayFilterPrio, prog->get(), kDelayFilterName),
        op, ifname);  // the filter holds the program; our descriptor may close
}

// Closing a tap unregisters its device, which costs the kernel about 16 ms
// (RCU grace periods, under the rtnl lock): for `clear qos` over hundreds of
// NICs that is seconds, so taps are closed by one background thread, never
// on the io thread or the command thread.
class TapCloser {
  public:
    static void close(int fd) {
        static TapCloser* closer = new TapCloser;  // lives as long as the process
        std::lock_guard lock(closer->mu_);
        closer->fds_.push_back(fd);
        closer->cv_.notify_one();
    }

  private:
    TapCloser() {
        std::thread([this] {
            for (;;) {
                std::unique_lock lock(mu_);
                cv_.wait(lock, [this] { return !fds_.empty(); });
                int fd = fds_.front();
                fds_.pop_front();
                lock.unlock();
                ::close(fd);
            }
        }).detach();
    }
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<int> fds_;
};

struct Frame {
    Clock::time_point due;
    std::string bytes;
};

class DelayLineImpl : public DelayLine, public std::enable_shared_from_this<DelayLineImpl> {
  public:
    DelayLineImpl(asio::io_context& io, const DelayLineSpec& spec, int ifindex, int tap_ifindex,
                  unique_fd tap, unique_fd sender)
        : io_(io),
          spec_(spec),
          ifindex_(ifindex),
          tap_ifindex_(tap_ifindex),
          tap_(io, tap.release()),
          sender_(std::move(sender)),
          timer_(io),
          delay_ns_(spec.delay_ns) {}

    void start() {
        auto self = shared_from_this();
        asio::post(io_, [self] { self->read(); });
    }

    Result<void> change(Netlink& nl, uint64_t delay_ns, double loss_percent) override {
        HERD_TRY(attachFilter(nl, ifindex_, spec_.ifname, tap_ifindex_, loss_percent));
        delay_ns_ = delay_ns;
        return Ok();
    }

    void close(Netlink* nl) override {
        if (nl) {
            char buf[kTcMirrorMsgSize];
            auto r = nl->request(buildDeleteFilter(buf, ifindex_, false, kDelayFilterPrio),
                                 "remove delay filter of", spec_.ifname);
            // ENODEV, ENOENT: the host end or its filter is gone already.
            if (!r.ok() && r.error().errnum() != ENODEV && r.error().errnum() != ENOENT)
                HERD_LOG(warn, "qos: {}", r.error().text());
        }
        auto self = shared_from_this();
        asio::post(io_, [self] {
            self->closed_ = true;
            self->timer_.cancel();
            if (self->tap_.is_open()) TapCloser::close(self->tap_.release());  // the tap goes
            self->sender_.reset();
            self->queue_.clear();
        });
    }

    uint64_t sent() const override { return sent_; }
    uint64_t dropped() const override { return dropped_; }

  private:
    void read() {
        if (closed_) return;
        auto self = shared_from_this();
        tap_.async_read_some(asio::buffer(buf_), [self](boost::system::error_code ec, size_t n) {
            if (ec == asio::error::operation_aborted || self->closed_) return;
            if (!ec && n >= 14) self->hold(n);
            self->read();  // errors of one read (a bad frame) end nothing
        });
    }

    void hold(size_t n) {
        if (queue_.size() >= spec_.limit) {
            ++dropped_;
            return;
        }
        const auto due = Clock::now() + std::chrono::nanoseconds(delay_ns_.load());
        queue_.push_back(Frame{due, std::string(buf_.data(), n)});
        if (queue_.size() == 1) arm();
    }

    void arm() {
        auto self = shared_from_this();
        timer_.expires_at(queue_.front().due);
        timer_.async_wait([self](boost::system::error_code ec) {
            if (ec || self->closed_) return;
            self->sendDue();
        });
    }

    void sendDue() {
        const auto now = Clock::now();
        while (!queue_.empty() && queue_.front().due <= now) {
            send(queue_.front().bytes);
            queue_.pop_front();
        }
        if (!queue_.empty()) arm();
    }

    void send(const std::string& frame) {
        sockaddr_ll to{};
        to.sll_family = AF_PACKET;
        to.sll_ifindex = ifindex_;
        // The frame's own EtherType (bytes 12 and 13, network order).
        std::memcpy(&to.sll_protocol, frame.data() + 12, 2);
        ssize_t r = ::sendto(sender_.get(), frame.data(), frame.size(), 0,
                             reinterpret_cast<const sockaddr*>(&to), sizeof to);
        if (r < 0) {
            ++dropped_;  // the host end is full or gone: as a full qdisc would
        } else {
            ++sent_;
        }
    }

    asio::io_context& io_;
    const DelayLineSpec spec_;
    const int ifindex_;
    const int tap_ifindex_;
    asio::posix::stream_descriptor tap_;
    unique_fd sender_;
    asio::steady_timer timer_;
    std::atomic<uint64_t> delay_ns_;
    std::array<char, 65536 + 64> buf_{};
    std::deque<Frame> queue_;  // in the order read, so in the order due
    std::atomic<uint64_t> sent_{0}, dropped_{0};
    bool closed_ = false;  // io thread only
};

}  // namespace

Result<std::shared_ptr<DelayLine>> DelayLine::create(asio::io_context& io, Netlink& nl,
                                                     const DelayLineSpec& spec) {
    const std::string what = "delay line for " + spec.ifname;
    auto link = nl.link(spec.ifname);
    if (!link.ok()) return link.error().wrap(what);
    auto tap = openTap(nl, spec.tap_name);
    if (!tap.ok()) return tap.error().wrap(what);
    auto tap_index = nl.ifindex(spec.tap_name);
    if (!tap_index.ok()) return tap_index.error().wrap(what);
    auto sender = openSender(spec.ifname);
    if (!sender.ok()) return sender.error().wrap(what);
    // Last: from here on, packets go to the tap, and must be read.
    HERD_TRY(attachFilter(nl, link->index, spec.ifname, *tap_index, spec.loss_percent));
    auto line = std::make_shared<DelayLineImpl>(io, spec, link->index, *tap_index, std::move(*tap),
                                                std::move(*sender));
    line->start();
    return std::shared_ptr<DelayLine>(line);
}

}  // namespace herd::runtime
