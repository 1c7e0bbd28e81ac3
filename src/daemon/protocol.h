// The control-socket wire format, as minimega's Go code speaks it (so that
// minimega's clients work with herd and herd's with minimega): each direction
// is a stream of JSON values. Pure code, no I/O, so that the request decoder
// can be unit-tested and fuzzed.
//
// Requests arrive as {"Command","Suggest","PlumbPipe"} objects, not
// necessarily newline-terminated (minimega's Python bindings send a bare
// object and wait for the reply), so the decoder finds value boundaries by
// scanning braces and strings itself. Replies are written the way Go's
// json.Encoder writes them: fields in declaration order, `<>&` and U+2028/9
// escaped, one value per line.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "cli/response.h"

namespace herd::daemon {

// The longest command or suggest line accepted (1 MiB).
inline constexpr size_t kMaxLine = size_t{1} << 20;
// The longest raw JSON value buffered: a 1 MiB line may be inflated by escapes.
inline constexpr size_t kMaxValueBytes = 4 * kMaxLine;
// How much of an oversized value is skipped (to keep the connection in sync)
// before giving up on the client.
inline constexpr size_t kMaxDiscardBytes = 64 * kMaxLine;

inline constexpr const char* kTooLong = "command too long (over 1 MiB)";

struct Request {
    std::string command;
    std::string suggest;
    std::string plumb_pipe;
};

// One item decoded from the request stream, in stream order.
struct Incoming {
    enum class Kind {
        request,  // `request` holds a decoded request
        error,    // reply with `error`; the connection stays usable
        fatal,    // reply with `error` (when not empty), then close the connection
    };
    Kind kind = Kind::request;
    Request request;
    std::string error;
};

// Incremental splitter + decoder of the request stream of one connection.
class RequestDecoder {
  public:
    // Appends every item completed by `data` to `out`.
    void feed(std::string_view data, std::vector<Incoming>& out);
    // End of stream: a pending number/literal is decoded, an unfinished
    // object is reported.
    void finish(std::vector<Incoming>& out);
    // After a fatal item further input is ignored.
    bool dead() const { return state_ == State::dead; }
    // Bytes currently held for an unfinished value.
    size_t buffered() const { return buf_.size(); }

  private:
    enum class State { idle, value, scalar, discard, dead };
    void startValue(char c);
    void endValue(std::vector<Incoming>& out);
    void endScalar(std::vector<Incoming>& out);

    State state_ = State::idle;
    std::string buf_;
    char opener_ = 0;  // '{', '[' or '"'
    int depth_ = 0;
    int max_depth_ = 0;
    bool in_string_ = false;
    bool escaped_ = false;
    size_t discarded_ = 0;
};

// Decodes one complete JSON value as Go would decode it into minimega's
// Request struct (field names case-insensitive, unknown fields ignored,
// `null` = empty request). Invalid UTF-8 is replaced, as Go does.
Result<Request> decodeRequest(std::string_view value);

// The reply to a command batch. `batch` null gives `"Resp":null`.
std::string encodeReply(const cli::Batch* batch, std::string_view rendered, bool more,
                        bool status = false);
// A reply carrying one response with only an error (parse errors, protocol errors).
std::string encodeErrorReply(const std::string& host, const std::string& error);
// The reply to a Suggest request (`Suggest` omitted when empty, as Go's omitempty).
std::string encodeSuggestReply(const std::vector<std::string>& suggestions);
// A request as minimega's Go client writes it (all three fields, newline).
std::string encodeRequest(const Request& r);

// Go's json.Encoder HTML escaping, applied to a serialised JSON text.
std::string goEscape(std::string_view json);

// A reply as a client reads it.
struct Reply {
    struct Resp {
        std::string host;
        std::string error;
    };
    std::vector<Resp> resp;
    std::string rendered;
    bool more = false;
    bool status = false;
    std::vector<std::string> suggest;
};
Result<Reply> decodeReply(std::string_view value);

// minicli's Responses.Error(): `Error (<host>): <msg>` lines, empty when none.
std::string errorLines(const std::vector<Reply::Resp>& resp);
std::string errorLines(const cli::Batch& batch);

}  // namespace herd::daemon
