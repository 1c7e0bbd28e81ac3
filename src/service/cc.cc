#include "service/cc.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cctype>
#include <climits>
#include <cstring>
#include <deque>
#include <filesystem>

#include "base/fs.h"
#include "base/log.h"
#include "cli/text.h"
#include "proto/ron.h"
#include "service/agent_addresses.h"
#include "service/cc_miniccc.h"
#include "service/cc_tunnel.h"
#include "service/herd.h"
#include "service/namespace.h"
#include "service/plumber.h"
#include "service/vm_ops.h"
#include "service/vmconfig.h"

namespace herd {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using local = asio::local::stream_protocol;
using nlohmann::json;

namespace {

// Runs a job on the command thread, from the io thread: how socket events
// reach the service.
std::function<void(std::function<void()>)> poster(Herd& herd) {
    DaemonLink* d = &herd.daemon();
    return [d](std::function<void()> job) { d->post(std::move(job)); };
}

// Where `path` (under the file root, -filepath) is beneath the file root's
// descriptor: what the guests send is written there through no symbolic link.
Result<std::string> beneathFiles(const Herd& herd, const std::string& path) {
    const std::string& root = herd.options().filepath;
    if (!herd.filesDir() || !herd.filesDir()->valid()) return Error::msg("no file root open");
    if (path.compare(0, root.size() + 1, root + "/") != 0) return Error::sys(EXDEV, "open", path);
    return path.substr(root.size() + 1);
}

Result<unique_fd> createFile(const Herd& herd, const std::string& path) {
    auto rel = beneathFiles(herd, path);
    if (!rel.ok()) return rel.error();
    return herd.filesDir()->openFile(*rel, O_WRONLY | O_CREAT | O_TRUNC, 0644);
}

Result<void> writeFile(const Herd& herd, const std::string& path, std::string_view data) {
    auto f = createFile(herd, path);
    if (!f.ok()) return f.error();
    return writeAll(f->get(), data, path);
}

Result<void> appendFile(const Herd& herd, const std::string& path, std::string_view data) {
    auto rel = beneathFiles(herd, path);
    if (!rel.ok()) return rel.error();
    auto f = herd.filesDir()->openFile(*rel, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (!f.ok()) return f.error();
    return writeAll(f->get(), data, path);
}

Result<void> makeDirs(const Herd& herd, const std::string& dir) {
    auto rel = beneathFiles(herd, dir);
    if (!rel.ok()) return rel.error();
    auto d = herd.filesDir()->makeDirs(*rel, 0755);
    if (!d.ok()) return d.error();
    return Ok();
}

// A list of guest text, each entry checked by `keep` ("" drops it), at most
// `max` entries.
template <typename F>
std::vector<std::string> guestList(const json& h, const char* key, size_t max, F keep) {
    std::vector<std::string> out;
    for (const auto& v : ccproto::jstrs(h, key)) {
        if (out.size() >= max) break;
        std::string k = keep(v);
        if (!k.empty()) out.push_back(std::move(k));
    }
    return out;
}

// The agent's description of its guest, sent in `hello` and `info` frames.
void setInfo(CcClient& c, const json& h) {
    c.hostname = guestText(ccproto::jstr(h, "hostname"));
    c.arch = guestText(ccproto::jstr(h, "arch"));
    c.os = guestText(ccproto::jstr(h, "os"));
    c.ip = guestList(h, "ip", ccproto::kMaxAddrs, canonicalAddress);
    c.mac = guestList(h, "mac", ccproto::kMaxAddrs, canonicalMac);
}

}  // namespace

std::string guestText(std::string_view s, size_t max) {
    std::string out;
    auto hex = [](unsigned v) {
        static const char* d = "0123456789abcdef";
        return std::string{'\\', 'x', d[(v >> 4) & 15], d[v & 15]};
    };
    size_t i = 0;
    while (i < s.size()) {
        unsigned char b = static_cast<unsigned char>(s[i]);
        std::string piece;
        size_t n = 1;
        if (b < 0x20 || b == 0x7f) {
            piece = hex(b);
        } else if (b < 0x80) {
            piece.assign(1, static_cast<char>(b));
        } else {
            // A well-formed UTF-8 sequence (no overlong forms, surrogates or
            // code points past U+10FFFF) is kept; C1 controls (U+0080..U+009F)
            // and anything else are escaped byte by byte.
            n = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc2 ? 2 : 0;
            bool ok = n > 0 && b <= 0xf4 && i + n <= s.size();
            for (size_t k = 1; ok && k < n; ++k)
                ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
            if (ok) {
                unsigned char b1 = static_cast<unsigned char>(s[i + 1]);
                if ((b == 0xe0 && b1 < 0xa0) || (b == 0xed && b1 >= 0xa0) ||
                    (b == 0xf0 && b1 < 0x90) || (b == 0xf4 && b1 >= 0x90))
                    ok = false;
                if (b == 0xc2 && b1 < 0xa0) {
                    piece = hex(b1);  // C1 control: its code point
                    ok = false;
                }
            }
            if (ok) {
                piece.assign(s.substr(i, n));
            } else if (piece.empty()) {
                piece = hex(b);
                n = 1;
            }
        }
        if (out.size() + piece.size() > max) break;
        out += piece;
        i += n;
    }
    return out;
}

std::optional<uint64_t> parseByteSize(std::string_view s) {
    size_t i = 0;
    uint64_t v = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
        if (v > (UINT64_MAX - 9) / 10) return std::nullopt;
        v = v * 10 + static_cast<uint64_t>(s[i++] - '0');
    }
    if (i == 0) return std::nullopt;
    std::string unit = cli::text::toLower(std::string(s.substr(i)));
    if (!unit.empty() && unit.back() == 'b') unit.pop_back();
    int shift = unit.empty()  ? 0
                : unit == "k" ? 10
                : unit == "m" ? 20
                : unit == "g" ? 30
                : unit == "t" ? 40
                              : -1;
    if (shift < 0 || v == 0 || v > (UINT64_MAX >> shift)) return std::nullopt;
    return v << shift;
}

// One agent connection, on the io thread. Frames in go to `on_frame`,
// frames out come through send()/sendFile() from any thread.
//
// Reading is paced by the command thread: the first frame (the hello) is
// read with small limits and nothing more is read until the command thread
// accepts it (welcome()) or closes the connection; later, reading stops
// while more than kMaxInflight bytes of frames wait to be handled
// (consumed()). A connection that sends no frame within kHelloTimeout is
// closed.
class CcConn : public std::enable_shared_from_this<CcConn> {
  public:
    explicit CcConn(local::socket s)
        : sock_(std::move(s)), hello_timer_(sock_.get_executor()), beat_(sock_.get_executor()) {
        dec_.setLimits(cclimits::kHello);
    }

