#include "daemon/server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <vector>

#include "base/log.h"
#include "daemon/command_thread.h"
#include "daemon/protocol.h"
#include "service/command_context.h"
#include "service/executor.h"
#include "service/session.h"

namespace herd::daemon {

namespace asio = boost::asio;
using stream = asio::local::stream_protocol;

// One client. Its state is touched only on the io thread, except `session_`,
// which only the command thread uses (jobs hold a shared_ptr to keep it alive).
class Connection : public std::enable_shared_from_this<Connection> {
  public:
    Connection(Server& server, stream::socket sock, uint64_t id)
        : server_(server), sock_(std::move(sock)), id_(id) {
        session_.name = "socket " + std::to_string(id);
    }

    void start() { doRead(); }

    // Closes now, dropping whatever is queued.
    void close() {
        if (closed_) return;
        closed_ = true;
        boost::system::error_code ec;
        sock_.close(ec);
        pending_.clear();
        out_.clear();
        sent_ = 0;
        out_bytes_ = 0;
        {
            std::lock_guard lock(flow_mu_);
            gone_ = true;
        }
        flow_cv_.notify_all();
        HERD_LOG(info, "{} disconnected", session_.name);
        server_.remove(id_);
    }

    // Stops reading; closes once the queued replies are written.
    void drainAndClose() {
        draining_ = true;
        pending_.clear();
        maybeFinish();
    }

    // Queues a reply. Those of commands were counted in `posted_` when the
    // command made them (flow control: see waitForRoom); `counted` says so.
    void send(std::string data, bool counted = false) {
        if (closed_) return;
        if (!counted) addPosted(data.size());
        out_bytes_ += data.size();
        out_.push_back(std::move(data));
        if (!writing_) doWrite();
    }

    // Command thread, before a reply of a command is handed to the io
    // thread: while the client has more than kMaxQueuedBytes unread, waits
    // (without the command lock, so that nobody else waits) until it reads
    // on; a client that reads nothing for kReaderStall is dropped. So a big
    // answer streams at the client's pace in bounded memory, and a client
    // that stops reading costs at most kMaxQueuedBytes and one reply.
    void waitForRoom() {
        {
            std::lock_guard lock(flow_mu_);
            if (gone_ || posted_ <= kMaxQueuedBytes) return;
        }
        bool stalled = false;
        server_.cmd_.unlocked(
            [&] {
                std::unique_lock lock(flow_mu_);
                uint64_t seen = written_;
                auto deadline = std::chrono::steady_clock::now() + kReaderStall;
                while (!gone_ && posted_ > kMaxQueuedBytes) {
                    if (flow_cv_.wait_until(lock, deadline) != std::cv_status::timeout) continue;
                    if (written_ == seen) {
                        stalled = true;
                        return;
                    }
                    seen = written_;
                    deadline = std::chrono::steady_clock::now() + kReaderStall;
                }
            },
            [this] {
                std::lock_guard lock(flow_mu_);
                gone_ = true;
                flow_cv_.notify_all();
            });
        if (!stalled) return;
        {
            std::lock_guard lock(flow_mu_);
            gone_ = true;  // the rest of the command's replies are not waited for
        }
        asio::post(server_.io_, [self = shared_from_this()] {
            HERD_LOG(warn, "dropping {}: {} bytes of replies unread for {} s", self->session_.name,
                     self->out_bytes_, kReaderStall.count());
            self->close();
        });
    }

    void addPosted(size_t n) {
        std::lock_guard lock(flow_mu_);
        posted_ += n;
    }

  private:
    void doRead() {
        if (closed_ || reading_ || eof_ || draining_ || decoder_.dead() ||
            pending_.size() >= kMaxPendingRequests) {
            return;
        }
        reading_ = true;
        sock_.async_read_some(asio::buffer(rbuf_),
                              [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                                  self->onRead(ec, n);
                              });
    }

    void onRead(boost::system::error_code ec, size_t n) {
        reading_ = false;
        if (closed_) return;
        std::vector<Incoming> items;
        if (ec == asio::error::eof) {
            eof_ = true;
            decoder_.finish(items);
        } else if (ec) {
            HERD_LOG(info, "{}: read: {}", session_.name, ec.message());
            close();
            return;
        } else {
            decoder_.feed(std::string_view(rbuf_.data(), n), items);
        }
        for (auto& it : items) pending_.push_back(std::move(it));
        dispatch();
    }

    // Starts the next queued request unless one is in flight.
    void dispatch() {
        while (!closed_ && !busy_ && !pending_.empty()) {
            Incoming in = std::move(pending_.front());
            pending_.pop_front();
            switch (in.kind) {
                case Incoming::Kind::fatal:
                    HERD_LOG(info, "{}: closing: {}", session_.name, in.error);
                    if (!in.error.empty()) send(encodeErrorReply(server_.hostname_, in.error));
                    draining_ = true;
                    pending_.clear();
                    break;
                case Incoming::Kind::error:
                    HERD_LOG(debug, "{}: bad request: {}", session_.name, in.error);
                    send(encodeErrorReply(server_.hostname_, in.error));
                    break;
                case Incoming::Kind::request:
                    handle(std::move(in.request));
                    break;
            }
        }
        if (closed_) return;
        maybeFinish();
        doRead();
    }

