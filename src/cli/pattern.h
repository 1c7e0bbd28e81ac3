// Command patterns in minimega's syntax (`vm launch <container,> <name or
// count> [config]`): how handlers declare what they accept.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace herd::cli {

enum class ItemKind {
    Literal,  // word
    String,   // <key> / [key]  (key may hold spaces: <key free text>, key is the first word)
    Choice,   // <a,b,c> / [a,b] / <a,> (single-option choice)
    List,     // <key>... / [key]...
    Command,  // (key): the rest of the line is a nested command
};

struct PatternItem {
    ItemKind kind = ItemKind::Literal;
    std::string key;                   // literal text, or the argument key
    std::string text;                  // as written in the pattern, for help
    std::vector<std::string> options;  // Choice only
    bool optional = false;
};

using Pattern = std::vector<PatternItem>;

// Parses a pattern string; errors name the pattern and what is wrong.
Result<Pattern> parsePattern(std::string_view pattern);

// Renders a parsed pattern back for `help`, as minimega prints it.
std::string patternString(const Pattern& p);

}  // namespace herd::cli