    // Whether the client speaks minimega's protocol (miniccc); known from
    // its first byte, before its hello reaches the command thread.
    bool miniccc() const { return is_mini_; }

    std::function<void(std::shared_ptr<CcConn>, ccproto::Frame)> on_frame;
    std::function<void(std::shared_ptr<CcConn>, std::string)> on_close;
    std::function<void()> on_gone;  // once, on the io thread, when the socket closes
    // Named pipes for the stdio streams of its guest processes (set before
    // start()): the plumber and the VM's namespace.
    std::shared_ptr<Plumber> plumber;
    std::string ns;

    void start() {
        hello_timer_.expires_after(cclimits::kHelloTimeout);
        hello_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
            if (!ec && !self->got_first_)
                self->finish(
                    "no hello within " + std::to_string(cclimits::kHelloTimeout.count()) + " s",
                    true);
        });
        drain();
    }

    // From the command thread: the hello was accepted; read on with the
    // limits of a welcomed agent.
    void welcome() {
        asio::post(sock_.get_executor(), [self = shared_from_this()] {
            self->awaiting_ = false;
            self->welcomed_ = true;
            self->dec_.setLimits(cclimits::kAgent);
            if (self->mini_) {
                self->mini_->welcomed();
                self->beat();
            }
            self->drain();
        });
    }
    // From the command thread: a frame of `n` wire bytes was handled.
    void consumed(size_t n) {
        inflight_ -= n;
        asio::post(sock_.get_executor(), [self = shared_from_this()] { self->drain(); });
    }

    void send(std::string frame) {
        // mutable: the frame is moved into the queue, not copied.
        asio::post(sock_.get_executor(),
                   [self = shared_from_this(), f = std::move(frame)]() mutable {
                       self->enqueue(std::move(f));
                   });
    }
    // From the command thread: runs `fn` on the io thread with this
    // connection's tunnels, unless the connection is gone by then.
    void tunnels(std::function<void(TunnelMux&)> fn) {
        asio::post(sock_.get_executor(), [self = shared_from_this(), fn = std::move(fn)] {
            if (!self->closed_) fn(*self->mux());
        });
    }
    // Streams a host file as `file` frames (read here, a chunk at a time,
    // so that a big `cc send` does not sit in memory).
    void sendFile(std::string host, std::string rel, unsigned mode) {
        asio::post(sock_.get_executor(), [self = shared_from_this(), host, rel, mode] {
            // miniccc fetches the files of a command itself, by name.
            if (self->mini_) return self->mini_->offer(rel, host, mode);
            self->queue_.push_back({{}, host, rel, mode});
            self->pump();
        });
    }
    void close() {
        asio::post(sock_.get_executor(),
                   [self = shared_from_this()] { self->finish("closed by the daemon", false); });
    }

  private:
    // On the io thread.
    void enqueue(std::string f) {
        if (closed_) return;
        if (mini_) {
            // A miniccc client gets minimega's messages; what has no
            // equivalent there (tunnel frames, among others) is dropped.
            f = mini_->fromService(parseOwnFrame(f));
            if (f.empty()) return;
        }
        // An agent that stops reading must not make the daemon hold an
        // ever-growing queue: past the bound it is disconnected and
        // logged (its agent reconnects by itself; what was queued is
        // lost, as for any agent that goes away mid-command).
        if (queued_ + f.size() > kMaxQueued) {
            return finish("not reading: over " + std::to_string(kMaxQueued >> 20) + " MiB queued",
                          true);
        }
        queued_ += f.size();
        queue_.push_back({std::move(f), {}, {}, 0});
        pump();
    }
    // Held by the caller while it calls in: an answer that overfills the
    // queue finishes the connection, which drops mux_.
    std::shared_ptr<TunnelMux> mux() {
        if (!mux_) {
            std::weak_ptr<CcConn> w = weak_from_this();
            mux_ = std::make_shared<TunnelMux>(sock_.get_executor(), [w](std::string f) {
                if (auto self = w.lock()) self->enqueue(std::move(f));
            });
            mux_->setPipes(plumber, ns);
        }
        return mux_;
    }

    struct Out {
        std::string frame;  // ready frame, or:
        std::string host;   // a file to stream
        std::string rel;
        unsigned mode;
        int64_t offset = 0;  // miniccc: bytes of the file sent so far
    };

    // A frame the service encoded (trusted, well-formed) as a Frame again.
    static ccproto::Frame parseOwnFrame(const std::string& bytes) {
        ccproto::Frame f;
        uint32_t hlen = ccproto::getU32(bytes.data() + 4);
        f.header = json::parse(bytes.substr(8, hlen), nullptr, false);
        f.body = bytes.substr(8 + hlen);
        return f;
    }

    // Bytes for the client as they are (no translation).
    void sendRaw(std::string bytes) {
        queued_ += bytes.size();
        queue_.push_back({std::move(bytes), {}, {}, 0});
        pump();
    }

    // miniccc: the server's heartbeat every 5 s (the client redials after
    // 13 s without a message), and the end of a client that said nothing
    // for 30 s (it sends a heartbeat every 5 s), as minimega's reaper does.
    void beat() {
        beat_.expires_after(std::chrono::seconds(5));
        beat_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
            if (ec || self->closed_) return;
            if (std::chrono::steady_clock::now() - self->last_rx_ > std::chrono::seconds(30))
                return self->finish("no message within 30 s", true);
            self->sendRaw(self->mini_->heartbeat());
            self->beat();
        });
    }

    // A miniccc client asks for a file of a command: only a file the
    // service sent it with a command is served.
    void serveFile(const std::string& name) {
        auto o = mini_->offered(name);
        if (!o) return sendRaw(mini_->fileError(name, "file not found: " + name));
        queue_.push_back({{}, o->host, name, o->mode});
        pump();
    }

    void ingest(size_t n) {
        last_rx_ = std::chrono::steady_clock::now();
        if (!sniffed_) {
            // herd-cc's frames start with a length below 16 MiB (a zero
            // byte); miniccc's with its magic.
            sniffed_ = true;
            if (n > 0 && rbuf_[0] == ron::kMagic[0]) {
                mini_ = std::make_unique<MinicccSession>();
                is_mini_ = true;
            }
        }
        if (!mini_) return dec_.feed(rbuf_.get(), n);
        mini_->feed(rbuf_.get(), n);
        if (auto r = mini_->takeMagicReply(); !r.empty()) sendRaw(std::move(r));
    }

    // Hands on the frames already buffered, then reads more, unless the
    // command thread has to catch up first (it calls back).
    void drain() {
        if (closed_ || reading_) return;
        std::string err;
        while (!awaiting_ && inflight_ <= cclimits::kMaxInflight) {
            auto f = mini_ ? mini_->next(err) : dec_.next(err);
            if (!f) break;
            if (mini_ && f->type() == MinicccSession::kFileRequest) {
                serveFile(ccproto::jstr(f->header, "name"));
                continue;
            }
            if (!got_first_) {
                got_first_ = true;
                awaiting_ = true;  // until the command thread has judged the hello
                hello_timer_.cancel();
            }
            // Tunnel traffic is relayed here, on the io thread, so that it
            // never waits for the command thread.
            if (welcomed_ && TunnelMux::handles(f->type())) {
                mux()->onFrame(*f);
                if (closed_) return;  // its answer overfilled the queue
                continue;
            }
            inflight_ += f->size;
            on_frame(shared_from_this(), std::move(*f));
        }
        if (!err.empty()) return finish("protocol error: " + err, true);
        if (awaiting_ || inflight_ > cclimits::kMaxInflight) return;
        readMore();
    }

    void readMore() {
        // Small until the hello is in: a connection that never says it
        // costs little.
        size_t want = got_first_ ? 65536 : 4096;
        if (rsize_ != want) {
            // Not zeroed: with one connection per container, only the pages
            // data actually lands in should become resident.
            rbuf_.reset(new char[want]);
            rsize_ = want;
        }
        reading_ = true;
        sock_.async_read_some(
            asio::buffer(rbuf_.get(), rsize_),
            [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                self->reading_ = false;
                if (self->closed_) return;
                if (ec) {
                    bool partial =
                        self->mini_ ? self->mini_->pendingBytes() > 0 : self->dec_.pending() > 0;
                    self->finish(partial ? "truncated frame" : "disconnected", true);
                    return;
                }
                self->ingest(n);
                self->drain();
            });
    }

    void pump() {
        if (writing_ || closed_ || queue_.empty()) return;
        Out& o = queue_.front();
        bool last = true;
        if (o.frame.empty()) {
            if (!file_) {
                file_.reset(::open(o.host.c_str(), O_RDONLY | O_CLOEXEC));
                if (!file_) HERD_LOG(warn, "cc send {}: {}", o.host, std::strerror(errno));
            }
            std::string chunk(mini_ ? ron::kFileChunk : ccproto::kChunk, '\0');
            ssize_t n = file_ ? ::read(file_.get(), chunk.data(), chunk.size()) : 0;
            last = n <= 0;
            chunk.resize(n > 0 ? static_cast<size_t>(n) : 0);
            if (mini_ && !file_) {
                cur_ = mini_->fileError(o.rel, "cannot read " + o.rel);
            } else if (mini_) {
                size_t got = chunk.size();
                cur_ = mini_->fileChunk(o.rel, o.mode, std::move(chunk), o.offset, last);
                o.offset += static_cast<int64_t>(got);
            } else {
                cur_ = ccproto::encode(
                    {{"type", "file"}, {"path", o.rel}, {"mode", o.mode}, {"eof", last}}, chunk);
            }
            if (last) file_.reset();
        } else {
            queued_ -= o.frame.size();
            cur_ = std::move(o.frame);
        }
        if (last) queue_.pop_front();
        writing_ = true;
        asio::async_write(sock_, asio::buffer(cur_),
                          [self = shared_from_this()](boost::system::error_code ec, size_t) {
                              self->writing_ = false;
                              if (ec) return self->finish("write: " + ec.message(), true);
                              self->pump();
                          });
    }

    void finish(const std::string& why, bool notify) {
        if (closed_) return;
        closed_ = true;
        boost::system::error_code ec;
        sock_.close(ec);
        hello_timer_.cancel();
        beat_.cancel();
        queue_.clear();
        queued_ = 0;
        file_.reset();
        if (mux_) mux_->closeAll(false);
        mux_.reset();
        // rbuf_ and cur_ stay: a read or write may still be in flight (its
        // handler holds this object, which frees them).
        dec_ = ccproto::Decoder();
        if (on_gone) std::exchange(on_gone, nullptr)();
        if (notify && on_close) on_close(shared_from_this(), why);
    }

    local::socket sock_;
    asio::steady_timer hello_timer_;
    asio::steady_timer beat_;  // miniccc heartbeats
    std::unique_ptr<MinicccSession> mini_;
    std::atomic<bool> is_mini_{false};
    bool sniffed_ = false;  // the first bytes were looked at
    std::chrono::steady_clock::time_point last_rx_ = std::chrono::steady_clock::now();
    std::unique_ptr<char[]> rbuf_;
    size_t rsize_ = 0;
    ccproto::Decoder dec_;
    bool got_first_ = false;          // a frame (the hello) came in
    bool awaiting_ = false;           // the hello waits for the command thread's verdict
    bool welcomed_ = false;           // the hello was accepted
    std::shared_ptr<TunnelMux> mux_;  // this connection's tunnels (created on first use)
    bool reading_ = false;
    std::atomic<size_t> inflight_{0};  // bytes of frames the command thread has not handled
    static constexpr size_t kMaxQueued = 16u << 20;
    std::deque<Out> queue_;
    size_t queued_ = 0;  // bytes of ready frames in queue_ (files are streamed)
    std::string cur_;
    unique_fd file_;
    bool writing_ = false;
    bool closed_ = false;
};

