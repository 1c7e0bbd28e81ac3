// $VAR / ${VAR} expansion with the exact rules of Go's os.Expand, which
// minimega's preprocessor uses.
#include "cli/preprocess.h"

#include <algorithm>
#include <utility>

namespace herd::cli {

namespace {

// Shell special parameters: $* $# $$ $@ $! $? $- $0..$9 name one byte.
bool isSpecial(char c) {
    switch (c) {
        case '*':
        case '#':
        case '$':
        case '@':
        case '!':
        case '?':
        case '-':
            return true;
        default:
            return c >= '0' && c <= '9';
    }
}

bool isAlnum(char c) {
    return c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// Go's getShellName on the text after `$`: the name and how many bytes it
// spans. An empty name with a non-zero width is bad syntax (the bytes are
// dropped); an empty name with zero width leaves the `$` alone.
std::pair<std::string_view, size_t> shellName(std::string_view s) {
    if (s[0] == '{') {
        if (s.size() > 2 && isSpecial(s[1]) && s[2] == '}') return {s.substr(1, 1), 3};
        for (size_t i = 1; i < s.size(); ++i) {
            if (s[i] == '}') {
                if (i == 1) return {{}, 2};  // "${}"
                return {s.substr(1, i - 1), i + 1};
            }
        }
        return {{}, 1};  // "${" without "}"
    }
    if (isSpecial(s[0])) return {s.substr(0, 1), 1};
    size_t i = 0;
    while (i < s.size() && isAlnum(s[i])) ++i;
    return {s.substr(0, i), i};
}

}  // namespace

std::string expandVars(std::string_view s, const Lookup& lookup) {
    std::string out;
    size_t i = 0;  // start of the text not yet copied
    for (size_t j = 0; j < s.size(); ++j) {
        if (s[j] != '$' || j + 1 >= s.size()) continue;
        out.append(s.substr(i, j - i));
        auto [name, width] = shellName(s.substr(j + 1));
        if (name.empty() && width == 0) {
            out += '$';
        } else if (!name.empty()) {
            if (auto v = lookup(std::string(name))) out += *v;
        }
        j += width;
        i = j + 1;
    }
    out.append(s.substr(std::min(i, s.size())));
    return out;
}

void preprocess(Command& c, const Lookup& lookup) {
    for (auto& [key, value] : c.strings) value = expandVars(value, lookup);
    for (auto& [key, values] : c.lists) {
        for (auto& v : values) v = expandVars(v, lookup);
    }
}

}  // namespace herd::cli
