#include "service/pipe_sockets.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <deque>
#include <mutex>
#include <set>

#include "base/fs.h"
#include "base/log.h"
#include "service/plumber.h"

namespace herd {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;

namespace {

bool peerIsRoot(local::socket& s) {
    ucred cred{};
    socklen_t len = sizeof cred;
    return getsockopt(s.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
           cred.uid == 0;
}

}  // namespace

struct PipeSockets::Impl : std::enable_shared_from_this<PipeSockets::Impl> {
    Impl(asio::io_context& io, Dir dir)
        : strand(asio::make_strand(io)), wacc(strand), racc(strand), nsdir(std::move(dir)) {}

    struct Conn {
        explicit Conn(asio::strand<asio::io_context::executor_type>& ex) : sock(ex) {}
        local::socket sock;
        bool reader = false;
        uint64_t reader_id = 0;
        std::string line;
        char buf[16384];
    };

    // The pipe's reader for one `.read` connection: a bounded queue drained
    // onto the socket on the strand.
    struct SocketReader : PipeReader, std::enable_shared_from_this<SocketReader> {
        std::weak_ptr<Impl> impl;
        std::weak_ptr<Conn> conn;
        std::mutex mu;
        std::deque<std::string> q;
        size_t queued = 0;
        bool writing = false;

        void deliver(const std::string& msg) override {
            {
                std::lock_guard l(mu);
                if (queued + msg.size() > Plumber::kReaderQueue) {
                    ++dropped;
                    return;
                }
                queued += msg.size();
                q.push_back(msg);
                if (writing) return;
                writing = true;
            }
            if (auto i = impl.lock())
                asio::post(i->strand, [self = shared_from_this()] { self->pump(); });
        }
        void closed() override {
            if (auto i = impl.lock())
                asio::post(i->strand, [i, c = conn] {
                    if (auto cc = c.lock()) i->drop(cc);
                });
        }
        // On the strand.
        void pump() {
            auto i = impl.lock();
            auto c = conn.lock();
            if (!i || !c) return;
            std::string chunk;
            {
                std::lock_guard l(mu);
                if (q.empty()) {
                    writing = false;
                    return;
                }
                while (!q.empty() && chunk.size() < (64u << 10)) {
                    chunk += q.front();
                    queued -= q.front().size();
                    q.pop_front();
                }
            }
            auto data = std::make_shared<std::string>(std::move(chunk));
            asio::async_write(
                c->sock, asio::buffer(*data),
                [self = shared_from_this(), data, i, c](boost::system::error_code ec, size_t) {
                    if (ec) return i->drop(c);
                    self->pump();
                });
        }
    };

    asio::strand<asio::io_context::executor_type> strand;
    local::acceptor wacc, racc;
    Dir nsdir;
    std::string pipe, name;
    ino_t wino = 0, rino = 0;
    std::weak_ptr<Plumber> plumber;
    std::set<std::shared_ptr<Conn>> conns;
    std::map<const Conn*, std::shared_ptr<SocketReader>> readers;
    bool closed = false;

    void accept(bool reader) {
        local::acceptor& acc = reader ? racc : wacc;
        auto c = std::make_shared<Conn>(strand);
        acc.async_accept(c->sock,
                         [self = shared_from_this(), c, reader](boost::system::error_code ec) {
                             if (self->closed || ec == asio::error::operation_aborted) return;
                             if (!ec) self->started(c, reader);
                             self->accept(reader);
                         });
    }

    void started(const std::shared_ptr<Conn>& c, bool reader) {
        auto pl = plumber.lock();
        boost::system::error_code ig;
        if (!pl || !peerIsRoot(c->sock) || conns.size() >= 2 * kMaxConns) {
            if (pl) HERD_LOG(warn, "pipe {}: refused a connection (not root, or too many)", pipe);
            c->sock.close(ig);
            return;
        }
        conns.insert(c);
        c->reader = reader;
        if (reader) {
            auto r = std::make_shared<SocketReader>();
            r->impl = weak_from_this();
            r->conn = c;
            readers[c.get()] = r;
            auto id = pl->addReader(pipe, r);
            if (!id.ok()) return drop(c);
            c->reader_id = *id;
        } else {
            auto ok = pl->addWriter(pipe);
            if (!ok.ok()) {
                c->reader = true;  // nothing to undo
                return drop(c);
            }
        }
        read(c);
    }

