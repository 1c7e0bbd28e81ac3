// The etcd client of etcd.h. Layout of this file:
//   bytes and numbers: base64, prefix ends, printable keys, strict integers;
//   endpoints: parsing and resolving http://host:port;
//   one exchange: a POST on one endpoint, each network step an asynchronous
//     operation with a deadline (beast::tcp_stream's), run to its end on a
//     private io_context before the next starts, so the code reads in order;
//   a round trip: exchanges over the endpoints until one answers, deciding
//     what may be sent again;
//   the calls: JSON requests and answers of /v3/kv/*, /v3/lease/*;
//   the lease keeper's and the watch's threads;
//   the allocation helpers.
#include "cluster/etcd.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>
#include <unordered_map>

namespace herd::cluster {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------
// Bytes and numbers

namespace {

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int b64Value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

// What etcd answered that is not what its gateway sends: turned into an
// EPROTO error naming the call.
struct ProtocolError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// A decimal int64 with nothing around it.
std::optional<int64_t> parseInt(std::string_view s) {
    int64_t v = 0;
    if (s.empty()) return std::nullopt;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
    return v;
}

// An int64 field as the gateway writes it: a decimal string (or a plain
// number); absent = 0, as proto3 leaves out zero values. INT64_MAX itself is
// refused: revisions are added one to, and no etcd gets near it.
int64_t i64(const json& obj, const char* field) {
    auto it = obj.find(field);
    if (it == obj.end() || it->is_null()) return 0;
    std::optional<int64_t> v;
    if (it->is_number_unsigned()) {
        if (it->get<uint64_t>() < static_cast<uint64_t>(INT64_MAX)) v = it->get<int64_t>();
    } else if (it->is_number_integer()) {
        v = it->get<int64_t>();
    } else if (it->is_string()) {
        v = parseInt(it->get_ref<const std::string&>());
    }
    if (v && *v != INT64_MAX) return *v;
    throw ProtocolError(fmt::format("field `{}` is not an integer etcd would send", field));
}

bool boolean(const json& obj, const char* field) {
    auto it = obj.find(field);
    if (it == obj.end() || it->is_null()) return false;
    if (!it->is_boolean()) throw ProtocolError(fmt::format("field `{}` is not a boolean", field));
    return it->get<bool>();
}

// A bytes field: base64 in a string; absent = empty.
std::string bytes(const json& obj, const char* field) {
    auto it = obj.find(field);
    if (it == obj.end() || it->is_null()) return {};
    if (!it->is_string()) throw ProtocolError(fmt::format("field `{}` is not a string", field));
    auto v = base64Decode(it->get_ref<const std::string&>());
    if (!v) throw ProtocolError(fmt::format("field `{}` is not base64", field));
    return std::move(*v);
}

std::string text(const json& obj, const char* field) {
    auto it = obj.find(field);
    if (it == obj.end() || !it->is_string()) return {};
    return it->get<std::string>();
}

const json& object(const json& obj, const char* field) {
    static const json empty = json::object();
    auto it = obj.find(field);
    if (it == obj.end() || it->is_null()) return empty;
    if (!it->is_object()) throw ProtocolError(fmt::format("field `{}` is not an object", field));
    return *it;
}

const json& array(const json& obj, const char* field) {
    static const json empty = json::array();
    auto it = obj.find(field);
    if (it == obj.end() || it->is_null()) return empty;
    if (!it->is_array()) throw ProtocolError(fmt::format("field `{}` is not an array", field));
    return *it;
}

KeyValue parseKv(const json& j) {
    if (!j.is_object()) throw ProtocolError("a key-value is not an object");
    KeyValue kv;
    kv.key = bytes(j, "key");
    kv.value = bytes(j, "value");
    kv.create_revision = i64(j, "create_revision");
    kv.mod_revision = i64(j, "mod_revision");
    kv.version = i64(j, "version");
    kv.lease = i64(j, "lease");
    return kv;
}

std::vector<KeyValue> parseKvs(const json& obj, const char* field) {
    std::vector<KeyValue> out;
    for (const auto& e : array(obj, field)) out.push_back(parseKv(e));
    return out;
}

int64_t headerRevision(const json& j) {
    return i64(object(j, "header"), "revision");
}

GetResult parseRange(const json& j) {
    GetResult r;
    r.kvs = parseKvs(j, "kvs");
    r.revision = headerRevision(j);
    r.count = i64(j, "count");
    r.more = boolean(j, "more");
    return r;
}

std::string num(int64_t v) {
    return std::to_string(v);
}

// The start and end of what a key names: one key, or every key under it.
void setRange(json& j, std::string_view key, bool prefix) {
    if (prefix && key.empty()) {
        j["key"] = base64Encode(std::string_view("\0", 1));
        j["range_end"] = base64Encode(std::string_view("\0", 1));
        return;
    }
    j["key"] = base64Encode(key);
    if (prefix) j["range_end"] = base64Encode(prefixEnd(key));
}

std::string describe(std::string_view key, bool prefix) {
    std::string d = "`" + printableKey(key) + "`";
    if (prefix) d += " (prefix)";
    return d;
}

}  // namespace

std::string base64Encode(std::string_view in) {
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    size_t i = 0;
    for (; i + 3 <= in.size(); i += 3) {
        const uint32_t v = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8) |
                           uint32_t(uint8_t(in[i + 2]));
        out += kB64[(v >> 18) & 63];
        out += kB64[(v >> 12) & 63];
        out += kB64[(v >> 6) & 63];
        out += kB64[v & 63];
    }
    if (const size_t rest = in.size() - i; rest > 0) {
        uint32_t v = uint32_t(uint8_t(in[i])) << 16;
        if (rest == 2) v |= uint32_t(uint8_t(in[i + 1])) << 8;
        out += kB64[(v >> 18) & 63];
        out += kB64[(v >> 12) & 63];
        out += rest == 2 ? kB64[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

std::optional<std::string> base64Decode(std::string_view in) {
    if (in.size() % 4 != 0) return std::nullopt;
    std::string out;
    out.reserve(in.size() / 4 * 3);
    for (size_t i = 0; i < in.size(); i += 4) {
        const bool last = i + 4 == in.size();
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; ++k) {
            const char c = in[i + k];
            if (c == '=' && last && k >= 2) {
                v[k] = 0;
                ++pad;
                continue;
            }
            if (pad > 0) return std::nullopt;  // data after padding
            v[k] = b64Value(c);
            if (v[k] < 0) return std::nullopt;
        }
        const uint32_t w = (uint32_t(v[0]) << 18) | (uint32_t(v[1]) << 12) | (uint32_t(v[2]) << 6) |
                           uint32_t(v[3]);
        out += char((w >> 16) & 0xff);
        if (pad < 2) out += char((w >> 8) & 0xff);
        if (pad < 1) out += char(w & 0xff);
    }
    return out;
}

std::string prefixEnd(std::string_view prefix) {
    std::string end(prefix);
    while (!end.empty()) {
        auto& c = reinterpret_cast<unsigned char&>(end.back());
        if (c < 0xff) {
            ++c;
            return end;
        }
        end.pop_back();
    }
    return std::string("\0", 1);
}

std::string printableKey(std::string_view key) {
    std::string out;
    for (unsigned char c : key) {
        if (out.size() >= 200) {
            out += "...";
            break;
        }
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out += char(c);
        } else {
            out += fmt::format("\\x{:02x}", c);
        }
    }
    return out;
}

Compare Compare::valueIs(std::string key, Op op, std::string v) {
    Compare c;
    c.key = std::move(key);
    c.target = Target::Value;
    c.op = op;
    c.value = std::move(v);
    return c;
}

namespace {
Compare numberCompare(std::string key, Compare::Target t, Compare::Op op, int64_t n) {
    Compare c;
    c.key = std::move(key);
    c.target = t;
    c.op = op;
    c.number = n;
    return c;
}
}  // namespace

Compare Compare::createRevisionIs(std::string key, Op op, int64_t n) {
    return numberCompare(std::move(key), Target::CreateRevision, op, n);
}
Compare Compare::modRevisionIs(std::string key, Op op, int64_t n) {
    return numberCompare(std::move(key), Target::ModRevision, op, n);
}
Compare Compare::versionIs(std::string key, Op op, int64_t n) {
    return numberCompare(std::move(key), Target::Version, op, n);
}
Compare Compare::leaseIs(std::string key, Op op, int64_t id) {
    return numberCompare(std::move(key), Target::Lease, op, id);
}

TxnOp TxnOp::get(std::string key, bool prefix) {
    TxnOp o;
    o.kind = Kind::Get;
    o.key = std::move(key);
    o.prefix = prefix;
    return o;
}
TxnOp TxnOp::put(std::string key, std::string value, int64_t lease) {
    TxnOp o;
    o.kind = Kind::Put;
    o.key = std::move(key);
    o.value = std::move(value);
    o.lease = lease;
    return o;
}
TxnOp TxnOp::del(std::string key, bool prefix) {
    TxnOp o;
    o.kind = Kind::Delete;
    o.key = std::move(key);
    o.prefix = prefix;
    return o;
}

// ---------------------------------------------------------------------------
// Endpoints and the client's shared state

namespace {

struct Endpoint {
    std::string url;   // http://host:port, for messages
    std::string host;  // the Host header
    std::vector<tcp::endpoint> addrs;
};

struct IdleConn {
    int fd = -1;
    tcp protocol = tcp::v4();
    Clock::time_point since;
};

constexpr size_t kMaxIdlePerEndpoint = 32;
constexpr auto kMaxIdleAge = std::chrono::seconds(30);

Result<Endpoint> parseEndpoint(std::string_view text) {
    const std::string given(text);
    std::string_view rest = text;
    if (rest.rfind("http://", 0) == 0) {
        rest.remove_prefix(7);
    } else if (rest.find("://") != std::string_view::npos) {
        return Error::msg("etcd endpoint `" + given +
                          "`: only http:// endpoints are supported (no TLS)");
    }
    if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
    if (rest.find('/') != std::string_view::npos) {
        return Error::msg("etcd endpoint `" + given + "`: a URL with a path is not an endpoint");
    }
    std::string host;
    std::string port = "2379";
    if (!rest.empty() && rest.front() == '[') {
        const auto close = rest.find(']');
        if (close == std::string_view::npos) {
            return Error::msg("etcd endpoint `" + given + "`: unterminated `[`");
        }
        host = std::string(rest.substr(1, close - 1));
        rest.remove_prefix(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') return Error::msg("etcd endpoint `" + given + "`: bad port");
            port = std::string(rest.substr(1));
        }
    } else {
        const auto colon = rest.rfind(':');
        host = std::string(rest.substr(0, colon));
        if (colon != std::string_view::npos) port = std::string(rest.substr(colon + 1));
    }
    const auto p = parseInt(port);
    if (host.empty() || !p || *p < 1 || *p > 65535) {
        return Error::msg("etcd endpoint `" + given + "`: expected http://host:port");
    }
    Endpoint ep;
    const bool v6 = host.find(':') != std::string::npos;
    ep.host = (v6 ? "[" + host + "]" : host) + ":" + port;
    ep.url = "http://" + ep.host;
    boost::system::error_code ec;
    const auto addr = asio::ip::make_address(host, ec);
    if (!ec) {
        ep.addrs.emplace_back(addr, static_cast<uint16_t>(*p));
        return ep;
    }
    asio::io_context ioc;
    tcp::resolver resolver(ioc);
    const auto found = resolver.resolve(host, port, ec);
    if (ec)
        return Error::msg("etcd endpoint `" + given + "`: resolve " + host + ": " + ec.message());
    for (const auto& e : found) ep.addrs.push_back(e.endpoint());
    return ep;
}

}  // namespace

struct Client::Shared {
    ClientOptions opts;
    std::vector<Endpoint> eps;
    std::atomic<size_t> preferred{0};  // the endpoint that answered last

