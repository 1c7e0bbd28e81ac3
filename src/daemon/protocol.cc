#include "daemon/protocol.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "base/strings.h"

namespace herd::daemon {

namespace {

using ojson = nlohmann::ordered_json;

// Go's json.Decoder refuses deeper nesting too (at 10000); a request is flat.
constexpr int kMaxDepth = 1000;
// Numbers and literals are short; a long bare token is junk.
constexpr size_t kMaxScalar = 64;

bool isSpace(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

bool isDelimiter(char c) {
    return isSpace(c) || c == '{' || c == '}' || c == '[' || c == ']' || c == ',' || c == ':' ||
           c == '"';
}

// How Go's scanner names an offending byte: 'x', '\'', '\x01'.
std::string describeChar(unsigned char c) {
    if (c == '\'') return "'\\''";
    if (c >= 0x20 && c < 0x7f) return fmt::format("'{}'", static_cast<char>(c));
    return fmt::format("'\\x{:02x}'", c);
}

bool isJsonNumber(std::string_view s) {
    size_t i = 0;
    auto digits = [&] {
        size_t start = i;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
        return i > start;
    };
    if (i < s.size() && s[i] == '-') ++i;
    if (i < s.size() && s[i] == '0') {
        ++i;
    } else if (!digits()) {
        return false;
    }
    if (i < s.size() && s[i] == '.') {
        ++i;
        if (!digits()) return false;
    }
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
        ++i;
        if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
        if (!digits()) return false;
    }
    return i == s.size();
}

// Length of the valid UTF-8 sequence at s[i], or 0 if the byte there starts
// no valid sequence (overlong forms, surrogates and > U+10FFFF are invalid).
size_t utf8SequenceLength(std::string_view s, size_t i) {
    auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char c = b(i);
    if (c < 0x80) return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else {
        return 0;
    }
    if (i + n > s.size()) return 0;
    if (b(i + 1) < lo || b(i + 1) > hi) return 0;
    for (size_t k = 2; k < n; ++k) {
        if (b(i + k) < 0x80 || b(i + k) > 0xbf) return 0;
    }
    return n;
}

// Go decodes invalid UTF-8 in strings as U+FFFD, one per bad byte.
std::string sanitizeUtf8(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        size_t n = utf8SequenceLength(s, i);
        if (n == 0) {
            out += "\xef\xbf\xbd";
            ++i;
        } else {
            out.append(s.substr(i, n));
            i += n;
        }
    }
    return out;
}

const char* goTypeName(const ojson& v) {
    if (v.is_object()) return "object";
    if (v.is_array()) return "array";
    if (v.is_string()) return "string";
    if (v.is_boolean()) return "bool";
    if (v.is_number()) return "number";
    return "null";
}

// nlohmann's messages start with "[json.exception.parse_error.101] "; the
// rest names the position and the problem. Bounded: it quotes the input.
std::string cleanParseError(std::string_view what) {
    if (!what.empty() && what.front() == '[') {
        auto close = what.find("] ");
        if (close != std::string_view::npos) what.remove_prefix(close + 2);
    }
    std::string msg = "malformed request: " + std::string(what.substr(0, 300));
    return msg;
}

std::string lowerAscii(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

std::string dumpLine(const ojson& j) {
    std::string s = goEscape(j.dump(-1, ' ', false, ojson::error_handler_t::replace));
    s += '\n';
    return s;
}

Incoming errorItem(std::string msg, Incoming::Kind kind = Incoming::Kind::error) {
    Incoming in;
    in.kind = kind;
    in.error = std::move(msg);
    return in;
}

}  // namespace

void RequestDecoder::startValue(char c) {
    state_ = State::value;
    opener_ = c;
    buf_.assign(1, c);
    in_string_ = c == '"';
    escaped_ = false;
    depth_ = c == '"' ? 0 : 1;
    max_depth_ = depth_;
}

void RequestDecoder::feed(std::string_view data, std::vector<Incoming>& out) {
    for (size_t i = 0; i < data.size(); ++i) {
        const char c = data[i];
        switch (state_) {
            case State::dead:
                return;

            case State::idle:
                if (isSpace(c)) continue;
                if (c == '{' || c == '[' || c == '"') {
                    startValue(c);
                } else if (c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f' || c == 'n') {
                    state_ = State::scalar;
                    buf_.assign(1, c);
                } else {
                    // No way to tell where this junk ends: give up on the client.
                    out.push_back(
                        errorItem(fmt::format("invalid character {} looking for beginning of value",
                                              describeChar(static_cast<unsigned char>(c))),
                                  Incoming::Kind::fatal));
                    state_ = State::dead;
                    buf_.clear();
                    return;
                }
                continue;

            case State::scalar:
                if (isDelimiter(c)) {
                    endScalar(out);
                    --i;  // the delimiter starts whatever follows
                    continue;
                }
                buf_ += c;
                if (buf_.size() > kMaxScalar) {
                    out.push_back(
                        errorItem(fmt::format("invalid character {} looking for beginning of value",
                                              describeChar(static_cast<unsigned char>(buf_[0]))),
                                  Incoming::Kind::fatal));
                    state_ = State::dead;
                    buf_.clear();
                    return;
                }
                continue;

            case State::value:
            case State::discard: {
                bool complete = false;
                if (in_string_) {
                    if (escaped_) {
                        escaped_ = false;
                    } else if (c == '\\') {
                        escaped_ = true;
                    } else if (c == '"') {
                        in_string_ = false;
                        complete = opener_ == '"';
                    }
                } else if (c == '"') {
                    in_string_ = true;
                } else if (c == '{' || c == '[') {
                    max_depth_ = std::max(max_depth_, ++depth_);
                } else if (c == '}' || c == ']') {
                    complete = --depth_ == 0;
                }

                if (state_ == State::discard) {
                    if (complete) {
                        state_ = State::idle;
                    } else if (++discarded_ > kMaxDiscardBytes) {
                        out.push_back(errorItem({}, Incoming::Kind::fatal));
                        state_ = State::dead;
                        return;
                    }
                    continue;
                }

                buf_ += c;
                if (complete) {
                    endValue(out);
                } else if (buf_.size() > kMaxValueBytes) {
                    // Reply now; skip the rest of this value to stay in sync.
                    out.push_back(errorItem(kTooLong));
                    std::string().swap(buf_);
                    state_ = State::discard;
                    discarded_ = 0;
                }
                continue;
            }
        }
    }
}

void RequestDecoder::endValue(std::vector<Incoming>& out) {
    state_ = State::idle;
    if (opener_ == '"') {
        out.push_back(
            errorItem("json: cannot unmarshal string into Go value of type miniclient.Request"));
    } else if (max_depth_ > kMaxDepth) {
        out.push_back(errorItem("malformed request: exceeded max depth"));
    } else {
        auto r = decodeRequest(buf_);
        if (!r.ok()) {
            out.push_back(errorItem(r.error().text()));
        } else if (r->command.size() > kMaxLine || r->suggest.size() > kMaxLine) {
            out.push_back(errorItem(kTooLong));
        } else {
            Incoming in;
            in.request = std::move(*r);
            out.push_back(std::move(in));
        }
    }
    // Do not keep a 4 MiB buffer around for the next 40-byte request.
    if (buf_.capacity() > 64 * 1024) {
        std::string().swap(buf_);
    } else {
        buf_.clear();
    }
}

void RequestDecoder::endScalar(std::vector<Incoming>& out) {
    state_ = State::idle;
    std::string tok;
    tok.swap(buf_);
    if (tok == "null") {
        out.emplace_back();  // Go leaves the struct empty
    } else if (tok == "true" || tok == "false") {
        out.push_back(
            errorItem("json: cannot unmarshal bool into Go value of type miniclient.Request"));
    } else if (isJsonNumber(tok)) {
        out.push_back(
            errorItem("json: cannot unmarshal number into Go value of type miniclient.Request"));
    } else {
        out.push_back(
            errorItem(fmt::format("malformed request: invalid literal \"{}\"", sanitizeUtf8(tok))));
    }
}

void RequestDecoder::finish(std::vector<Incoming>& out) {
    if (state_ == State::scalar) endScalar(out);
    if (state_ == State::value || state_ == State::discard) {
        out.push_back(errorItem("unexpected end of JSON input", Incoming::Kind::fatal));
    }
    state_ = State::dead;
    buf_.clear();
}

Result<Request> decodeRequest(std::string_view value) {
    ojson j;
    try {
        j = ojson::parse(sanitizeUtf8(value));
    } catch (const std::exception& e) {
        return Error::msg(cleanParseError(e.what()));
    }
    Request r;
    if (j.is_null()) return r;
    if (!j.is_object()) {
        return Error::msg(fmt::format(
            "json: cannot unmarshal {} into Go value of type miniclient.Request", goTypeName(j)));
    }
    // Go matches field names case-insensitively and keeps the last value;
    // unknown fields are ignored, null leaves the field alone.
    std::string type_error;
    for (const auto& [key, v] : j.items()) {
        std::string k = lowerAscii(key);
        std::string* field = nullptr;
        const char* name = nullptr;
        if (k == "command") {
            field = &r.command;
            name = "Command";
        } else if (k == "suggest") {
            field = &r.suggest;
            name = "Suggest";
        } else if (k == "plumbpipe") {
            field = &r.plumb_pipe;
            name = "PlumbPipe";
        }
        if (!field || v.is_null()) continue;
        if (!v.is_string()) {
            if (type_error.empty()) {
                type_error = fmt::format(
                    "json: cannot unmarshal {} into Go struct field Request.{} of type string",
                    goTypeName(v), name);
            }
            continue;
        }
        *field = v.get<std::string>();
    }
    if (!type_error.empty()) return Error::msg(type_error);
    return r;
}

std::string goEscape(std::string_view json) {
    std::string out;
    out.reserve(json.size() + 16);
    for (size_t i = 0; i < json.size(); ++i) {
        char c = json[i];
        switch (c) {
            case '<':
                out += "\\u003c";
                break;
            case '>':
                out += "\\u003e";
                break;
            case '&':
                out += "\\u0026";
                break;
            case '\xe2':
                // U+2028 / U+2029 (E2 80 A8 / E2 80 A9): escaped by Go for JSONP safety.
                if (i + 2 < json.size() && json[i + 1] == '\x80' &&
                    (json[i + 2] == '\xa8' || json[i + 2] == '\xa9')) {
                    out += json[i + 2] == '\xa8' ? "\\u2028" : "\\u2029";
                    i += 2;
                } else {
                    out += c;
                }
                break;
            default:
                out += c;
        }
    }
    return out;
}

namespace {

// A reply is written straight into its text: building it as a JSON tree
// first (and parsing each Data back from Go's encoding) took most of the
// time of a 10,000-VM `vm info`. The text must equal what dumpLine writes
// for that tree (nlohmann's compact dump, then goEscape), byte for byte;
// whatever the fast paths below do not cover goes through that tree.

// The length of the well-formed UTF-8 sequence (Unicode's table 3-7) at
// s[i], a non-ASCII byte; 0 when it is not one, or is U+2028 or U+2029
// (which goEscape rewrites).
size_t utf8Sequence(std::string_view s, size_t i) {
    auto at = [&](size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0; };
    auto cont = [](unsigned char c, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
        return c >= lo && c <= hi;
    };
    const unsigned char b = at(0);
    if (b >= 0xC2 && b <= 0xDF) return cont(at(1)) ? 2 : 0;
    if (b == 0xE2 && at(1) == 0x80 && (at(2) == 0xA8 || at(2) == 0xA9)) return 0;
    if (b == 0xE0) return cont(at(1), 0xA0) && cont(at(2)) ? 3 : 0;
    if (b == 0xED) return cont(at(1), 0x80, 0x9F) && cont(at(2)) ? 3 : 0;
    if (b >= 0xE1 && b <= 0xEF) return cont(at(1)) && cont(at(2)) ? 3 : 0;
    if (b == 0xF0) return cont(at(1), 0x90) && cont(at(2)) && cont(at(3)) ? 4 : 0;
    if (b == 0xF4) return cont(at(1), 0x80, 0x8F) && cont(at(2)) && cont(at(3)) ? 4 : 0;
    if (b >= 0xF1 && b <= 0xF3) return cont(at(1)) && cont(at(2)) && cont(at(3)) ? 4 : 0;
    return 0;
}

// Appends `s` as dumpLine would write it, when it is well-formed UTF-8
// without U+2028/U+2029 (nlohmann then copies its non-ASCII bytes as they
// are); false (and `out` unchanged) otherwise.
bool appendPlainString(std::string& out, std::string_view s) {
    static const char* hex = "0123456789abcdef";
    for (size_t i = 0; i < s.size();) {
        if (static_cast<unsigned char>(s[i]) < 0x80) {
            ++i;
            continue;
        }
        const size_t n = utf8Sequence(s, i);
        if (n == 0) return false;
        i += n;
    }
    out += '"';
    size_t plain = 0;  // start of the run not yet copied
    for (size_t i = 0; i < s.size(); ++i) {
        const auto b = static_cast<unsigned char>(s[i]);
        if (b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&') continue;
        out.append(s.substr(plain, i - plain));
        plain = i + 1;
        switch (b) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\f':
                out += "\\f";
                break;
            case '\r':
                out += "\\r";
                break;
            default:  // other control bytes, and what Go escapes: < > &
                out += "\\u00";
                out += hex[b >> 4];
                out += hex[b & 0xF];
        }
    }
    out.append(s.substr(plain));
    out += '"';
    return true;
}

void appendString(std::string& out, std::string_view s) {
    if (appendPlainString(out, s)) return;
    out += goEscape(ojson(std::string(s)).dump(-1, ' ', false, ojson::error_handler_t::replace));
}

// A Data value as dumpLine writes parse(goJson(v)): the same tree when it
// holds no floats (Go's and nlohmann's float texts differ) and its strings
// are well-formed UTF-8 (Go's encoding replaces the rest). False otherwise; `out`
// may then hold part of it (the caller truncates).
bool appendPlainData(std::string& out, const nlohmann::json& v) {
    using T = nlohmann::json::value_t;
    switch (v.type()) {
        case T::null:
        case T::discarded:
        case T::binary:
            out += "null";
            return true;
        case T::boolean:
            out += v.get<bool>() ? "true" : "false";
            return true;
        case T::number_integer:
            out += std::to_string(v.get<int64_t>());
            return true;
        case T::number_unsigned:
            out += std::to_string(v.get<uint64_t>());
            return true;
        case T::number_float:
            return false;
        case T::string:
            return appendPlainString(out, v.get_ref<const std::string&>());
        case T::array: {
            out += '[';
            bool first = true;
            for (const auto& e : v) {
                if (!first) out += ',';
                first = false;
                if (!appendPlainData(out, e)) return false;
            }
            out += ']';
            return true;
        }
        case T::object: {
            out += '{';
            bool first = true;
            for (auto it = v.begin(); it != v.end(); ++it) {
                if (!first) out += ',';
                first = false;
                if (!appendPlainString(out, it.key())) return false;
                out += ':';
                if (!appendPlainData(out, it.value())) return false;
            }
            out += '}';
            return true;
        }
    }
    return false;
}

void appendStrings(std::string& out, const std::vector<std::string>& v) {
    out += '[';
    for (size_t i = 0; i < v.size(); ++i) {
        if (i > 0) out += ',';
        appendString(out, v[i]);
    }
    out += ']';
}

// One response as dumpLine writes cli::toJson(r).
void appendResponse(std::string& out, const cli::Response& r) {
    out += "{\"Host\":";
    appendString(out, r.host);
    out += ",\"Response\":";
    appendString(out, r.response);
    out += ",\"Header\":";
    if (r.header.empty()) {
        out += "null";
    } else {
        appendStrings(out, r.header);
    }
    out += ",\"Tabular\":";
    if (r.tabular.empty()) {
        out += "null";
    } else {
        out += '[';
        for (size_t i = 0; i < r.tabular.size(); ++i) {
            if (i > 0) out += ',';
            appendStrings(out, r.tabular[i]);
        }
        out += ']';
    }
    out += ",\"Error\":";
    appendString(out, r.error);
    out += ",\"Data\":";
    if (!r.data_go.empty()) {
        // Go's text equals what the tree would write but where Go and
        // nlohmann escape differently: \b and \f (Go: \u0008, \u000c) and
        // invalid UTF-8 (Go: \ufffd; nlohmann: the character's bytes). The
        // search may also hit an escaped backslash: then the tree's way.
        const std::string_view go = r.data_go;
        if (go.find("\\u0008") == std::string_view::npos &&
            go.find("\\u000c") == std::string_view::npos &&
            go.find("\\ufffd") == std::string_view::npos) {
            out += go;
        } else {
            out += goEscape(ojson::parse(go).dump(-1, ' ', false, ojson::error_handler_t::replace));
        }
    } else {
        const size_t mark = out.size();
        if (!appendPlainData(out, r.data)) {
            out.resize(mark);
            ojson data = ojson::parse(cli::goJson(r.data));
            out += goEscape(data.dump(-1, ' ', false, ojson::error_handler_t::replace));
        }
    }
    out += '}';
}

}  // namespace

std::string encodeReply(const cli::Batch* batch, std::string_view rendered, bool more,
                        bool status) {
    std::string out;
    size_t guess = rendered.size() + 64;
    if (batch) {
        for (const auto& r : *batch)
            for (const auto& row : r.tabular)
                for (const auto& c : row) guess += c.size() + 3;
    }
    out.reserve(guess + guess / 4);
    out += "{\"Resp\":";
    if (batch) {
        out += '[';
        for (size_t i = 0; i < batch->size(); ++i) {
            if (i > 0) out += ',';
            appendResponse(out, (*batch)[i]);
        }
        out += ']';
    } else {
        out += "null";
    }
    out += ",\"Rendered\":";
    appendString(out, rendered);
    out += more ? ",\"More\":true" : ",\"More\":false";
    out += status ? ",\"Status\":true}\n" : ",\"Status\":false}\n";
    return out;
}

std::string encodeErrorReply(const std::string& host, const std::string& error) {
    cli::Response r;
    r.host = host;
    r.error = error;
    cli::Batch b{std::move(r)};
    return encodeReply(&b, "", false);
}

std::string encodeSuggestReply(const std::vector<std::string>& suggestions) {
    ojson j = ojson::object();
    j["Resp"] = nullptr;
    j["Rendered"] = "";
    j["More"] = false;
    j["Status"] = false;
    if (!suggestions.empty()) j["Suggest"] = suggestions;
    return dumpLine(j);
}

std::string encodeRequest(const Request& r) {
    ojson j = ojson::object();
    j["Command"] = r.command;
    j["Suggest"] = r.suggest;
    j["PlumbPipe"] = r.plumb_pipe;
    return dumpLine(j);
}

Result<Reply> decodeReply(std::string_view value) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(sanitizeUtf8(value));
    } catch (const std::exception& e) {
        return Error::msg(cleanParseError(e.what()));
    }
    if (!j.is_object()) return Error::msg("malformed reply: not an object");
    auto str = [](const nlohmann::json& o, const char* k) {
        auto it = o.find(k);
        return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    auto boolean = [](const nlohmann::json& o, const char* k) {
        auto it = o.find(k);
        return it != o.end() && it->is_boolean() && it->get<bool>();
    };
    Reply r;
    r.rendered = str(j, "Rendered");
    r.more = boolean(j, "More");
    r.status = boolean(j, "Status");
    if (auto it = j.find("Resp"); it != j.end() && it->is_array()) {
        for (const auto& x : *it) {
            if (!x.is_object()) continue;
            r.resp.push_back({str(x, "Host"), str(x, "Error")});
        }
    }
    if (auto it = j.find("Suggest"); it != j.end() && it->is_array()) {
        for (const auto& x : *it) {
            if (x.is_string()) r.suggest.push_back(x.get<std::string>());
        }
    }
    return r;
}

namespace {

template <typename Range, typename HostFn, typename ErrFn>
std::string joinErrors(const Range& resp, HostFn host, ErrFn err) {
    std::string out;
    for (const auto& x : resp) {
        if (err(x).empty()) continue;
        if (!out.empty()) out += '\n';
        out += fmt::format("Error ({}): {}", host(x), err(x));
    }
    // minicli trims the whole text.
    return std::string(trim(out, " \t\r\n"));
}

}  // namespace

std::string errorLines(const std::vector<Reply::Resp>& resp) {
    return joinErrors(
        resp, [](const Reply::Resp& r) -> const std::string& { return r.host; },
        [](const Reply::Resp& r) -> const std::string& { return r.error; });
}

std::string errorLines(const cli::Batch& batch) {
    return joinErrors(
        batch, [](const cli::Response& r) -> const std::string& { return r.host; },
        [](const cli::Response& r) -> const std::string& { return r.error; });
}

}  // namespace herd::daemon
