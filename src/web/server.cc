// The listener, the HTTP routes and static files, and the table refresh.
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <future>
#include <optional>

#include <fmt/format.h>

#include "base/log.h"
#include "base/unique_fd.h"
#include "service/names.h"
#include "web/http_util.h"
#include "web/internal.h"
#include "web/secret_file.h"
#include "web/web_server.h"

namespace herd::web {

namespace {

constexpr size_t kMaxBody = 1 << 20;
constexpr size_t kMaxFile = 64 << 20;
// Reading a request's body and writing an answer.
constexpr auto kHttpIdle = std::chrono::seconds(60);
// Reading a request's headers, and a kept-alive connection's wait for the
// next request: an idle socket must not hold a connection slot for long.
constexpr auto kHeaderTimeout = std::chrono::seconds(10);
// Web connections at once (HTTP and WebSocket). Beyond it the oldest one
// still waiting for a request's headers is cut to make room, else the new one
// is closed: idle sockets cannot exhaust the daemon's descriptors.
constexpr size_t kMaxConnections = 1024;

// Reads `rel` below `root`, refusing anything that resolves outside it (a
// symlink out) or is not a regular file. nullopt: not found.
std::optional<std::string> readServed(const std::string& root, const std::string& rel) {
    char rroot[PATH_MAX], rfile[PATH_MAX];
    if (!::realpath(root.c_str(), rroot)) return std::nullopt;
    std::string full = root + "/" + rel;
    if (!::realpath(full.c_str(), rfile)) return std::nullopt;
    std::string base(rroot), file(rfile);
    if (file.size() <= base.size() || file.compare(0, base.size(), base) != 0 ||
        (base != "/" && file[base.size()] != '/')) {
        return std::nullopt;
    }
    unique_fd fd(::open(rfile, O_RDONLY | O_CLOEXEC));
    if (!fd) return std::nullopt;
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
        static_cast<size_t>(st.st_size) > kMaxFile) {
        return std::nullopt;
    }
    std::string out(static_cast<size_t>(st.st_size), '\0');
    size_t got = 0;
    while (got < out.size()) {
        ssize_t n = ::read(fd.get(), out.data() + got, out.size() - got);
        if (n <= 0) break;
        got += static_cast<size_t>(n);
    }
    out.resize(got);
    return out;
}

std::string hostForUrl(const tcp::endpoint& ep, const std::string& given) {
    std::string h = given == "localhost" ? given : ep.address().to_string();
    return ep.address().is_v6() && given != "localhost" ? "[" + h + "]" : h;
}

class HttpSession : public SessionBase, public std::enable_shared_from_this<HttpSession> {
  public:
    HttpSession(std::shared_ptr<Core> core, uint64_t id, tcp::socket sock)
        : SessionBase(std::move(core), id), stream_(std::move(sock)) {}

    void start() { doRead(); }

    void stop() override { kill(); }
    void kill() override {
        if (!dead_) stream_.close();
        dead_ = true;
    }
    bool evictable() const override { return reading_headers_ && !dead_; }

  private:
    void doRead() {
        if (dead_) return finish();
        parser_.emplace();
        parser_->body_limit(kMaxBody);
        parser_->header_limit(16 * 1024);
        stream_.expires_after(kHeaderTimeout);
        reading_headers_ = true;
        http::async_read_header(
            stream_, buf_, *parser_,
            [self = shared_from_this()](beast::error_code ec, size_t) { self->onHeader(ec); });
    }

    void onHeader(beast::error_code ec) {
        reading_headers_ = false;
        if (ec || dead_ || parser_->is_done()) return onRead(ec);
        stream_.expires_after(kHttpIdle);
        http::async_read(
            stream_, buf_, *parser_,
            [self = shared_from_this()](beast::error_code ec, size_t) { self->onRead(ec); });
    }

    void onRead(beast::error_code ec) {
        if (ec == http::error::end_of_stream || ec == asio::error::eof || dead_) return finish();
        if (ec == http::error::body_limit) {
            req_ = {};
            return send(http::status::payload_too_large, "request body too large\n", false);
        }
        if (ec == http::error::header_limit) {
            req_ = {};
            return send(http::status::request_header_fields_too_large, "request header too large\n",
                        false);
        }
        if (ec.category() == beast::error_code(http::error::end_of_stream).category()) {
            req_ = {};
            return send(http::status::bad_request, "bad request: " + ec.message() + "\n", false);
        }
        if (ec) return finish();
        req_ = parser_->release();
        handle();
    }

