// Byte-wise text helpers shared across herd: trimming, splitting, and a
// checked number parser whose errors say what was wrong and what is allowed.
//
// Outputs and error texts that must match minimega's (which is written in
// Go) use the Go-compatible helpers in cli/text.h and service/gostr.h.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace herd {

// White space as C's isspace sees it in the "C" locale.
inline constexpr std::string_view kSpaces = " \t\n\v\f\r";

// `s` without the leading and trailing characters that are in `chars`.
std::string_view trim(std::string_view s, std::string_view chars = kSpaces);
// `s` without the trailing characters that are in `chars`.
std::string_view trimRight(std::string_view s, std::string_view chars = kSpaces);

// The pieces of `s` between the occurrences of `sep` (which must not be
// empty): "" gives {""} and "a,,b" gives {"a", "", "b"}.
std::vector<std::string> split(std::string_view s, std::string_view sep);

// `text` as a number from `min` to `max`: decimal digits only (no sign, no
// white space). The errors name `what` and the numbers allowed:
//   cap_last_cap "4x": not a number (allowed: 0 to 63)
//   cap_last_cap 99: out of range (allowed: 0 to 63)
Result<uint64_t> parseUint(std::string_view text, uint64_t min, uint64_t max,
                           std::string_view what);

}  // namespace herd
