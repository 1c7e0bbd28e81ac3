#include "runtime/ovsdb.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cstring>
#include <thread>

namespace herd::runtime::ovsdb {

namespace {

using Clock = std::chrono::steady_clock;

int msLeft(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

std::string seconds(std::chrono::milliseconds t) {
    if (t.count() % 1000 == 0) return std::to_string(t.count() / 1000) + " s";
    return std::to_string(t.count()) + " ms";
}

bool isSpace(char c) {
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

std::string asText(const Json& v) {
    return v.is_string() ? v.get<std::string>() : v.dump();
}

}  // namespace

Json uuid(const std::string& u) {
    return Json::array({"uuid", u});
}

Json namedUuid(const std::string& name) {
    return Json::array({"named-uuid", name});
}

Json set(Json::array_t items) {
    return Json::array({"set", Json(std::move(items))});
}

Json strMap(const std::vector<std::pair<std::string, std::string>>& kv) {
    Json pairs = Json::array();
    for (const auto& [k, v] : kv) pairs.push_back(Json::array({k, v}));
    return Json::array({"map", pairs});
}

Json cond(const std::string& column, const std::string& function, Json value) {
    return Json::array({column, function, std::move(value)});
}

Json request(std::string_view method, Json params, uint64_t id) {
    return Json{{"method", method}, {"params", std::move(params)}, {"id", id}};
}

Json transactRequest(const Json& ops, uint64_t id) {
    Json params = Json::array({kDatabase});
    for (const auto& op : ops) params.push_back(op);
    return request("transact", std::move(params), id);
}

std::optional<std::string> uuidOf(const Json& v) {
    if (v.is_array() && v.size() == 2 && v[0] == "uuid" && v[1].is_string()) {
        return v[1].get<std::string>();
    }
    return std::nullopt;
}

std::vector<Json> setItems(const Json& v) {
    if (v.is_array() && v.size() == 2 && v[0] == "set" && v[1].is_array()) {
        return std::vector<Json>(v[1].begin(), v[1].end());
    }
    return {v};
}

Result<std::optional<std::string>> Framer::next() {
    if (depth_ == 0 && !in_string_) {
        // Between messages: skip whitespace; anything but an object/array
        // start means the peer does not speak JSON-RPC.
        size_t skip = 0;
        while (skip < buf_.size() && isSpace(buf_[skip])) ++skip;
        buf_.erase(0, skip);
        scan_ = 0;
        if (buf_.empty()) return std::optional<std::string>{};
        if (buf_[0] != '{' && buf_[0] != '[') {
            return Error::msg("ovsdb: not a JSON-RPC stream (got " +
                              std::string(buf_.substr(0, 16)) + ")");
        }
    }
    for (; scan_ < buf_.size(); ++scan_) {
        char c = buf_[scan_];
        if (in_string_) {
            if (escape_) {
                escape_ = false;
            } else if (c == '\\') {
                escape_ = true;
            } else if (c == '"') {
                in_string_ = false;
            }
            continue;
        }
        if (c == '"') {
            in_string_ = true;
        } else if (c == '{' || c == '[') {
            ++depth_;
        } else if (c == '}' || c == ']') {
            if (--depth_ == 0) {
                std::string text = buf_.substr(0, scan_ + 1);
                buf_.erase(0, scan_ + 1);
                scan_ = 0;
                return std::optional<std::string>(std::move(text));
            }
        }
    }
    return std::optional<std::string>{};
}

Result<Json> checkTransactReply(const Json& reply, const Json& ops) {
    if (reply.contains("error") && !reply["error"].is_null()) {
        return Error::msg("ovsdb transaction failed: " + asText(reply["error"]));
    }
    if (!reply.contains("result") || !reply["result"].is_array()) {
        return Error::msg("ovsdb transaction failed: malformed reply " + reply.dump());
    }
    const Json& results = reply["result"];
    for (size_t i = 0; i < results.size(); ++i) {
        const Json& r = results[i];
        if (!r.is_object() || !r.contains("error")) continue;
        std::string what = "commit";
        if (i < ops.size() && ops[i].is_object()) {
            what = ops[i].value("op", std::string("?"));
            if (ops[i].contains("table")) what += " " + asText(ops[i]["table"]);
        }
        std::string text = "ovsdb transaction failed: " + what + ": " + asText(r["error"]);
        if (r.contains("details")) text += ": " + asText(r["details"]);
        return Error::msg(text);
    }
    if (results.size() < ops.size()) {
        return Error::msg("ovsdb transaction failed: " + std::to_string(results.size()) +
                          " results for " + std::to_string(ops.size()) + " operations");
    }
    return results;
}

Result<Client> Client::connect(const std::string& path, std::chrono::milliseconds timeout) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path) {
        return Error::msg("ovsdb socket path is empty or too long: " + path);
    }
    std::memcpy(addr.sun_path, path.data(), path.size());
    unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) return Error::sysNow("socket", "ovsdb " + path);
    // On a unix socket EAGAIN is not "in progress": the server's backlog is
    // full and the socket is not connected. Retried briefly (the server may
    // be catching up), then reported as it is.
    const auto deadline = Clock::now() + std::min(timeout, std::chrono::milliseconds(1000));
    int err = 0;
    while (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        err = errno;
        if (err != EAGAIN || Clock::now() >= deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        err = 0;
    }
    if (err != 0) {
        if (err != EINPROGRESS) return Error::sys(err, "connect", "ovsdb " + path);
        pollfd p{fd.get(), POLLOUT, 0};
        int n = ::poll(&p, 1, static_cast<int>(timeout.count()));
        if (n <= 0) return Error::sys(ETIMEDOUT, "connect", "ovsdb " + path);
        int so_err = 0;
        socklen_t len = sizeof so_err;
        ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &so_err, &len);
        if (so_err != 0) return Error::sys(so_err, "connect", "ovsdb " + path);
    }
    return Client(path, std::move(fd), timeout);
}

