// The command table: handlers, matching, suggestions and help (reference
// §2.2, §2.3, §2.7). Pure: handlers are called by the service layer.
#pragma once

#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "cli/command.h"
#include "cli/pattern.h"

namespace herd {
struct Env;  // defined by the service layer: what a handler may touch
}

namespace herd::cli {

using CallFn = std::function<void(Command&, Env&)>;

// Completes the value of argument `key` given what was typed so far.
using SuggestFn =
    std::function<std::vector<std::string>(Env&, const std::string& key, const std::string& typed)>;

struct Handler {
    std::string help_short;
    std::string help_long;
    std::vector<std::string> patterns;
    CallFn call;
    SuggestFn suggest;  // optional
    std::vector<Pattern> parsed;  // filled by CommandTable::add
};

class CommandTable {
public:
    // Parses the patterns; fails on a malformed pattern (a programming error).
    Result<void> add(Handler h);

    // Compiles one line. Blank line: an empty Command. Comment-only line:
    // Command with comment=true. No match: ``invalid command: `<line>` ``.
    // Tokenizer errors are returned as they are.
    Result<Command> compile(std::string_view line) const;

    // Completions for the last word of `line`: each is the whole line with
    // the last word completed, plus a trailing space (reference §1.4).
    std::vector<std::string> suggest(std::string_view line, Env* env) const;

    // `help [input]` text (reference §2.7).
    std::string help(std::string_view input) const;

    const std::deque<Handler>& handlers() const { return handlers_; }

private:
    // A deque: Commands point at handlers, and adding one must not move the rest.
    std::deque<Handler> handlers_;
};

}  // namespace herd::cli