// A VM's listening socket, on the io thread.
class CcListener : public std::enable_shared_from_this<CcListener> {
  public:
    CcListener(asio::io_context& io, CcService& svc, Herd& herd, int vm_id, std::string path)
        : acc_(io), retry_(io), svc_(svc), herd_(herd), vm_id_(vm_id), path_(std::move(path)) {}

    // Accepts on `fd`, a listening socket made earlier (taken).
    Result<void> listenOn(unique_fd fd) {
        boost::system::error_code ec;
        acc_.assign(local(), fd.get(), ec);
        if (ec) return Error::msg("listen " + path_ + ": " + ec.message());
        (void)fd.release();
        asio::post(acc_.get_executor(), [self = shared_from_this()] { self->acceptMore(); });
        return Ok();
    }
    int fd() { return acc_.is_open() ? acc_.native_handle() : -1; }

    Result<void> listen() {
        ::unlink(path_.c_str());  // ours, from an earlier run of this instance dir
        boost::system::error_code ec;
        acc_.open(local(), ec);
        if (!ec) acc_.bind(local::endpoint(path_), ec);
        if (!ec) acc_.listen(64, ec);
        if (ec) return Error::msg("listen " + path_ + ": " + ec.message());
        asio::post(acc_.get_executor(), [self = shared_from_this()] { self->acceptMore(); });
        return Ok();
    }
    // `unlink`: the socket file goes too; kept when the container goes on
    // without this daemon (`quit keep`), whose /cc is that file.
    void close(bool unlink = true) {
        asio::post(acc_.get_executor(), [self = shared_from_this()] {
            boost::system::error_code ec;
            self->acc_.close(ec);
        });
        if (unlink) ::unlink(path_.c_str());
    }
    const std::string& path() const { return path_; }

