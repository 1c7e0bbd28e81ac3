#include "runtime/console_listener.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <climits>
#include <map>
#include <mutex>

#include "base/log.h"

namespace herd::runtime {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;

namespace {

// Connections that have not sent their line yet: beyond, the oldest is cut.
constexpr size_t kMaxPending = 64;

constexpr const char* kWhatIsAllowed =
    "send the id of a container VM (vm info's id column) in decimal and a newline, e.g. 3";

// The line as the viewer sent it, for a message: printable ASCII kept,
// anything else as \xNN.
std::string shown(std::string_view s) {
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (char ch : s) {
        auto b = static_cast<unsigned char>(ch);
        if (b >= 0x20 && b < 0x7f && b != '\\') {
            out += ch;
        } else {
            out += {'\\', 'x', hex[b >> 4], hex[b & 15]};
        }
    }
    return out;
}

bool trustedPeer(int fd) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return false;
    return cred.uid == 0 || cred.uid == ::geteuid();
}

class ListenerImpl;

// One connection until it has sent its line.
class Pending : public std::enable_shared_from_this<Pending> {
  public:
    using Done = std::function<void(const Pending*)>;
    Pending(local::socket sock, std::weak_ptr<ListenerImpl> owner, Done done)
        : sock_(std::move(sock)),
          timer_(sock_.get_executor()),
          owner_(std::move(owner)),
          done_(std::move(done)) {}

    void start(std::chrono::milliseconds timeout) {
        timer_.expires_after(timeout);
        const auto secs = std::chrono::duration_cast<std::chrono::seconds>(timeout).count();
        timer_.async_wait([self = shared_from_this(), secs](boost::system::error_code ec) {
            if (ec || self->finished_ || self->replying_) return;
            self->refuse("no VM id line within " + std::to_string(secs) + " s (" + kWhatIsAllowed +
                         ")");
        });
        read();
    }

    // Closes the connection now, without a word (the listener closes, or
    // too many wait).
    void cut() {
        if (finished_) return;
        finish();
        boost::system::error_code ec;
        sock_.close(ec);
    }

  private:
    void read();
    void check();

    // One line saying what was wrong, then the close (the timer bounds the
    // write too: the reply is small, it fits the socket's buffer).
    void refuse(const std::string& why) {
        if (finished_ || replying_) return;
        replying_ = true;
        reply_ = "herd: " + why + "\n";
        auto self = shared_from_this();
        timer_.expires_after(std::chrono::seconds(1));
        timer_.async_wait([self](boost::system::error_code ec) {
            if (!ec) self->cut();
        });
        asio::async_write(sock_, asio::buffer(reply_), [self](boost::system::error_code, size_t) {
            boost::system::error_code ec;
            self->sock_.shutdown(local::socket::shutdown_both, ec);
            self->cut();
        });
    }

    void finish() {
        finished_ = true;
        timer_.cancel();
        if (done_) std::exchange(done_, nullptr)(this);
    }

    local::socket sock_;
    asio::steady_timer timer_;
    std::weak_ptr<ListenerImpl> owner_;
    Done done_;
    std::array<char, kMaxViewerLine> buf_{};
    std::string line_;
    std::string reply_;
    bool replying_ = false;
    bool finished_ = false;
};

class ListenerImpl : public ConsoleListener {
  public:
    ListenerImpl(asio::io_context& io, std::shared_ptr<const Dir> base, Options opts)
        : io_(io),
          base_(std::move(base)),
          opts_(opts),
          path_(base_->pathOf(kConsoleSocket)),
          acc_(io),
          retry_(io) {}

    Result<void> listen() {
        HERD_TRY(base_->unlink(kConsoleSocket));  // an earlier daemon's
        const std::string via = base_->viaFd(kConsoleSocket);
        boost::system::error_code ec;
        acc_.open(local(), ec);
        if (!ec) acc_.bind(local::endpoint(via), ec);
        if (ec) return Error::sys(ec.value(), "bind", path_);
        // Root's alone whatever the umask, before anyone can connect.
        if (::chmod(via.c_str(), 0600) != 0) return Error::sysNow("chmod", path_);
        auto st = base_->lstat(kConsoleSocket);
        if (!st.ok()) return st.error();
        dev_ = st->st_dev;
        ino_ = st->st_ino;
        acc_.listen(asio::socket_base::max_listen_connections, ec);
        if (ec) return Error::sys(ec.value(), "listen on", path_);
        return Ok();
    }

