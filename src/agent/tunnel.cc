#include "agent/tunnel.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace herd::agent {

namespace proto = herd::ccproto;
using nlohmann::json;

namespace {

// Addresses of host:port for `type` (SOCK_STREAM or SOCK_DGRAM).
std::vector<sockaddr_storage> resolve(const std::string& host, int port, int type,
                                      std::string& err) {
    std::vector<sockaddr_storage> out;
    addrinfo hints{};
    hints.ai_socktype = type;
    addrinfo* res = nullptr;
    std::string p = std::to_string(port);
    int rc = getaddrinfo(host.c_str(), p.c_str(), &hints, &res);
    if (rc != 0) {
        err = "resolve " + host + ": " + gai_strerror(rc);
        return out;
    }
    for (addrinfo* a = res; a; a = a->ai_next) {
        sockaddr_storage ss{};
        std::memcpy(&ss, a->ai_addr, a->ai_addrlen);
        out.push_back(ss);
    }
    freeaddrinfo(res);
    return out;
}

socklen_t lenOf(const sockaddr_storage& ss) {
    return ss.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

// Connects with a timeout; -1 and errno on failure.
int connectTimeout(const sockaddr_storage& ss, int type, int timeout_ms) {
    int fd = socket(ss.ss_family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    if (connect(fd, reinterpret_cast<const sockaddr*>(&ss), lenOf(ss)) != 0) {
        if (errno != EINPROGRESS) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        pollfd p{fd, POLLOUT, 0};
        int err = 0;
        socklen_t el = sizeof err;
        if (poll(&p, 1, timeout_ms) <= 0) {
            close(fd);
            errno = ETIMEDOUT;
            return -1;
        }
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err != 0) {
            close(fd);
            errno = err;
            return -1;
        }
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

bool writeAll(int fd, const char* p, size_t n) {
    while (n > 0) {
        ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= static_cast<size_t>(w);
    }
    return true;
}

}  // namespace

struct Stream {
    int64_t sid = 0;
    int fd = -1;
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::string> out;
    size_t queued = 0;                     // bytes from the daemon not yet written
    size_t credit = proto::kTunnelWindow;  // bytes the daemon has room for
    bool connected = false;
    bool peer_eof = false;
    bool dead = false;
    int loops = 0;  // reader and writer threads still running
    ~Stream() {
        if (fd >= 0) close(fd);
    }
};

struct Tunnels::State : std::enable_shared_from_this<Tunnels::State> {
    SendFn send;
    std::mutex mu;
    std::map<int64_t, std::shared_ptr<Stream>> streams;
    std::map<int64_t, int> listeners;  // reverse tunnels: rid -> listening socket
    int64_t next_sid = 2;              // even: the agent's

    void closeMsg(int64_t sid, bool eof, const std::string& err = "") {
        json h = {{"type", "tclose"}, {"sid", sid}, {"eof", eof}};
        if (!err.empty()) h["error"] = err;
        send(h, {});
    }

    void forget(const std::shared_ptr<Stream>& s) {
        std::lock_guard l(mu);
        auto it = streams.find(s->sid);
        if (it != streams.end() && it->second == s) streams.erase(it);
    }

    void kill(const std::shared_ptr<Stream>& s) {
        std::lock_guard l(s->mu);
        s->dead = true;
        if (s->fd >= 0) shutdown(s->fd, SHUT_RDWR);
        s->cv.notify_all();
    }

    // The stream's two loops; the last one to end forgets it.
    void run(std::shared_ptr<Stream> s) {
        {
            std::lock_guard l(s->mu);
            s->connected = true;
            s->loops = 2;
        }
        auto self = shared_from_this();
        std::thread([self, s] { self->writer(s); }).detach();
        reader(s);
    }

    void loopDone(const std::shared_ptr<Stream>& s) {
        bool last;
        {
            std::lock_guard l(s->mu);
            last = --s->loops == 0;
        }
        if (last) forget(s);
    }

    void reader(const std::shared_ptr<Stream>& s) {
        std::vector<char> buf(proto::kTunnelPiece);
        for (;;) {
            size_t want;
            {
                std::unique_lock l(s->mu);
                s->cv.wait(l, [&] { return s->dead || s->credit > 0; });
                if (s->dead) break;
                want = std::min(s->credit, buf.size());
            }
            ssize_t n = read(s->fd, buf.data(), want);
            if (n < 0 && errno == EINTR) continue;
            if (n == 0) {
                closeMsg(s->sid, true);
                break;
            }
            if (n < 0) {
                std::string e = std::strerror(errno);
                bool was_dead;
                {
                    std::lock_guard l(s->mu);
                    was_dead = s->dead;
                }
                if (!was_dead) {
                    closeMsg(s->sid, false, e);
                    kill(s);
                }
                break;
            }
            {
                std::lock_guard l(s->mu);
                s->credit -= static_cast<size_t>(n);
            }
            send({{"type", "tdata"}, {"sid", s->sid}},
                 std::string_view(buf.data(), static_cast<size_t>(n)));
        }
        loopDone(s);
    }

    void writer(const std::shared_ptr<Stream>& s) {
        for (;;) {
            std::string chunk;
            {
                std::unique_lock l(s->mu);
                s->cv.wait(l, [&] { return s->dead || s->peer_eof || !s->out.empty(); });
                if (s->dead) break;
                if (s->out.empty()) {
                    shutdown(s->fd, SHUT_WR);
                    break;
                }
                chunk = std::move(s->out.front());
                s->out.pop_front();
            }
            if (!writeAll(s->fd, chunk.data(), chunk.size())) {
                closeMsg(s->sid, false, std::strerror(errno));
                kill(s);
                break;
            }
            {
                std::lock_guard l(s->mu);
                s->queued -= chunk.size();
            }
            send({{"type", "tack"}, {"sid", s->sid}, {"n", chunk.size()}}, {});
        }
        loopDone(s);
    }

    std::shared_ptr<Stream> find(int64_t sid) {
        std::lock_guard l(mu);
        auto it = streams.find(sid);
        return it == streams.end() ? nullptr : it->second;
    }

    void tconnect(int64_t sid, const std::string& host, int port) {
        auto s = std::make_shared<Stream>();
        s->sid = sid;
        bool taken;
        {
            std::lock_guard l(mu);
            taken = sid <= 0 || sid % 2 == 0 || streams.count(sid) ||
                    streams.size() >= proto::kMaxStreams;
            if (!taken) streams[sid] = s;
        }
        if (taken) return closeMsg(sid, false, "refused");
        auto self = shared_from_this();
        std::thread([self, s, host, port] {
            std::string err;
            auto addrs = resolve(host, port, SOCK_STREAM, err);
            int fd = -1;
            for (const auto& a : addrs) {
                fd = connectTimeout(a, SOCK_STREAM, 10000);
                if (fd >= 0) break;
                err = "dial " + host + ":" + std::to_string(port) + ": " + std::strerror(errno);
            }
            if (fd < 0) {
                self->closeMsg(s->sid, false, err);
                self->forget(s);
                return;
            }
            {
                std::lock_guard l(s->mu);
                s->fd = fd;
                if (s->dead) shutdown(fd, SHUT_RDWR);
            }
            self->run(s);
        }).detach();
    }

    void data(int64_t sid, const std::string& body) {
        auto s = find(sid);
        if (!s) return;
        bool over;
        {
            std::lock_guard l(s->mu);
            over = s->peer_eof || s->queued + body.size() > proto::kTunnelWindow;
            if (!over) {
                s->queued += body.size();
                s->out.push_back(body);
                s->cv.notify_all();
            }
        }
        if (over) {
            closeMsg(sid, false, "past the window");
            kill(s);
        }
    }

    void ack(int64_t sid, int64_t n) {
        auto s = find(sid);
        if (!s || n <= 0) return;
        std::lock_guard l(s->mu);
        s->credit = std::min(proto::kTunnelWindow, s->credit + static_cast<size_t>(n));
        s->cv.notify_all();
    }

    void tclose(int64_t sid, bool eof) {
        auto s = find(sid);
        if (!s) return;
        if (!eof) {
            kill(s);
            forget(s);
            return;
        }
        std::lock_guard l(s->mu);
        s->peer_eof = true;
        s->cv.notify_all();
    }

    void rlisten(int64_t rid, int port) {
        int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1, zero = 0;
        bool ok = false;
        if (fd >= 0) {
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
            sockaddr_in6 a{};
            a.sin6_family = AF_INET6;
            a.sin6_port = htons(static_cast<uint16_t>(port));
            ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
        }
        if (!ok) {
            if (fd >= 0) close(fd);
            fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd >= 0) {
                setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
                sockaddr_in a{};
                a.sin_family = AF_INET;
                a.sin_port = htons(static_cast<uint16_t>(port));
                ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
            }
        }
        if (!ok || listen(fd, 64) != 0) {
            std::fprintf(stderr, "herd-cc: rtunnel %lld: listen :%d: %s\n",
                         static_cast<long long>(rid), port, std::strerror(errno));
            if (fd >= 0) close(fd);
            return;
        }
        {
            std::lock_guard l(mu);
            if (listeners.count(rid)) {
                close(fd);
                return;
            }
            listeners[rid] = fd;
        }
        auto self = shared_from_this();
        std::thread([self, rid, fd] {
            for (;;) {
                int c = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
                if (c < 0) {
                    if (errno == EINTR || errno == ECONNABORTED) continue;
                    if (errno == EMFILE || errno == ENFILE) {
                        std::this_thread::sleep_for(std::chrono::milliseconds(100));
                        continue;
                    }
                    break;
                }
                auto s = std::make_shared<Stream>();
                s->fd = c;
                {
                    std::lock_guard l(self->mu);
                    if (self->streams.size() >= proto::kMaxStreams) {
                        continue;  // s closes c
                    }
                    s->sid = self->next_sid;
                    self->next_sid += 2;
                    self->streams[s->sid] = s;
                }
                self->send({{"type", "rconnect"}, {"rid", rid}, {"sid", s->sid}}, {});
                std::thread([self, s] { self->run(s); }).detach();
            }
            close(fd);
        }).detach();
    }

    void openPipe(int fd, const std::string& pipe, const std::string& dir) {
        auto s = std::make_shared<Stream>();
        s->fd = fd;
        {
            std::lock_guard l(mu);
            if (streams.size() >= proto::kMaxStreams) return;  // s closes fd
            s->sid = next_sid;
            next_sid += 2;
            streams[s->sid] = s;
        }
        send({{"type", "popen"}, {"sid", s->sid}, {"pipe", pipe}, {"dir", dir}}, {});
        auto self = shared_from_this();
        std::thread([self, s] { self->run(s); }).detach();
    }

    void runlisten(int64_t rid) {
        std::lock_guard l(mu);
        auto it = listeners.find(rid);
        if (it == listeners.end()) return;
        shutdown(it->second, SHUT_RDWR);  // wakes accept(); its thread closes it
        listeners.erase(it);
    }

    void reset() {
        std::vector<std::shared_ptr<Stream>> all;
        {
            std::lock_guard l(mu);
            for (auto& [sid, s] : streams) all.push_back(s);
            streams.clear();
            for (auto& [rid, fd] : listeners) shutdown(fd, SHUT_RDWR);
            listeners.clear();
        }
        for (auto& s : all) kill(s);
    }
};

Tunnels::Tunnels(SendFn send) : st_(std::make_shared<State>()) {
    st_->send = std::move(send);
}

Tunnels::~Tunnels() {
    st_->reset();
}

bool Tunnels::handles(const std::string& type) {
    return type == "tconnect" || type == "tdata" || type == "tack" || type == "tclose" ||
           type == "rlisten" || type == "runlisten";
}

void Tunnels::onFrame(const ccproto::Frame& f) {
    const std::string type = f.type();
    int64_t sid = proto::jint(f.header, "sid");
    int port = static_cast<int>(proto::jint(f.header, "port"));
    if (type == "tconnect") {
        st_->tconnect(sid, proto::jstr(f.header, "host"), port);
    } else if (type == "tdata") {
        st_->data(sid, f.body);
    } else if (type == "tack") {
        st_->ack(sid, proto::jint(f.header, "n"));
    } else if (type == "tclose") {
        st_->tclose(sid, proto::jbool(f.header, "eof"));
    } else if (type == "rlisten") {
        st_->rlisten(proto::jint(f.header, "rid"), port);
    } else if (type == "runlisten") {
        st_->runlisten(proto::jint(f.header, "rid"));
    }
}

void Tunnels::reset() {
    st_->reset();
}

void Tunnels::openPipe(int fd, const std::string& pipe, const std::string& dir) {
    st_->openPipe(fd, pipe, dir);
}

std::string connTest(const json& spec) {
    std::string proto_name = proto::jstr(spec, "proto");
    std::string host = proto::jstr(spec, "host");
    int port = static_cast<int>(proto::jint(spec, "port"));
    auto wait = std::chrono::milliseconds(proto::jint(spec, "wait_ms"));
    std::string hex = proto::jstr(spec, "packet"), packet;
    for (size_t i = 0; i + 1 < hex.size(); i += 2)
        packet.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    bool udp = proto_name == "udp";
    auto deadline = std::chrono::steady_clock::now() + wait;
    bool pass = false;
    do {
        auto t0 = std::chrono::steady_clock::now();
        std::string err;
        for (const auto& a : resolve(host, port, udp ? SOCK_DGRAM : SOCK_STREAM, err)) {
            int fd = connectTimeout(a, udp ? SOCK_DGRAM : SOCK_STREAM, 500);
            if (fd < 0) continue;
            if (!udp) {
                pass = true;
            } else if (::send(fd, packet.data(), packet.size(), MSG_NOSIGNAL) >= 0) {
                // A reply within 500 ms.
                pollfd p{fd, POLLIN, 0};
                char b[1];
                if (poll(&p, 1, 500) > 0 && recv(fd, b, sizeof b, MSG_DONTWAIT) >= 0) pass = true;
            }
            close(fd);
            if (pass) break;
        }
        if (pass) break;
        // Retry every 500 ms until the wait is over.
        auto next = t0 + std::chrono::milliseconds(500);
        if (next < deadline) std::this_thread::sleep_until(next);
    } while (std::chrono::steady_clock::now() < deadline);
    return host + ":" + std::to_string(port) + " | " + (pass ? "pass" : "fail");
}

}  // namespace herd::agent
