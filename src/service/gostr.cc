#include "service/gostr.h"

#include <fmt/format.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>

namespace herd::go {

namespace {

// Length of the valid UTF-8 sequence at s[i], 0 when invalid.
size_t utf8Len(std::string_view s, size_t i) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
    if (n == 0 || i + n > s.size()) return 0;
    for (size_t k = 1; k < n; ++k)
        if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return 0;
    return n;
}

Error syntaxError(std::string_view fn, std::string_view s) {
    return Error::msg(fmt::format("strconv.{}: parsing {}: invalid syntax", fn, quote(s)));
}

Error rangeError(std::string_view fn, std::string_view s) {
    return Error::msg(fmt::format("strconv.{}: parsing {}: value out of range", fn, quote(s)));
}

// Parses an optionally signed decimal; `bits` bounds the magnitude.
Result<int64_t> parseSigned(std::string_view fn, std::string_view s, int bits) {
    if (s.empty()) return syntaxError(fn, s);
    bool neg = false;
    std::string_view digits = s;
    if (s[0] == '+' || s[0] == '-') {
        neg = s[0] == '-';
        digits = s.substr(1);
    }
    if (digits.empty()) return syntaxError(fn, s);
    const uint64_t cutoff = uint64_t{1} << (bits - 1);  // |min|
    uint64_t v = 0;
    bool overflow = false;
    for (char c : digits) {
        if (c < '0' || c > '9') return syntaxError(fn, s);
        if (!overflow) {
            v = v * 10 + static_cast<uint64_t>(c - '0');
            if (v > cutoff) overflow = true;
        }
    }
    if (overflow || (!neg && v == cutoff)) return rangeError(fn, s);
    return neg ? static_cast<int64_t>(0 - v) : static_cast<int64_t>(v);
}

}  // namespace

std::string quote(std::string_view s) {
    std::string out = "\"";
    for (size_t i = 0; i < s.size();) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x80) {
            size_t n = utf8Len(s, i);
            if (n == 0) {
                out += fmt::format("\\x{:02x}", c);
                ++i;
            } else {
                out.append(s.substr(i, n));
                i += n;
            }
            continue;
        }
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\a':
                out += "\\a";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\f':
                out += "\\f";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\v':
                out += "\\v";
                break;
            default:
                if (c < 0x20 || c == 0x7f)
                    out += fmt::format("\\x{:02x}", c);
                else
                    out += static_cast<char>(c);
        }
        ++i;
    }
    return out + "\"";
}

Result<uint64_t> parseUint(std::string_view s) {
    if (s.empty()) return syntaxError("ParseUint", s);
    uint64_t v = 0;
    bool overflow = false;
    for (char c : s) {
        if (c < '0' || c > '9') return syntaxError("ParseUint", s);
        auto d = static_cast<uint64_t>(c - '0');
        if (!overflow && v > (std::numeric_limits<uint64_t>::max() - d) / 10) overflow = true;
        if (!overflow) v = v * 10 + d;
    }
    if (overflow) return rangeError("ParseUint", s);
    return v;
}

Result<uint64_t> parseUint(std::string_view s, int bits) {
    auto v = parseUint(s);
    if (v.ok() && bits < 64 && *v >> bits != 0) return rangeError("ParseUint", s);
    return v;
}

Result<int64_t> parseInt(std::string_view s) {
    return parseSigned("ParseInt", s, 64);
}

Result<int64_t> atoi(std::string_view s) {
    return parseSigned("Atoi", s, 64);
}

bool isInt32(std::string_view s) {
    return parseSigned("ParseInt", s, 32).ok();
}