Error Client::broken(Error e) {
    fd_.reset();
    framer_ = Framer();
    return e;
}

Result<void> Client::send(const Json& msg, Clock::time_point deadline) {
    if (!fd_) return Error::msg("ovsdb " + path_ + ": not connected");
    const std::string text = msg.dump();
    size_t off = 0;
    while (off < text.size()) {
        ssize_t n = ::send(fd_.get(), text.data() + off, text.size() - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EAGAIN) return broken(Error::sysNow("send", "ovsdb " + path_));
        pollfd p{fd_.get(), POLLOUT, 0};
        if (::poll(&p, 1, msLeft(deadline)) <= 0) {
            return broken(Error::msg("ovsdb " + path_ + ": no answer within " + seconds(timeout_) +
                                     " (is ovsdb-server running?)"));
        }
    }
    return Ok();
}

Result<Json> Client::receiveReply(uint64_t id, Clock::time_point deadline) {
    for (;;) {
        auto text = framer_.next();
        if (!text.ok()) return broken(text.error());
        if (*text) {
            Json msg = Json::parse(**text, nullptr, /*allow_exceptions=*/false);
            if (msg.is_discarded() || !msg.is_object()) {
                return broken(Error::msg("ovsdb " + path_ + ": malformed message"));
            }
            // The server's keepalive: answered at once, whatever we wait for.
            if (msg.contains("method") && msg["method"] == "echo" && msg.contains("id")) {
                Json echo{{"result", msg.value("params", Json::array())},
                          {"error", nullptr},
                          {"id", msg["id"]}};
                HERD_TRY(send(echo, deadline));
                continue;
            }
            if (msg.contains("method")) continue;  // notifications (updates, locks)
            if (msg.contains("id") && msg["id"] == id) return msg;
            continue;  // a reply to nothing we wait for
        }
        pollfd p{fd_.get(), POLLIN, 0};
        int n = ::poll(&p, 1, msLeft(deadline));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            return broken(Error::msg("ovsdb " + path_ + ": no answer within " + seconds(timeout_) +
                                     " (is ovsdb-server running?)"));
        }
        char buf[65536];
        ssize_t r = ::recv(fd_.get(), buf, sizeof buf, 0);
        if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (r < 0) return broken(Error::sysNow("recv", "ovsdb " + path_));
        if (r == 0) return broken(Error::msg("ovsdb " + path_ + ": connection closed by server"));
        framer_.feed(std::string_view(buf, static_cast<size_t>(r)));
    }
}

Result<Json> Client::call(std::string_view method, Json params) {
    const auto deadline = Clock::now() + timeout_;
    const uint64_t id = next_id_++;
    HERD_TRY(send(request(method, std::move(params), id), deadline));
    auto reply = receiveReply(id, deadline);
    if (!reply.ok()) return reply.error();
    if (reply->contains("error") && !(*reply)["error"].is_null()) {
        return Error::msg("ovsdb " + std::string(method) + ": " + asText((*reply)["error"]));
    }
    return (*reply)["result"];
}

Result<Json> Client::transact(const Json& ops) {
    const auto deadline = Clock::now() + timeout_;
    const uint64_t id = next_id_++;
    HERD_TRY(send(transactRequest(ops, id), deadline));
    auto reply = receiveReply(id, deadline);
    if (!reply.ok()) return reply.error();
    return checkTransactReply(*reply, ops);
}

}  // namespace herd::runtime::ovsdb
