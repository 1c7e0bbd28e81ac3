// Pattern parsing follows minicli's pattern lexer (the same item kinds, keys,
// texts and error cases), with one deliberate tightening: every optional,
// list or nested-command item must end the pattern, including items that
// carry a free-text comment (`[key some words]`), which minicli let through.
#include "cli/pattern.h"

#include "cli/text.h"

namespace herd::cli {

namespace {

class PatternParser {
  public:
    explicit PatternParser(std::string_view p) : p_(p) {}

    Result<Pattern> run() {
        std::string literal;
        while (!eof()) {
            char32_t r = next();
            if (r == '<' || r == '[' || r == '(') {
                flushLiteral(literal);
                HERD_TRY(variable(r));
                continue;
            }
            if (r == '"' || r == '\'') return fail("single and double quotes are not allowed");
            if (text::isSpace(r)) {
                flushLiteral(literal);
                continue;
            }
            text::append(literal, r);
        }
        flushLiteral(literal);
        if (items_.empty()) return fail("empty pattern");
        return std::move(items_);
    }

  private:
    bool eof() const { return pos_ >= p_.size(); }

    char32_t next() {
        text::Rune r = text::decode(p_, pos_);
        pos_ += r.size;
        return r.r;
    }

    Error fail(const std::string& what) const {
        return Error::msg("invalid pattern `" + std::string(p_) + "`: " + what);
    }

    void flushLiteral(std::string& literal) {
        if (literal.empty()) return;
        PatternItem item;
        item.kind = ItemKind::Literal;
        item.key = literal;
        item.text = literal;
        items_.push_back(std::move(item));
        literal.clear();
    }

    // After `<`, `[` or `(`: a key, an optional free-text comment, or a
    // comma-separated list of choices, up to the matching terminal.
    Result<void> variable(char32_t open) {
        const char32_t terminal = open == '<' ? '>' : open == '[' ? ']' : ')';
        PatternItem item;
        item.optional = open == '[';
        item.kind = open == '(' ? ItemKind::Command : ItemKind::String;

        std::string content;
        bool comment = false;  // past the key: the rest is free text
        bool choice = false;
        while (true) {
            if (eof()) return fail("missing terminal " + std::string(1, char(terminal)));
            char32_t r = next();
            if (r == '<' || r == '[' || r == '(') return fail("cannot nest items");
            if (r == '"' || r == '\'') return fail("single and double quotes are not allowed");
            if (r == terminal) break;
            if (comment) {
                text::append(item.text, r);
                continue;
            }
            if (r == ',') {
                if (open == '(') return fail("a nested command cannot be a choice");
                if (content.empty()) return fail("empty choice");
                choice = true;
                item.options.push_back(content);
                item.text += content + ",";
                content.clear();
                continue;
            }
            if (text::isSpace(r)) {
                if (choice) return fail("spaces not allowed in multiple choice");
                if (content.empty()) return fail("empty key");
                item.key = content;
                item.text = content;
                text::append(item.text, r);
                comment = true;
                continue;
            }
            text::append(content, r);
        }

        if (choice) {
            // `<a,>`: a single option, which acts as a literal that also sets
            // a bool argument.
            if (!content.empty()) {
                item.options.push_back(content);
                item.text += content;
            } else if (item.options.size() > 1) {
                return fail("empty choice");
            }
            item.kind = ItemKind::Choice;
        } else if (!comment) {
            if (content.empty()) return fail("empty key");
            item.key = content;
            item.text = content;
        }

        if (!choice && open != '(') {
            auto list = checkList(terminal);
            if (!list.ok()) return list.error();
            if (*list) item.kind = ItemKind::List;
        }
        if (item.optional || item.kind == ItemKind::List || item.kind == ItemKind::Command) {
            if (!eof()) return fail("trailing characters when EOF expected");
        } else if (choice && !eof()) {
            // A required choice must be followed by whitespace or the end
            // (strings and lists consumed it in checkList).
            size_t save = pos_;
            if (!text::isSpace(next())) return fail("invalid trailing characters");
            pos_ = save;
        }
        items_.push_back(std::move(item));
        return Ok();
    }

    // After `>` or `]`: either nothing, or exactly `...`, then whitespace or
    // the end of the pattern (the whitespace is consumed).
    Result<bool> checkList(char32_t terminal) {
        int dots = 0;
        while (!eof()) {
            char32_t r = next();
            if (text::isSpace(r)) break;
            if (r != '.') {
                return fail("invalid trailing characters after " + std::string(1, char(terminal)));
            }
            ++dots;
        }
        if (dots != 0 && dots != 3) {
            return fail("invalid trailing characters after " + std::string(1, char(terminal)));
        }
        return dots == 3;
    }

    std::string_view p_;
    size_t pos_ = 0;
    Pattern items_;
};

}  // namespace

Result<Pattern> parsePattern(std::string_view pattern) {
    return PatternParser(text::trimSpace(pattern)).run();
}

std::string patternString(const Pattern& p) {
    std::string out;
    for (size_t i = 0; i < p.size(); ++i) {
        const PatternItem& it = p[i];
        if (i > 0) out += ' ';
        switch (it.kind) {
            case ItemKind::Literal:
                out += it.text;
                break;
            case ItemKind::String:
            case ItemKind::Choice:
                if (it.optional) {
                    out += "[" + it.text + "]";
                } else if (it.options.size() == 1) {
                    out += it.options[0];
                } else {
                    out += "<" + it.text + ">";
                }
                break;
            case ItemKind::List:
                out += it.optional ? "[" + it.text + "]..." : "<" + it.text + ">...";
                break;
            case ItemKind::Command:
                out += "(" + it.text + ")";
                break;
        }
    }
    return out;
}

}  // namespace herd::cli
