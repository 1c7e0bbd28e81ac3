// A small OVSDB client (RFC 7047): JSON-RPC over ovsdb-server's unix socket,
// enough to run `transact` requests against the Open_vSwitch database.
// ovs-vsctl is never forked: one connection, one round trip per transaction,
// however many rows it touches.
//
// The message building and parsing parts (value encodings, the stream framer,
// reply checking) are free functions so that they can be tested without a
// server.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"

namespace herd::runtime::ovsdb {

using Json = nlohmann::json;

inline constexpr std::string_view kDatabase = "Open_vSwitch";

// How OVSDB's JSON-RPC protocol (RFC 7047) writes values that are not plain
// JSON: uuids, sets and maps.
Json uuid(const std::string& u);                                          // ["uuid", u]
Json namedUuid(const std::string& name);                                  // ["named-uuid", name]
Json set(Json::array_t items);                                            // ["set", [...]]
Json strMap(const std::vector<std::pair<std::string, std::string>>& kv);  // ["map", [[k, v]...]]
// A where-clause condition [column, function, value].
Json cond(const std::string& column, const std::string& function, Json value);

// {"method": m, "params": p, "id": id}
Json request(std::string_view method, Json params, uint64_t id);
// The `transact` request on the Open_vSwitch database for `ops` (an array).
Json transactRequest(const Json& ops, uint64_t id);

// The uuid of a ["uuid", "..."] value; nullopt when `v` is not one.
std::optional<std::string> uuidOf(const Json& v);
// The members of a set column value: an atom alone or ["set", [...]].
std::vector<Json> setItems(const Json& v);

// Cuts a byte stream into whole JSON texts: ovsdb-server writes messages back
// to back, with no delimiter, and a read may end mid-message.
class Framer {
  public:
    void feed(std::string_view bytes) { buf_.append(bytes); }
    // The next complete JSON text, or nullopt until more bytes arrive. An
    // error when the stream is not a sequence of JSON objects.
    Result<std::optional<std::string>> next();
    size_t pending() const { return buf_.size(); }

  private:
    std::string buf_;
    size_t scan_ = 0;  // bytes of buf_ already scanned
    int depth_ = 0;
    bool in_string_ = false;
    bool escape_ = false;
};

// The per-operation results of a `transact` reply, or an error that names the
// first failing operation (its "op"/"table" from `ops`) with the server's
// error and details. A reply one element longer than `ops` carries a commit
// error (e.g. a constraint violation).
Result<Json> checkTransactReply(const Json& reply, const Json& ops);

class Client {
  public:
    // Connects to the unix socket `path`. Each later call waits at most
    // `timeout` for its reply.
    static Result<Client> connect(const std::string& path, std::chrono::milliseconds timeout);

    // Runs one transaction (atomic: all of `ops` or none); returns the results.
    Result<Json> transact(const Json& ops);
    // Any other JSON-RPC method; returns "result".
    Result<Json> call(std::string_view method, Json params);

    const std::string& path() const { return path_; }
    bool connected() const { return static_cast<bool>(fd_); }

  private:
    Client(std::string path, unique_fd fd, std::chrono::milliseconds timeout)
        : path_(std::move(path)), fd_(std::move(fd)), timeout_(timeout) {}
    Result<void> send(const Json& msg, std::chrono::steady_clock::time_point deadline);
    Result<Json> receiveReply(uint64_t id, std::chrono::steady_clock::time_point deadline);
    // The connection is unusable after a timeout or an I/O error: a late
    // reply must never be taken for the next request's.
    Error broken(Error e);

    std::string path_;
    unique_fd fd_;
    std::chrono::milliseconds timeout_;
    Framer framer_;
    uint64_t next_id_ = 1;
};

}  // namespace herd::runtime::ovsdb