    // A writer's lines become messages; a reader's input is ignored (read
    // only to notice the peer going).
    void read(const std::shared_ptr<Conn>& c) {
        c->sock.async_read_some(asio::buffer(c->buf), [self = shared_from_this(), c](
                                                          boost::system::error_code ec, size_t n) {
            if (ec) return self->drop(c);
            if (!c->reader) {
                auto pl = self->plumber.lock();
                for (size_t k = 0; k < n && pl; ++k) {
                    char ch = c->buf[k];
                    if (ch != '\n') c->line.push_back(ch);
                    if (ch == '\n' || c->line.size() >= Plumber::kMaxMessage) {
                        auto r = pl->write(self->pipe, std::move(c->line));
                        if (!r.ok()) HERD_LOG(warn, "pipe {}: {}", self->pipe, r.error().text());
                        c->line.clear();
                    }
                }
            }
            self->read(c);
        });
    }

    void drop(const std::shared_ptr<Conn>& c) {
        if (!conns.erase(c)) return;
        boost::system::error_code ig;
        c->sock.close(ig);
        if (auto pl = plumber.lock()) {
            if (c->reader && c->reader_id) pl->removeReader(pipe, c->reader_id);
            if (!c->reader) pl->removeWriter(pipe);
        }
        readers.erase(c.get());
    }

    void unlinkIfOurs(const std::string& file, ino_t ino) {
        struct stat st {};
        if (fstatat(nsdir.fd(), file.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_ino == ino)
            (void)nsdir.unlink(file);
    }
};

Result<std::shared_ptr<PipeSockets>> PipeSockets::create(asio::io_context& io,
                                                         std::shared_ptr<const Dir> base,
                                                         const std::string& pipe,
                                                         std::weak_ptr<Plumber> plumber) {
    auto sep = pipe.find("//");
    if (sep == std::string::npos) return Error::msg("unqualified pipe name");
    const std::string ns = pipe.substr(0, sep), name = pipe.substr(sep + 2);
    auto top = base->makeDirs("pipes", 0700);
    if (!top.ok()) return top.error();
    if (fchmod(top->fd(), 0700) != 0) return Error::sysNow("chmod", top->path());
    auto dir = top->makeDirs(ns, 0700);
    if (!dir.ok()) return dir.error();
    if (fchmod(dir->fd(), 0700) != 0) return Error::sysNow("chmod", dir->path());
    auto impl = std::make_shared<Impl>(io, std::move(*dir));
    impl->pipe = pipe;
    impl->name = name;
    impl->plumber = std::move(plumber);
    for (bool reader : {false, true}) {
        const std::string file = name + (reader ? ".read" : ".write");
        HERD_TRY(impl->nsdir.unlink(file));
        local::acceptor& acc = reader ? impl->racc : impl->wacc;
        local::endpoint ep(impl->nsdir.viaFd(file));
        boost::system::error_code ec;
        acc.open(ep.protocol(), ec);
        if (!ec) acc.bind(ep, ec);
        if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
        if (ec) return Error::msg("listen " + impl->nsdir.pathOf(file) + ": " + ec.message());
        if (fchmodat(impl->nsdir.fd(), file.c_str(), 0600, 0) != 0)
            return Error::sysNow("chmod", impl->nsdir.pathOf(file));
        struct stat st {};
        if (fstatat(impl->nsdir.fd(), file.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0)
            (reader ? impl->rino : impl->wino) = st.st_ino;
    }
    auto s = std::shared_ptr<PipeSockets>(new PipeSockets());
    s->impl_ = impl;
    asio::post(impl->strand, [impl] {
        impl->accept(false);
        impl->accept(true);
    });
    return s;
}

PipeSockets::~PipeSockets() {
    close();
}

void PipeSockets::close() {
    if (!impl_) return;
    auto impl = std::move(impl_);
    impl->unlinkIfOurs(impl->name + ".write", impl->wino);
    impl->unlinkIfOurs(impl->name + ".read", impl->rino);
    asio::post(impl->strand, [impl] {
        impl->closed = true;
        boost::system::error_code ig;
        impl->wacc.close(ig);
        impl->racc.close(ig);
        auto all = impl->conns;
        for (auto& c : all) impl->drop(c);
    });
}

}  // namespace herd
