#include "service/vmconfig_values.h"

#include <fmt/format.h>

#include <concepts>
#include <optional>
#include <utility>

#include "cli/text.h"
#include "service/gostr.h"

namespace herd::field {

namespace {

using Args = std::vector<std::string>;

// Plain decimal digits, at most 19 of them (no sign, no spaces): cannot wrap.
std::optional<uint64_t> parseDecimal(std::string_view s) {
    if (s.empty() || s.size() > 19) return std::nullopt;
    uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    return v;
}

// A size in MiB: `2048`, `512M`, `2G`, `1T` (units are binary; MB, MiB, GB,
// GiB, ... and lower case too), or `unlimited` (kUnlimited). Zero is refused:
// minimega scripts that mean "no limit" must say so.
Result<uint64_t> parseSizeMiB(std::string_view field, std::string_view typed) {
    auto bad = [&] {
        return Error::msg(fmt::format(
            "invalid {} {}: want a size in MiB from 1 to {} (e.g. 2048, 512M, 2G), or unlimited",
            field, go::quote(typed), kMaxSizeMiB));
    };
    const std::string s = cli::text::toLower(typed);
    if (s == "unlimited") return kUnlimited;
    size_t digits = 0;
    while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9') ++digits;
    auto n = parseDecimal(std::string_view(s).substr(0, digits));
    if (!n) return bad();
    const std::string unit = s.substr(digits);
    uint64_t mult = 0;
    if (unit.empty() || unit == "m" || unit == "mb" || unit == "mib") {
        mult = 1;
    } else if (unit == "g" || unit == "gb" || unit == "gib") {
        mult = 1024;
    } else if (unit == "t" || unit == "tb" || unit == "tib") {
        mult = 1024 * 1024;
    } else {
        return bad();
    }
    if (*n == 0 || *n > kMaxSizeMiB / mult) return bad();
    return *n * mult;
}

// A whole number in [lo, hi], with an error that says so.
Result<uint64_t> parseCount(std::string_view field, std::string_view typed, uint64_t lo,
                            uint64_t hi) {
    auto n = parseDecimal(typed);
    if (!n || *n < lo || *n > hi) {
        return Error::msg(fmt::format("invalid {} {}: want a whole number from {} to {}", field,
                                      go::quote(typed), lo, hi));
    }
    return *n;
}

std::string joinQuoted(const std::vector<std::string>& v) {
    std::string out;
    for (size_t i = 0; i < v.size(); ++i) out += (i ? " " : "") + configQuote(v[i]);
    return out;
}

// Sets member `m` to what `parse` makes of the typed tokens.
template <class T, class Parse>
ConfigSetter setter(T VmConfig::*m, Parse parse) {
    return [m, parse](VmConfig& c, const Args& a, const ConfigContext& ctx) -> Result<void> {
        Result<T> r = parse(a, ctx);
        if (!r) return r.error();
        c.*m = std::move(*r);
        return Ok();
    };
}

// The common part of every maker: member `m` printed by `print` (in
// `vm config <f>`, the summary, `vm info` and, quoted, the config file).
template <class T, class Print>
FieldValue member(T VmConfig::*m, Print print) {
    FieldValue v;
    v.get = [m, print](const VmConfig& c) { return print(c.*m); };
    v.show = v.get;
    v.info = v.get;
    v.copy = [m](VmConfig& dst, const VmConfig& src) { dst.*m = src.*m; };
    v.is_default = [m](const VmConfig& c) { return c.*m == defaults().*m; };
    v.file_args = [get = v.get](const VmConfig& c) { return Args{configQuote(get(c))}; };
    return v;
}

// ... and parsed from the typed tokens by `parse`.
template <class T, class Print, class Parse>
FieldValue member(T VmConfig::*m, Print print, Parse parse) {
    FieldValue v = member(m, print);
    v.set = setter(m, parse);
    return v;
}

FieldValue list(std::vector<std::string> VmConfig::*m, EmptyList empty, bool as_paths) {
    auto print = [empty](const Args& v) {
        return v.empty() && empty == EmptyList::Nothing ? std::string() : go::list(v);
    };
    auto v = member(m, print, [as_paths](const Args& a, const ConfigContext& ctx) {
        Args out = a;
        if (as_paths)
            for (auto& p : out) p = checkPath(ctx, p);
        return Result<Args>(std::move(out));
    });
    v.arity = FieldArity::List;
    v.show = [m](const VmConfig& c) { return go::list(c.*m); };
    v.info = v.show;
    v.file_args = [m](const VmConfig& c) {
        return (c.*m).empty() ? Args{} : Args{joinQuoted(c.*m)};
    };
    return v;
}

}  // namespace

const VmConfig& defaults() {
    static const VmConfig d;
    return d;
}

std::string sizeString(uint64_t mib) {
    return mib == kUnlimited ? std::string("unlimited") : std::to_string(mib);
}

std::string checkPath(const ConfigContext& ctx, const std::string& v) {
    if (!v.empty() && v[0] == '/') return v;
    return go::joinPath(ctx.filepath, v);
}

FieldValue text(std::string VmConfig::*m) {
    return member(
        m, [](const std::string& s) { return s; },
        [](const Args& a, const ConfigContext&) { return Result<std::string>(a.at(0)); });
}

FieldValue path(std::string VmConfig::*m) {
    return member(
        m, [](const std::string& s) { return s; },
        [](const Args& a, const ConfigContext& ctx) {
            return Result<std::string>(checkPath(ctx, a.at(0)));
        });
}

FieldValue size(std::string name, uint64_t VmConfig::*m) {
    return member(m, sizeString, [name](const Args& a, const ConfigContext&) {
        return parseSizeMiB(name, a.at(0));
    });
}

FieldValue count(std::string name, uint64_t VmConfig::*m, uint64_t lo, uint64_t hi) {
    return member(
        m, [](uint64_t n) { return std::to_string(n); },
        [name, lo, hi](const Args& a, const ConfigContext&) {
            return parseCount(name, a.at(0), lo, hi);
        });
}

FieldValue goUint(uint64_t VmConfig::*m) {
    return member(
        m, [](uint64_t n) { return std::to_string(n); },
        [](const Args& a, const ConfigContext&) { return go::parseUint(a.at(0)); });
}

FieldValue goInt(int64_t VmConfig::*m) {
    return member(
        m, [](int64_t n) { return std::to_string(n); },
        [](const Args& a, const ConfigContext&) { return go::parseInt(a.at(0)); });
}

FieldValue flag(bool VmConfig::*m) {
    auto v = member(
        m, [](bool b) { return std::string(b ? "true" : "false"); },
        [](const Args& a, const ConfigContext&) { return Result<bool>(a.at(0) == "true"); });
    v.arity = FieldArity::Bool;
    return v;
}

FieldValue words(std::vector<std::string> VmConfig::*m, EmptyList empty) {
    return list(m, empty, false);
}

FieldValue paths(std::vector<std::string> VmConfig::*m, EmptyList empty) {
    return list(m, empty, true);
}

FieldValue dict(std::map<std::string, std::string> VmConfig::*m) {
    using Map = std::map<std::string, std::string>;
    auto lines = [](const Map& d) {
        std::string out;
        for (auto& [k, v] : d) out += k + " -> " + v + "\n";
        return out;
    };
    FieldValue v = member(m, lines);
    v.arity = FieldArity::Map;
    // Adds or replaces one entry: {key, value}.
    v.set = [m](VmConfig& c, const Args& a, const ConfigContext&) -> Result<void> {
        (c.*m)[a.at(0)] = a.at(1);
        return Ok();
    };
    v.show = [m](const VmConfig& c) { return go::jsonMap(c.*m); };
    v.info = v.show;
    v.lookup = [m](const VmConfig& c, const std::string& key) {
        auto it = (c.*m).find(key);
        return it == (c.*m).end() ? std::string() : it->second;
    };
    v.file_args = [m](const VmConfig& c) {
        Args out;
        for (auto& [k, val] : c.*m) out.push_back(configQuote(k) + " " + configQuote(val));
        return out;
    };
    return v;
}

FieldValue withSet(FieldValue v, ConfigSetter set) {
    v.set = std::move(set);
    return v;
}

}  // namespace herd::field
