// One download at a time on a private io_context: each network step is an
// asynchronous operation with a deadline (beast::tcp_stream's timeout), run
// to completion before the next one starts, so the code reads in order while
// every step can time out or be cancelled from another thread.
#include "runtime/fetch.h"

#include <fcntl.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/version.hpp>
#include <mutex>
#include <optional>

#include "base/log.h"

namespace herd::runtime {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

struct FetchCanceller::State {
    std::mutex mu;
    bool cancelled = false;
    asio::io_context* ctx = nullptr;  // the running download's, to stop it
};

FetchCanceller::FetchCanceller() : state_(std::make_shared<State>()) {}

void FetchCanceller::cancel() {
    std::lock_guard lock(state_->mu);
    state_->cancelled = true;
    if (state_->ctx) state_->ctx->stop();
}

bool FetchCanceller::cancelled() const {
    std::lock_guard lock(state_->mu);
    return state_->cancelled;
}

namespace {

int hexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

std::string sizeText(uint64_t n) {
    if (n >= (uint64_t{1} << 30) && n % (uint64_t{1} << 30) == 0) {
        return std::to_string(n >> 30) + " GiB";
    }
    if (n >= (uint64_t{1} << 20) && n % (uint64_t{1} << 20) == 0) {
        return std::to_string(n >> 20) + " MiB";
    }
    return std::to_string(n) + " bytes";
}

FetchResult failed(std::string reason, bool missing = false) {
    FetchResult r;
    r.missing = missing;
    r.reason = std::move(reason);
    return r;
}

// A Location header, resolved against the URL that answered with it.
Result<Url> resolveLocation(const Url& base, const std::string& loc) {
    const std::string l = lower(loc.substr(0, 8));
    if (l.rfind("http://", 0) == 0 || l.rfind("https://", 0) == 0) return parseUrl(loc);
    if (loc.find("://") != std::string::npos) {
        return Error::msg("redirect to `" + loc + "`: only http and https are followed");
    }
    std::string target;
    if (!loc.empty() && loc[0] == '/') {
        if (loc.size() > 1 && loc[1] == '/') return parseUrl(base.scheme + ":" + loc);
        target = loc;
    } else {
        std::string dir = base.target.substr(0, base.target.find('?'));
        dir = dir.substr(0, dir.rfind('/') + 1);
        target = dir + loc;
    }
    std::string host = base.host.find(':') != std::string::npos ? "[" + base.host + "]" : base.host;
    return parseUrl(base.scheme + "://" + host + ":" + base.port + target);
}

}  // namespace

Result<Url> parseUrl(std::string_view text) {
    Url u;
    const auto sep = text.find("://");
    if (sep == std::string_view::npos)
        return Error::msg("not an absolute URL: `" + std::string(text) + "`");
    u.scheme = lower(text.substr(0, sep));
    if (u.scheme != "http" && u.scheme != "https") {
        return Error::msg("unsupported URL scheme `" + u.scheme + "` (http and https are)");
    }
    std::string_view rest = text.substr(sep + 3);
    rest = rest.substr(0, rest.find('#'));
    const auto path_at = rest.find_first_of("/?");
    std::string_view authority = rest.substr(0, path_at);
    std::string_view target = path_at == std::string_view::npos ? "/" : rest.substr(path_at);
    if (auto at = authority.rfind('@'); at != std::string_view::npos)
        authority = authority.substr(at + 1);
    std::string_view port;
    if (!authority.empty() && authority[0] == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos)
            return Error::msg("bad IPv6 host in `" + std::string(text) + "`");
        u.host = std::string(authority.substr(1, close - 1));
        std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after[0] != ':') return Error::msg("bad host in `" + std::string(text) + "`");
            port = after.substr(1);
        }
    } else {
        const auto colon = authority.rfind(':');
        u.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) port = authority.substr(colon + 1);
    }
    if (u.host.empty()) return Error::msg("no host in `" + std::string(text) + "`");
    for (char c : port) {
        if (c < '0' || c > '9') return Error::msg("bad port in `" + std::string(text) + "`");
    }
    if (port.size() > 5 || (!port.empty() && std::stoi(std::string(port)) > 65535)) {
        return Error::msg("bad port in `" + std::string(text) + "`");
    }
    u.port = port.empty() ? (u.scheme == "https" ? "443" : "80") : std::string(port);
    if (target[0] == '?')
        u.target = "/" + std::string(target);
    else
        u.target = std::string(target);
    for (char c : u.target) {
        if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
            return Error::msg("bad character in the path of `" + std::string(text) + "`");
        }
    }
    const std::string_view raw_path = std::string_view(u.target).substr(0, u.target.find('?'));
    for (size_t i = 0; i < raw_path.size(); ++i) {
        if (raw_path[i] == '%') {
            if (i + 2 >= raw_path.size()) {
                return Error::msg("bad escape in the path of `" + std::string(text) + "`");
            }
            const int hi = hexValue(raw_path[i + 1]);
            const int lo = hexValue(raw_path[i + 2]);
            if (hi < 0 || lo < 0)
                return Error::msg("bad escape in the path of `" + std::string(text) + "`");
            const char c = static_cast<char>(hi * 16 + lo);
            if (c == '\0') return Error::msg("NUL byte in the path of `" + std::string(text) + "`");
            u.path += c;
            i += 2;
        } else {
            u.path += raw_path[i];
        }
    }
    return u;
}