    std::mutex mu;
    std::vector<std::vector<IdleConn>> idle;  // per endpoint, newest last

    ~Shared() {
        for (auto& list : idle) {
            for (auto& c : list) ::close(c.fd);
        }
    }

    // An idle connection to endpoint `ep` that the server has not closed
    // (peeked: no end of stream, no stray bytes), or nullopt.
    std::optional<IdleConn> takeIdle(size_t ep) {
        std::lock_guard lock(mu);
        auto& list = idle[ep];
        while (!list.empty()) {
            IdleConn c = list.back();
            list.pop_back();
            char b;
            const ssize_t n = ::recv(c.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
            const bool quiet = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
            if (quiet && Clock::now() - c.since < kMaxIdleAge) return c;
            ::close(c.fd);
        }
        return std::nullopt;
    }

    void putIdle(size_t ep, IdleConn c) {
        std::lock_guard lock(mu);
        auto& list = idle[ep];
        if (list.size() >= kMaxIdlePerEndpoint) {
            ::close(list.front().fd);
            list.erase(list.begin());
        }
        list.push_back(c);
    }

    // Counters this process wrote: key -> (value, mod revision) as written.
    std::mutex counters_mu;
    std::unordered_map<std::string, std::pair<int64_t, int64_t>> counters;

    std::optional<std::pair<int64_t, int64_t>> knownCounter(const std::string& key) {
        std::lock_guard lock(counters_mu);
        auto it = counters.find(key);
        if (it == counters.end()) return std::nullopt;
        return it->second;
    }

    void rememberCounter(const std::string& key, std::pair<int64_t, int64_t> v) {
        std::lock_guard lock(counters_mu);
        if (counters.size() >= 1024 && !counters.count(key)) counters.clear();
        counters[key] = v;
    }

    Clock::time_point deadline(Millis t) const {
        return Clock::now() + (t.count() > 0 ? t : opts.timeout);
    }
};

Result<Client> Client::create(std::string_view endpoints, ClientOptions options) {
    auto s = std::make_shared<Shared>();
    s->opts = options;
    size_t start = 0;
    while (start <= endpoints.size()) {
        auto comma = endpoints.find(',', start);
        if (comma == std::string_view::npos) comma = endpoints.size();
        std::string_view one = endpoints.substr(start, comma - start);
        while (!one.empty() && one.front() == ' ') one.remove_prefix(1);
        while (!one.empty() && one.back() == ' ') one.remove_suffix(1);
        if (!one.empty()) {
            auto ep = parseEndpoint(one);
            if (!ep) return ep.error();
            s->eps.push_back(std::move(*ep));
        }
        start = comma + 1;
    }
    if (s->eps.empty())
        return Error::msg("etcd: no endpoint given (expected http://host:port,...)");
    s->idle.resize(s->eps.size());
    return Client(std::move(s));
}

std::vector<std::string> Client::endpoints() const {
    std::vector<std::string> out;
    for (const auto& e : s_->eps) out.push_back(e.url);
    return out;
}

// ---------------------------------------------------------------------------
// One exchange on one endpoint

namespace {

// Runs one asynchronous operation on `ioc` to its end.
template <typename Start>
beast::error_code step(asio::io_context& ioc, Start&& start) {
    beast::error_code result = asio::error::operation_aborted;
    start([&](beast::error_code ec, auto&&...) { result = ec; });
    ioc.restart();
    ioc.run();
    return result;
}

std::string errnoText(const beast::error_code& ec) {
    if (ec.category() == boost::system::system_category()) {
        return ec.message() + " (" + errnoName(ec.value()) + ")";
    }
    return ec.message();
}

long long msLeft(Clock::time_point deadline) {
    return std::max<long long>(0,
                               std::chrono::duration_cast<Millis>(deadline - Clock::now()).count());
}

// How an exchange ended.
enum class Outcome {
    Answered,     // etcd answered 200 with JSON: `answer`
    EtcdError,    // etcd answered with an error: `grpc_code`, `why` = its message
    Unreachable,  // nothing was sent (connect or write failed)
    Stale,        // a reused idle connection was closed under us, no answer byte: the
                  // server had closed it idle, before reading the request (etcd's Go
                  // server closes keep-alive connections only between requests), so
                  // the request is sent again on a new connection
    Lost,         // sent, no (complete) answer: the request may have run
    Protocol,     // an answer that is not etcd's
    Timeout,      // the deadline passed
};

struct Exchange {
    Outcome outcome = Outcome::Answered;
    bool sent = false;  // the whole request was written
    int err = 0;        // errno for the Error
    int grpc_code = 0;
    std::string why;
    json answer;
};

// The message of an error answer: {"error": "...", "message": "...",
// "code": N} (or, on streams, {"error": {"message": ..., "grpc_code": N}}).
bool etcdErrorOf(const json& j, std::string& message, int& code) {
    if (!j.is_object()) return false;
    auto it = j.find("error");
    if (it == j.end()) return false;
    if (it->is_object()) {
        message = text(*it, "message");
        auto c = it->find("grpc_code");
        code = c != it->end() && c->is_number_integer() ? c->get<int>() : 0;
    } else {
        message = text(j, "message");
        if (message.empty()) message = text(j, "error");
        auto c = j.find("code");
        code = c != j.end() && c->is_number_integer() ? c->get<int>() : 0;
    }
    if (message.empty()) message = "error answer without a message";
    return true;
}

// The first bytes of an answer that is not JSON, printable, for messages.
std::string excerpt(std::string_view body) {
    return printableKey(body.substr(0, 60));
}

void setSocketOptions(tcp::socket& s) {
    boost::system::error_code ec;
    s.set_option(tcp::no_delay(true), ec);
}

Exchange exchangeOnce(Client::Shared& s, size_t ep_index, const std::string& path,
                      const std::string& body, Clock::time_point deadline, bool reuse) {
    const Endpoint& ep = s.eps[ep_index];
    Exchange x;
    asio::io_context ioc;
    beast::tcp_stream stream(ioc);
    bool reused = false;
    if (reuse) {
        if (auto c = s.takeIdle(ep_index)) {
            boost::system::error_code ec;
            stream.socket().assign(c->protocol, c->fd, ec);
            if (ec) {
                ::close(c->fd);
            } else {
                reused = true;
            }
        }
    }
    if (!reused) {
        const auto connect_by = std::min(deadline, Clock::now() + s.opts.connect_timeout);
        stream.expires_at(connect_by);
        auto ec = step(ioc, [&](auto h) { stream.async_connect(ep.addrs, std::move(h)); });
        if (ec) {
            x.outcome = Outcome::Unreachable;
            if (ec == beast::error::timeout) {
                x.err = ETIMEDOUT;
                x.why =
                    fmt::format("connect: timed out after {} ms (ETIMEDOUT)",
                                std::chrono::duration_cast<Millis>(s.opts.connect_timeout).count());
                if (Clock::now() >= deadline) x.outcome = Outcome::Timeout;
            } else {
                x.err =
                    ec.category() == boost::system::system_category() ? ec.value() : ECONNREFUSED;
                x.why = "connect: " + errnoText(ec);
            }
            return x;
        }
        setSocketOptions(stream.socket());
    }

    http::request<http::string_body> req{http::verb::post, path, 11};
    req.set(http::field::host, ep.host);
    req.set(http::field::user_agent, "herd");
    req.set(http::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();

    stream.expires_at(deadline);
    auto ec = step(ioc, [&](auto h) { http::async_write(stream, req, std::move(h)); });
    if (ec) {
        // An incomplete request is never run: the server needs all of it.
        if (ec == beast::error::timeout) {
            x.outcome = Outcome::Timeout;
            x.err = ETIMEDOUT;
            x.why = "sending the request timed out";
        } else {
            x.outcome = reused ? Outcome::Stale : Outcome::Unreachable;
            x.err = ec.category() == boost::system::system_category() ? ec.value() : ECONNRESET;
            x.why = "send: " + errnoText(ec);
        }
        return x;
    }
    x.sent = true;

    beast::flat_buffer buf;
    http::response_parser<http::string_body> parser;
    parser.header_limit(16 * 1024);
    parser.body_limit(s.opts.max_response_bytes);
    // The header first: Beast (1.74) reserves a string body's declared
    // Content-Length before it applies the body limit, so a hostile length
    // is refused here.
    ec = step(ioc, [&](auto h) { http::async_read_header(stream, buf, parser, std::move(h)); });
    if (!ec && parser.content_length() && *parser.content_length() > s.opts.max_response_bytes) {
        ec = http::error::body_limit;
    }
    if (!ec && !parser.is_done()) {
        ec = step(ioc, [&](auto h) { http::async_read(stream, buf, parser, std::move(h)); });
    }
    if (ec) {
        const bool nothing = !parser.got_some() && buf.size() == 0;
        if (ec == beast::error::timeout) {
            x.outcome = Outcome::Timeout;
            x.err = ETIMEDOUT;
            x.why = "no answer in time";
        } else if (ec == http::error::body_limit) {
            x.outcome = Outcome::Protocol;
            x.err = EPROTO;
            x.why = fmt::format("the answer is larger than {} bytes", s.opts.max_response_bytes);
        } else if (ec.category() == boost::system::system_category() || ec == asio::error::eof ||
                   ec == http::error::end_of_stream || ec == http::error::partial_message) {
            // The connection ended or broke before a whole answer came.
            x.outcome = nothing && reused ? Outcome::Stale : Outcome::Lost;
            x.err = ec.category() == boost::system::system_category() ? ec.value() : ECONNRESET;
            x.why = (nothing ? "connection closed without an answer: "
                             : "connection closed in the middle of the answer: ") +
                    errnoText(ec);
        } else {
            // Beast's parser refused it: not HTTP, or HTTP out of bounds.
            x.outcome = Outcome::Protocol;
            x.err = EPROTO;
            x.why = "the answer is not HTTP: " + ec.message();
            if (buf.size() > 0) {
                x.why += "; it starts with `" +
                         excerpt(std::string_view(static_cast<const char*>(buf.data().data()),
                                                  buf.size())) +
                         "`";
            }
        }
        return x;
    }

    auto& res = parser.get();
    json j = json::parse(res.body(), nullptr, false);
    if (res.result() == http::status::ok && !j.is_discarded() && j.is_object()) {
        x.outcome = Outcome::Answered;
        x.answer = std::move(j);
    } else if (!j.is_discarded() && etcdErrorOf(j, x.why, x.grpc_code)) {
        x.outcome = Outcome::EtcdError;
    } else {
        x.outcome = Outcome::Protocol;
        x.err = EPROTO;
        x.why = fmt::format("the answer is not etcd's JSON: HTTP {} `{}`", res.result_int(),
                            excerpt(res.body()));
    }
    // Kept for the next call when the server keeps it open and sent nothing
    // beyond the answer.
    if (res.keep_alive() && parser.is_done() && buf.size() == 0 && x.outcome != Outcome::Protocol) {
        boost::system::error_code rel;
        const tcp protocol = stream.socket().local_endpoint(rel).protocol();
        if (!rel) {
            const int fd = stream.socket().release(rel);
            if (!rel) s.putIdle(ep_index, IdleConn{fd, protocol, Clock::now()});
        }
    }
    return x;
}

// One call, as the round trip needs it.
struct Call {
    std::string op;    // "get", "put", ...: for messages
    std::string what;  // the key or lease, for messages
    std::string path;
    std::string body;
    bool resend_ok = false;  // harmless if run twice (reads, keep-alives)
    Clock::time_point deadline;
};

constexpr int kGrpcUnavailable = 14;
constexpr int kGrpcNotFound = 5;

struct Answer {
    json j;
    std::string url;
};

// The error for a call: "etcd <op> <what> at <url>: <why>".
Error callError(const Call& c, const std::string& url, int err, const std::string& why) {
    return Error::withErrno(err, fmt::format("etcd {} {} at {}: {}", c.op, c.what, url, why));
}

std::string joinFailures(const std::vector<std::string>& failures) {
    std::string all;
    for (const auto& f : failures) all += (all.empty() ? "" : "; ") + f;
    return all;
}

// Sends the call to the endpoints, the one that answered last first, until
// one answers, within the call's deadline. Only failures that leave the
// request unsent move on to the next endpoint, unless it may be run twice.
Result<Answer> roundTrip(Client::Shared& s, const Call& c, int* grpc_code = nullptr) {
    const size_t n = s.eps.size();
    const size_t first = s.preferred.load() % n;
    std::vector<std::string> failures;
    int last_err = ECONNREFUSED;
    for (size_t i = 0; i < n; ++i) {
        const size_t ep = (first + i) % n;
        const std::string& url = s.eps[ep].url;
        if (Clock::now() >= c.deadline) break;
        Exchange x = exchangeOnce(s, ep, c.path, c.body, c.deadline, true);
        if (x.outcome == Outcome::Stale) {
            x = exchangeOnce(s, ep, c.path, c.body, c.deadline, false);
        }
        switch (x.outcome) {
            case Outcome::Answered:
                s.preferred.store(ep);
                return Answer{std::move(x.answer), url};
            case Outcome::EtcdError:
                if (grpc_code) *grpc_code = x.grpc_code;
                if (x.grpc_code == kGrpcUnavailable && c.resend_ok && i + 1 < n) {
                    failures.push_back(url + ": " + x.why);
                    continue;
                }
                return callError(c, url, 0, x.why);
            case Outcome::Unreachable:
            case Outcome::Stale:
                failures.push_back(url + ": " + x.why);
                last_err = x.err;
                continue;
            case Outcome::Protocol:
                if (!x.sent || c.resend_ok) {
                    failures.push_back(url + ": " + x.why);
                    last_err = x.err;
                    continue;
                }
                return callError(c, url, EPROTO, x.why);
            case Outcome::Lost:
                if (c.resend_ok) {
                    failures.push_back(url + ": " + x.why);
                    last_err = x.err;
                    continue;
                }
                return callError(c, url, EIO, x.why + " (the outcome is unknown)");
            case Outcome::Timeout: {
                std::string why =
                    fmt::format("timed out: {} (ETIMEDOUT)", x.why.empty() ? "no answer" : x.why);
                if (x.sent && !c.resend_ok) why += " (the outcome is unknown)";
                if (failures.empty()) return callError(c, url, ETIMEDOUT, why);
                failures.push_back(url + ": " + why);
                return Error::withErrno(
                    ETIMEDOUT, fmt::format("etcd {} {}: no endpoint answered: {}", c.op, c.what,
                                           joinFailures(failures)));
            }
        }
    }
    if (failures.size() < n) {  // the deadline passed before every endpoint was tried
        failures.push_back(fmt::format("timed out before the other endpoints (ETIMEDOUT)"));
        last_err = ETIMEDOUT;
    }
    return Error::withErrno(last_err, fmt::format("etcd {} {}: no endpoint answered: {}", c.op,
                                                  c.what, joinFailures(failures)));
}

// Converts an answer, turning what does not fit etcd's shape into an error.
template <typename T, typename F>
Result<T> convert(const Call& c, const Answer& a, F&& f) {
    try {
        return f(a.j);
    } catch (const std::exception& e) {
        return callError(c, a.url, EPROTO, std::string("the answer is not etcd's: ") + e.what());
    }
}

json compareJson(const Compare& c) {
    json j;
    j["key"] = base64Encode(c.key);
    static const char* kOps[] = {"EQUAL", "NOT_EQUAL", "GREATER", "LESS"};
    j["result"] = kOps[static_cast<int>(c.op)];
    switch (c.target) {
        case Compare::Target::Value:
            j["target"] = "VALUE";
            j["value"] = base64Encode(c.value);
            break;
        case Compare::Target::CreateRevision:
            j["target"] = "CREATE";
            j["create_revision"] = num(c.number);
            break;
        case Compare::Target::ModRevision:
            j["target"] = "MOD";
            j["mod_revision"] = num(c.number);
            break;
        case Compare::Target::Version:
            j["target"] = "VERSION";
            j["version"] = num(c.number);
            break;
        case Compare::Target::Lease:
            j["target"] = "LEASE";
            j["lease"] = num(c.number);
            break;
    }
    return j;
}

json opJson(const TxnOp& o) {
    json r;
    switch (o.kind) {
        case TxnOp::Kind::Get:
            setRange(r, o.key, o.prefix);
            return json{{"request_range", r}};
        case TxnOp::Kind::Put:
            r["key"] = base64Encode(o.key);
            r["value"] = base64Encode(o.value);
            if (o.lease) r["lease"] = num(o.lease);
            if (o.prev_kv) r["prev_kv"] = true;
            return json{{"request_put", r}};
        case TxnOp::Kind::Delete:
            setRange(r, o.key, o.prefix);
            if (o.prev_kv) r["prev_kv"] = true;
            return json{{"request_delete_range", r}};
    }
    return r;
}

std::string txnWhat(const Txn& t) {
    std::string keys;
    std::set<std::string> seen;
    auto add = [&](const std::string& k) {
        if (!seen.insert(k).second) return;
        if (seen.size() > 3) return;
        keys += (keys.empty() ? "`" : ", `") + printableKey(k) + "`";
    };
    for (const auto& c : t.compare) add(c.key);
    for (const auto& o : t.success) add(o.key);
    for (const auto& o : t.failure) add(o.key);
    if (seen.size() > 3) keys += fmt::format(" (and {} more)", seen.size() - 3);
    return "on " + (keys.empty() ? std::string("nothing") : keys);
}

}  // namespace

// ---------------------------------------------------------------------------
// The calls

Result<GetResult> Client::get(std::string_view key, const GetOptions& o) const {
    json j;
    setRange(j, key, o.prefix);
    if (o.revision) j["revision"] = num(o.revision);
    if (o.limit) j["limit"] = num(o.limit);
    if (o.keys_only) j["keys_only"] = true;
    if (o.count_only) j["count_only"] = true;
    Call c{"get", describe(key, o.prefix), "/v3/kv/range", j.dump(), true, s_->deadline(o.timeout)};
    auto a = roundTrip(*s_, c);
    if (!a) return a.error();
    return convert<GetResult>(c, *a, [](const json& r) { return parseRange(r); });
}

Result<PutResult> Client::put(std::string_view key, std::string_view value,
                              const PutOptions& o) const {
    json j;
    j["key"] = base64Encode(key);
    j["value"] = base64Encode(value);
    if (o.lease) j["lease"] = num(o.lease);
    if (o.prev_kv) j["prev_kv"] = true;
    Call c{"put", describe(key, false), "/v3/kv/put", j.dump(), false, s_->deadline(o.timeout)};
    auto a = roundTrip(*s_, c);
    if (!a) return a.error();
    return convert<PutResult>(c, *a, [](const json& r) {
        PutResult p;
        p.revision = headerRevision(r);
        if (r.contains("prev_kv")) p.prev = parseKv(r["prev_kv"]);
        return p;
    });
}

Result<DeleteResult> Client::del(std::string_view key, const DeleteOptions& o) const {
    json j;
    setRange(j, key, o.prefix);
    if (o.prev_kv) j["prev_kv"] = true;
    Call c{"delete", describe(key, o.prefix), "/v3/kv/deleterange", j.dump(),
           false,    s_->deadline(o.timeout)};
    auto a = roundTrip(*s_, c);
    if (!a) return a.error();
    return convert<DeleteResult>(c, *a, [](const json& r) {
        DeleteResult d;
        d.revision = headerRevision(r);
        d.deleted = i64(r, "deleted");
        d.prev = parseKvs(r, "prev_kvs");
        return d;
    });
}

Result<TxnResult> Client::txn(const Txn& t) const {
    json j;
    j["compare"] = json::array();
    for (const auto& c : t.compare) j["compare"].push_back(compareJson(c));
    j["success"] = json::array();
    for (const auto& o : t.success) j["success"].push_back(opJson(o));
    j["failure"] = json::array();
    for (const auto& o : t.failure) j["failure"].push_back(opJson(o));
    // A transaction of reads alone may be sent again.
    bool reads_only = true;
    for (const auto* branch : {&t.success, &t.failure}) {
        for (const auto& o : *branch) reads_only = reads_only && o.kind == TxnOp::Kind::Get;
    }
    Call c{"txn", txnWhat(t), "/v3/kv/txn", j.dump(), reads_only, s_->deadline(t.timeout)};
    auto a = roundTrip(*s_, c);
    if (!a) return a.error();
    return convert<TxnResult>(c, *a, [&t](const json& r) {
        TxnResult out;
        out.succeeded = boolean(r, "succeeded");
        out.revision = headerRevision(r);
        const auto& ran = out.succeeded ? t.success : t.failure;
        const json& responses = array(r, "responses");
        if (responses.size() != ran.size()) {
            throw ProtocolError(
                fmt::format("{} answers to {} operations", responses.size(), ran.size()));
        }
        for (size_t i = 0; i < ran.size(); ++i) {
            TxnOpResult one;
            one.kind = ran[i].kind;
            const json& e = responses[i];
            if (!e.is_object()) throw ProtocolError("a transaction answer is not an object");
            switch (one.kind) {
                case TxnOp::Kind::Get:
                    one.get = parseRange(object(e, "response_range"));
                    break;
                case TxnOp::Kind::Put: {
                    const json& p = object(e, "response_put");
                    if (p.contains("prev_kv")) one.prev.push_back(parseKv(p["prev_kv"]));
                    break;
                }
                case TxnOp::Kind::Delete: {
                    const json& d = object(e, "response_delete_range");
                    one.deleted = i64(d, "deleted");
                    one.prev = parseKvs(d, "prev_kvs");
                    break;
                }
            }
            out.results.push_back(std::move(one));
        }
        return out;
    });
}

Result<int64_t> Client::compact(int64_t revision, Millis timeout) const {
    json j;
    j["revision"] = num(revision);
    Call c{"compact",
           fmt::format("at revision {}", revision),
           "/v3/kv/compaction",
           j.dump(),
           true,
           s_->deadline(timeout)};
    auto a = roundTrip(*s_, c);
    if (!a) return a.error();
    return convert<int64_t>(c, *a, [](const json& r) { return headerRevision(r); });
}

Result<Lease> Client::grantLease(int64_t ttl_seconds, Millis timeout) const {
    json j;
    j["TTL"] = num(ttl_seconds);
    Call c{"grant lease",
           fmt::format("of {} s", ttl_seconds),
           "/v3/lease/grant",
           j.dump(),
           false,
           s_->deadline(timeout)};
    auto a = roundTrip(*s_, c);
    if (!a) return a.error();
    auto l = convert<Lease>(c, *a, [](const json& r) {
        Lease l;
        l.id = i64(r, "ID");
        l.ttl = i64(r, "TTL");
        return l;
    });
    if (!l) return l.error();
    if (const auto e = text(a->j, "error"); !e.empty()) return callError(c, a->url, 0, e);
    if (l->id == 0) return callError(c, a->url, EPROTO, "the answer has no lease ID");
    return l;
}

Result<int64_t> Client::keepAliveOnce(int64_t id, Millis timeout) const {
    json j;
    j["ID"] = num(id);
    Call c{"keep-alive", fmt::format("lease {}", id), "/v3/lease/keepalive", j.dump(),
           true,         s_->deadline(timeout)};
    auto a = roundTrip(*s_, c);
    if (!a) return a.error();
    // A stream of one answer: {"result": {...}} (or {"error": {...}}).
    std::string message;
    int code = 0;
    if (etcdErrorOf(a->j, message, code)) return callError(c, a->url, 0, message);
    auto ttl =
        convert<int64_t>(c, *a, [](const json& r) { return i64(object(r, "result"), "TTL"); });
    if (!ttl) return ttl.error();
    if (*ttl <= 0) {
        return callError(c, a->url, ENOENT, "the lease has expired or was revoked");
    }
    return ttl;
}

Result<void> Client::revokeLease(int64_t id, Millis timeout) const {
    json j;
    j["ID"] = num(id);
    Call c{"revoke", fmt::format("lease {}", id), "/v3/lease/revoke", j.dump(),
           true,     s_->deadline(timeout)};
    int code = 0;
    auto a = roundTrip(*s_, c, &code);
    if (!a && !(a.error().errnum() == 0 && code == kGrpcNotFound)) return a.error();
    return Ok();
}

// ---------------------------------------------------------------------------
// The lease keeper

struct LeaseKeeper::State {
    std::shared_ptr<Client::Shared> shared;
    Lease lease;
    std::function<void(const Error&)> on_lost;
    std::thread thread;
    std::mutex mu;
    std::condition_variable cv;
    bool stop = false;
    bool released = false;
    std::atomic<bool> alive{true};
    std::atomic<int64_t> confirmed_ns{0};