    void handle() {
        auto target = splitTarget(std::string_view(req_.target().data(), req_.target().size()));
        if (!target) return send(http::status::bad_request, "bad query string\n");
        raw_query_.clear();
        if (auto q = req_.target().find('?'); q != beast::string_view::npos) {
            raw_query_ = std::string(req_.target().substr(q));
        }
        set_cookie_.clear();
        // Another site's page must not drive this server through the
        // visitor's browser: a Host that is not ours (DNS rebinding), or a
        // POST or WebSocket from another origin (browsers send both without
        // asking; without a token nothing else would stop them).
        const std::string host(req_[http::field::host]);
        if (!hostAllowed(host, core_->listen_host, core_->port)) {
            return send(http::status::misdirected_request, "herd: unknown host\n");
        }
        if ((req_.method() == http::verb::post || websocket_upgrade()) &&
            req_.find(http::field::origin) != req_.end() &&
            !sameOrigin(std::string(req_[http::field::origin]), host)) {
            return send(http::status::forbidden, "herd: cross-origin request refused\n");
        }
        // Every route, on every address: any local user reaches loopback,
        // and the page drives the daemon as root.
        const std::string cookie = tokenCookieName(core_->port);
        std::string offered = offeredToken(target->query, std::string(req_[http::field::cookie]),
                                           cookie, std::string(req_[http::field::authorization]));
        if (core_->token.empty() || !tokenEquals(offered, core_->token)) {
            return send(http::status::unauthorized, "herd: missing or wrong token\n");
        }
        if (target->query.count("token")) {
            set_cookie_ = cookie + "=" + core_->token + "; Path=/; HttpOnly; SameSite=Strict";
        }
        const std::string& path = target->path;
        std::string ns;
        if (auto it = target->query.find("namespace"); it != target->query.end()) ns = it->second;
        const bool get = req_.method() == http::verb::get;

        if (path == "/") {
            if (!get) return notAllowed("GET");
            return serveFile("index.html");
        }
        if (path.rfind("/static/", 0) == 0) {
            if (!get) return notAllowed("GET");
            auto dec = percentDecode(path.substr(8));
            auto rel = dec ? sanitizeRelPath(*dec) : std::nullopt;
            if (!rel) return send(http::status::not_found, "not found\n");
            return serveFile("static/" + *rel);
        }
        if (path == "/ws") {
            if (!get) return notAllowed("GET");
            if (!websocket_upgrade()) return upgradeRequired();
            dead_ = true;  // the stream moves to the WebSocket session
            // `?window=1`: a page that asks for windows of the table (and
            // wants no whole table before its first query).
            startTableWs(core_, std::move(stream_), std::move(req_),
                         target->query.count("window") > 0);
            return finish();
        }
        if (path == "/api/command") {
            if (req_.method() != http::verb::post) return notAllowed("POST");
            if (!isJsonContentType(std::string(req_[http::field::content_type]))) {
                return send(http::status::unsupported_media_type,
                            "herd: expected Content-Type: application/json\n");
            }
            return apiCommand();
        }
        if (path == "/api/vms") {
            if (!get) return notAllowed("GET");
            auto q = tableQueryFromParams(target->query);
            if (!q.ok()) return send(http::status::bad_request, q.error().text() + "\n");
            return apiVms(std::move(*q));
        }
        if (path.rfind("/vm/", 0) == 0) {
            std::string rest = path.substr(4);
            auto slash = rest.find('/');
            std::string enc = rest.substr(0, slash);
            std::string tail = slash == std::string::npos ? "" : rest.substr(slash);
            auto name = percentDecode(enc);
            if (!name || name->empty()) return send(http::status::not_found, "not found\n");
            // No VM has such a name: say so without echoing it (it may carry
            // control characters the terminal page would show).
            if (!validName(*name)) return send(http::status::not_found, "vm not found\n");
            if (tail == "/connect") {
                if (!get) return notAllowed("GET");
                return redirect("/vm/" + enc + "/connect/" + raw_query_);
            }
            if (tail == "/connect/" || tail == "/connect/ws") {
                if (!get) return notAllowed("GET");
                bool ws = tail == "/connect/ws";
                if (ws && !websocket_upgrade()) return upgradeRequired();
                return lookup(*name, ns, ws);
            }
        }
        send(http::status::not_found, "not found\n");
    }