class Fetch {
  public:
    Fetch(const FetchLimits& limits, FetchCanceller* cancel) : limits_(limits), cancel_(cancel) {
        if (cancel_) {
            std::lock_guard lock(cancel_->state_->mu);
            cancel_->state_->ctx = &ctx_;
        }
    }
    ~Fetch() {
        if (cancel_) {
            std::lock_guard lock(cancel_->state_->mu);
            cancel_->state_->ctx = nullptr;
        }
    }
    Fetch(const Fetch&) = delete;
    Fetch& operator=(const Fetch&) = delete;

    FetchResult run(const std::string& url, int out_fd, const std::string& out_path);

  private:
    struct Answer {
        int status = 0;
        std::string location;
    };

    // Runs one asynchronous operation to its end; operation_aborted when the
    // download was cancelled meanwhile.
    template <typename Start>
    beast::error_code step(Start&& start) {
        beast::error_code result = asio::error::operation_aborted;
        bool done = false;
        start([&](beast::error_code ec, auto&&...) {
            result = ec;
            done = true;
        });
        ctx_.restart();
        if (!stopped()) ctx_.run();
        if (!done || stopped()) return asio::error::operation_aborted;
        return result;
    }

    bool stopped() const { return cancel_ && cancel_->cancelled(); }

    std::string failure(const char* what, const Url& u, beast::error_code ec) const {
        if (ec == beast::error::timeout) {
            return fmt::format("{} {}:{}: timed out after {} s", what, u.host, u.port,
                               limits_.timeout.count());
        }
        if (ec == asio::error::operation_aborted) return "cancelled: the daemon is stopping";
        return fmt::format("{} {}:{}: {}", what, u.host, u.port, ec.message());
    }

    template <typename Stream>
    std::optional<FetchResult> exchange(Stream& stream, const Url& u, Answer& answer, int out_fd,
                                        const std::string& out_path);

    std::optional<FetchResult> once(const Url& u, Answer& answer, int out_fd,
                                    const std::string& out_path);

    FetchLimits limits_;
    FetchCanceller* cancel_;
    asio::io_context ctx_;
};

template <typename Stream>
std::optional<FetchResult> Fetch::exchange(Stream& stream, const Url& u, Answer& answer, int out_fd,
                                           const std::string& out_path) {
    auto& tcp_layer = beast::get_lowest_layer(stream);
    http::request<http::empty_body> req{http::verb::get, u.target, 11};
    const bool default_port = u.port == (u.scheme == "https" ? "443" : "80");
    std::string host = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
    req.set(http::field::host, default_port ? host : host + ":" + u.port);
    req.set(http::field::user_agent, "herd");
    req.set(http::field::connection, "close");
    tcp_layer.expires_after(limits_.timeout);
    if (auto ec = step([&](auto h) { http::async_write(stream, req, h); })) {
        return failed(failure("send request to", u, ec));
    }

    beast::flat_buffer buf;
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(limits_.max_bytes);
    tcp_layer.expires_after(limits_.timeout);
    if (auto ec = step([&](auto h) { http::async_read_header(stream, buf, parser, h); })) {
        if (ec == http::error::body_limit) {
            return failed("body larger than the download limit of " + sizeText(limits_.max_bytes));
        }
        return failed(failure("read answer of", u, ec));
    }
    answer.status = static_cast<int>(parser.get().result_int());
    if (answer.status != 200) {
        answer.location = std::string(parser.get()[http::field::location]);
        return std::nullopt;
    }

    std::vector<char> chunk(64 * 1024);
    while (!parser.is_done()) {
        parser.get().body().data = chunk.data();
        parser.get().body().size = chunk.size();
        tcp_layer.expires_after(limits_.timeout);
        auto ec = step([&](auto h) { http::async_read(stream, buf, parser, h); });
        if (ec == http::error::need_buffer) ec = {};
        if (ec == http::error::body_limit) {
            return failed("body larger than the download limit of " + sizeText(limits_.max_bytes));
        }
        if (ec) return failed(failure("read body from", u, ec));
        const size_t n = chunk.size() - parser.get().body().size;
        if (auto w = writeAll(out_fd, std::string_view(chunk.data(), n), out_path); !w.ok()) {
            return failed(w.error().text());
        }
    }
    FetchResult ok;
    ok.ok = true;
    return ok;
}

