// Go-compatible text helpers: minimega's clients and tests see Go's exact
// error texts (`strconv.ParseUint: parsing "x": invalid syntax`) and Go's
// formatting of durations, lists and JSON maps, so herd reproduces them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace herd::go {

// strconv.Quote: "..." with Go's escapes.
std::string quote(std::string_view s);

// strconv.ParseUint(s, 10, 64) / ParseInt(s, 10, 64) / Atoi(s), with Go's
// error texts (the function name is part of the text).
Result<uint64_t> parseUint(std::string_view s);
// strconv.ParseUint(s, 10, bits): out of range past 2^bits - 1.
Result<uint64_t> parseUint(std::string_view s, int bits);
Result<int64_t> parseInt(std::string_view s);
Result<int64_t> atoi(std::string_view s);
// strconv.ParseInt(s, 10, 32) succeeds.
bool isInt32(std::string_view s);

// time.ParseDuration: a signed sequence of decimal numbers, each with an
// optional fraction and a unit (ns, us, µs, μs, ms, s, m, h), or "0";
// nanoseconds. An error (Go's text) when malformed or beyond int64.
Result<int64_t> parseDuration(std::string_view s);

// strconv.ParseFloat(s, 64) for decimal text (`5`, `-0.5`, `.25`, `1e-3`);
// false when malformed or out of range. Go's hexadecimal, `inf`, `nan` and
// underscore forms are refused, which no caller wants.
bool parseDecimal(std::string_view s, double& out);

// time.Duration.String() of a count of nanoseconds: "1h2m3.5s", "1.5ms", "0s".
std::string duration(int64_t ns);

// fmt.Sprintf("%v", []string{...}): "[a b c]".
std::string list(const std::vector<std::string>& v);

// json.Marshal of a map[string]string: sorted keys, HTML-safe escapes.
std::string jsonMap(const std::map<std::string, std::string>& m);

// filepath.Join(base, rel) (cleaned, as Go does).
std::string joinPath(std::string_view base, std::string_view rel);

}  // namespace herd::go