    bool websocket_upgrade() const { return beast::websocket::is_upgrade(req_); }

    // The VM's existence (and console) is known on the command thread only.
    void lookup(const std::string& name, const std::string& ns, bool ws) {
        auto self = shared_from_this();
        std::weak_ptr<HttpSession> weak = self;
        asio::io_context* io = &core_->io;
        Herd* herd = &core_->backend.herd;
        bool queued = core_->backend.post([weak, io, herd, name, ns, ws] {
            ConsoleLookup r = findConsole(*herd, name, ns, ws);
            asio::post(*io, [weak, r = std::move(r)]() mutable {
                if (auto s = weak.lock()) s->onLookup(std::move(r));
            });
        });
        if (!queued) send(http::status::service_unavailable, "herd is shutting down\n", false);
    }

    void onLookup(ConsoleLookup r) {
        if (dead_) return finish();
        if (r.status != 200) return send(http::status::not_found, r.error + "\n");
        if (!beast::websocket::is_upgrade(req_)) return serveFile("terminal.html");
        dead_ = true;
        startConsoleWs(core_, std::move(stream_), std::move(req_), std::move(r.console));
        finish();
    }

    void apiCommand() {
        auto body = nlohmann::json::parse(req_.body(), nullptr, false);
        std::string command, ns;
        if (body.is_discarded() || !body.is_object() || !body.contains("command") ||
            !body["command"].is_string() ||
            (body.contains("namespace") && !body["namespace"].is_string())) {
            return send(http::status::bad_request,
                        "expected a JSON object {\"command\": string, \"namespace\": string}\n");
        }
        command = body["command"].get<std::string>();
        if (body.contains("namespace")) ns = body["namespace"].get<std::string>();
        std::weak_ptr<HttpSession> weak = shared_from_this();
        asio::io_context* io = &core_->io;
        Executor* exec = &core_->backend.exec;
        std::string who = this->who();
        bool queued = core_->backend.post([weak, io, exec, command, ns, who] {
            Session session;
            session.name = who;
            CommandResult r = runClientCommand(*exec, session, command, ns);
            nlohmann::ordered_json j = {{"error", r.error}, {"text", r.text}};
            std::string text = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
            asio::post(*io, [weak, text = std::move(text)]() mutable {
                if (auto s = weak.lock()) s->sendJson(std::move(text));
            });
        });
        if (!queued) send(http::status::service_unavailable, "herd is shutting down\n", false);
    }

    // GET /api/vms?filter=&sort=&order=&offset=&count=: one window of the
    // VM table, as the page's WebSocket gets it ({"type":"vms",...}), built
    // fresh on the command thread.
    void apiVms(TableQuery q) {
        std::weak_ptr<HttpSession> weak = shared_from_this();
        asio::io_context* io = &core_->io;
        Herd* herd = &core_->backend.herd;
        Executor* exec = &core_->backend.exec;
        auto sh = core_->shared;
        bool queued = core_->backend.post([weak, io, herd, exec, sh, q = std::move(q)] {
            std::string text = tableSlice(sh->builder.build(*herd, *exec), q);
            asio::post(*io, [weak, text = std::move(text)]() mutable {
                if (auto s = weak.lock()) s->sendJson(std::move(text));
            });
        });
        if (!queued) send(http::status::service_unavailable, "herd is shutting down\n", false);
    }

    void serveFile(const std::string& rel) {
        auto data = readServed(core_->root, rel);
        if (!data) return send(http::status::not_found, "not found\n");
        send(http::status::ok, std::move(*data), true, contentType(rel));
    }

    void notAllowed(const char* allow) {
        auto res = makeResponse(http::status::method_not_allowed, "method not allowed\n");
        res->set(http::field::allow, allow);
        write(std::move(res));
    }

