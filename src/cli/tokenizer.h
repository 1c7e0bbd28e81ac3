// Tokenizer for one command line, with minimega's quoting and comment rules.
// Pure: no I/O.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace herd::cli {

struct Token {
    std::string value;
    char quote = 0;  // '"', '\'' or 0 when the token was not quoted
};

struct TokenizedLine {
    std::vector<Token> tokens;
    // True when the line held only a comment (first non-blank char `#`):
    // a no-op that is still recorded in history.
    bool comment_only = false;
};

// Splits `line` into tokens: whitespace separates, quotes group (and are
// removed), backslash escapes \n \r \t \\ \" \' \#, an unquoted `#` ends the
// line. Errors carry minicli's texts: `missing terminal "`,
// `unexpected escaped character: x`, `expected escape character`.
Result<TokenizedLine> tokenize(std::string_view line);

// Re-quotes tokens into one line that tokenizes back to the same tokens
// (used to hand the tail of a line to a nested command, and by `-e`).
std::string joinTokens(const std::vector<Token>& tokens);

// Quotes one argument the way minimega's `-e` does: Go-style "..." when it
// holds whitespace (or is empty), verbatim otherwise.
std::string quoteArg(std::string_view arg);

}  // namespace herd::cli
