#include "runtime/console.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>

namespace herd::runtime {

namespace asio = boost::asio;

namespace {

// The longest token line taken (tokens are at most 128 characters).
constexpr size_t kMaxTokenLine = 256;
// TCP connections of one console still to send their token: beyond, the
// oldest is cut (they cannot exhaust the daemon's descriptors, nor keep out a
// viewer who sends the token at once).
constexpr size_t kMaxPendingAuth = 16;

// Compares in time independent of where the strings differ.
bool sameToken(std::string_view given, std::string_view token) {
    if (token.empty() || given.size() != token.size()) return false;
    unsigned char diff = 0;
    for (size_t i = 0; i < token.size(); ++i) {
        diff |= static_cast<unsigned char>(given[i] ^ token[i]);
    }
    return diff == 0;
}

class Viewer {
  public:
    virtual ~Viewer() = default;
    // Queues output; false when the viewer is gone or too far behind.
    virtual bool deliver(std::shared_ptr<const std::string> bytes) = 0;
    virtual void shutdown() = 0;
    // Bytes queued and not yet written; nullopt for a viewer that does not
    // pace the console (one that keeps its own queue, like the web page).
    virtual std::optional<size_t> queued() const { return std::nullopt; }
};

class ConsoleImpl;

// A viewer on a socket (unix or TCP): output queued with a cap, input read
// and handed to the pty.
template <typename Socket>
class SocketViewer : public Viewer, public std::enable_shared_from_this<SocketViewer<Socket>> {
  public:
    // `wrote` is called after each write to the socket (the console may
    // resume reading the pty).
    SocketViewer(Socket sock, size_t cap, std::function<void(std::string)> input,
                 std::function<void()> gone, std::function<void()> wrote)
        : sock_(std::move(sock)),
          cap_(cap),
          input_(std::move(input)),
          gone_(std::move(gone)),
          wrote_(std::move(wrote)) {}

    void startReading() {
        auto self = this->shared_from_this();
        sock_.async_read_some(asio::buffer(buf_), [self](boost::system::error_code ec, size_t n) {
            if (ec) return self->fail();
            self->input_(std::string(self->buf_.data(), n));
            self->startReading();
        });
    }

    bool deliver(std::shared_ptr<const std::string> bytes) override {
        if (dead_) return false;
        queued_ += bytes->size();
        if (queued_ > cap_) {
            shutdown();
            return false;
        }
        queue_.push_back(std::move(bytes));
        if (!writing_) writeNext();
        return true;
    }

    void shutdown() override {
        if (dead_) return;
        dead_ = true;
        boost::system::error_code ec;
        sock_.close(ec);
    }

    std::optional<size_t> queued() const override {
        if (dead_) return std::nullopt;
        return queued_;
    }

  private:
    void writeNext() {
        if (queue_.empty() || dead_) {
            writing_ = false;
            return;
        }
        writing_ = true;
        auto self = this->shared_from_this();
        auto front = queue_.front();
        asio::async_write(sock_, asio::buffer(*front),
                          [self, front](boost::system::error_code ec, size_t) {
                              if (ec) return self->fail();
                              self->queued_ -= front->size();
                              self->queue_.pop_front();
                              self->writeNext();
                              self->wrote_();
                          });
    }

    void fail() {
        if (dead_) return;
        shutdown();
        gone_();
    }

    Socket sock_;
    size_t cap_;
    std::function<void(std::string)> input_;
    std::function<void()> gone_;
    std::function<void()> wrote_;
    std::array<char, 4096> buf_{};
    std::deque<std::shared_ptr<const std::string>> queue_;
    size_t queued_ = 0;
    bool writing_ = false;
    bool dead_ = false;
};

class CallbackViewer : public Viewer {
  public:
    explicit CallbackViewer(Console::Deliver d) : d_(std::move(d)) {}
    bool deliver(std::shared_ptr<const std::string> bytes) override {
        return !dead_ && (dead_ = !d_(std::move(bytes)), !dead_);
    }
    // Tells the owner once that no more output comes (see Console::addViewer).
    void shutdown() override {
        if (dead_) return;
        dead_ = true;
        d_(nullptr);
    }