    void upgradeRequired() {
        auto res = makeResponse(http::status::upgrade_required, "expected a WebSocket upgrade\n");
        res->set(http::field::upgrade, "websocket");
        write(std::move(res));
    }

    void redirect(const std::string& location) {
        auto res = makeResponse(http::status::moved_permanently, "moved to " + location + "\n");
        res->set(http::field::location, location);
        write(std::move(res));
    }

    void sendJson(std::string body) {
        if (dead_) return finish();
        send(http::status::ok, std::move(body), true, "application/json");
    }

    using Response = http::response<http::string_body>;

    std::shared_ptr<Response> makeResponse(http::status st, std::string body,
                                           const std::string& type = "text/plain; charset=utf-8") {
        auto res = std::make_shared<Response>(st, req_.version() ? req_.version() : 11);
        res->set(http::field::server, "herd");
        res->set(http::field::content_type, type);
        res->set(http::field::cache_control, "no-cache");
        if (!set_cookie_.empty()) res->set(http::field::set_cookie, set_cookie_);
        res->keep_alive(req_.keep_alive());
        res->body() = std::move(body);
        res->prepare_payload();
        return res;
    }

    void send(http::status st, std::string body, bool keep = true,
              const std::string& type = "text/plain; charset=utf-8") {
        auto res = makeResponse(st, std::move(body), type);
        if (!keep) res->keep_alive(false);
        write(std::move(res));
    }

    void write(std::shared_ptr<Response> res) {
        if (dead_) return finish();
        res_ = std::move(res);
        stream_.expires_after(kHttpIdle);
        http::async_write(
            stream_, *res_, [self = shared_from_this()](beast::error_code ec, size_t) {
                if (ec || !self->res_->keep_alive()) {
                    beast::error_code ignored;
                    self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                    self->kill();
                    return self->finish();
                }
                self->res_.reset();
                self->doRead();
            });
    }

    void finish() {
        if (finished_) return;
        finished_ = true;
        core_->forget(id_);
    }

    beast::tcp_stream stream_;
    beast::flat_buffer buf_;
    std::optional<http::request_parser<http::string_body>> parser_;
    Request req_;
    std::string raw_query_;
    std::string set_cookie_;
    std::shared_ptr<Response> res_;
    bool dead_ = false;
    bool finished_ = false;
    bool reading_headers_ = false;
};

// The `web` command's controls: run on the io thread, waited for here.
class Control : public WebControl {
  public:
    Control(std::weak_ptr<Core> core, asio::io_context& io) : core_(std::move(core)), io_(io) {}

    std::string status() override {
        auto c = core_.lock();
        if (!c) return "web server not running";
        std::lock_guard lock(c->shared->mu);
        if (c->shared->url.empty()) return "web server not running";
        return "listening on " + c->shared->url + "?token=" + c->shared->token + "\ntoken " +
               c->shared->token + "\n(the address is in " + c->url_file + ")";
    }

    Result<std::string> start(const std::string& addr) override {
        auto r = onIo<Result<void>>([addr](Core& c) { return c.listen(addr); });
        if (!r.ok()) return r.error();
        return status();
    }

    Result<void> stop() override {
        return onIo<Result<void>>([](Core& c) -> Result<void> {
            if (!c.listening) return Error::msg("web server not running");
            c.stop();
            return Ok();
        });
    }

  private:
    template <typename T>
    T onIo(std::function<T(Core&)> fn) {
        auto done = std::make_shared<std::promise<T>>();
        auto fut = done->get_future();
        // 0: queued, 1: running, 2: given up. A job that runs after the caller
        // gave up must do nothing (e.g. listen after `web` reported an error).
        auto state = std::make_shared<std::atomic<int>>(0);
        asio::post(io_, [weak = core_, fn, done, state] {
            int queued = 0;
            if (!state->compare_exchange_strong(queued, 1)) return;
            if (auto c = weak.lock()) {
                done->set_value(fn(*c));
            } else {
                done->set_value(Error::msg("web server gone"));
            }
        });
        if (fut.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
            int queued = 0;
            if (state->compare_exchange_strong(queued, 2)) {
                return Error::msg("web server did not answer");
            }
            // It started meanwhile: its answer is the truth.
        }
        return fut.get();
    }