    std::shared_ptr<Plumber> plumber;  // for the connections' pipe streams
    std::string ns;                    // the VM's namespace

  private:
    void acceptMore() {
        acc_.async_accept(
            [self = shared_from_this()](boost::system::error_code ec, local::socket s) {
                if (ec == asio::error::operation_aborted || !self->acc_.is_open()) return;
                if (!ec && self->conns_ >= cclimits::kMaxConns) {
                    // Closed at once rather than left in the backlog, so the
                    // peer learns it; the agent retries.
                    auto now = std::chrono::steady_clock::now();
                    if (now - self->last_refusal_ > std::chrono::seconds(10)) {
                        self->last_refusal_ = now;
                        HERD_LOG(warn, "cc: vm {}: refused a connection: {} already open",
                                 self->vm_id_, cclimits::kMaxConns);
                    }
                    boost::system::error_code ignored;
                    s.close(ignored);
                } else if (!ec) {
                    auto conn = std::make_shared<CcConn>(std::move(s));
                    conn->plumber = self->plumber;
                    conn->ns = self->ns;
                    CcService* svc = &self->svc_;
                    auto post = poster(self->herd_);
                    int id = self->vm_id_;
                    ++self->conns_;
                    conn->on_gone = [self] { --self->conns_; };
                    conn->on_frame = [svc, post, id](std::shared_ptr<CcConn> c, ccproto::Frame f) {
                        post([svc, id, c, f = std::move(f)]() mutable {
                            size_t n = f.size;
                            svc->onFrame(id, c.get(), std::move(f));
                            c->consumed(n);
                        });
                    };
                    conn->on_close = [svc, post, id](std::shared_ptr<CcConn> c, std::string why) {
                        post([svc, id, c, why] { svc->onClosed(id, c.get(), why); });
                    };
                    post([svc, id, conn] { svc->accepted(id, conn); });
                    conn->start();
                } else {
                    // Typically EMFILE: the socket stays readable, so an
                    // immediate retry would spin; try again shortly.
                    self->retry_.expires_after(std::chrono::milliseconds(100));
                    self->retry_.async_wait([self](boost::system::error_code e) {
                        if (!e && self->acc_.is_open()) self->acceptMore();
                    });
                    return;
                }
                self->acceptMore();
            });
    }

    local::acceptor acc_;
    asio::steady_timer retry_;  // the next accept after an error
    CcService& svc_;
    Herd& herd_;
    int vm_id_;
    std::string path_;
    size_t conns_ = 0;  // open connections (io thread)
    std::chrono::steady_clock::time_point last_refusal_{};
};

std::string CcFilter::str() const {
    std::vector<std::string> parts;
    if (!uuid.empty()) parts.push_back("uuid=" + uuid);
    if (!hostname.empty()) parts.push_back("hostname=" + hostname);
    if (!arch.empty()) parts.push_back("arch=" + arch);
    if (!os.empty()) parts.push_back("os=" + os);
    for (const auto& i : ip) parts.push_back("ip=" + i);
    for (const auto& m : mac) parts.push_back("mac=" + m);
    for (const auto& [k, v] : tags) parts.push_back(k + "=" + v);
    std::string out;
    for (const auto& p : parts) out += (out.empty() ? "" : " && ") + p;
    return out;
}

CcService::CcService(Herd& herd) : herd_(herd) {}

CcService::~CcService() {
    for (auto& [id, c] : clients_)
        if (c.conn) c.conn->close();
    for (auto& [id, l] : listeners_) l->close(!keep_sockets_);
    for (auto& [k, p] : pending_) p.second->close();
}

const std::string& CcService::fileRoot() const {
    return herd_.options().filepath;
}

std::string CcService::responsesDir(const std::string& ns) const {
    if (ns == kDefaultNamespace) return fileRoot() + "/miniccc_responses";
    return fileRoot() + "/" + ns + "/miniccc_responses";
}

Result<std::string> CcService::open(Vm& vm) {
    auto it = listeners_.find(vm.id);
    if (it != listeners_.end()) return it->second->path();
    if (!herd_.daemon().io()) return Error::msg("no event loop for cc");
    auto l = std::make_shared<CcListener>(*herd_.daemon().io(), *this, herd_, vm.id,
                                          vm.instance_path + "/cc");
    l->plumber = herd_.plumber().shared_from_this();
    l->ns = vm.ns;
    HERD_TRY(l->listen());
    listeners_[vm.id] = l;
    CcClient& c = clients_[vm.id];
    c.vm_id = vm.id;
    c.ns = vm.ns;
    startTicker();
    return l->path();
}

int CcService::listenerFd(const Vm& vm) const {
    auto it = listeners_.find(vm.id);
    return it == listeners_.end() ? -1 : it->second->fd();
}

