#include "service/cc_tunnel.h"

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "base/log.h"
#include "service/plumber.h"

namespace herd {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using nlohmann::json;

struct GuestStdin;

struct TunnelMux::Stream {
    explicit Stream(asio::any_io_executor ex) : sock(ex), resolver(ex) {}
    tcp::socket sock;
    tcp::resolver resolver;
    int tunnel = 0;                          // the tunnel it belongs to
    size_t credit = ccproto::kTunnelWindow;  // bytes the agent has room for
    size_t queued = 0;                       // bytes from the agent not yet written
    std::deque<std::string> out;
    std::unique_ptr<char[]> buf{new char[ccproto::kTunnelPiece]};
    bool connected = false;  // sock is usable
    bool reading = false, writing = false;
    bool peer_eof = false;   // the agent's side ended: shut ours down once drained
    bool local_eof = false;  // our side ended: the agent was told
    bool shut = false;
    // A guest process's stdio bound to a pipe (popen).
    enum class Pipe { None, In, Out } pipe_dir = Pipe::None;
    std::string pipe;  // qualified
    uint64_t reader_id = 0;
    std::shared_ptr<GuestStdin> stdin_reader;
    std::deque<std::string> pending;  // In: messages waiting for the window
    std::string line;                 // Out: an unfinished line
};

// A pipe's reader for a guest process's stdin: messages go to the io
// thread, at most Plumber::kReaderQueue bytes on their way.
struct GuestStdin : PipeReader, std::enable_shared_from_this<GuestStdin> {
    asio::any_io_executor ex;
    std::weak_ptr<TunnelMux> mux;
    int64_t sid = 0;
    std::atomic<size_t> inflight{0};

