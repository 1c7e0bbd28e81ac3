// The command table: handlers, matching, suggestions and help, as minimega's
// minicli does them. Pure: handlers are called by the service layer.
#pragma once

#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "cli/command.h"
#include "cli/pattern.h"
#include "cli/tokenizer.h"

namespace herd {
class CommandContext;  // defined by the service layer: what a handler may touch
}

namespace herd::cli {

using CallFn = std::function<void(Command&, CommandContext&)>;

// Completes the value of argument `key` given what was typed so far.
using SuggestFn = std::function<std::vector<std::string>(CommandContext&, const std::string& key,
                                                         const std::string& typed)>;

struct Handler {
    std::string help_short;
    std::string help_long;
    std::vector<std::string> patterns;
    CallFn call;
    SuggestFn suggest;            // optional
    std::vector<Pattern> parsed;  // filled by CommandTable::add
};

class CommandTable {
  public:
    CommandTable() = default;
    // The trie points into handlers_: a copy would point into the original.
    CommandTable(const CommandTable&) = delete;
    CommandTable& operator=(const CommandTable&) = delete;
    CommandTable(CommandTable&&) = default;  // a moved deque keeps its elements
    CommandTable& operator=(CommandTable&&) = default;

    // Parses the patterns; fails on a malformed pattern or when a pattern
    // would reach the same place as an existing one (a programming error).
    // On failure the table is unchanged.
    Result<void> add(Handler h);

    // Compiles one line. Blank line: an empty Command. Comment-only line:
    // Command with comment=true. No match: ``invalid command: `<line>` ``.
    // Tokenizer errors are returned as they are.
    Result<Command> compile(std::string_view line) const;

    // Compiles already tokenized input (used for nested commands). No match
    // or an empty token list: nullopt.
    std::optional<Command> compileTokens(const std::vector<Token>& tokens) const;

    // Completions for the last word of `line`: each is the whole line with
    // the last word completed, plus a trailing space (what minimega answers
    // a Suggest request with).
    // `ctx` is handed to the handlers' suggest functions (not called when null).
    std::vector<std::string> suggest(std::string_view line, CommandContext* ctx) const;

    // The bare words that could complete the last word of `line` (sorted,
    // unique); suggest() is completeLine(line, suggestWords(line, ctx)).
    std::vector<std::string> suggestWords(std::string_view line, CommandContext* ctx) const;

    // `help [input]` text, laid out as minimega's.
    std::string help(std::string_view input) const;

    const std::deque<Handler>& handlers() const { return handlers_; }

    // One node of the pattern trie that matching walks (as minicli's
    // patternTrie): every pattern of every handler is a path; a choice
    // fans out into one edge per option; an optional item also ends the
    // pattern at its parent.
    struct Edge {
        ItemKind kind;
        bool optional;
        std::string value;  // literal text, choice option or argument key
        size_t node;        // index into nodes_
    };
    struct Node {
        const Handler* handler = nullptr;
        std::string pattern;  // the pattern text that ends here
        std::vector<Edge> children;
    };

  private:
    Result<void> insert(size_t node, const Pattern& p, size_t i, const Handler* h,
                        const std::string& text);
    Result<void> rebuild();

    // A deque: Commands point at handlers, and adding one must not move the rest.
    std::deque<Handler> handlers_;
    std::vector<Node> nodes_{Node{}};
};

// Each suggestion as a full line: `line` without its last word, plus the
// word, plus a space unless the word ends in `/`.
std::vector<std::string> completeLine(std::string_view line, const std::vector<std::string>& words);

}  // namespace herd::cli
