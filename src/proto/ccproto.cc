#include "proto/ccproto.h"

#include <algorithm>

namespace herd::ccproto {

std::string encode(const nlohmann::json& header, std::string_view body) {
    std::string h = header.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    std::string out;
    out.reserve(8 + h.size() + body.size());
    putU32(out, static_cast<uint32_t>(4 + h.size() + body.size()));
    putU32(out, static_cast<uint32_t>(h.size()));
    out += h;
    out.append(body.data(), body.size());
    return out;
}

bool jsonWithin(std::string_view s, int max_depth, size_t max_items) {
    int depth = 0;
    size_t items = 0;
    bool in_str = false, esc = false;
    for (char ch : s) {
        if (in_str) {
            if (esc)
                esc = false;
            else if (ch == '\\')
                esc = true;
            else if (ch == '"')
                in_str = false;
            continue;
        }
        switch (ch) {
            case '"':
                in_str = true;
                break;
            case '[':
            case '{':
                if (++depth > max_depth) return false;
                break;
            case ']':
            case '}':
                if (--depth < 0) return false;
                break;
            case ',':
            case ':':
                if (++items > max_items) return false;
                break;
            default:
                break;
        }
    }
    return true;
}

std::optional<Frame> Decoder::next(std::string& error) {
    const size_t avail = buf_.size() - pos_;
    if (avail < 4) return compact();
    uint32_t len = getU32(buf_.data() + pos_);
    if (len < 6 || len > lim_.max_frame) {
        error = "bad frame length " + std::to_string(len) + " (allowed: 6 to " +
                std::to_string(lim_.max_frame) + ")";
        return std::nullopt;
    }
    if (avail < 8) return compact();
    uint32_t hlen = getU32(buf_.data() + pos_ + 4);
    if (hlen < 2 || hlen > len - 4 || hlen > lim_.max_header) {
        error = "bad header length " + std::to_string(hlen) + " (allowed: 2 to " +
                std::to_string(std::min(len - 4, lim_.max_header)) + ")";
        return std::nullopt;
    }
    if (avail < 4 + size_t{len}) return compact();
    Frame f;
    const char* h = buf_.data() + pos_ + 8;
    if (!jsonWithin(std::string_view(h, hlen), lim_.max_depth, lim_.max_items)) {
        error = "frame header nests deeper than " + std::to_string(lim_.max_depth) +
                " or has too many values";
        return std::nullopt;
    }
    f.header = nlohmann::json::parse(h, h + hlen, nullptr, false);
    if (f.header.is_discarded() || !f.header.is_object() || !f.header.contains("type") ||
        !f.header["type"].is_string()) {
        error = "bad frame header";
        return std::nullopt;
    }
    f.body.assign(h + hlen, len - 4 - hlen);
    f.size = 4 + size_t{len};
    pos_ += 4 + size_t{len};
    return f;
}

std::optional<Frame> Decoder::compact() {
    if (pos_ == buf_.size() && buf_.capacity() > kKeep) {
        // Idle after a big frame: give the memory back rather than keep
        // a frame's worth per connection.
        std::string().swap(buf_);
    } else if (pos_ > 0) {
        buf_.erase(0, pos_);
    }
    pos_ = 0;
    return std::nullopt;
}

std::string safeRelative(std::string_view p) {
    while (!p.empty() && p.front() == '/') p.remove_prefix(1);
    std::string out;
    size_t i = 0;
    while (i <= p.size()) {
        size_t j = p.find('/', i);
        if (j == std::string_view::npos) j = p.size();
        std::string_view part = p.substr(i, j - i);
        if (part == ".." || part.find('\0') != std::string_view::npos) return "";
        if (!part.empty() && part != ".") {
            if (!out.empty()) out += '/';
            out.append(part);
        }
        i = j + 1;
    }
    return out;
}

std::vector<std::string> jstrs(const nlohmann::json& j, const char* k) {
    std::vector<std::string> out;
    auto it = j.find(k);
    if (it == j.end() || !it->is_array()) return out;
    for (const auto& v : *it)
        if (v.is_string()) out.push_back(v.get<std::string>());
    return out;
}

}  // namespace herd::ccproto
