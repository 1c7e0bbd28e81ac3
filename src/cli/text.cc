#include "cli/text.h"

#include <limits>

namespace herd::cli::text {

namespace {

bool cont(unsigned char c, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    return c >= lo && c <= hi;
}

}  // namespace

Rune decode(std::string_view s, size_t i) {
    const auto at = [&](size_t k) -> unsigned char {
        return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0;
    };
    const unsigned char b0 = at(0);
    if (b0 < 0x80) return {b0, 1};
    const Rune bad{kRuneError, 1};
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        if (!cont(at(1))) return bad;
        return {static_cast<char32_t>(((b0 & 0x1F) << 6) | (at(1) & 0x3F)), 2};
    }
    if (b0 >= 0xE0 && b0 <= 0xEF) {
        // Go rejects overlong forms (E0 80..9F) and surrogates (ED A0..BF).
        const unsigned char lo = b0 == 0xE0 ? 0xA0 : 0x80;
        const unsigned char hi = b0 == 0xED ? 0x9F : 0xBF;
        if (!cont(at(1), lo, hi) || !cont(at(2))) return bad;
        return {static_cast<char32_t>(((b0 & 0x0F) << 12) | ((at(1) & 0x3F) << 6) | (at(2) & 0x3F)),
                3};
    }
    if (b0 >= 0xF0 && b0 <= 0xF4) {
        const unsigned char lo = b0 == 0xF0 ? 0x90 : 0x80;
        const unsigned char hi = b0 == 0xF4 ? 0x8F : 0xBF;
        if (!cont(at(1), lo, hi) || !cont(at(2)) || !cont(at(3))) return bad;
        return {static_cast<char32_t>(((b0 & 0x07) << 18) | ((at(1) & 0x3F) << 12) |
                                      ((at(2) & 0x3F) << 6) | (at(3) & 0x3F)),
                4};
    }
    return bad;
}

void append(std::string& out, char32_t r) {
    if (r < 0x80) {
        out += static_cast<char>(r);
    } else if (r < 0x800) {
        out += static_cast<char>(0xC0 | (r >> 6));
        out += static_cast<char>(0x80 | (r & 0x3F));
    } else if (r < 0x10000) {
        out += static_cast<char>(0xE0 | (r >> 12));
        out += static_cast<char>(0x80 | ((r >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (r & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (r >> 18));
        out += static_cast<char>(0x80 | ((r >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((r >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (r & 0x3F));
    }
}

size_t runeCount(std::string_view s) {
    size_t n = 0;
    for (size_t i = 0; i < s.size(); i += decode(s, i).size) ++n;
    return n;
}

bool isSpace(char32_t r) {
    switch (r) {
        case '\t':
        case '\n':
        case '\v':
        case '\f':
        case '\r':
        case ' ':
        case 0x85:
        case 0xA0:
        case 0x1680:
        case 0x2028:
        case 0x2029:
        case 0x202F:
        case 0x205F:
        case 0x3000:
            return true;
        default:
            return r >= 0x2000 && r <= 0x200A;
    }
}

bool hasSpace(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
        Rune r = decode(s, i);
        if (isSpace(r.r)) return true;
        i += r.size;
    }
    return false;
}

std::string_view trimSpace(std::string_view s) {
    size_t b = 0;
    while (b < s.size()) {
        Rune r = decode(s, b);
        if (!isSpace(r.r)) break;
        b += r.size;
    }
    s.remove_prefix(b);
    // Fast path: a trailing run of ASCII spaces after an ASCII byte. An
    // ASCII byte is always a whole rune, so the run starts right after it.
    size_t e = s.size();
    auto asciiSpace = [](char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
    };
    while (e > 0 && asciiSpace(s[e - 1])) --e;
    if (e == 0) return s.substr(0, 0);
    if (static_cast<unsigned char>(s[e - 1]) < 0x80) return s.substr(0, e);
    // Otherwise scan forward remembering where the trailing run of spaces
    // starts: decoding backwards would need Go's DecodeLastRune rules too.
    size_t end = 0;
    for (size_t i = 0; i < s.size();) {
        Rune r = decode(s, i);
        i += r.size;
        if (!isSpace(r.r)) end = i;
    }
    return s.substr(0, end);
}

std::string_view trimLastWord(std::string_view s) {
    size_t end = 0;
    for (size_t i = 0; i < s.size();) {
        Rune r = decode(s, i);
        i += r.size;
        if (isSpace(r.r)) end = i;
    }
    return s.substr(0, end);
}

std::string toLower(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

std::optional<int64_t> atoi(std::string_view s) {
    bool neg = false;
    if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        s.remove_prefix(1);
    }
    if (s.empty()) return std::nullopt;
    // Accumulate as a negative number so INT64_MIN is representable.
    int64_t v = 0;
    constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        const int d = c - '0';
        if (v < (kMin + d) / 10) return std::nullopt;
        v = v * 10 - d;
    }
    if (!neg) {
        if (v == kMin) return std::nullopt;
        v = -v;
    }
    return v;
}

}  // namespace herd::cli::text