  private:
    Console::Deliver d_;
    bool dead_ = false;
};

// A TCP connection until it has sent the token line: nothing is written to
// it and nothing it sends reaches the pty. `pass(socket, bytes after the
// line)` takes a connection that sent the right token; `done` is called once
// the gate lets go of its socket either way.
class TcpGate : public std::enable_shared_from_this<TcpGate> {
  public:
    using Pass = std::function<void(asio::ip::tcp::socket, std::string)>;
    TcpGate(asio::ip::tcp::socket sock, const ConsoleOptions& opts, Pass pass,
            std::function<void()> done)
        : sock_(std::move(sock)),
          timer_(sock_.get_executor()),
          token_(opts.tcp_token),
          timeout_(opts.auth_timeout),
          reject_delay_(opts.auth_reject_delay),
          pass_(std::move(pass)),
          done_(std::move(done)) {}

    void start() {
        auto self = shared_from_this();
        timer_.expires_after(timeout_);
        timer_.async_wait([self](boost::system::error_code ec) {
            if (!ec) self->close();
        });
        read();
    }

    // Closes the connection now (the console closes, or time is up).
    void close() {
        if (finished_) return;
        finished_ = true;
        boost::system::error_code ec;
        timer_.cancel();
        sock_.close(ec);
        done_();
    }

  private:
    void read() {
        auto self = shared_from_this();
        sock_.async_read_some(asio::buffer(buf_), [self](boost::system::error_code ec, size_t n) {
            if (self->finished_ || self->rejected_) return;
            if (ec) return self->close();
            self->line_.append(self->buf_.data(), n);
            self->check();
        });
    }

    void check() {
        auto nl = line_.find('\n');
        if (nl == std::string::npos) {
            if (line_.size() > kMaxTokenLine) return reject();
            return read();
        }
        std::string_view given(line_.data(), nl);
        if (!given.empty() && given.back() == '\r') given.remove_suffix(1);
        if (!sameToken(given, token_)) return reject();
        finished_ = true;
        timer_.cancel();
        std::string rest = line_.substr(nl + 1);
        done_();
        pass_(std::move(sock_), std::move(rest));
    }

    // Closes after a delay, without a byte of output and reading nothing more.
    void reject() {
        rejected_ = true;
        auto self = shared_from_this();
        timer_.cancel();
        timer_.expires_after(reject_delay_);
        timer_.async_wait([self](boost::system::error_code) { self->close(); });
    }

    asio::ip::tcp::socket sock_;
    asio::steady_timer timer_;
    std::string token_;
    std::chrono::milliseconds timeout_;
    std::chrono::milliseconds reject_delay_;
    Pass pass_;
    std::function<void()> done_;
    std::array<char, 512> buf_{};
    std::string line_;
    bool rejected_ = false;
    bool finished_ = false;
};

class ConsoleImpl : public Console {
  public:
    ConsoleImpl(asio::io_context& io, ConsoleOptions opts, int master, std::string slave)
        : io_(io),
          opts_(std::move(opts)),
          master_(io, master),
          master_fd_(master),
          slave_(std::move(slave)),
          tcp_acc_(io),
          tcp_retry_(io),
          stall_timer_(io),
          buffer_(opts_.buffer ? opts_.buffer : heapScrollback(opts_.scrollback)) {}

    std::string scrollback() const override { return buffer_->contents(); }

    Result<void> listen() {
        boost::system::error_code ec;
        if (!opts_.tcp_address.empty()) {
            if (opts_.tcp_token.empty()) {
                return Error::msg("console address `" + opts_.tcp_address +
                                  "`: a TCP console needs a token");
            }
            auto addr = asio::ip::make_address(opts_.tcp_address, ec);
            if (ec)
                return Error::msg("console address `" + opts_.tcp_address + "`: " + ec.message());
            asio::ip::tcp::endpoint ep(addr, 0);
            tcp_acc_.open(ep.protocol(), ec);
            if (!ec) tcp_acc_.set_option(asio::socket_base::reuse_address(true), ec);
            if (!ec) tcp_acc_.bind(ep, ec);
            if (!ec) tcp_acc_.listen(64, ec);
            if (ec) return Error::sys(ec.value(), "listen on", opts_.tcp_address + ":0");
            port_ = tcp_acc_.local_endpoint().port();
        }
        return Ok();
    }