Result<void> CcService::adopt(Vm& vm, int fd) {
    if (listeners_.count(vm.id)) return Error::msg("cc: vm " + vm.name + " already listens");
    if (!herd_.daemon().io()) return Error::msg("no event loop for cc");
    unique_fd own(::fcntl(fd, F_DUPFD_CLOEXEC, 3));
    if (!own) return Error::sysNow("dup", "cc socket of " + vm.name);
    auto l = std::make_shared<CcListener>(*herd_.daemon().io(), *this, herd_, vm.id,
                                          vm.instance_path + "/cc");
    l->plumber = herd_.plumber().shared_from_this();
    l->ns = vm.ns;
    HERD_TRY(l->listenOn(std::move(own)));
    listeners_[vm.id] = l;
    CcClient& c = clients_[vm.id];
    c.vm_id = vm.id;
    c.ns = vm.ns;
    startTicker();
    return Ok();
}

// Every few seconds on the command thread: sweep(). The timer lives on the
// io thread and stops once the service is gone.
void CcService::startTicker() {
    if (ticking_ || !herd_.daemon().io()) return;
    ticking_ = true;
    struct Tick {
        static void arm(std::shared_ptr<asio::steady_timer> t, std::weak_ptr<CcService> w,
                        std::function<void(std::function<void()>)> post) {
            t->expires_after(std::chrono::seconds(5));
            t->async_wait([t, w, post](boost::system::error_code ec) {
                if (ec || w.expired()) return;
                post([w] {
                    if (auto s = w.lock()) s->sweep();
                });
                arm(t, w, post);
            });
        }
    };
    auto t = std::make_shared<asio::steady_timer>(*herd_.daemon().io());
    std::weak_ptr<CcService> w = weak_from_this();
    asio::post(*herd_.daemon().io(), [t, w, post = poster(herd_)] { Tick::arm(t, w, post); });
}

// Closes guest files that went without data for kFileIdle: the agent sends
// a file's chunks back to back, so a silent one is abandoned (or hostile).
void CcService::sweep() {
    auto now = std::chrono::steady_clock::now();
    for (auto& [vm_id, c] : clients_) {
        std::vector<std::string> idle;
        for (const auto& [host, f] : c.recv_files)
            if (now - f.last > cclimits::kFileIdle) idle.push_back(host);
        for (const auto& host : idle)
            refuseFile(
                c, host,
                "nothing received for " + std::to_string(cclimits::kFileIdle.count()) + " s");
    }
}

void CcService::drop(Vm& vm) {
    auto it = clients_.find(vm.id);
    if (it != clients_.end()) disconnect(it->second);
    vm.cc_active = false;
}

void CcService::close(Vm& vm) {
    drop(vm);
    for (auto it = pending_.begin(); it != pending_.end();) {
        if (it->second.first == vm.id) {
            it->second.second->close();
            it = pending_.erase(it);
        } else {
            ++it;
        }
    }
    clients_.erase(vm.id);
    warned_.erase(vm.id);
    auto it = listeners_.find(vm.id);
    if (it != listeners_.end()) {
        it->second->close();
        listeners_.erase(it);
    }
}

void CcService::clearNamespace(const std::string& name) {
    forget(name, std::nullopt);
    ns_.erase(name);
    std::error_code ec;
    fs::remove_all(responsesDir(name), ec);
}

Vm* CcService::vmOf(const CcClient& c) {
    return herd_.vms().find(c.ns, std::to_string(c.vm_id));
}

void CcService::accepted(int vm_id, std::shared_ptr<CcConn> conn) {
    if (!listeners_.count(vm_id) || !clients_.count(vm_id)) return conn->close();
    const CcConn* key = conn.get();
    pending_[key] = {vm_id, std::move(conn)};
}

void CcService::disconnect(CcClient& c) {
    if (c.conn) c.conn->close();
    c.conn.reset();
    c.welcomed = false;
    // A file cut off mid-way: what the agent resends after reconnecting
    // would not be its start.
    while (!c.recv_files.empty()) refuseFile(c, c.recv_files.begin()->first, "connection lost");
    // Tunnels belong to the connection (its TunnelMux closed them).
    c.tunnels.clear();
    c.next_tunnel = 1;
    c.procs.clear();
    if (Vm* vm = vmOf(c)) vm->cc_active = false;
}

void CcService::onClosed(int vm_id, const CcConn* conn, const std::string& why) {
    if (pending_.erase(conn)) return;
    auto it = clients_.find(vm_id);
    if (it == clients_.end() || it->second.conn.get() != conn) return;
    HERD_LOG(debug, "cc client {} ({}): {}", it->second.uuid, vm_id, why);
    disconnect(it->second);
}

bool CcService::warnAllowed(int vm_id) {
    auto now = std::chrono::steady_clock::now();
    auto it = warned_.find(vm_id);
    if (it != warned_.end() && now - it->second < std::chrono::seconds(10)) return false;
    warned_[vm_id] = now;
    return true;
}

void CcService::onFrame(int vm_id, const CcConn* conn, ccproto::Frame f) {
    auto it = clients_.find(vm_id);
    if (auto p = pending_.find(conn); p != pending_.end()) {
        auto pc = std::move(p->second.second);
        pending_.erase(p);
        if (it == clients_.end()) return pc->close();
        if (f.type() != "hello") {
            if (warnAllowed(vm_id))
                HERD_LOG(warn, "cc: vm {}: expected hello, got `{}`", vm_id, guestText(f.type()));
            return pc->close();
        }
        return hello(it->second, std::move(pc), f);
    }
    if (it == clients_.end() || it->second.conn.get() != conn || !it->second.welcomed) return;
    CcClient& c = it->second;
    const std::string type = f.type();
    if (type == "response") {
        response(c, f);
    } else if (type == "output") {
        storeOutput(c, f, false);
    } else if (type == "file") {
        fileChunk(c, f);
    } else if (type == "info") {
        setInfo(c, f.header);
        if (Vm* vm = vmOf(c)) applyAgentAddresses(*vm, c.ip, c.mac);
    } else if (type == "procs") {
        procs(c, f);
    } else if (type == "tags") {
        tags(c, f);
    }
}

void CcService::procs(CcClient& c, const ccproto::Frame& f) {
    c.procs.clear();
    auto it = f.header.find("procs");
    if (it == f.header.end() || !it->is_array()) return;
    for (const auto& p : *it) {
        if (c.procs.size() >= cclimits::kMaxProcs) break;
        if (!p.is_object()) continue;
        CcProc proc{static_cast<int>(std::clamp<int64_t>(ccproto::jint(p, "pid"), 0, INT_MAX)), {}};
        for (const auto& a : ccproto::jstrs(p, "argv")) {
            if (proc.argv.size() >= cclimits::kMaxArgs) break;
            proc.argv.push_back(guestText(a));
        }
        c.procs.push_back(std::move(proc));
    }
}