    std::weak_ptr<Core> core_;
    asio::io_context& io_;
};

}  // namespace

Core::Core(asio::io_context& io_ctx, Backend b, std::string root_dir, std::string tok,
           std::string url_path)
    : io(io_ctx),
      backend(std::move(b)),
      root(std::move(root_dir)),
      token(std::move(tok)),
      url_file(std::move(url_path)),
      acceptor(io_ctx),
      refresh(io_ctx),
      grace_timer(io_ctx),
      accept_retry(io_ctx) {}

Result<void> Core::listen(const std::string& addr) {
    if (listening) {
        std::lock_guard lock(shared->mu);
        return Error::msg("web server already running on " + shared->url);
    }
    auto la = parseListenAddr(addr);
    if (!la.ok()) return la.error();
    if (!validToken(token)) {
        return Error::msg("web: invalid token: expected 1 to 128 characters of [A-Za-z0-9._~-]");
    }
    boost::system::error_code ec;
    auto ip = asio::ip::make_address(la->host == "localhost" ? "127.0.0.1" : la->host, ec);
    if (ec) return Error::msg(fmt::format("web address `{}`: bad address `{}`", addr, la->host));
    tcp::endpoint ep(ip, la->port);
    acceptor.open(ep.protocol(), ec);
    if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(ep, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        boost::system::error_code ignored;
        acceptor.close(ignored);
        return Error::sys(ec.value(), "listen on", addr);
    }
    listening = true;
    stopping = false;
    auto local = acceptor.local_endpoint(ec);
    listen_host = la->host;
    port = local.port();
    std::string url = fmt::format("http://{}:{}/", hostForUrl(local, la->host), local.port());
    {
        std::lock_guard lock(shared->mu);
        shared->url = url;
        shared->token = token;
    }
    HERD_LOG(info, "web: listening on {}:{}", la->host, local.port());
    // Served anyway: the token is also printed and shown by `web`.
    if (auto r = writeSecretFile(url_file, url + "?token=" + token + "\n"); !r.ok()) {
        HERD_LOG(warn, "web: {}", r.error().text());
    }
    doAccept();
    return Ok();
}

void Core::doAccept() {
    acceptor.async_accept(
        [self = shared_from_this()](boost::system::error_code ec, tcp::socket sock) {
            if (ec == asio::error::operation_aborted || !self->listening) return;
            if (ec) {
                // Typically EMFILE: back off instead of spinning on the error.
                HERD_LOG(error, "web: accept: {}", ec.message());
                self->accept_retry.expires_after(std::chrono::milliseconds(100));
                self->accept_retry.async_wait([self](boost::system::error_code e) {
                    if (!e && self->listening) self->doAccept();
                });
                return;
            }
            if (self->sessions.size() >= kMaxConnections && !self->evictIdle()) {
                if (!self->full_logged) {
                    HERD_LOG(warn, "web: {} connections: refusing new ones", kMaxConnections);
                }
                self->full_logged = true;
                boost::system::error_code ignored;
                sock.close(ignored);
                return self->doAccept();
            }
            self->full_logged = false;
            auto s = std::make_shared<HttpSession>(self, self->next_id++, std::move(sock));
            self->add(s);
            s->start();
            self->doAccept();
        });
}

bool Core::evictIdle() {
    // The oldest first (ids grow): the likeliest to be an idle one.
    for (auto& [id, s] : sessions) {
        if (!s->evictable()) continue;
        auto keep = s;
        keep->kill();
        forget(keep->id());
        return true;
    }
    return false;
}

void Core::stop() {
    boost::system::error_code ec;
    acceptor.close(ec);
    accept_retry.cancel();
    if (listening) ::unlink(url_file.c_str());
    listening = false;
    {
        std::lock_guard lock(shared->mu);
        shared->url.clear();
        shared->token.clear();
    }
    refresh.cancel();
    refreshing = false;
    last_rows.reset();
    last_all.reset();
    std::vector<std::shared_ptr<SessionBase>> all;
    for (auto& [id, s] : sessions) all.push_back(s);
    for (auto& s : all) s->stop();
}

uint64_t Core::add(std::shared_ptr<SessionBase> s) {
    uint64_t id = s->id();
    sessions[id] = std::move(s);
    return id;
}