    void run() {
        const Client client(shared);
        const Millis interval = std::max(Millis(500), Millis(lease.ttl * 1000 / 3));
        auto next = Clock::now() + interval;
        std::unique_lock lock(mu);
        while (!stop) {
            if (cv.wait_until(lock, next, [this] { return stop; })) break;
            lock.unlock();
            auto r = client.keepAliveOnce(lease.id, interval);
            lock.lock();
            if (r) {
                confirmed_ns.store(Clock::now().time_since_epoch().count());
                next = Clock::now() + interval;
            } else if (r.error().errnum() == ENOENT) {
                alive.store(false);
                lock.unlock();
                if (on_lost) on_lost(r.error());
                return;
            } else {
                next = Clock::now() + Millis(500);
            }
        }
    }

    void halt() {
        {
            std::lock_guard lock(mu);
            stop = true;
        }
        cv.notify_all();
        if (thread.joinable()) {
            if (thread.get_id() == std::this_thread::get_id()) {
                thread.detach();  // from on_lost: the thread ends right after
            } else {
                thread.join();
            }
        }
    }
};

// The keeper's State is reached through a Client with the same Shared.
std::unique_ptr<LeaseKeeper> Client::keepAlive(const Lease& lease,
                                               std::function<void(const Error&)> on_lost) const {
    auto st = std::make_shared<LeaseKeeper::State>();
    st->shared = s_;
    st->lease = lease;
    st->on_lost = std::move(on_lost);
    st->confirmed_ns.store(Clock::now().time_since_epoch().count());
    st->thread = std::thread([st] { st->run(); });
    return std::unique_ptr<LeaseKeeper>(new LeaseKeeper(st));
}

LeaseKeeper::LeaseKeeper(std::shared_ptr<State> s) : s_(std::move(s)) {}

LeaseKeeper::~LeaseKeeper() {
    s_->halt();
    bool released;
    {
        std::lock_guard lock(s_->mu);
        released = s_->released;
    }
    if (!released && s_->alive.load()) {
        // Best effort: when etcd cannot be reached, the TTL ends the lease.
        (void)Client(s_->shared).revokeLease(s_->lease.id, Millis(2000));
    }
}

int64_t LeaseKeeper::id() const {
    return s_->lease.id;
}

void LeaseKeeper::release() {
    {
        std::lock_guard lock(s_->mu);
        s_->released = true;
    }
    s_->halt();
}

bool LeaseKeeper::alive() const {
    return s_->alive.load();
}

std::chrono::steady_clock::time_point LeaseKeeper::lastConfirmed() const {
    return Clock::time_point(Clock::duration(s_->confirmed_ns.load()));
}

// ---------------------------------------------------------------------------
// The watch

struct Watch::State {
    std::shared_ptr<Client::Shared> shared;
    std::string key;
    bool prefix = false;
    bool prev_kv = false;
    WatchCallback on_events;
    WatchStatusCallback on_status;
    std::thread thread;