    void deliver(const std::string& msg) override {
        if (inflight.load() + msg.size() > Plumber::kReaderQueue) {
            ++dropped;
            return;
        }
        inflight += msg.size();
        asio::post(ex, [self = shared_from_this(), msg] {
            if (auto m = self->mux.lock())
                m->pipeIn(self->sid, msg);
            else
                self->inflight -= msg.size();
        });
    }
    void closed() override {
        asio::post(ex, [self = shared_from_this()] {
            if (auto m = self->mux.lock()) m->pipeGone(self->sid);
        });
    }
};

struct TunnelMux::Forward {
    explicit Forward(tcp::acceptor a) : acc(std::move(a)) {}
    tcp::acceptor acc;
    std::string host;
    uint16_t port = 0;
};

TunnelMux::TunnelMux(asio::any_io_executor ex, Send send)
    : ex_(std::move(ex)), send_(std::move(send)) {}

TunnelMux::~TunnelMux() {
    closeAll(false);
}

bool TunnelMux::handles(const std::string& type) {
    return type == "tdata" || type == "tack" || type == "tclose" || type == "rconnect" ||
           type == "popen";
}

void TunnelMux::onFrame(const ccproto::Frame& f) {
    const std::string type = f.type();
    int64_t sid = ccproto::jint(f.header, "sid", 0);
    if (type == "tdata") {
        data(sid, f.body);
    } else if (type == "tack") {
        ack(sid, ccproto::jint(f.header, "n", 0));
    } else if (type == "tclose") {
        closed(sid, ccproto::jbool(f.header, "eof"));
    } else if (type == "rconnect") {
        rconnect(ccproto::jint(f.header, "rid", 0), sid);
    } else if (type == "popen") {
        popen(sid, ccproto::jstr(f.header, "pipe"), ccproto::jstr(f.header, "dir"));
    }
}

std::shared_ptr<TunnelMux::Stream> TunnelMux::find(int64_t sid) {
    auto it = streams_.find(sid);
    return it == streams_.end() ? nullptr : it->second;
}

void TunnelMux::data(int64_t sid, const std::string& body) {
    auto s = find(sid);
    if (!s || body.empty()) return;  // a stream it was not given, or one already gone
    if (s->peer_eof || body.size() > ccproto::kTunnelPiece ||
        s->queued + body.size() > ccproto::kTunnelWindow)
        return abort(sid, "agent sent past the stream's window", true);
    if (s->pipe_dir == Stream::Pipe::Out) return pipeOut(sid, s, body);
    if (s->pipe_dir == Stream::Pipe::In) return abort(sid, "agent wrote to a stdin stream", true);
    s->queued += body.size();
    s->out.push_back(body);
    startWrite(sid, s);
}

void TunnelMux::ack(int64_t sid, int64_t n) {
    auto s = find(sid);
    if (!s) return;
    if (n <= 0 || s->credit + static_cast<uint64_t>(n) > ccproto::kTunnelWindow)
        return abort(sid, "agent acknowledged bytes it was not sent", true);
    s->credit += static_cast<size_t>(n);
    if (s->pipe_dir == Stream::Pipe::In) return flushPipe(sid, s);
    startRead(sid, s);
}

void TunnelMux::closed(int64_t sid, bool eof) {
    auto s = find(sid);
    if (!s) return;
    if (!eof) return abort(sid, "", false);
    if (s->pipe_dir != Stream::Pipe::None) {
        // The guest process's stream ended: an unfinished last line is
        // still a message; the agent's side of the stream is told to go.
        if (s->pipe_dir == Stream::Pipe::Out && !s->line.empty())
            (void)plumber_->write(s->pipe, std::exchange(s->line, {}));
        return abort(sid, "", true);
    }
    s->peer_eof = true;
    startWrite(sid, s);
}

void TunnelMux::rconnect(int64_t rid, int64_t sid) {
    auto r = reverses_.find(static_cast<int>(rid));
    auto refuse = [&](const std::string& why) {
        send_(ccproto::encode({{"type", "tclose"}, {"sid", sid}, {"eof", false}, {"error", why}}));
    };
    // Only even ids are the agent's; an id in use is not taken over.
    if (sid <= 0 || sid % 2 != 0 || streams_.count(sid)) return;
    if (rid <= 0 || rid > INT32_MAX || r == reverses_.end())
        return refuse("no such reverse tunnel");
    if (streams_.size() >= ccproto::kMaxStreams) return refuse("too many streams");
    auto s = std::make_shared<Stream>(ex_);
    s->tunnel = static_cast<int>(rid);
    streams_[sid] = s;
    dial(sid, s, r->second.host, r->second.port);
}

void TunnelMux::dial(int64_t sid, std::shared_ptr<Stream> s, const std::string& host,
                     uint16_t port) {
    auto self = shared_from_this();
    s->resolver.async_resolve(
        host, std::to_string(port),
        [self, sid, s](boost::system::error_code ec, tcp::resolver::results_type res) {
            if (self->find(sid) != s) return;
            if (ec) return self->abort(sid, "resolve: " + ec.message(), true);
            asio::async_connect(s->sock, res,
                                [self, sid, s](boost::system::error_code e, const tcp::endpoint&) {
                                    if (self->find(sid) != s) return;
                                    if (e) return self->abort(sid, "dial: " + e.message(), true);
                                    s->connected = true;
                                    self->startRead(sid, s);
                                    self->startWrite(sid, s);
                                });
        });
}

void TunnelMux::startRead(int64_t sid, const std::shared_ptr<Stream>& s) {
    if (!s->connected || s->reading || s->local_eof || s->credit == 0) return;
    s->reading = true;
    size_t want = std::min(s->credit, ccproto::kTunnelPiece);
    s->sock.async_read_some(
        asio::buffer(s->buf.get(), want),
        [self = shared_from_this(), sid, s](boost::system::error_code ec, size_t n) {
            s->reading = false;
            if (self->find(sid) != s) return;
            if (ec == asio::error::eof) {
                s->local_eof = true;
                self->send_(ccproto::encode({{"type", "tclose"}, {"sid", sid}, {"eof", true}}));
                return self->maybeDone(sid, s);
            }
            if (ec) return self->abort(sid, ec.message(), true);
            s->credit -= n;
            self->send_(ccproto::encode({{"type", "tdata"}, {"sid", sid}},
                                        std::string_view(s->buf.get(), n)));
            self->startRead(sid, s);
        });
}

void TunnelMux::startWrite(int64_t sid, const std::shared_ptr<Stream>& s) {
    if (!s->connected || s->writing) return;
    if (s->out.empty()) {
        if (s->peer_eof && !s->shut) {
            s->shut = true;
            boost::system::error_code ec;
            s->sock.shutdown(tcp::socket::shutdown_send, ec);
        }
        return maybeDone(sid, s);
    }
    s->writing = true;
    asio::async_write(s->sock, asio::buffer(s->out.front()),
                      [self = shared_from_this(), sid, s](boost::system::error_code ec, size_t n) {
                          s->writing = false;
                          if (self->find(sid) != s) return;
                          if (ec) return self->abort(sid, ec.message(), true);
                          s->queued -= n;
                          s->out.pop_front();
                          self->send_(ccproto::encode(
                              {{"type", "tack"}, {"sid", sid}, {"n", static_cast<int64_t>(n)}}));
                          self->startWrite(sid, s);
                      });
}

void TunnelMux::maybeDone(int64_t sid, const std::shared_ptr<Stream>& s) {
    if (s->local_eof && s->peer_eof && s->shut && s->out.empty() && !s->writing)
        abort(sid, "", false);
}

void TunnelMux::abort(int64_t sid, const std::string& why, bool notify) {
    auto it = streams_.find(sid);
    if (it == streams_.end()) return;
    auto s = it->second;
    streams_.erase(it);
    releasePipe(s);
    if (!why.empty()) HERD_LOG(debug, "cc tunnel stream {}: {}", sid, why);
    boost::system::error_code ec;
    s->resolver.cancel();
    s->sock.close(ec);
    if (notify)
        send_(ccproto::encode({{"type", "tclose"}, {"sid", sid}, {"eof", false}, {"error", why}}));
}

void TunnelMux::addForward(int id, tcp::acceptor acc, const std::string& host, uint16_t port) {
    auto f = std::make_shared<Forward>(std::move(acc));
    f->host = host;
    f->port = port;
    forwards_[id] = f;
    accept(id);
}

void TunnelMux::accept(int id) {
    auto it = forwards_.find(id);
    if (it == forwards_.end()) return;
    auto f = it->second;
    f->acc.async_accept(
        [self = shared_from_this(), id, f](boost::system::error_code ec, tcp::socket sock) {
            auto cur = self->forwards_.find(id);
            if (cur == self->forwards_.end() || cur->second != f) return;
            if (ec) {
                if (ec == asio::error::operation_aborted) return;
                // Typically EMFILE; the listener stays readable, so pause.
                auto t =
                    std::make_shared<asio::steady_timer>(self->ex_, std::chrono::milliseconds(100));
                t->async_wait([self, id, t](boost::system::error_code) { self->accept(id); });
                return;
            }
            if (self->streams_.size() >= ccproto::kMaxStreams) {
                HERD_LOG(warn, "cc tunnel {}: refused a connection: {} streams open", id,
                         ccproto::kMaxStreams);
            } else {
                int64_t sid = self->next_sid_;
                self->next_sid_ += 2;
                auto s = std::make_shared<Stream>(self->ex_);
                s->sock = std::move(sock);
                s->tunnel = id;
                s->connected = true;
                self->streams_[sid] = s;
                self->send_(ccproto::encode(
                    {{"type", "tconnect"}, {"sid", sid}, {"host", f->host}, {"port", f->port}}));
                self->startRead(sid, s);
            }
            self->accept(id);
        });
}

void TunnelMux::addReverse(int id, uint16_t guest_port, const std::string& host, uint16_t port) {
    reverses_[id] = Reverse{host, port};
    send_(ccproto::encode({{"type", "rlisten"}, {"rid", id}, {"port", guest_port}}));
}

void TunnelMux::remove(int id) {
    if (auto f = forwards_.find(id); f != forwards_.end()) {
        boost::system::error_code ec;
        f->second->acc.close(ec);
        forwards_.erase(f);
    }
    if (reverses_.erase(id)) send_(ccproto::encode({{"type", "runlisten"}, {"rid", id}}));
    std::vector<int64_t> gone;
    for (const auto& [sid, s] : streams_)
        if (s->tunnel == id) gone.push_back(sid);
    for (int64_t sid : gone) abort(sid, "tunnel closed", true);
}

void TunnelMux::closeAll(bool notify) {
    std::vector<int> ids;
    for (const auto& [id, f] : forwards_) ids.push_back(id);
    for (const auto& [id, r] : reverses_) ids.push_back(id);
    if (notify) {
        for (int id : ids) remove(id);
    }
    boost::system::error_code ec;
    for (auto& [id, f] : forwards_) f->acc.close(ec);
    for (auto& [sid, s] : streams_) {
        s->resolver.cancel();
        s->sock.close(ec);
        releasePipe(s);
    }
    forwards_.clear();
    reverses_.clear();
    streams_.clear();
}

void TunnelMux::setPipes(std::shared_ptr<Plumber> plumber, std::string ns) {
    plumber_ = std::move(plumber);
    ns_ = std::move(ns);
}

void TunnelMux::popen(int64_t sid, const std::string& pipe, const std::string& dir) {
    auto refuse = [&](const std::string& why) {
        HERD_LOG(debug, "cc: refused a pipe stream for `{}`: {}", pipe, why);
        send_(ccproto::encode({{"type", "tclose"}, {"sid", sid}, {"eof", false}, {"error", why}}));
    };
    // Only even ids are the agent's; an id in use is not taken over.
    if (sid <= 0 || sid % 2 != 0 || streams_.count(sid)) return;
    if (!plumber_) return refuse("no pipes here");
    if (streams_.size() >= ccproto::kMaxStreams) return refuse("too many streams");
    // A guest names pipes of its own VM's namespace only.
    if (pipe.find("//") != std::string::npos) return refuse("not a pipe of this namespace");
    const std::string name = ns_ + "//" + pipe;
    if (auto ok = Plumber::checkName(name); !ok.ok()) return refuse(ok.error().text());
    auto s = std::make_shared<Stream>(ex_);
    s->pipe = name;
    if (dir == "stdin") {
        auto r = std::make_shared<GuestStdin>();
        r->ex = ex_;
        r->mux = weak_from_this();
        r->sid = sid;
        auto id = plumber_->addReader(name, r);
        if (!id.ok()) return refuse(id.error().text());
        s->pipe_dir = Stream::Pipe::In;
        s->reader_id = *id;
        s->stdin_reader = r;
    } else if (dir == "stdout" || dir == "stderr") {
        if (auto ok = plumber_->addWriter(name); !ok.ok()) return refuse(ok.error().text());
        s->pipe_dir = Stream::Pipe::Out;
    } else {
        return refuse("unknown direction");
    }
    streams_[sid] = s;
}

// A guest process's output: each line is a message (an overlong one is cut
// into pieces of Plumber::kMaxMessage). Acknowledged at once: the plumber
// has taken it.
void TunnelMux::pipeOut(int64_t sid, const std::shared_ptr<Stream>& s, const std::string& body) {
    for (char c : body) {
        if (c != '\n') s->line.push_back(c);
        if (c == '\n' || s->line.size() >= Plumber::kMaxMessage) {
            auto r = plumber_->write(s->pipe, std::exchange(s->line, {}));
            if (!r.ok()) HERD_LOG(debug, "cc pipe stream {}: {}", sid, r.error().text());
        }
    }
    send_(ccproto::encode(
        {{"type", "tack"}, {"sid", sid}, {"n", static_cast<int64_t>(body.size())}}));
}

void TunnelMux::pipeIn(int64_t sid, std::string msg) {
    auto s = find(sid);
    if (!s || s->pipe_dir != Stream::Pipe::In) return;
    s->pending.push_back(std::move(msg));
    flushPipe(sid, s);
}

void TunnelMux::flushPipe(int64_t sid, const std::shared_ptr<Stream>& s) {
    while (s->credit > 0 && !s->pending.empty()) {
        std::string& front = s->pending.front();
        size_t n = std::min({s->credit, ccproto::kTunnelPiece, front.size()});
        send_(
            ccproto::encode({{"type", "tdata"}, {"sid", sid}}, std::string_view(front.data(), n)));
        s->credit -= n;
        s->stdin_reader->inflight -= n;
        if (n == front.size())
            s->pending.pop_front();
        else
            front.erase(0, n);
    }
}

void TunnelMux::pipeGone(int64_t sid) {
    auto s = find(sid);
    if (!s || s->pipe_dir != Stream::Pipe::In) return;
    s->reader_id = 0;  // the plumber has forgotten it already
    abort(sid, "pipe deleted", true);
}

void TunnelMux::releasePipe(const std::shared_ptr<Stream>& s) {
    if (!plumber_ || s->pipe_dir == Stream::Pipe::None) return;
    if (s->pipe_dir == Stream::Pipe::In) {
        if (s->reader_id) plumber_->removeReader(s->pipe, s->reader_id);
        size_t left = 0;
        for (const auto& m : s->pending) left += m.size();
        s->stdin_reader->inflight -= left;
        s->pending.clear();
    } else {
        plumber_->removeWriter(s->pipe);
    }
    s->pipe_dir = Stream::Pipe::None;
}

}  // namespace herd