void Core::forget(uint64_t id) {
    // The session may be running this call: keep it alive until it returns.
    auto it = sessions.find(id);
    if (it == sessions.end()) return;
    auto keep = std::move(it->second);
    sessions.erase(it);
    asio::post(io, [keep = std::move(keep)] {});
}

void Core::requestTable(bool with_top) {
    if (shared->table_clients.load() == 0) return;
    if (with_top) shared->want_top = true;
    if (shared->table_queued.exchange(true)) return;
    std::weak_ptr<Core> weak = weak_from_this();
    auto sh = shared;
    asio::io_context* ctx = &io;
    Herd* herd = &backend.herd;
    Executor* exec = &backend.exec;
    bool queued = backend.post([weak, sh, ctx, herd, exec] {
        sh->table_queued = false;
        if (sh->table_clients.load() == 0) return;
        bool top = sh->want_top.exchange(false);
        auto rows = std::make_shared<const TableRows>(sh->builder.build(*herd, *exec));
        asio::post(*ctx, [weak, rows] {
            if (auto c = weak.lock()) c->broadcast(rows);
        });
        // Shown with the next table (the next refresh, or a state change).
        if (top) sh->builder.refreshCpu(*herd, *exec);
    });
    if (!queued) shared->table_queued = false;
}

void Core::tableJoin(uint64_t id, std::weak_ptr<TableWs> ws) {
    tables[id] = std::move(ws);
    shared->table_clients = static_cast<int>(tables.size());
    if (!refreshing) {
        refreshing = true;
        tick();
    } else {
        requestTable(false);
    }
}

void Core::tableLeave(uint64_t id) {
    tables.erase(id);
    shared->table_clients = static_cast<int>(tables.size());
}

void Core::tick() {
    if (tables.empty() || !listening) {
        refreshing = false;
        return;
    }
    auto now = std::chrono::steady_clock::now();
    bool top = now - last_top >= kTopRefresh;
    if (top) last_top = now;
    requestTable(top);
    refresh.expires_after(kTableRefresh);
    refresh.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
        if (ec) return;
        if (auto c = weak.lock()) c->tick();
    });
}

WebServer::WebServer(asio::io_context& io, Backend backend, std::string root, std::string token,
                     std::string url_file)
    : core_(std::make_shared<Core>(io, std::move(backend), std::move(root), std::move(token),
                                   std::move(url_file))) {
    // A killed daemon's file names a server that is gone.
    ::unlink(core_->url_file.c_str());
}

WebServer::~WebServer() {
    // After the io thread: break the session <-> core cycles.
    auto sessions = std::move(core_->sessions);
    sessions.clear();
    core_->tables.clear();
}

Result<void> WebServer::listen(const std::string& addr) {
    return core_->listen(addr);
}

void WebServer::stop() {
    core_->stop();
}

void WebServer::shutdown(std::chrono::milliseconds grace, std::function<void()> done) {
    core_->stopping = true;
    core_->stop();
    core_->on_shutdown = std::move(done);
    core_->pollShutdown(std::chrono::steady_clock::now() + grace);
}

void Core::pollShutdown(std::chrono::steady_clock::time_point deadline) {
    if (!sessions.empty() && std::chrono::steady_clock::now() < deadline) {
        grace_timer.expires_after(std::chrono::milliseconds(10));
        grace_timer.async_wait([self = shared_from_this(), deadline](boost::system::error_code) {
            self->pollShutdown(deadline);
        });
        return;
    }
    std::vector<std::shared_ptr<SessionBase>> left;
    for (auto& [id, s] : sessions) left.push_back(s);
    for (auto& s : left) s->kill();
    if (auto done = std::move(on_shutdown)) {
        on_shutdown = nullptr;
        done();
    }
}

std::string WebServer::url() const {
    std::lock_guard lock(core_->shared->mu);
    return core_->shared->url;
}

std::string WebServer::token() const {
    std::lock_guard lock(core_->shared->mu);
    return core_->shared->token;
}

void WebServer::changed() {
    core_->requestTable(false);
}

std::shared_ptr<WebControl> WebServer::control() {
    return std::make_shared<Control>(core_, core_->io);
}

}  // namespace herd::web
