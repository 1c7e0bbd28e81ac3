#include "base/strings.h"

#include <fmt/format.h>

namespace herd {

std::string_view trim(std::string_view s, std::string_view chars) {
    auto b = s.find_first_not_of(chars);
    if (b == std::string_view::npos) return {};
    return s.substr(b, s.find_last_not_of(chars) - b + 1);
}

std::string_view trimRight(std::string_view s, std::string_view chars) {
    auto e = s.find_last_not_of(chars);
    return e == std::string_view::npos ? std::string_view() : s.substr(0, e + 1);
}

std::vector<std::string> split(std::string_view s, std::string_view sep) {
    std::vector<std::string> parts;
    size_t start = 0;
    for (size_t at; (at = s.find(sep, start)) != std::string_view::npos; start = at + sep.size())
        parts.emplace_back(s.substr(start, at - start));
    parts.emplace_back(s.substr(start));
    return parts;
}

Result<uint64_t> parseUint(std::string_view text, uint64_t min, uint64_t max,
                           std::string_view what) {
    auto allowed = [&] { return fmt::format("(allowed: {} to {})", min, max); };
    if (text.empty() || text.find_first_not_of("0123456789") != std::string_view::npos)
        return Error::msg(fmt::format("{} \"{}\": not a number {}", what, text, allowed()));
    uint64_t v = 0;
    bool over = false;
    for (char c : text) {
        const uint64_t d = static_cast<uint64_t>(c - '0');
        if (v > (UINT64_MAX - d) / 10) over = true;
        v = v * 10 + d;
    }
    if (over || v < min || v > max)
        return Error::msg(fmt::format("{} {}: out of range {}", what, text, allowed()));
    return v;
}

}  // namespace herd