    void handle(Request r) {
        if (!r.plumb_pipe.empty()) {
            send(encodeErrorReply(server_.hostname_, "plumbing is not supported"));
        } else if (r.command.empty() == r.suggest.empty()) {
            send(encodeErrorReply(server_.hostname_, "must specify either command or suggest"));
        } else if (!r.suggest.empty()) {
            runJob(std::move(r.suggest), true);
        } else {
            runJob(std::move(r.command), false);
        }
    }

    // Runs a command (or a suggestion) on the command thread. Its replies and
    // the end-of-request mark come back to the io thread in order, as posts.
    void runJob(std::string line, bool suggest) {
        HERD_LOG(debug, "{}: {} `{}`", session_.name, suggest ? "suggest" : "command", line);
        busy_ = true;
        auto self = shared_from_this();
        bool queued = server_.cmd_.post([self, line = std::move(line), suggest]() mutable {
            // The last reference is handed back to the io thread, so that the
            // connection is never destroyed on the command thread.
            auto me = std::move(self);
            asio::io_context& io = me->server_.io_;
            auto emit = [&](std::string s) {
                me->waitForRoom();
                me->addPosted(s.size());
                asio::post(io, [me, s = std::move(s)]() mutable { me->send(std::move(s), true); });
            };
            if (suggest) {
                emit(me->suggest(line));
            } else {
                me->runCommand(line, emit);
            }
            asio::post(io, [me = std::move(me)] {
                me->busy_ = false;
                me->dispatch();
            });
        });
        if (!queued) {
            busy_ = false;
            drainAndClose();  // shutting down
        }
    }

    // Command thread.
    std::string suggest(const std::string& line) {
        Executor& exec = server_.exec_;
        Herd& herd = exec.herd();
        try {
            CommandContext ctx{herd, session_, exec, [](cli::Batch) {},
                               herd.namespaces().activeName()};
            return encodeSuggestReply(herd.commands().suggest(line, &ctx));
        } catch (const std::exception& e) {
            HERD_LOG(error, "suggest `{}`: {}", line, e.what());
            return encodeSuggestReply({});
        }
    }

    // Command thread. Every batch but the last goes out with More:true, so
    // one batch is held back until the next arrives or the command ends.
    template <typename Emit>
    void runCommand(const std::string& line, Emit& emit) {
        std::optional<std::pair<cli::Batch, std::string>> prev;
        // Status replies go out at once; the client keeps reading after them.
        session_.status = [&](const std::string& text) {
            emit(encodeReply(nullptr, text, false, true));
        };
        struct Unset {
            Session& s;
            ~Unset() { s.status = nullptr; }
        } unset{session_};
        try {
            server_.exec_.runLine(line, session_, [&](cli::Batch& b, std::string& rendered) {
                if (prev) emit(encodeReply(&prev->first, prev->second, true));
                prev.emplace(std::move(b), std::move(rendered));
            });
        } catch (const std::exception& e) {
            // A handler bug must cost one command, not the daemon.
            HERD_LOG(error, "{}: `{}`: uncaught exception: {}", session_.name, line, e.what());
            if (prev) emit(encodeReply(&prev->first, prev->second, true));
            prev.reset();
            emit(encodeErrorReply(server_.hostname_, std::string("internal error: ") + e.what()));
            return;
        }
        if (prev) {
            emit(encodeReply(&prev->first, prev->second, false));
        } else if (!(server_.stopping_probe_ && server_.stopping_probe_())) {
            emit(encodeReply(nullptr, "", false));
        }
    }

    // Writes the front reply in slices of at most kWriteSlice from offset
    // `sent_`, so that the reader's progress (what waitForRoom watches) shows
    // while a big reply goes out.
    static constexpr size_t kWriteSlice = 256 * 1024;

    void doWrite() {
        if (closed_ || out_.empty()) return;
        writing_ = true;
        // Coalesce small replies into one write.
        while (sent_ == 0 && out_.size() > 1 && out_.front().size() + out_[1].size() <= 64 * 1024) {
            out_[1].insert(0, out_.front());
            out_.pop_front();
        }
        const std::string& front = out_.front();
        const size_t n = std::min(kWriteSlice, front.size() - sent_);
        asio::async_write(sock_, asio::buffer(front.data() + sent_, n),
                          [self = shared_from_this()](boost::system::error_code ec, size_t done) {
                              self->onWrite(ec, done);
                          });
    }

    void onWrite(boost::system::error_code ec, size_t done) {
        writing_ = false;
        if (closed_) return;
        if (ec) {
            HERD_LOG(info, "{}: write: {}", session_.name, ec.message());
            close();
            return;
        }
        sent_ += done;
        out_bytes_ -= done;
        {
            std::lock_guard lock(flow_mu_);
            posted_ -= std::min(posted_, done);
            written_ += done;
        }
        flow_cv_.notify_all();
        if (sent_ >= out_.front().size()) {
            out_.pop_front();
            sent_ = 0;
        }
        if (!out_.empty()) {
            doWrite();
        } else {
            maybeFinish();
        }
    }