    void startAccepting() {
        auto self = std::static_pointer_cast<ConsoleImpl>(shared_from_this());
        asio::post(io_, [self] {
            if (self->tcp_acc_.is_open()) self->acceptTcp();
        });
    }

    const std::string& slavePath() const override { return slave_; }
    int tcpPort() const override { return port_; }

    void resume() override {
        auto self = std::static_pointer_cast<ConsoleImpl>(shared_from_this());
        asio::post(io_, [self] {
            if (self->closed_ || self->reading_) return;
            self->reading_ = true;
            self->readPty();
        });
    }

    void resize(unsigned rows, unsigned cols) override {
        winsize ws{};
        ws.ws_row = static_cast<unsigned short>(rows);
        ws.ws_col = static_cast<unsigned short>(cols);
        ::ioctl(master_.native_handle(), TIOCSWINSZ, &ws);
    }

    int masterFd() const override { return master_fd_; }

    void close() override {
        auto self = std::static_pointer_cast<ConsoleImpl>(shared_from_this());
        asio::post(io_, [self] {
            if (self->closed_) return;
            self->closed_ = true;
            boost::system::error_code ec;
            self->tcp_acc_.close(ec);
            auto gates = std::move(self->gates_);
            for (auto& [id, g] : gates) {
                if (auto live = g.lock()) live->close();
            }
            for (auto& [id, v] : self->viewers_) v->shutdown();
            self->viewers_.clear();
            self->count_ = 0;
            self->stall_timer_.cancel();
            self->master_.close(ec);
        });
    }

    int addViewer(Deliver deliver) override {
        int id = next_id_.fetch_add(1);
        auto self = std::static_pointer_cast<ConsoleImpl>(shared_from_this());
        asio::post(io_, [self, id, d = std::move(deliver)]() mutable {
            self->registerViewer(id, std::make_shared<CallbackViewer>(std::move(d)));
        });
        return id;
    }

    void input(std::string bytes) override {
        auto self = std::static_pointer_cast<ConsoleImpl>(shared_from_this());
        asio::post(io_, [self, b = std::move(bytes)]() mutable { self->writePty(std::move(b)); });
    }

    void removeViewer(int id) override {
        auto self = std::static_pointer_cast<ConsoleImpl>(shared_from_this());
        asio::post(io_, [self, id] { self->dropViewer(id); });
    }

    size_t viewerCount() const override { return count_.load(); }

    void attach(asio::local::stream_protocol::socket sock, std::string typed) override {
        auto self = std::static_pointer_cast<ConsoleImpl>(shared_from_this());
        // (Held by a shared_ptr: the handler must be copyable.)
        auto s = std::make_shared<asio::local::stream_protocol::socket>(std::move(sock));
        asio::post(io_, [self, s, t = std::move(typed)]() mutable {
            if (self->closed_) {
                boost::system::error_code ec;
                s->close(ec);
                return;
            }
            self->adopt(std::move(*s), std::move(t));
        });
    }

  private:
    void registerViewer(int id, std::shared_ptr<Viewer> v) {
        if (closed_) return v->shutdown();
        // Scrollback first, then live output: nothing twice, nothing lost.
        std::string sb = scrollback();
        if (!sb.empty() && !v->deliver(std::make_shared<const std::string>(std::move(sb)))) {
            return;
        }
        viewers_[id] = std::move(v);
        count_ = viewers_.size();
    }

    void dropViewer(int id) {
        auto it = viewers_.find(id);
        if (it == viewers_.end()) return;
        it->second->shutdown();
        viewers_.erase(it);
        count_ = viewers_.size();
        viewerWrote();  // the console may have been waiting for this one
    }

    // `typed`: what the viewer sent before it became one (after its token).
    template <typename Socket>
    void adopt(Socket sock, std::string typed = {}) {
        int id = next_id_.fetch_add(1);
        auto self = std::static_pointer_cast<ConsoleImpl>(shared_from_this());
        auto v = std::make_shared<SocketViewer<Socket>>(
            std::move(sock), opts_.viewer_queue,
            [self](std::string b) { self->writePty(std::move(b)); },
            [self, id] { self->dropViewer(id); }, [self] { self->viewerWrote(); });
        registerViewer(id, v);
        if (!typed.empty()) writePty(std::move(typed));
        v->startReading();
    }

