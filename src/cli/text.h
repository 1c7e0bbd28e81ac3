// Text helpers that reproduce Go's string semantics (minimega is written in
// Go and its outputs depend on them): UTF-8 decoding with Go's error rune,
// unicode.IsSpace, strings.TrimSpace, strings.HasPrefix, strconv.Atoi.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace herd::cli::text {

inline constexpr char32_t kRuneError = 0xFFFD;

struct Rune {
    char32_t r;
    size_t size;  // bytes consumed; 1 for an invalid byte (r == kRuneError)
};

// utf8.DecodeRuneInString: an invalid or truncated sequence yields
// (RuneError, 1), exactly as Go does. `i` must be < s.size().
Rune decode(std::string_view s, size_t i);

// Appends the UTF-8 encoding of r.
void append(std::string& out, char32_t r);

// utf8.RuneCount: invalid bytes count one each.
size_t runeCount(std::string_view s);

// unicode.IsSpace.
bool isSpace(char32_t r);

// True when s contains a rune for which isSpace holds.
bool hasSpace(std::string_view s);

// strings.TrimSpace.
std::string_view trimSpace(std::string_view s);

// strings.TrimRightFunc(s, !unicode.IsSpace): drops the last word.
std::string_view trimLastWord(std::string_view s);

inline bool hasPrefix(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

// ASCII lower-casing (strings.ToLower for the ASCII range).
std::string toLower(std::string_view s);

// strconv.Atoi on a 64-bit platform: optional sign, decimal digits, no
// overflow. nullopt when Go would return an error.
std::optional<int64_t> atoi(std::string_view s);

}  // namespace herd::cli::text