    // Closes a connection that has nothing left to do: the client half-closed
    // (or we gave up reading) and every reply has been written.
    void maybeFinish() {
        if ((eof_ || draining_) && pending_.empty() && !busy_ && out_.empty() && !writing_) {
            close();
        }
    }

    Server& server_;
    stream::socket sock_;
    uint64_t id_;
    Session session_;
    RequestDecoder decoder_;
    std::deque<Incoming> pending_;
    std::deque<std::string> out_;
    size_t sent_ = 0;  // bytes of out_.front() written
    size_t out_bytes_ = 0;
    std::array<char, 64 * 1024> rbuf_;
    bool reading_ = false;
    bool writing_ = false;
    bool busy_ = false;      // a request of this client is on the command thread
    bool eof_ = false;       // the client will send nothing more
    bool draining_ = false;  // we read nothing more
    bool closed_ = false;

    // Flow control between the command thread (which makes replies) and the
    // io thread (which writes them).
    std::mutex flow_mu_;
    std::condition_variable flow_cv_;
    size_t posted_ = 0;     // bytes of replies made and not yet written
    uint64_t written_ = 0;  // bytes written so far: progress of the reader
    bool gone_ = false;     // closed, or given up on: nothing waits for it
};

Server::Server(asio::io_context& io, CommandThread& cmd, Executor& exec, std::string hostname)
    : io_(io), cmd_(cmd), exec_(exec), hostname_(std::move(hostname)), acceptor_(io), timer_(io) {}

Server::~Server() = default;

Result<void> Server::listen(const std::string& path, const std::string& via) {
    if (path.size() >= sizeof(sockaddr_un::sun_path)) {
        return Error::msg("socket path too long: " + path);
    }
    via_ = via.empty() ? path : via;
    boost::system::error_code ec;
    stream::endpoint ep(via_);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (ec) return Error::sys(ec.value(), "bind", path);
    bound_ = true;
    path_ = path;
    // Root's alone whatever the umask: connecting needs write permission.
    // Before listen(), so nobody can connect in between.
    if (::chmod(via_.c_str(), 0600) != 0) {
        auto e = Error::sysNow("chmod", path);
        removeSocketFile();
        return e;
    }
    struct stat st {};
    if (::lstat(via_.c_str(), &st) == 0) {
        dev_ = st.st_dev;
        ino_ = st.st_ino;
    }
    acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        removeSocketFile();
        return Error::sys(ec.value(), "listen", path);
    }
    HERD_LOG(info, "listening on {}", path);
    return Ok();
}

void Server::start() {
    asio::post(io_, [this] { doAccept(); });
}

void Server::doAccept() {
    if (stopping_) return;
    acceptor_.async_accept([this](boost::system::error_code ec, stream::socket sock) {
        if (stopping_ || ec == asio::error::operation_aborted) return;
        if (ec) {
            // Typically EMFILE: back off instead of spinning on the error.
            HERD_LOG(error, "accept: {}", ec.message());
            timer_.expires_after(std::chrono::milliseconds(100));
            timer_.async_wait([this](boost::system::error_code e) {
                if (!e) doAccept();
            });
            return;
        }
        uint64_t id = next_id_++;
        auto conn = std::make_shared<Connection>(*this, std::move(sock), id);
        conns_.emplace(id, conn);
        HERD_LOG(info, "client connected: socket {}", id);
        conn->start();
        doAccept();
    });
}

void Server::remove(uint64_t id) {
    conns_.erase(id);
    if (stopping_ && conns_.empty()) finishShutdown();
}

void Server::removeSocketFile() {
    if (!bound_) return;
    bound_ = false;
    struct stat st {};
    if (::lstat(via_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) {
        if (::unlink(via_.c_str()) != 0) {
            HERD_LOG(error, "{}", Error::sysNow("unlink", path_).text());
        }
    }
}

void Server::shutdown(std::chrono::milliseconds grace, std::function<void()> done) {
    stopping_ = true;
    on_done_ = std::move(done);
    boost::system::error_code ec;
    acceptor_.close(ec);
    removeSocketFile();
    timer_.cancel();
    // Copy: closing a connection removes it from conns_.
    std::vector<std::shared_ptr<Connection>> all;
    for (auto& [id, c] : conns_) all.push_back(c);
    for (auto& c : all) c->drainAndClose();
    if (conns_.empty()) {
        finishShutdown();
        return;
    }
    timer_.expires_after(grace);
    timer_.async_wait([this](boost::system::error_code e) {
        if (e) return;
        std::vector<std::shared_ptr<Connection>> left;
        for (auto& [id, c] : conns_) left.push_back(c);
        for (auto& c : left) c->close();
        finishShutdown();
    });
}

void Server::finishShutdown() {
    if (!on_done_) return;
    timer_.cancel();
    auto done = std::move(on_done_);
    on_done_ = nullptr;
    done();
}

}  // namespace herd::daemon
