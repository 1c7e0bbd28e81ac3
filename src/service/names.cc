#include "service/names.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <map>

#include "base/strings.h"
#include "service/gostr.h"

namespace herd {

namespace {

constexpr int64_t kMaxInt32 = std::numeric_limits<int32_t>::max();

std::string pad(int64_t n, size_t width) {
    return width ? fmt::format("{:0{}}", n, width) : std::to_string(n);
}

// `a-b` inside brackets: the numbers as strings, zero-padded to the width of
// the ends when both ends have the same width.
Result<std::vector<std::string>> subrange(std::string_view s) {
    auto dash = s.find('-');
    if (dash == std::string_view::npos || s.find('-', dash + 1) != std::string_view::npos)
        return Error::msg(fmt::format("invalid subrange {}", s));
    std::string_view lo = s.substr(0, dash), hi = s.substr(dash + 1);
    size_t width = lo.size() == hi.size() ? lo.size() : 0;
    auto a = go::atoi(lo);
    if (!a) return a.error();
    auto b = go::atoi(hi);
    if (!b) return b.error();
    // minimega range-checks each generated value; checking the ends first
    // gives the same first error without generating billions of names.
    if (*b >= *a && *b > kMaxInt32)
        return Error::msg(fmt::format("value of out range: {}", std::max(*a, kMaxInt32 + 1)));
    if (*b >= *a && static_cast<uint64_t>(*b - *a) >= kMaxRangeNames)
        return Error::msg(fmt::format("range too large: {} (at most {} names)", s, kMaxRangeNames));
    std::vector<std::string> out;
    for (int64_t i = *a; i <= *b; ++i) out.push_back(pad(i, width));
    return out;
}

// `prefix[spec]` (the caller found the `[`).
Result<std::vector<std::string>> splitRange(std::string_view v, size_t open) {
    std::string_view prefix = v.substr(0, open);
    std::string_view s = v.substr(open);
    if (s.back() != ']') return Error::msg("invalid range specification");
    std::string_view body = s.substr(1, s.size() - 2);

    std::map<int64_t, bool> nums;  // de-duplicated and sorted
    long width = -1;               // -1: unset, 0: mixed widths
    auto note = [&](std::string_view n) {
        if (width == -1)
            width = static_cast<long>(n.size());
        else if (static_cast<long>(n.size()) != width)
            width = 0;
    };
    for (const std::string& part : split(body, ",")) {
        if (part.find('-') != std::string::npos) {
            auto r = subrange(part);
            if (!r) return r.error();
            for (auto& n : *r) {
                note(n);
                nums[go::atoi(n).value()] = true;
            }
        } else {
            note(part);
            auto t = go::atoi(part);
            if (!t) return t.error();
            if (*t < 0 || *t > kMaxInt32)
                return Error::msg(fmt::format("value of out range: {}", *t));
            nums[*t] = true;
        }
        if (nums.size() > kMaxRangeNames)
            return Error::msg(
                fmt::format("range too large: {} (at most {} names)", v, kMaxRangeNames));
    }
    std::vector<std::string> out;
    for (auto& [n, _] : nums)
        out.push_back(std::string(prefix) + pad(n, width > 0 ? static_cast<size_t>(width) : 0));
    return out;
}

}  // namespace

Result<std::vector<std::string>> splitList(std::string_view in) {
    std::vector<std::string_view> parts;
    size_t prev = 0;
    bool inside = false;
    for (size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == '[') {
            if (inside) return Error::msg(fmt::format("nested '[' at char {}", i));
            inside = true;
        } else if (c == ']') {
            if (!inside) return Error::msg(fmt::format("unmatched ']' at char {}", i));
            inside = false;
        } else if (c == ',' && !inside) {
            parts.push_back(in.substr(prev, i - prev));
            prev = i + 1;
        }
    }
    if (inside) return Error::msg("unterminated '['");
    if (prev < in.size()) parts.push_back(in.substr(prev));

    std::vector<std::string> res;
    for (auto v : parts) {
        auto open = v.find('[');
        if (open == std::string_view::npos) {
            res.emplace_back(v);
            continue;
        }
        auto r = splitRange(v, open);
        if (!r) return r.error();
        res.insert(res.end(), r->begin(), r->end());
        if (res.size() > kMaxRangeNames)
            return Error::msg(
                fmt::format("range too large: {} (at most {} names)", in, kMaxRangeNames));
    }
    return res;
}

Result<std::vector<std::string>> expandLaunchNames(std::string_view arg) {
    std::vector<std::string> names;
    if (go::isInt32(arg)) {
        int64_t count = go::parseInt(arg).value();
        if (count <= 0) return Error::msg("invalid number of vms (must be > 0)");
        if (static_cast<uint64_t>(count) > kMaxRangeNames)
            return Error::msg(fmt::format("too many vms: {} (at most {})", count, kMaxRangeNames));
        names.assign(static_cast<size_t>(count), std::string());
    } else {
        auto r = splitList(arg);
        if (!r) return r.error();
        names = std::move(*r);
    }
    if (names.empty()) return Error::msg("no VMs to launch");

    // Checked name by name, in order, as minimega does: the first offending
    // name decides which error is reported.
    std::map<std::string, int> count;
    for (auto& n : names) ++count[n];
    for (auto& n : names) {
        if (n == kWildcard)
            return Error::msg(fmt::format("invalid vm name, `{}` is a reserved word", n));
        if (go::atoi(n).ok())
            return Error::msg(fmt::format("invalid vm name, `{}` is an integer", n));
        if (!n.empty() && count[n] > 1)
            return Error::msg(fmt::format("`{}` is specified twice in VMs to launch", n));
    }
    return names;
}

bool validName(std::string_view name) {
    if (name.empty() || name == "." || name == "..") return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_' || c == '.';
    });
}

std::string_view invalidNameError(std::string_view name) {
    return name == "." || name == ".." ? kReservedNameError : kInvalidNameError;
}

Result<Target> parseTarget(std::string_view target) {
    auto vals = splitList(target);
    if (!vals) return vals.error();
    Target t;
    t.vals = std::move(*vals);
    for (auto& v : t.vals) {
        if (auto id = go::atoi(v); id.ok())
            t.ids.insert(*id);
        else if (v == kWildcard)
            t.wild = true;
        else
            t.names.insert(v);
    }
    return t;
}

}  // namespace herd