std::optional<FetchResult> Fetch::once(const Url& u, Answer& answer, int out_fd,
                                       const std::string& out_path) {
    tcp::resolver resolver(ctx_);
    tcp::resolver::results_type endpoints;
    auto ec = step([&](auto h) {
        resolver.async_resolve(
            u.host, u.port,
            [&endpoints, h](beast::error_code e, tcp::resolver::results_type r) mutable {
                endpoints = std::move(r);
                h(e);
            });
    });
    if (ec) return failed(failure("resolve", u, ec), true);

    if (u.scheme == "http") {
        beast::tcp_stream stream(ctx_);
        stream.expires_after(limits_.timeout);
        if (auto e = step([&](auto h) { stream.async_connect(endpoints, h); })) {
            return failed(failure("connect to", u, e), true);
        }
        return exchange(stream, u, answer, out_fd, out_path);
    }

    ssl::context tls(ssl::context::tls_client);
    tls.set_default_verify_paths();  // the system store; SSL_CERT_FILE and SSL_CERT_DIR apply
    tls.set_verify_mode(ssl::verify_peer);
    beast::ssl_stream<beast::tcp_stream> stream(ctx_, tls);
    stream.set_verify_callback(ssl::host_name_verification(u.host));
    if (!SSL_set_tlsext_host_name(stream.native_handle(), u.host.c_str())) {
        return failed("set TLS server name " + u.host);
    }
    auto& tcp_layer = beast::get_lowest_layer(stream);
    tcp_layer.expires_after(limits_.timeout);
    if (auto e = step([&](auto h) { tcp_layer.async_connect(endpoints, h); })) {
        return failed(failure("connect to", u, e), true);
    }
    tcp_layer.expires_after(limits_.timeout);
    if (auto e = step([&](auto h) { stream.async_handshake(ssl::stream_base::client, h); })) {
        return failed(failure("TLS handshake with", u, e));
    }
    return exchange(stream, u, answer, out_fd, out_path);
}

FetchResult Fetch::run(const std::string& url, int out_fd, const std::string& out_path) {
    auto u = parseUrl(url);
    if (!u.ok()) return failed(u.error().text());
    Url cur = *u;
    for (int hop = 0;; ++hop) {
        Answer answer;
        if (auto r = once(cur, answer, out_fd, out_path)) return *r;
        const int s = answer.status;
        const bool redirect = s == 301 || s == 302 || s == 303 || s == 307 || s == 308;
        if (!redirect) {
            return failed(fmt::format("{}://{}:{}{}: HTTP status {}", cur.scheme, cur.host,
                                      cur.port, cur.target, s),
                          s == 404 || s == 410);
        }
        if (hop >= limits_.max_redirects) {
            return failed(fmt::format("more than {} redirects", limits_.max_redirects));
        }
        if (answer.location.empty())
            return failed(fmt::format("redirect ({}) without a Location", s));
        auto next = resolveLocation(cur, answer.location);
        if (!next.ok()) return failed(next.error().text());
        if (cur.scheme == "https" && next->scheme == "http") {
            return failed("redirect from https to http `" + answer.location + "` refused");
        }
        cur = *next;
    }
}

FetchResult download(const std::string& url, const Dir& dir, const std::string& rel,
                     const FetchLimits& limits, FetchCanceller* cancel) {
    std::string parent_rel;
    std::string leaf = rel;
    if (auto slash = rel.rfind('/'); slash != std::string::npos) {
        parent_rel = rel.substr(0, slash);
        leaf = rel.substr(slash + 1);
    }
    if (leaf.empty() || leaf == "." || leaf == "..") return failed("no file name in `" + rel + "`");
    Result<Dir> parent = Error::msg("");
    if (parent_rel.empty()) {
        unique_fd dup(::fcntl(dir.fd(), F_DUPFD_CLOEXEC, 0));
        if (!dup) return failed(Error::sysNow("dup", dir.path()).text());
        parent = Dir(std::move(dup), dir.path());
    } else {
        parent = dir.openDir(parent_rel);
    }
    if (!parent.ok()) return failed(parent.error().text());

    static std::atomic<unsigned> counter{0};
    const std::string tmp =
        fmt::format(".{}.download.{}.{}", leaf, ::getpid(), counter.fetch_add(1));
    const std::string tmp_path = parent->pathOf(tmp);
    unique_fd fd(::openat(parent->fd(), tmp.c_str(),
                          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (!fd) return failed(Error::sysNow("create", tmp_path).text());

    FetchResult r;
    {
        Fetch f(limits, cancel);
        r = f.run(url, fd.get(), tmp_path);
    }
    if (r.ok && ::fsync(fd.get()) != 0) r = failed(Error::sysNow("fsync", tmp_path).text());
    if (r.ok && ::renameat(parent->fd(), tmp.c_str(), parent->fd(), leaf.c_str()) != 0) {
        r = failed(Error::sysNow("rename", parent->pathOf(leaf)).text());
    }
    if (!r.ok) {
        ::unlinkat(parent->fd(), tmp.c_str(), 0);
        logf(LogLevel::info, "download {} into {}: {}", url, dir.pathOf(rel), r.reason);
    }
    return r;
}

}  // namespace herd::runtime