    void startAccepting() {
        auto self = std::static_pointer_cast<ListenerImpl>(shared_from_this());
        asio::post(io_, [self] { self->accept(); });
    }

    void add(int id, const std::shared_ptr<Console>& console) override {
        std::lock_guard l(mu_);
        consoles_[id] = console;
    }

    void remove(int id, const Console* console) override {
        std::lock_guard l(mu_);
        auto it = consoles_.find(id);
        if (it == consoles_.end()) return;
        auto live = it->second.lock();
        if (!live || live.get() == console) consoles_.erase(it);
    }

    void close() override {
        {
            std::lock_guard l(mu_);
            if (closed_) return;
            closed_ = true;
        }
        // The file goes now, in the caller's thread; only if it is still ours.
        auto st = base_->lstat(kConsoleSocket);
        if (st.ok() && st->st_dev == dev_ && st->st_ino == ino_)
            (void)base_->unlink(kConsoleSocket);
        auto self = std::static_pointer_cast<ListenerImpl>(shared_from_this());
        asio::post(io_, [self] {
            boost::system::error_code ec;
            self->acc_.close(ec);
            self->retry_.cancel();
            auto pending = std::move(self->pending_);
            for (auto& [p, weak] : pending) {
                if (auto live = weak.lock()) live->cut();
            }
        });
    }

    const std::string& path() const override { return path_; }

    // The console of VM `id`, if it has one.
    std::shared_ptr<Console> find(int id) {
        std::lock_guard l(mu_);
        auto it = consoles_.find(id);
        return it == consoles_.end() ? nullptr : it->second.lock();
    }

    std::chrono::milliseconds lineTimeout() const { return opts_.line_timeout; }

  private:
    bool isClosed() {
        std::lock_guard l(mu_);
        return closed_;
    }

    void accept() {
        auto self = std::static_pointer_cast<ListenerImpl>(shared_from_this());
        acc_.async_accept([self](boost::system::error_code ec, local::socket s) {
            if (ec == asio::error::operation_aborted || self->isClosed()) return;
            if (ec) {
                // Typically EMFILE: the socket stays readable, so an
                // immediate retry would spin; try again shortly.
                self->retry_.expires_after(std::chrono::milliseconds(100));
                self->retry_.async_wait([self](boost::system::error_code e) {
                    if (!e && !self->isClosed()) self->accept();
                });
                return;
            }
            self->gate(std::move(s));
            self->accept();
        });
    }

    void gate(local::socket s) {
        if (!trustedPeer(s.native_handle())) {
            auto now = std::chrono::steady_clock::now();
            if (now - last_refusal_ > std::chrono::seconds(10)) {
                last_refusal_ = now;
                HERD_LOG(warn, "console: refused a connection on {} from a user other than root",
                         path_);
            }
            boost::system::error_code ec;
            s.close(ec);
            return;
        }
        while (pending_.size() >= kMaxPending) {
            auto oldest = pending_.begin()->second.lock();
            pending_.erase(pending_.begin());
            if (oldest) oldest->cut();
        }
        auto self = std::static_pointer_cast<ListenerImpl>(shared_from_this());
        auto p = std::make_shared<Pending>(std::move(s), self, [self](const Pending* done) {
            for (auto it = self->pending_.begin(); it != self->pending_.end(); ++it) {
                if (it->first == done) {
                    self->pending_.erase(it);
                    break;
                }
            }
        });
        pending_.emplace_back(p.get(), p);
        p->start(opts_.line_timeout);
    }