// Tags the guest sets (miniccc's `-tag k v`), merged into the VM's tags as
// minimega does; escaped, and bounded in number per VM.
void CcService::tags(CcClient& c, const ccproto::Frame& f) {
    Vm* vm = vmOf(c);
    auto it = f.header.find("tags");
    if (!vm || it == f.header.end() || !it->is_object()) return;
    for (const auto& [k, v] : it->items()) {
        if (!v.is_string()) continue;
        std::string key = guestText(k);
        if (key.empty()) continue;
        if (!vm->config.tags.count(key) && vm->config.tags.size() >= cclimits::kMaxGuestTags) {
            if (warnAllowed(c.vm_id))
                HERD_LOG(warn, "cc: vm {}: over {} tags, guest tag dropped", c.vm_id,
                         cclimits::kMaxGuestTags);
            continue;
        }
        vm->config.tags[key] = guestText(v.get<std::string>());
    }
}

void CcService::hello(CcClient& c, std::shared_ptr<CcConn> conn, const ccproto::Frame& f) {
    Vm* vm = vmOf(c);
    auto reject = [&](const std::string& why) {
        if (warnAllowed(c.vm_id)) HERD_LOG(warn, "cc: vm {}: rejected agent: {}", c.vm_id, why);
        conn->send(ccproto::encode({{"type", "reject"}, {"error", why}}));
        conn->close();
    };
    int64_t version = ccproto::jint(f.header, "version", -1);
    if (version != ccproto::kVersion)
        return reject("unsupported protocol version " + std::to_string(version));
    std::string uuid = cli::text::toLower(ccproto::jstr(f.header, "uuid"));
    if (!vm || uuid.empty() || uuid != cli::text::toLower(vm->uuid()))
        return reject("unregistered client");
    // Responses are stored under a directory named by the uuid.
    if (!isUuid(uuid))
        return reject("the VM's uuid is not a plain uuid (8-4-4-4-12 hex digits): " +
                      guestText(uuid));
    if (c.conn) disconnect(c);  // the agent reconnected before we saw it go
    c.conn = std::move(conn);
    c.uuid = uuid;
    c.warned = false;
    setInfo(c, f.header);
    c.welcomed = true;
    vm->cc_active = true;
    applyAgentAddresses(*vm, c.ip, c.mac);
    c.conn->welcome();
    c.conn->send(ccproto::encode({{"type", "welcome"}, {"version", ccproto::kVersion}}));
    // Commands posted while it was away (never the `once` ones).
    for (auto& [id, cmd] : ns(c.ns).commands)
        if (!cmd.once && !cmd.sent_to.count(c.uuid) && matches(c, cmd.filter)) deliver(c, cmd);
}

// The command `id` if it was delivered to `c` and still waits for its answer.
CcExpect* CcService::outstanding(CcClient& c, int64_t id) {
    if (id <= 0 || id > INT_MAX) return nullptr;
    auto x = c.expect.find(static_cast<int>(id));
    if (x == c.expect.end()) return nullptr;
    auto& cmds = ns(c.ns).commands;
    auto it = cmds.find(static_cast<int>(id));
    if (it == cmds.end() || !it->second.sent_to.count(c.uuid)) {
        closeFiles(c, x->first);
        c.expect.erase(x);  // deleted meanwhile
        return nullptr;
    }
    return &x->second;
}

// A frame for a command the client was not asked for, or no longer owes:
// dropped (it may be the late end of a deleted command); logged once per
// connection.
void CcService::unsolicited(CcClient& c, const std::string& what, int64_t id) {
    if (c.warned || !warnAllowed(c.vm_id)) return;
    c.warned = true;
    HERD_LOG(warn,
             "cc: vm {}: ignored {} for command {}, which it does not owe (further ones "
             "are not logged)",
             c.vm_id, what, id);
}

void CcService::refuseFile(CcClient& c, const std::string& host, const std::string& why) {
    auto it = c.recv_files.find(host);
    if (it == c.recv_files.end()) return;
    if (auto x = c.expect.find(it->second.id); x != c.expect.end()) {
        x->second.refused.insert(it->second.path);
        x->second.errors.push_back("recv " + it->second.path + ": " + why);
    }
    HERD_LOG(warn, "cc: vm {}: recv {}: {}", c.vm_id, guestText(it->second.path), why);
    c.recv_files.erase(it);
    ::unlink(host.c_str());  // a partial file would pass for the whole
}

void CcService::closeFiles(CcClient& c, int id) {
    for (auto it = c.recv_files.begin(); it != c.recv_files.end();)
        it = it->second.id == id ? c.recv_files.erase(it) : std::next(it);
}

void CcService::forget(const std::string& nsname, std::optional<int> id) {
    for (auto& [vm_id, c] : clients_) {
        if (c.ns != nsname) continue;
        for (auto it = c.expect.begin(); it != c.expect.end();) {
            if (id && it->first != *id) {
                ++it;
                continue;
            }
            closeFiles(c, it->first);
            it = c.expect.erase(it);
        }
    }
}

void CcService::response(CcClient& c, const ccproto::Frame& f) {
    storeOutput(c, f, true);
}

