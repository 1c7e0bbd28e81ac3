// The tokenizer reproduces minicli's input lexer: it reads the line rune by
// rune (invalid UTF-8 bytes become U+FFFD, as Go's bufio.ScanRunes does) and
// moves between three states: outside quotes, inside quotes, after a
// backslash.
#include "cli/tokenizer.h"

#include "cli/text.h"

namespace herd::cli {

namespace {

// The escapes minicli accepts, inside or outside quotes.
std::optional<char> unescape(char32_t r) {
    switch (r) {
        case 'n':
            return '\n';
        case 'r':
            return '\r';
        case 't':
            return '\t';
        case '\\':
        case '"':
        case '\'':
        case '#':
            return static_cast<char>(r);
        default:
            return std::nullopt;
    }
}

}  // namespace

Result<TokenizedLine> tokenize(std::string_view line) {
    TokenizedLine out;
    out.comment_only = text::hasPrefix(text::trimSpace(line), "#");

    std::string content;
    bool force = false;     // emit even when empty: the token was `""`
    char quoted = 0;        // first quote used in the current token
    char32_t terminal = 0;  // the closing quote we are inside, 0 outside

    const auto emit = [&] {
        if (!content.empty() || force) {
            out.tokens.push_back(Token{std::move(content), quoted});
            content.clear();
            force = false;
            quoted = 0;
        }
    };

    size_t i = 0;
    while (i < line.size()) {
        text::Rune r = text::decode(line, i);
        i += r.size;
        if (r.r == '\\') {
            if (i >= line.size()) return Error::msg("expected escape character");
            text::Rune e = text::decode(line, i);
            i += e.size;
            auto c = unescape(e.r);
            if (!c) {
                std::string msg = "unexpected escaped character: ";
                text::append(msg, e.r);
                return Error::msg(std::move(msg));
            }
            content += *c;
            continue;
        }
        if (terminal != 0) {
            if (r.r == terminal) {
                terminal = 0;
                force = true;
            } else {
                text::append(content, r.r);
            }
            continue;
        }
        if (r.r == '"' || r.r == '\'') {
            terminal = r.r;
            if (quoted == 0) quoted = static_cast<char>(r.r);
            continue;
        }
        if (r.r == '#') break;  // an unquoted `#` ends the line
        if (text::isSpace(r.r)) {
            emit();
            continue;
        }
        text::append(content, r.r);
    }
    if (terminal != 0) {
        std::string msg = "missing terminal ";
        text::append(msg, terminal);
        return Error::msg(std::move(msg));
    }
    emit();
    return out;
}

namespace {

bool needsQuotes(std::string_view v) {
    if (v.empty() || text::hasSpace(v)) return true;
    return v.find_first_of("\"'\\#") != std::string_view::npos;
}

// Double-quotes v with the escapes the tokenizer understands; line breaks
// and tabs are escaped so that the result stays on one line.
std::string quoteEscaped(std::string_view v) {
    std::string out = "\"";
    for (char c : v) {
        switch (c) {
            case '\\':
                out += "\\\\";
                break;
            case '"':
                out += "\\\"";
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
            default:
                out += c;
        }
    }
    out += '"';
    return out;
}

}  // namespace

std::string joinTokens(const std::vector<Token>& tokens) {
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i) {
        if (i > 0) out += ' ';
        const std::string& v = tokens[i].value;
        out += needsQuotes(v) ? quoteEscaped(v) : v;
    }
    return out;
}

std::string quoteArg(std::string_view arg) {
    if (!arg.empty() && !text::hasSpace(arg)) return std::string(arg);
    return quoteEscaped(arg);
}

}  // namespace herd::cli