    std::atomic<int64_t> next_rev{0};
    std::atomic<bool> running{true};

    std::mutex mu;
    std::condition_variable cv;
    bool stop = false;
    asio::io_context* ioc = nullptr;  // the stream's, to interrupt it
    // watch() waits for the first acceptance
    bool accepted = false;
    std::string last_failure;

    bool stopping() {
        std::lock_guard lock(mu);
        return stop;
    }

    void requestStop() {
        std::lock_guard lock(mu);
        stop = true;
        if (ioc) ioc->stop();
        cv.notify_all();
    }

    void status(WatchStatus::Kind kind, int64_t rev, std::string detail) {
        if (on_status) on_status(WatchStatus{kind, rev, std::move(detail)});
    }

    // Runs `start` on the stream's io_context unless stopping; aborted when
    // stopped meanwhile.
    template <typename Start>
    beast::error_code stepOn(asio::io_context& ctx, Start&& start) {
        beast::error_code result = asio::error::operation_aborted;
        bool done = false;
        start([&](beast::error_code ec, auto&&...) {
            result = ec;
            done = true;
        });
        ctx.restart();
        if (!stopping()) ctx.run();
        if (!done || stopping()) return asio::error::operation_aborted;
        return result;
    }

    struct Ended {
        bool compacted = false;
        int64_t compact_revision = 0;
        bool was_connected = false;
        std::string why;
    };