    // A TCP connection becomes a viewer once it sent the token.
    void gate(asio::ip::tcp::socket sock) {
        while (gates_.size() >= kMaxPendingAuth) {
            auto oldest = gates_.begin()->second.lock();
            gates_.erase(gates_.begin());
            if (oldest) oldest->close();
        }
        int id = next_id_.fetch_add(1);
        auto self = std::static_pointer_cast<ConsoleImpl>(shared_from_this());
        auto g = std::make_shared<TcpGate>(
            std::move(sock), opts_,
            [self](asio::ip::tcp::socket s, std::string typed) {
                if (self->closed_) return;
                self->adopt(std::move(s), std::move(typed));
            },
            [self, id] { self->gates_.erase(id); });
        gates_[id] = g;
        g->start();
    }

    // After an accept error (typically EMFILE) the listening socket stays
    // readable: an immediate retry would spin the io thread. Try again shortly.
    template <typename F>
    void retryLater(asio::steady_timer& timer, F again) {
        timer.expires_after(std::chrono::milliseconds(100));
        auto self = std::static_pointer_cast<ConsoleImpl>(shared_from_this());
        timer.async_wait([self, again](boost::system::error_code e) {
            if (!e && !self->closed_) again();
        });
    }

    void acceptTcp() {
        auto self = std::static_pointer_cast<ConsoleImpl>(shared_from_this());
        tcp_acc_.async_accept([self](boost::system::error_code ec, asio::ip::tcp::socket s) {
            if (ec == asio::error::operation_aborted || self->closed_) return;
            if (ec) return self->retryLater(self->tcp_retry_, [self] { self->acceptTcp(); });
            self->gate(std::move(s));
            self->acceptTcp();
        });
    }

    void readPty() {
        auto self = std::static_pointer_cast<ConsoleImpl>(shared_from_this());
        master_.async_read_some(asio::buffer(buf_), [self](boost::system::error_code ec, size_t n) {
            if (ec) {
                // EIO: the container closed its last slave fd (it exited).
                // Reading resumes when it is relaunched.
                self->reading_ = false;
                return;
            }
            self->output(std::string(self->buf_.data(), n));
            if (self->mustPause()) {
                self->pause();
            } else {
                self->readPty();
            }
        });
    }

    // Pacing. The pty is read while the viewer that is furthest ahead has
    // less than a quarter of its queue waiting; past that the console stops
    // reading and the guest's writes wait, as on a real terminal, so that a
    // viewer that reads slowly (a slow link, a busy machine) is slowed down,
    // never dropped. A viewer that reads nothing at all while the console
    // waits for it (stall_timeout) is dropped and reading goes on: a viewer
    // never holds up the guest for longer than that. With several viewers,
    // one that stops reading falls behind the others and is dropped when its
    // queue is full.
    size_t paceMark() const { return opts_.viewer_queue / 4; }

    bool mustPause() const {
        std::optional<size_t> least;
        for (const auto& [id, v] : viewers_) {
            if (auto q = v->queued()) least = least ? std::min(*least, *q) : *q;
        }
        return least && *least >= paceMark();
    }

    void pause() {
        paused_ = true;
        armStallTimer();
    }

    void armStallTimer() {
        auto self = std::static_pointer_cast<ConsoleImpl>(shared_from_this());
        stall_timer_.expires_after(opts_.stall_timeout);
        stall_timer_.async_wait([self](boost::system::error_code ec) {
            if (ec || !self->paused_ || self->closed_) return;
            // Nothing was written to any viewer for stall_timeout: those
            // still holding up the console have stopped reading.
            for (auto it = self->viewers_.begin(); it != self->viewers_.end();) {
                auto q = it->second->queued();
                if (q && *q >= self->paceMark()) {
                    it->second->shutdown();
                    it = self->viewers_.erase(it);
                } else {
                    ++it;
                }
            }
            self->count_ = self->viewers_.size();
            self->unpause();
        });
    }

    // A write to a viewer finished: read on once no viewer holds the console up.
    void viewerWrote() {
        if (!paused_ || closed_) return;
        if (mustPause()) return armStallTimer();
        unpause();
    }