void CcService::storeOutput(CcClient& c, const ccproto::Frame& f, bool final) {
    int64_t id = ccproto::jint(f.header, "id", -1);
    int64_t nout = ccproto::jint(f.header, "stdout", -1),
            nerr = ccproto::jint(f.header, "stderr", -1);
    if (nout < 0 || nerr < 0 || static_cast<uint64_t>(nout) > f.body.size() ||
        static_cast<uint64_t>(nerr) != f.body.size() - static_cast<uint64_t>(nout)) {
        if (warnAllowed(c.vm_id)) HERD_LOG(warn, "cc: vm {}: malformed response", c.vm_id);
        return disconnect(c);
    }
    CcExpect* e = outstanding(c, id);
    if (!e) return unsolicited(c, final ? "a response" : "output", id);
    CcCommand& cmd = ns(c.ns).commands.at(static_cast<int>(id));
    if (final) closeFiles(c, cmd.id);  // the agent answers after its files
    std::string dir = responsesDir(c.ns) + "/" + std::to_string(id) + "/" + c.uuid;
    if (auto r = makeDirs(herd_, dir); !r.ok()) {
        HERD_LOG(error, "cc: {}", r.error().text());
        return;
    }
    std::string_view out = std::string_view(f.body).substr(0, static_cast<size_t>(nout));
    std::string err(std::string_view(f.body).substr(static_cast<size_t>(nout)));
    const uint64_t budget = ns(c.ns).budget;
    if (e->over_budget || e->stored + f.body.size() > budget) {
        if (!e->over_budget) {
            e->errors.push_back(
                fmt::format("response: {} bytes, over the budget of {} bytes "
                            "per VM and command (cc budget)",
                            e->stored + f.body.size(), budget));
        }
        out = {};
        err.clear();
        e->over_budget = true;
    }
    if (final) {
        for (const auto& msg : e->errors) err += "herd: " + msg + "\n";
        e->errors.clear();
    }
    e->stored += out.size() + err.size();
    // The first piece of a command's output replaces what an earlier answer
    // left; the next ones (`output` frames, then the response) add to it.
    auto store = [&](const std::string& path, std::string_view data, bool& started) {
        if (data.empty()) return Ok();
        auto w = started ? appendFile(herd_, path, data) : writeFile(herd_, path, data);
        started = true;
        return w;
    };
    Result<void> r = store(dir + "/stdout", out, e->out_started);
    if (r.ok()) r = store(dir + "/stderr", err, e->err_started);
    if (!final) {
        if (!r.ok()) HERD_LOG(error, "cc: {}", r.error().text());
        return;
    }
    auto ec = f.header.find("exitcode");
    if (r.ok() && ec != f.header.end() && ec->is_number_integer())
        r = writeFile(herd_, dir + "/exitcode", std::to_string(ec->get<int64_t>()));
    if (!r.ok()) HERD_LOG(error, "cc: {}", r.error().text());
    e->out_started = e->err_started = false;
    cmd.checked_in.insert(c.uuid);
    if (--e->responses <= 0) c.expect.erase(cmd.id);
}

void CcService::fileChunk(CcClient& c, const ccproto::Frame& f) {
    int64_t id = ccproto::jint(f.header, "id", -1);
    CcExpect* e = outstanding(c, id);
    if (!e || !e->files) return unsolicited(c, "a file", id);
    // Only the paths the command asked for, as it named them: the guest
    // chooses no name on the host.
    const std::string path = ccproto::jstr(f.header, "path");
    const CcCommand& cmd = ns(c.ns).commands.at(static_cast<int>(id));
    if (std::find(cmd.recv.begin(), cmd.recv.end(), path) == cmd.recv.end())
        return unsolicited(c, "a file", id);
    std::string rel = ccproto::safeRelative(path);
    if (rel.empty() || e->refused.count(path)) return;
    std::string host = responsesDir(c.ns) + "/" + std::to_string(id) + "/" + c.uuid + "/" + rel;
    bool eof = ccproto::jbool(f.header, "eof");
    if (!ccproto::jstr(f.header, "error").empty()) {
        c.recv_files.erase(host);  // the agent reports it in its response
        return;
    }
    const uint64_t budget = ns(c.ns).budget;
    auto it = c.recv_files.find(host);
    if (it == c.recv_files.end()) {
        if (c.recv_files.size() >= cclimits::kMaxOpenFiles) {
            e->refused.insert(path);
            e->errors.push_back("recv " + path + ": over " +
                                std::to_string(cclimits::kMaxOpenFiles) + " files open at once");
            return;
        }
        auto fd = [&]() -> Result<unique_fd> {
            HERD_TRY(makeDirs(herd_, host.substr(0, host.rfind('/'))));
            return createFile(herd_, host);
        }();
        if (!fd.ok()) {
            HERD_LOG(error, "cc recv: {}", fd.error().text());
            e->refused.insert(path);
            e->errors.push_back("recv " + path + ": " + fd.error().text());
            return;
        }
        it = c.recv_files.emplace(host, CcRecvFile{std::move(*fd), cmd.id, path, {}}).first;
    }
    it->second.last = std::chrono::steady_clock::now();
    if (e->stored + f.body.size() > budget)
        return refuseFile(
            c, host,
            fmt::format("over the budget of {} bytes per VM and command (cc budget)", budget));
    if (auto r = writeAll(it->second.fd.get(), f.body, host); !r.ok()) {
        HERD_LOG(error, "cc recv: {}", r.error().text());
        return refuseFile(c, host, r.error().text());
    }
    e->stored += f.body.size();
    if (eof) c.recv_files.erase(it);
}

bool CcService::matches(const CcClient& c, const std::optional<CcFilter>& f) {
    if (!f) return true;
    if (!f->uuid.empty() && f->uuid != c.uuid) return false;
    if (!f->hostname.empty() && f->hostname != c.hostname) return false;
    if (!f->arch.empty() && f->arch != c.arch) return false;
    if (!f->os.empty() && f->os != c.os) return false;
    for (const auto& want : f->ip)
        if (std::none_of(c.ip.begin(), c.ip.end(),
                         [&](const std::string& h) { return addressMatches(want, h); }))
            return false;
    for (const auto& want : f->mac)
        if (std::none_of(c.mac.begin(), c.mac.end(), [&](const std::string& h) {
                return cli::text::toLower(h) == cli::text::toLower(want);
            }))
            return false;
    Vm* vm = const_cast<CcService*>(this)->vmOf(c);
    if (!vm) return f->tags.empty();
    for (const auto& [k, v] : f->tags) {
        // A `vm info` column with a value wins over a tag of the same name.
        auto col = vm->info(k, herd_.vlans());
        if (col.ok() && !col->empty()) {
            if (*col != v) return false;
            continue;
        }
        auto t = vm->config.tags.find(k);
        if (t == vm->config.tags.end() || t->second != v) return false;
    }
    return true;
}

void CcService::deliver(CcClient& c, CcCommand& cmd) {
    for (size_t i = 0; i < cmd.send_host.size(); ++i) {
        struct stat st {};
        unsigned mode = ::stat(cmd.send_host[i].c_str(), &st) == 0 ? st.st_mode & 07777 : 0644;
        c.conn->sendFile(cmd.send_host[i], cmd.send[i], mode);
    }
    json h = {{"type", "command"}, {"id", cmd.id},
              {"argv", cmd.argv},  {"background", cmd.background},
              {"send", cmd.send},  {"recv", cmd.recv}};
    for (const auto& [k, v] : cmd.extra.items()) h[k] = v;
    c.conn->send(ccproto::encode(h));
    cmd.sent_to.insert(c.uuid);
    CcExpect& e = c.expect[cmd.id] = CcExpect{};
    e.responses = cmd.background ? 2 : 1;
    e.files = !cmd.recv.empty();
}