    // One watch stream on endpoint `ep`, from next_rev, until it breaks or
    // the watch stops.
    Ended streamOnce(size_t ep_index) {
        const Endpoint& ep = shared->eps[ep_index];
        Ended end;
        asio::io_context ctx;
        {
            std::lock_guard lock(mu);
            if (stop) return end;
            ioc = &ctx;
        }
        struct Unregister {
            State* s;
            ~Unregister() {
                std::lock_guard lock(s->mu);
                s->ioc = nullptr;
            }
        } unregister{this};

        beast::tcp_stream stream(ctx);
        stream.expires_after(shared->opts.connect_timeout);
        auto ec = stepOn(ctx, [&](auto h) { stream.async_connect(ep.addrs, std::move(h)); });
        if (ec) {
            end.why = ep.url + ": connect: " +
                      (ec == beast::error::timeout ? std::string("timed out") : errnoText(ec));
            return end;
        }
        auto& sock = stream.socket();
        setSocketOptions(sock);
        // A peer that vanishes without a word (host down, partition) is
        // noticed by TCP keep-alive within about 10 s.
        boost::system::error_code ignored;
        sock.set_option(asio::socket_base::keep_alive(true), ignored);
        const int idle = 5, intvl = 2, cnt = 3, user_timeout_ms = 10000;
        ::setsockopt(sock.native_handle(), IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
        ::setsockopt(sock.native_handle(), IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
        ::setsockopt(sock.native_handle(), IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
        ::setsockopt(sock.native_handle(), IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms,
                     sizeof user_timeout_ms);

        json create;
        setRange(create, key, prefix);
        const int64_t from = next_rev.load();
        if (from > 0) create["start_revision"] = num(from);
        if (prev_kv) create["prev_kv"] = true;
        create["progress_notify"] = true;
        http::request<http::string_body> req{http::verb::post, "/v3/watch", 11};
        req.set(http::field::host, ep.host);
        req.set(http::field::user_agent, "herd");
        req.set(http::field::content_type, "application/json");
        req.body() = json{{"create_request", create}}.dump();
        req.prepare_payload();
        stream.expires_after(shared->opts.timeout);
        ec = stepOn(ctx, [&](auto h) { http::async_write(stream, req, std::move(h)); });
        if (ec) {
            end.why = ep.url + ": send: " + errnoText(ec);
            return end;
        }

        beast::flat_buffer buf;
        http::response_parser<http::string_body> parser;
        parser.header_limit(16 * 1024);
        parser.body_limit(boost::none);  // a stream: each line is bounded below
        ec = stepOn(ctx,
                    [&](auto h) { http::async_read_header(stream, buf, parser, std::move(h)); });
        if (ec) {
            end.why = ep.url + ": " +
                      (ec == beast::error::timeout ? std::string("no answer in time")
                                                   : "reading the answer: " + ec.message());
            return end;
        }
        if (parser.content_length() && *parser.content_length() > 64 * 1024) {
            end.why = ep.url + ": the answer is not a watch stream (a body of " +
                      std::to_string(*parser.content_length()) + " bytes)";
            return end;
        }
        if (parser.get().result() != http::status::ok) {
            parser.body_limit(64 * 1024);
            (void)stepOn(ctx, [&](auto h) { http::async_read(stream, buf, parser, std::move(h)); });
            std::string message;
            int code = 0;
            const json j = json::parse(parser.get().body(), nullptr, false);
            if (j.is_discarded() || !etcdErrorOf(j, message, code)) {
                message = fmt::format("HTTP {} `{}`", parser.get().result_int(),
                                      excerpt(parser.get().body()));
            }
            end.why = ep.url + ": " + message;
            return end;
        }
        stream.expires_never();

        auto& body = parser.get().body();
        size_t scanned = 0;  // no newline before this offset
        for (;;) {
            // Each complete line is one JSON answer; the parser appends what
            // it reads to `body`, from which the handled lines are cut.
            size_t start = 0;
            size_t nl;
            while ((nl = body.find('\n', std::max(start, scanned))) != std::string::npos) {
                const std::string_view line(body.data() + start, nl - start);
                start = nl + 1;
                if (line.find_first_not_of(" \r\t") == std::string_view::npos) continue;
                if (!handleLine(line, ep, end)) return end;
            }
            body.erase(0, start);
            scanned = body.size();
            if (body.size() > shared->opts.max_response_bytes) {
                end.why = ep.url + ": a watch answer larger than " +
                          std::to_string(shared->opts.max_response_bytes) + " bytes";
                return end;
            }
            if (parser.is_done()) {
                end.why = ep.url + ": etcd ended the watch stream";
                return end;
            }
            ec = stepOn(ctx,
                        [&](auto h) { http::async_read_some(stream, buf, parser, std::move(h)); });
            if (ec) {
                end.why =
                    ep.url + ": " +
                    (ec == asio::error::operation_aborted ? std::string("stopped")
                                                          : "stream broken: " + errnoText(ec));
                return end;
            }
        }
    }

    // One answer of the stream; false ends the stream (`end` says why).
    bool handleLine(std::string_view line, const Endpoint& ep, Ended& end) {
        const json j = json::parse(line, nullptr, false);
        std::string message;
        int code = 0;
        if (j.is_discarded() || !j.is_object()) {
            end.why = ep.url + ": a watch answer is not JSON: `" + excerpt(line) + "`";
            return false;
        }
        if (etcdErrorOf(j, message, code)) {
            end.why = ep.url + ": " + message;
            return false;
        }
        std::vector<WatchEvent> events;
        bool created = false;
        try {
            const json& r = object(j, "result");
            if (boolean(r, "created")) {
                if (next_rev.load() == 0) next_rev.store(headerRevision(r) + 1);
                end.was_connected = true;
                created = true;
            }
            if (const int64_t compact = i64(r, "compact_revision"); compact > 0) {
                end.compacted = true;
                end.compact_revision = compact;
                end.why = ep.url + ": revisions before " + num(compact) + " were compacted";
                return false;
            }
            if (boolean(r, "canceled")) {
                const std::string reason = text(r, "cancel_reason");
                end.why = ep.url + ": etcd cancelled the watch" +
                          (reason.empty() ? std::string() : ": " + reason);
                return false;
            }
            for (const auto& e : array(r, "events")) {
                if (!e.is_object()) throw ProtocolError("an event is not an object");
                WatchEvent ev;
                const std::string type = text(e, "type");
                if (type == "DELETE") {
                    ev.type = WatchEvent::Type::Delete;
                } else if (type.empty() || type == "PUT") {
                    ev.type = WatchEvent::Type::Put;
                } else {
                    throw ProtocolError("unknown event type `" + excerpt(type) + "`");
                }
                ev.kv = parseKv(object(e, "kv"));
                if (e.contains("prev_kv")) ev.prev = parseKv(e["prev_kv"]);
                // Already delivered before a reconnection: skipped.
                if (ev.kv.mod_revision < next_rev.load()) continue;
                events.push_back(std::move(ev));
            }
            if (!events.empty()) {
                for (size_t i = 1; i < events.size(); ++i) {
                    if (events[i].kv.mod_revision < events[i - 1].kv.mod_revision) {
                        throw ProtocolError("events out of revision order");
                    }
                }
                next_rev.store(events.back().kv.mod_revision + 1);
            }
        } catch (const std::exception& e) {
            end.why = ep.url + ": a watch answer is not etcd's: " + e.what();
            return false;
        }
        // The callbacks run outside the parsing: what they do is theirs.
        if (created) {
            status(WatchStatus::Kind::Connected, next_rev.load(), ep.url);
            {
                std::lock_guard lock(mu);
                accepted = true;
            }
            cv.notify_all();
        }
        if (!events.empty() && on_events) on_events(events);
        return true;
    }

    void run() {
        const size_t n = shared->eps.size();
        size_t ep = shared->preferred.load() % n;
        Millis backoff(100);
        while (!stopping()) {
            Ended end = streamOnce(ep);
            if (stopping()) break;
            if (end.compacted) {
                running.store(false);
                status(WatchStatus::Kind::Compacted, end.compact_revision, end.why);
                std::lock_guard lock(mu);
                last_failure = end.why;
                cv.notify_all();
                return;
            }
            {
                std::lock_guard lock(mu);
                last_failure = end.why;
            }
            cv.notify_all();
            if (end.was_connected) {
                backoff = Millis(100);
                status(WatchStatus::Kind::Disconnected, next_rev.load(), end.why);
            }
            ep = (ep + 1) % n;
            std::unique_lock lock(mu);
            if (cv.wait_for(lock, backoff, [this] { return stop; })) break;
            backoff = std::min(Millis(2000), backoff * 2);
        }
        running.store(false);
    }
};

Watch::Watch(std::shared_ptr<State> s) : s_(std::move(s)) {}

Watch::~Watch() {
    s_->requestStop();
    if (s_->thread.joinable()) {
        if (s_->thread.get_id() == std::this_thread::get_id()) {
            s_->thread.detach();
        } else {
            s_->thread.join();
        }
    }
}

int64_t Watch::nextRevision() const {
    return s_->next_rev.load();
}

bool Watch::running() const {
    return s_->running.load();
}

Result<std::unique_ptr<Watch>> Client::watch(std::string_view key, const WatchOptions& o,
                                             WatchCallback on_events,
                                             WatchStatusCallback on_status) const {
    auto st = std::make_shared<Watch::State>();
    st->shared = s_;
    st->key = std::string(key);
    st->prefix = o.prefix;
    st->prev_kv = o.prev_kv;
    st->on_events = std::move(on_events);
    st->on_status = std::move(on_status);
    st->next_rev.store(o.start_revision);
    st->thread = std::thread([st] { st->run(); });
    auto watch = std::unique_ptr<Watch>(new Watch(st));
    const auto deadline = s_->deadline(o.timeout);
    std::unique_lock lock(st->mu);
    const bool ok =
        st->cv.wait_until(lock, deadline, [&] { return st->accepted || !st->running.load(); });
    if (ok && st->accepted) return watch;
    std::string why = st->last_failure.empty() ? "no answer" : st->last_failure;
    lock.unlock();
    watch.reset();  // stops and joins
    const int err = ok ? EPROTO : ETIMEDOUT;
    return Error::withErrno(
        err, fmt::format("etcd watch {}: not accepted within {} ms: {}", describe(key, o.prefix),
                         std::chrono::duration_cast<Millis>(
                             o.timeout.count() > 0 ? o.timeout : s_->opts.timeout)
                             .count(),
                         why));
}

// ---------------------------------------------------------------------------
// Allocation helpers

namespace {

Millis remaining(Clock::time_point deadline) {
    return Millis(std::max<long long>(1, msLeft(deadline)));
}

}  // namespace

Result<int64_t> Client::counterAdd(std::string_view key_view, int64_t n, Millis timeout) const {
    const std::string key(key_view);
    if (n <= 0)
        return Error::msg("etcd counter `" + printableKey(key) + "`: add a positive number");
    const auto deadline = s_->deadline(timeout);
    auto parse = [&](const std::vector<KeyValue>& kvs) -> Result<std::pair<int64_t, int64_t>> {
        if (kvs.empty()) return std::pair<int64_t, int64_t>{0, 0};
        const auto v = parseInt(kvs[0].value);
        if (!v || *v < 0) {
            return Error::withErrno(EPROTO, "etcd counter `" + printableKey(key) + "`: value `" +
                                                printableKey(kvs[0].value) + "` is not a counter");
        }
        return std::pair<int64_t, int64_t>{*v, kvs[0].mod_revision};
    };
    GetOptions go;
    Result<GetResult> g = GetResult{};
    // What this process last wrote there saves a read; when someone else
    // has written since, the failure branch answers the current value.
    Result<std::pair<int64_t, int64_t>> cur = std::pair<int64_t, int64_t>{0, 0};
    if (auto known = s_->knownCounter(key)) {
        cur = *known;
    } else {
        go.timeout = remaining(deadline);
        g = get(key, go);
        if (!g) return g.error();
        cur = parse(g->kvs);
        if (!cur) return cur.error();
    }
    int conflicts = 0;
    for (;;) {
        const auto [value, mod] = *cur;
        if (value > INT64_MAX - n) {
            return Error::msg("etcd counter `" + printableKey(key) + "`: would overflow");
        }
        Txn t;
        t.compare.push_back(mod == 0 ? Compare::absent(key)
                                     : Compare::modRevisionIs(key, Compare::Op::Equal, mod));
        t.success.push_back(TxnOp::put(key, std::to_string(value + n)));
        t.failure.push_back(TxnOp::get(key));
        t.timeout = remaining(deadline);
        auto r = txn(t);
        if (r && r->succeeded) {
            // The transaction's revision is the key's new mod revision.
            s_->rememberCounter(key, {value + n, r->revision});
            return value;
        }
        if (r) {
            ++conflicts;
            cur = parse(r->results.at(0).get.kvs);
            if (!cur) return cur.error();
            // Every contender's transaction costs etcd a commit, won or lost:
            // a random pause, growing with the conflicts, thins them out
            // (measured: 8 threads allocate about twice as fast).
            thread_local std::mt19937 rng(std::random_device{}());
            const int span_us = 1000 * std::min(conflicts, 8);
            std::this_thread::sleep_for(std::chrono::microseconds(rng() % span_us));
        } else if (r.error().errnum() == EIO) {
            // Maybe applied: read again; the compare makes the retry safe.
            go.timeout = remaining(deadline);
            g = get(key, go);
            if (!g) return g.error();
            cur = parse(g->kvs);
            if (!cur) return cur.error();
        } else {
            return r.error();
        }
        if (Clock::now() >= deadline) {
            return Error::withErrno(ETIMEDOUT, fmt::format("etcd counter `{}`: gave up after {} "
                                                           "conflicting updates (ETIMEDOUT)",
                                                           printableKey(key), conflicts));
        }
    }
}

Result<Client::Created> Client::create(std::string_view key, std::string_view value, int64_t lease,
                                       Millis timeout) const {
    return createAll({{std::string(key), std::string(value)}}, lease, timeout);
}

Result<Client::Created> Client::createAll(
    const std::vector<std::pair<std::string, std::string>>& kvs, int64_t lease,
    Millis timeout) const {
    const auto deadline = s_->deadline(timeout);
    Txn t;
    for (const auto& [k, v] : kvs) {
        t.compare.push_back(Compare::absent(k));
        t.success.push_back(TxnOp::put(k, v, lease));
        t.failure.push_back(TxnOp::get(k));
    }
    bool maybe_ours = false;  // an earlier try's answer was lost
    for (;;) {
        t.timeout = remaining(deadline);
        auto r = txn(t);
        if (!r) {
            if (r.error().errnum() != EIO || Clock::now() >= deadline) return r.error();
            maybe_ours = true;
            continue;
        }
        Created c;
        c.revision = r->revision;
        if (r->succeeded) {
            c.created = true;
            return c;
        }
        bool all_ours = maybe_ours;
        for (size_t i = 0; i < r->results.size(); ++i) {
            const auto& got = r->results[i].get.kvs;
            if (got.empty()) {
                all_ours = false;
                continue;
            }
            if (got[0].value != kvs[i].second || got[0].lease != lease) all_ours = false;
            c.existing.push_back(got[0]);
        }
        c.created = all_ours && c.existing.size() == kvs.size();
        if (c.created) c.existing.clear();
        return c;
    }
}

Result<Client::Claim> Client::claimLowest(
    std::string_view prefix_view, int64_t lo, int64_t hi, std::string_view value,
    const std::function<std::vector<std::pair<std::string, std::string>>(int64_t)>& with,
    Millis timeout) const {
    const std::string prefix(prefix_view);
    const auto deadline = s_->deadline(timeout);
    auto name = [&] { return "etcd claim `" + printableKey(prefix) + "`"; };
    if (lo >= hi) return Error::msg(name() + fmt::format(": empty range [{}, {})", lo, hi));

    std::set<int64_t> taken;
    auto readTaken = [&]() -> Result<void> {
        GetOptions go;
        go.prefix = true;
        go.keys_only = true;
        go.timeout = remaining(deadline);
        auto g = get(prefix, go);
        if (!g) return g.error();
        taken.clear();
        for (const auto& kv : g->kvs) {
            const std::string_view rest = std::string_view(kv.key).substr(prefix.size());
            // Only canonical decimals count: "07" is not slot 7.
            if (auto v = parseInt(rest); v && std::to_string(*v) == rest) taken.insert(*v);
        }
        return Ok();
    };
    HERD_TRY(readTaken());
    std::optional<int64_t> lost;  // the number whose claim's answer was lost
    for (;;) {
        if (Clock::now() >= deadline) {
            return Error::withErrno(ETIMEDOUT, name() + ": gave up on conflicts (ETIMEDOUT)");
        }
        int64_t n = lo;
        while (n < hi && taken.count(n)) ++n;
        if (n >= hi)
            return Error::msg(name() + fmt::format(": out of numbers in [{}, {})", lo, hi));
        if (lost) n = *lost;  // settle the lost one first
        const std::string slot = prefix + std::to_string(n);
        std::vector<std::pair<std::string, std::string>> all{{slot, std::string(value)}};
        if (with) {
            for (auto& kv : with(n)) all.push_back(std::move(kv));
        }
        Txn t;
        for (const auto& [k, v] : all) {
            t.compare.push_back(Compare::absent(k));
            t.success.push_back(TxnOp::put(k, v));
            t.failure.push_back(TxnOp::get(k));
        }
        t.timeout = remaining(deadline);
        auto r = txn(t);
        if (!r) {
            if (r.error().errnum() != EIO) return r.error();
            lost = n;
            continue;
        }
        if (r->succeeded) return Claim{n, {}};
        // Who holds what: when every key holds what this call wrote, a lost
        // answer was a success.
        bool all_ours = lost.has_value();
        Claim c;
        bool slot_taken = false;
        for (size_t i = 0; i < all.size(); ++i) {
            const auto& got = r->results.at(i).get.kvs;
            if (got.empty()) {
                all_ours = false;
                continue;
            }
            if (got[0].value != all[i].second) all_ours = false;
            if (i == 0) {
                slot_taken = true;
            } else {
                c.conflict.push_back(got[0]);
            }
        }
        if (all_ours) return Claim{n, {}};
        lost.reset();
        if (!c.conflict.empty()) return c;
        if (slot_taken) taken.insert(n);
    }
}

}  // namespace herd::cluster