    void unpause() {
        paused_ = false;
        stall_timer_.cancel();
        if (reading_ && !closed_) readPty();
    }

    void output(std::string data) {
        buffer_->append(data);
        auto shared = std::make_shared<const std::string>(std::move(data));
        for (auto it = viewers_.begin(); it != viewers_.end();) {
            if (it->second->deliver(shared)) {
                ++it;
            } else {
                it = viewers_.erase(it);
            }
        }
        count_ = viewers_.size();
    }

    void writePty(std::string bytes) {
        if (closed_) return;
        // Keystrokes beyond a generous bound are dropped rather than queued
        // without limit (the guest is not reading its console).
        if (pending_input_ + bytes.size() > (1u << 20)) return;
        pending_input_ += bytes.size();
        to_pty_.push_back(std::move(bytes));
        if (!writing_pty_) writeNextPty();
    }

    void writeNextPty() {
        if (to_pty_.empty() || closed_) {
            writing_pty_ = false;
            return;
        }
        writing_pty_ = true;
        auto self = std::static_pointer_cast<ConsoleImpl>(shared_from_this());
        asio::async_write(master_, asio::buffer(to_pty_.front()),
                          [self](boost::system::error_code, size_t) {
                              self->pending_input_ -= self->to_pty_.front().size();
                              self->to_pty_.pop_front();
                              self->writeNextPty();
                          });
    }

    asio::io_context& io_;
    ConsoleOptions opts_;
    asio::posix::stream_descriptor master_;
    const int master_fd_;  // master_'s, read from any thread
    std::string slave_;
    asio::ip::tcp::acceptor tcp_acc_;
    asio::steady_timer tcp_retry_;    // the next accept after an error
    asio::steady_timer stall_timer_;  // see pause()
    int port_ = 0;
    std::array<char, 8192> buf_{};
    std::shared_ptr<ScrollbackBuffer> buffer_;  // its own lock: scrollback() is any thread's
    std::map<int, std::shared_ptr<Viewer>> viewers_;
    std::map<int, std::weak_ptr<TcpGate>> gates_;  // TCP connections yet to send the token
    std::atomic<size_t> count_{0};
    std::atomic<int> next_id_{1};
    std::deque<std::string> to_pty_;
    size_t pending_input_ = 0;
    bool writing_pty_ = false;
    bool reading_ = false;
    bool paused_ = false;  // reading_, but waiting for viewers (see pause())
    bool closed_ = false;
};

}  // namespace

Result<std::shared_ptr<Console>> Console::create(asio::io_context& io, const ConsoleOptions& opts) {
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
    if (m < 0) return Error::sysNow("open", "/dev/ptmx");
    char name[64];
    if (grantpt(m) != 0 || unlockpt(m) != 0 || ptsname_r(m, name, sizeof name) != 0) {
        int e = errno;
        ::close(m);
        return Error::sys(e, "unlock pty for", opts.name);
    }
    // A sane default size until a viewer says otherwise.
    winsize ws{};
    ws.ws_row = 24;
    ws.ws_col = 80;
    ::ioctl(m, TIOCSWINSZ, &ws);
    auto c = std::make_shared<ConsoleImpl>(io, opts, m, name);
    if (auto r = c->listen(); !r.ok()) {
        c->close();
        return r.error();
    }
    c->startAccepting();
    return std::shared_ptr<Console>(c);
}

Result<std::shared_ptr<Console>> Console::adopt(asio::io_context& io, const ConsoleOptions& opts,
                                                unique_fd master) {
    char name[64];
    if (ptsname_r(master.get(), name, sizeof name) != 0) {
        return Error::sysNow("name of pty for", opts.name);
    }
    int fl = ::fcntl(master.get(), F_GETFL);
    if (fl < 0 || ::fcntl(master.get(), F_SETFL, fl | O_NONBLOCK) != 0) {
        return Error::sysNow("fcntl", opts.name);
    }
    auto c = std::make_shared<ConsoleImpl>(io, opts, master.release(), name);
    if (auto r = c->listen(); !r.ok()) {
        c->close();
        return r.error();
    }
    c->startAccepting();
    return std::shared_ptr<Console>(c);
}

}  // namespace herd::runtime