Result<int64_t> parseDuration(std::string_view s) {
    const auto invalid = [&] {
        return Error::msg(fmt::format("time: invalid duration {}", quote(s)));
    };
    std::string_view rest = s;
    bool neg = false;
    if (!rest.empty() && (rest[0] == '-' || rest[0] == '+')) {
        neg = rest[0] == '-';
        rest.remove_prefix(1);
    }
    if (rest == "0") return 0;
    if (rest.empty()) return invalid();
    static const std::pair<std::string_view, uint64_t> units[] = {
        {"ns", 1},
        {"us", 1000},
        {"\xc2\xb5s", 1000},  // µs (micro sign)
        {"\xce\xbcs", 1000},
        {"ms", 1000000},
        {"s", 1000000000ULL},
        {"m", 60000000000ULL},
        {"h", 3600000000000ULL}};
    const auto digit = [](char c) { return c >= '0' && c <= '9'; };
    // The magnitude in ns, exactly: |min int64| fits a uint64.
    const unsigned __int128 limit = static_cast<unsigned __int128>(1) << 63;
    unsigned __int128 total = 0;
    while (!rest.empty()) {
        uint64_t whole = 0, frac = 0, scale = 1;
        bool any = false, overflow = false;
        for (; !rest.empty() && digit(rest[0]); rest.remove_prefix(1), any = true) {
            if (whole > (UINT64_MAX - 9) / 10) overflow = true;
            if (!overflow) whole = whole * 10 + static_cast<uint64_t>(rest[0] - '0');
        }
        if (!rest.empty() && rest[0] == '.') {
            rest.remove_prefix(1);
            for (; !rest.empty() && digit(rest[0]); rest.remove_prefix(1), any = true) {
                if (scale > UINT64_MAX / 100) continue;  // digits beyond 1 ns of any unit
                frac = frac * 10 + static_cast<uint64_t>(rest[0] - '0');
                scale *= 10;
            }
        }
        if (!any || overflow) return invalid();
        size_t n = 0;
        while (n < rest.size() && rest[n] != '.' && !digit(rest[n])) ++n;
        const std::string_view unit = rest.substr(0, n);
        rest.remove_prefix(n);
        uint64_t mult = 0;
        for (const auto& [name, m] : units)
            if (unit == name) mult = m;
        if (mult == 0) return invalid();  // missing or unknown unit
        total += static_cast<unsigned __int128>(whole) * mult +
                 static_cast<unsigned __int128>(frac) * mult / scale;
        if (total > limit) return invalid();
    }
    if (!neg && total == limit) return invalid();
    return neg ? static_cast<int64_t>(0 - static_cast<uint64_t>(total))
               : static_cast<int64_t>(total);
}

bool parseDecimal(std::string_view s, double& out) {
    size_t i = 0;
    const auto digits = [&] {
        size_t start = i;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
        return i - start;
    };
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    size_t mantissa = digits();
    if (i < s.size() && s[i] == '.') {
        ++i;
        mantissa += digits();
    }
    if (mantissa == 0) return false;
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
        ++i;
        if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
        if (digits() == 0) return false;
    }
    if (i != s.size()) return false;
    const std::string text(s);
    errno = 0;
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    // Go reports overflow (±Inf) as an error; underflow to 0 is fine.
    if (errno == ERANGE && std::isinf(v)) return false;
    out = v;
    return true;
}

std::string duration(int64_t ns) {
    if (ns == 0) return "0s";
    bool neg = ns < 0;
    uint64_t u = neg ? 0 - static_cast<uint64_t>(ns) : static_cast<uint64_t>(ns);
    std::string out;
    // Fraction of `unit` with trailing zeros removed, Go style.
    auto frac = [](uint64_t v, uint64_t unit, int digits) {
        std::string f = fmt::format("{:0{}}", v % unit, digits);
        while (!f.empty() && f.back() == '0') f.pop_back();
        return fmt::format("{}{}{}", v / unit, f.empty() ? "" : ".", f);
    };
    if (u < 1000) {
        out = fmt::format("{}ns", u);
    } else if (u < 1000000) {
        out = frac(u, 1000, 3) + "µs";
    } else if (u < 1000000000) {
        out = frac(u, 1000000, 6) + "ms";
    } else {
        uint64_t secs = u / 1000000000;
        uint64_t h = secs / 3600, m = (secs / 60) % 60;
        std::string s = frac(u % 60000000000ULL, 1000000000, 9) + "s";
        if (h > 0)
            out = fmt::format("{}h{}m{}", h, m, s);
        else if (m > 0)
            out = fmt::format("{}m{}", m, s);
        else
            out = s;
    }
    return neg ? "-" + out : out;
}

std::string list(const std::vector<std::string>& v) {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); ++i) out += (i ? " " : "") + v[i];
    return out + "]";
}

std::string jsonMap(const std::map<std::string, std::string>& m) {
    std::string raw =
        nlohmann::json(m).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    std::string out;
    for (char c : raw) {
        if (c == '<')
            out += "\\u003c";
        else if (c == '>')
            out += "\\u003e";
        else if (c == '&')
            out += "\\u0026";
        else
            out += c;
    }
    return out;
}

std::string joinPath(std::string_view base, std::string_view rel) {
    std::string joined = std::string(base) + "/" + std::string(rel);
    std::string clean = std::filesystem::path(joined).lexically_normal().string();
    while (clean.size() > 1 && clean.back() == '/') clean.pop_back();
    return clean.empty() ? "." : clean;
}

}  // namespace herd::go