    asio::io_context& io_;
    std::shared_ptr<const Dir> base_;
    Options opts_;
    std::string path_;
    local::acceptor acc_;
    asio::steady_timer retry_;  // the next accept after an error
    dev_t dev_ = 0;             // the socket file's, to remove only ours
    ino_t ino_ = 0;
    // In arrival order (io thread).
    std::vector<std::pair<const Pending*, std::weak_ptr<Pending>>> pending_;
    std::chrono::steady_clock::time_point last_refusal_{};
    std::mutex mu_;  // consoles_, closed_
    std::map<int, std::weak_ptr<Console>> consoles_;
    bool closed_ = false;
};

void Pending::read() {
    auto self = shared_from_this();
    sock_.async_read_some(asio::buffer(buf_), [self](boost::system::error_code ec, size_t n) {
        if (self->finished_ || self->replying_) return;
        if (ec) return self->cut();  // gone before its line
        self->line_.append(self->buf_.data(), n);
        self->check();
    });
}

void Pending::check() {
    ViewerLine v = parseViewerLine(line_);
    if (v.kind == ViewerLine::Kind::Incomplete) return read();
    if (v.kind == ViewerLine::Kind::Invalid) return refuse(v.error);
    auto owner = owner_.lock();
    auto console = owner ? owner->find(v.id) : nullptr;
    if (!console) {
        return refuse("no console for vm " + std::to_string(v.id) + " (" + kWhatIsAllowed + ")");
    }
    std::string typed = line_.substr(v.consumed);
    finish();
    console->attach(std::move(sock_), std::move(typed));
}

}  // namespace

ViewerLine parseViewerLine(std::string_view buffered) {
    ViewerLine v;
    const size_t nl = buffered.find('\n');
    if (nl == std::string_view::npos) {
        if (buffered.size() >= kMaxViewerLine) {
            v.kind = ViewerLine::Kind::Invalid;
            v.error = "the first line is longer than " + std::to_string(kMaxViewerLine) +
                      " bytes (" + kWhatIsAllowed + ")";
            return v;
        }
        // Anything but digits (and a final \r) already tells.
        std::string_view sofar = buffered;
        if (!sofar.empty() && sofar.back() == '\r') sofar.remove_suffix(1);
        if (sofar.find_first_not_of("0123456789") == std::string_view::npos) return v;
        v.kind = ViewerLine::Kind::Invalid;
        v.error = "`" + shown(buffered) + "` is not a VM id (" + kWhatIsAllowed + ")";
        return v;
    }
    if (nl + 1 > kMaxViewerLine) {
        v.kind = ViewerLine::Kind::Invalid;
        v.error = "the first line is longer than " + std::to_string(kMaxViewerLine) + " bytes (" +
                  kWhatIsAllowed + ")";
        return v;
    }
    std::string_view line = buffered.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    long long id = 0;
    bool ok = !line.empty() && line.size() <= 10 &&
              line.find_first_not_of("0123456789") == std::string_view::npos;
    for (size_t i = 0; ok && i < line.size(); ++i) id = id * 10 + (line[i] - '0');
    if (!ok || id > INT_MAX) {
        v.kind = ViewerLine::Kind::Invalid;
        v.error = line.empty() ? std::string("the first line is empty (") + kWhatIsAllowed + ")"
                               : "`" + shown(line) + "` is not a VM id (" + kWhatIsAllowed + ")";
        return v;
    }
    v.kind = ViewerLine::Kind::Id;
    v.id = static_cast<int>(id);
    v.consumed = nl + 1;
    return v;
}

Result<std::shared_ptr<ConsoleListener>> ConsoleListener::create(asio::io_context& io,
                                                                 std::shared_ptr<const Dir> base,
                                                                 Options opts) {
    if (!base || !base->valid()) return Error::msg("console listener: no base directory");
    auto l = std::make_shared<ListenerImpl>(io, std::move(base), opts);
    if (auto r = l->listen(); !r.ok()) {
        l->close();
        return r.error();
    }
    l->startAccepting();
    return std::shared_ptr<ConsoleListener>(l);
}

}  // namespace herd::runtime