std::vector<CcClient*> CcService::active(const std::string& ns) {
    std::vector<CcClient*> out;
    for (auto& [id, c] : clients_) {
        if (c.ns != ns || !c.welcomed || !c.conn) continue;
        Vm* vm = vmOf(c);
        if (vm && inStates(vm->state, kKillable)) out.push_back(&c);
    }
    std::sort(out.begin(), out.end(), [](auto* a, auto* b) { return a->uuid < b->uuid; });
    return out;
}

int CcService::post(const std::string& nsname, CcCommand cmd) {
    Ns& n = ns(nsname);
    cmd.prefix = n.prefix;
    cmd.filter = n.filter;
    return postScoped(nsname, std::move(cmd));
}

int CcService::postScoped(const std::string& nsname, CcCommand cmd) {
    Ns& n = ns(nsname);
    cmd.id = n.next_id++;
    auto& stored = n.commands[cmd.id] = std::move(cmd);
    for (CcClient* c : active(nsname))
        if (matches(*c, stored.filter)) deliver(*c, stored);
    return stored.id;
}

void CcService::deleteCommand(const std::string& nsname, int id) {
    ns(nsname).commands.erase(id);
    forget(nsname, id);
}

void CcService::deletePrefix(const std::string& nsname, const std::string& prefix) {
    std::vector<int> ids;
    for (const auto& [id, cmd] : ns(nsname).commands)
        if (cmd.prefix == prefix) ids.push_back(id);
    for (int id : ids) deleteCommand(nsname, id);
}

void CcService::clearCommands(const std::string& nsname) {
    Ns& n = ns(nsname);
    n.commands.clear();
    n.next_id = 1;
    forget(nsname, std::nullopt);
}

void CcService::signal(const std::string& nsname, const json& msg) {
    std::vector<CcClient*> to;
    for (CcClient* c : active(nsname))
        if (matches(*c, ns(nsname).filter)) to.push_back(c);
    // miniccc takes kills as commands, which it runs only with an id above
    // the last it ran: such a signal takes the namespace's next command id.
    json m = msg;
    if (std::any_of(to.begin(), to.end(), [](CcClient* c) { return c->conn->miniccc(); }))
        m["id"] = ns(nsname).next_id++;
    auto frame = ccproto::encode(m);
    for (CcClient* c : to) c->conn->send(frame);
}

std::vector<CcClient*> CcService::matching(const std::string& nsname) {
    std::vector<CcClient*> out;
    for (CcClient* c : active(nsname))
        if (matches(*c, ns(nsname).filter)) out.push_back(c);
    return out;
}

CcClient* CcService::connected(int vm_id) {
    auto it = clients_.find(vm_id);
    if (it == clients_.end() || !it->second.welcomed || !it->second.conn) return nullptr;
    return &it->second;
}

Result<int> CcService::openTunnel(CcClient& c, uint16_t src, const std::string& host,
                                  uint16_t dst) {
    using tcp = asio::ip::tcp;
    auto acc = std::make_shared<tcp::acceptor>(*herd_.daemon().io());
    boost::system::error_code ec;
    // Every address, IPv6 and IPv4 (minimega's `:<src>`); IPv4 alone where
    // the host has no IPv6.
    acc->open(tcp::v6(), ec);
    if (!ec) acc->set_option(asio::ip::v6_only(false), ec);
    tcp::endpoint ep(tcp::v6(), src);
    if (ec) {
        ec.clear();
        acc->close(ec);
        acc->open(tcp::v4(), ec);
        ep = tcp::endpoint(tcp::v4(), src);
    }
    const char* step = "socket";
    if (!ec) acc->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) {
        step = "bind";
        acc->bind(ep, ec);
    }
    if (!ec) {
        step = "listen";
        acc->listen(64, ec);
    }
    if (ec) {
        std::string m = ec.message();
        if (!m.empty()) m[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(m[0])));
        return Error::msg("listen tcp :" + std::to_string(src) + ": " + step + ": " + m);
    }
    int id = c.next_tunnel++;
    c.tunnels[id] = CcTunnel{false, src, host, dst};
    c.conn->tunnels(
        [acc, id, host, dst](TunnelMux& m) { m.addForward(id, std::move(*acc), host, dst); });
    return id;
}

int CcService::openRtunnel(CcClient& c, uint16_t src, const std::string& host, uint16_t dst) {
    int id = c.next_tunnel++;
    c.tunnels[id] = CcTunnel{true, src, host, dst};
    c.conn->tunnels([id, src, host, dst](TunnelMux& m) { m.addReverse(id, src, host, dst); });
    return id;
}

bool CcService::closeTunnel(CcClient& c, int id) {
    if (!c.tunnels.erase(id)) return false;
    if (c.conn) c.conn->tunnels([id](TunnelMux& m) { m.remove(id); });
    return true;
}

void CcService::clearTunnels(const std::string& nsname) {
    for (auto& [vm_id, c] : clients_) {
        if (c.ns != nsname || c.tunnels.empty()) continue;
        c.tunnels.clear();
        if (c.conn) c.conn->tunnels([](TunnelMux& m) { m.closeAll(true); });
    }
}

void attachCc(Herd& herd) {
    std::weak_ptr<CcService> w = herd.cc().weak_from_this();
    Backchannel b;
    b.open = [w](Vm& vm) -> Result<std::string> {
        if (auto s = w.lock()) return s->open(vm);
        return Error::msg("cc is not running");
    };
    b.drop = [w](Vm& vm) {
        if (auto s = w.lock()) s->drop(vm);
    };
    b.listener = [w](const Vm& vm) {
        auto s = w.lock();
        return s ? s->listenerFd(vm) : -1;
    };
    b.adopt = [w](Vm& vm, int fd) -> Result<void> {
        if (auto s = w.lock()) return s->adopt(vm, fd);
        return Error::msg("cc is not running");
    };
    b.close = [w](Vm& vm) {
        if (auto s = w.lock()) s->close(vm);
    };
    herd.runtime().setBackchannel(std::move(b));
}

void ccClearNamespace(Herd& herd, const std::string& ns) {
    if (CcService* cc = herd.ccIfAny()) cc->clearNamespace(ns);
}

}  // namespace herd
