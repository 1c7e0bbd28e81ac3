// Matching, suggestions and help over the handler table. Matching walks a
// trie of all patterns, as minicli does: at each level every edge that
// accepts the next token is tried; if several lead to a command, the one
// reached by typing every literal and choice in full wins, and if that does
// not single one out the input is ambiguous and rejected.
#include "cli/table.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include "cli/tabwriter.h"
#include "cli/text.h"

namespace herd::cli {

namespace {

struct Match {
    Command cmd;
    bool exact = true;  // every literal/choice token typed in full
};

Command newCommand(const Handler* h, const std::string& pattern) {
    Command c;
    c.handler = h;
    c.pattern = pattern;
    return c;
}

std::string helpLong(const std::vector<const Pattern*>& patterns, const std::string& help_long,
                     const std::string& help_short) {
    std::string out = "Usage:\n";
    for (const Pattern* p : patterns) out += "\t" + patternString(*p) + "\n";
    out += "\n";
    out += help_long.empty() ? help_short : help_long;
    return out;
}

std::string helpLong(const Handler& h) {
    std::vector<const Pattern*> ps;
    for (const auto& p : h.parsed) ps.push_back(&p);
    return helpLong(ps, h.help_long, h.help_short);
}

// minicli's printHelpShort: every pattern as written, sorted, aligned by a
// tabwriter padding with tabs (minwidth 0, tabwidth 8, padding 0). The cell
// texts come from fmt.Fprintln(w, pattern, "\t", ":\t", short, "\t"), hence
// the spaces around each tab.
std::string helpShort(const std::vector<const Handler*>& handlers) {
    std::vector<std::string> keys;
    std::map<std::string, std::string> shorts;
    for (const Handler* h : handlers) {
        for (const auto& p : h->patterns) {
            keys.push_back(p);
            shorts[p] = h->help_short;
        }
    }
    std::sort(keys.begin(), keys.end());
    std::string body;
    for (const auto& k : keys) body += k + " \t :\t " + shorts[k] + " \t\n";
    return "Display help on a command. Here is a list of commands:\n" +
           tabwrite(body,
                    TabwriterOptions{.minwidth = 0, .tabwidth = 8, .padding = 0, .padchar = '\t'});
}

}  // namespace

// ---------------------------------------------------------------------------
// Registration

Result<void> CommandTable::insert(size_t node, const Pattern& p, size_t i, const Handler* h,
                                  const std::string& text) {
    const auto setHandler = [&](size_t n) -> Result<void> {
        if (nodes_[n].handler != nullptr) {
            return Error::msg("conflicting patterns: `" + nodes_[n].pattern + "` and `" + text +
                              "`");
        }
        nodes_[n].handler = h;
        nodes_[n].pattern = text;
        return Ok();
    };
    if (i == p.size()) return setHandler(node);

    const PatternItem& item = p[i];
    // An optional item may be left out: the pattern also ends here.
    if (item.optional) HERD_TRY(setHandler(node));

    std::vector<std::string> values;
    if (item.kind == ItemKind::Choice) {
        values = item.options;
    } else {
        values.push_back(item.key);
    }
    for (const auto& v : values) {
        size_t child = 0;
        for (const Edge& e : nodes_[node].children) {
            if (e.kind == item.kind && e.optional == item.optional && e.value == v) {
                child = e.node;
                break;
            }
        }
        if (child == 0) {
            child = nodes_.size();
            nodes_.emplace_back();
            nodes_[node].children.push_back(Edge{item.kind, item.optional, v, child});
        }
        HERD_TRY(insert(child, p, i + 1, h, text));
    }
    return Ok();
}

Result<void> CommandTable::rebuild() {
    nodes_.assign(1, Node{});
    for (const Handler& h : handlers_) {
        for (size_t i = 0; i < h.parsed.size(); ++i) {
            HERD_TRY(insert(0, h.parsed[i], 0, &h, h.patterns[i]));
        }
    }
    return Ok();
}

Result<void> CommandTable::add(Handler h) {
    h.help_short = std::string(text::trimSpace(h.help_short));
    h.help_long = std::string(text::trimSpace(h.help_long));
    h.parsed.clear();
    if (h.patterns.empty()) return Error::msg("handler without patterns");
    for (const auto& p : h.patterns) {
        auto parsed = parsePattern(p);
        if (!parsed.ok()) return parsed.error();
        h.parsed.push_back(std::move(*parsed));
    }
    handlers_.push_back(std::move(h));
    const Handler& added = handlers_.back();
    for (size_t i = 0; i < added.parsed.size(); ++i) {
        auto r = insert(0, added.parsed[i], 0, &added, added.patterns[i]);
        if (!r.ok()) {
            handlers_.pop_back();
            (void)rebuild();  // the remaining handlers were accepted before
            return r.error();
        }
    }
    return Ok();
}

// ---------------------------------------------------------------------------
// Matching

namespace {

// The result of matching tokens[i..] from a trie node depends on nothing
// else, so each (node, i) is computed once. Without this, a line of many
// one-letter words, each a prefix of several commands that take a command
// (`.csv`, `.filter`, ...), restarts from the root once per path and takes
// time exponential in its length.
class Matcher {
  public:
    Matcher(const std::vector<CommandTable::Node>& nodes, const std::vector<Token>& tokens)
        : nodes_(nodes), tokens_(tokens) {}

    std::optional<Match> match(size_t node, size_t i) {
        const uint64_t key = static_cast<uint64_t>(node) * (tokens_.size() + 1) + i;
        if (auto it = memo_.find(key); it != memo_.end()) return it->second;
        auto m = matchOnce(node, i);
        memo_.emplace(key, m);
        return m;
    }

  private:
    std::optional<Match> matchOnce(size_t node, size_t i) {
        const CommandTable::Node& n = nodes_[node];
        if (i == tokens_.size()) {
            if (n.handler == nullptr) return std::nullopt;
            return Match{newCommand(n.handler, n.pattern), true};
        }
        const std::string& tok = tokens_[i].value;
        std::vector<Match> found;
        for (const auto& e : n.children) {
            std::optional<Match> m;
            switch (e.kind) {
                case ItemKind::Literal:
                case ItemKind::Choice:
                    // Any prefix of the word selects it (`vm conf`).
                    if (!text::hasPrefix(e.value, tok)) break;
                    m = match(e.node, i + 1);
                    if (!m) break;
                    m->exact = m->exact && e.value.size() == tok.size();
                    if (e.kind == ItemKind::Choice) m->cmd.bools[e.value] = true;
                    break;
                case ItemKind::String:
                    m = match(e.node, i + 1);
                    if (m) m->cmd.strings[e.value] = tok;
                    break;
                case ItemKind::List: {
                    const auto& child = nodes_[e.node];
                    if (child.handler == nullptr) break;
                    m = Match{newCommand(child.handler, child.pattern), true};
                    auto& list = m->cmd.lists[e.value];
                    for (size_t k = i; k < tokens_.size(); ++k) list.push_back(tokens_[k].value);
                    break;
                }
                case ItemKind::Command: {
                    const auto& child = nodes_[e.node];
                    if (child.handler == nullptr) break;
                    // The rest of the line is a command of its own, matched
                    // from the root; its exactness does not count here.
                    auto sub = match(0, i);
                    if (!sub) break;
                    std::vector<Token> rest(tokens_.begin() + static_cast<long>(i), tokens_.end());
                    sub->cmd.original = joinTokens(rest);
                    m = Match{newCommand(child.handler, child.pattern), true};
                    m->cmd.sub = std::make_shared<Command>(std::move(sub->cmd));
                    break;
                }
            }
            if (m) found.push_back(std::move(*m));
        }
        if (found.empty()) return std::nullopt;
        if (found.size() == 1) return std::move(found[0]);
        Match* exact = nullptr;
        for (auto& m : found) {
            if (!m.exact) continue;
            if (exact != nullptr) return std::nullopt;  // patterns overlap: reject
            exact = &m;
        }
        if (exact == nullptr) return std::nullopt;  // ambiguous abbreviation
        return std::move(*exact);
    }

    const std::vector<CommandTable::Node>& nodes_;
    const std::vector<Token>& tokens_;
    std::unordered_map<uint64_t, std::optional<Match>> memo_;
};

}  // namespace

std::optional<Command> CommandTable::compileTokens(const std::vector<Token>& tokens) const {
    if (tokens.empty()) return std::nullopt;
    Matcher matcher(nodes_, tokens);
    auto m = matcher.match(0, 0);
    if (!m) return std::nullopt;
    m->cmd.original = joinTokens(tokens);
    return std::move(m->cmd);
}

Result<Command> CommandTable::compile(std::string_view line) const {
    const std::string trimmed(text::trimSpace(line));
    if (trimmed.empty()) return Command{};
    auto tl = tokenize(trimmed);
    if (!tl.ok()) return tl.error();
    if (tl->comment_only) {
        Command c;
        c.original = trimmed;
        c.comment = true;
        return c;
    }
    auto c = compileTokens(tl->tokens);
    if (!c) return Error::msg("invalid command: `" + trimmed + "`");
    c->original = trimmed;
    return std::move(*c);
}

// ---------------------------------------------------------------------------
// Suggestions (minicli's Handler.suggest, per pattern of every handler)

namespace {

struct Suggester {
    const std::deque<Handler>& handlers;
    const std::string& raw;  // the whole line: does it end with a space?
    CommandContext* ctx;
    std::set<std::string>& out;
    // Every call gets a suffix of the typed words, so its length names it.
    // Suggestions for a suffix only ever add the same words to `out`, so each
    // is computed once: a line of words that abbreviate several nesting
    // commands would otherwise cost (commands)^(words) walks.
    std::set<size_t> done = {};

    void all(const std::vector<std::string>& items) {
        if (!done.insert(items.size()).second) return;
        for (const auto& h : handlers) one(h, items);
    }

    void one(const Handler& h, const std::vector<std::string>& items) {
        const bool complete = !raw.empty() && raw.back() == ' ';
        for (const Pattern& pattern : h.parsed) {
            // Walk the pattern along the typed words. `i` ends on the item
            // to suggest for: the next one, or the last word's own item
            // while that word is still being typed.
            size_t i = 0;
            bool skip = false, broke = false;
            // A nested command is suggested for once: the switch below would
            // repeat the walk's call with the same words, and a line of
            // nested dot-commands would then cost 2^depth walks.
            size_t recursed_at = SIZE_MAX;
            for (; i < pattern.size(); ++i) {
                const PatternItem& item = pattern[i];
                if (items.size() == i) {
                    broke = true;
                    break;
                }
                const std::string& val = items[i];
                if (item.kind == ItemKind::Literal) {
                    skip = !text::hasPrefix(item.key, val);
                } else if (item.kind == ItemKind::Choice) {
                    skip = std::none_of(item.options.begin(), item.options.end(),
                                        [&](const auto& o) { return text::hasPrefix(o, val); });
                } else if (item.kind == ItemKind::List) {
                    skip = true;  // nothing to suggest inside a list
                } else if (item.kind == ItemKind::Command) {
                    all(std::vector<std::string>(items.begin() + static_cast<long>(i),
                                                 items.end()));
                    recursed_at = i;
                }
                if (skip) break;
                if (items.size() == i + 1 && !complete) {
                    broke = true;
                    break;
                }
            }
            if (skip || pattern.empty()) continue;
            if (!broke) i = pattern.size() - 1;
            const PatternItem& item = pattern[i];

            // The whole pattern was typed: nothing left to complete.
            if (items.size() == pattern.size() && complete) continue;
            if (items.size() > pattern.size() && item.kind != ItemKind::Command) continue;

            switch (item.kind) {
                case ItemKind::Literal:
                    out.insert(item.key);
                    break;
                case ItemKind::Choice:
                    for (const auto& o : item.options) {
                        if (i >= items.size() || text::hasPrefix(o, items[i])) out.insert(o);
                    }
                    break;
                case ItemKind::String:
                case ItemKind::List:
                    if (h.suggest && ctx != nullptr) {
                        const std::string typed = i < items.size() ? items[i] : std::string();
                        for (auto& s : h.suggest(*ctx, item.key, typed)) out.insert(std::move(s));
                    }
                    break;
                case ItemKind::Command:
                    if (std::min(i, items.size()) == recursed_at) break;  // done in the walk
                    all(std::vector<std::string>(
                        items.begin() + static_cast<long>(std::min(i, items.size())), items.end()));
                    break;
            }
        }
    }
};

}  // namespace

std::vector<std::string> CommandTable::suggestWords(std::string_view line,
                                                    CommandContext* ctx) const {
    auto tl = tokenize(line);
    if (!tl.ok()) return {};
    std::vector<std::string> items;
    for (const auto& t : tl->tokens) items.push_back(t.value);
    const std::string raw(line);
    std::set<std::string> out;
    Suggester{handlers_, raw, ctx, out}.all(items);
    return {out.begin(), out.end()};
}

std::vector<std::string> completeLine(std::string_view line,
                                      const std::vector<std::string>& words) {
    const std::string base(text::trimLastWord(line));
    std::vector<std::string> out;
    for (const auto& w : words) {
        out.push_back(base + w);
        if (w.empty() || w.back() != '/') out.back() += ' ';
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<std::string> CommandTable::suggest(std::string_view line, CommandContext* ctx) const {
    return completeLine(line, suggestWords(line, ctx));
}

// ---------------------------------------------------------------------------
// Help

namespace {

// minicli's patternTrie.help: the handlers a (possibly partial) input can
// lead to. All tokens consumed: the whole subtree. A list or nested command
// at the next level names the handler ending at this node.
void helpAt(const std::vector<CommandTable::Node>& nodes, size_t node,
            const std::vector<Token>& tokens, size_t i, std::set<const Handler*>& out) {
    const CommandTable::Node& n = nodes[node];
    if (i == tokens.size()) {
        if (n.handler != nullptr) out.insert(n.handler);
        for (const auto& e : n.children) helpAt(nodes, e.node, tokens, i, out);
        return;
    }
    for (const auto& e : n.children) {
        switch (e.kind) {
            case ItemKind::Literal:
            case ItemKind::Choice:
                // minicli skips optional choices here; so does herd.
                if (e.kind == ItemKind::Choice && e.optional) break;
                if (!text::hasPrefix(e.value, tokens[i].value)) break;
                helpAt(nodes, e.node, tokens, i + 1, out);
                break;
            case ItemKind::String:
                helpAt(nodes, e.node, tokens, i + 1, out);
                break;
            case ItemKind::List:
            case ItemKind::Command:
                if (n.handler != nullptr) out.insert(n.handler);
                break;
        }
    }
}

}  // namespace

std::string CommandTable::help(std::string_view input) const {
    auto tl = tokenize(input);
    if (!tl.ok()) {
        return "unable to parse `" + std::string(input) + "`: " + tl.error().text();
    }
    if (tl->tokens.empty()) {
        std::vector<const Handler*> all;
        for (const auto& h : handlers_) all.push_back(&h);
        return helpShort(all);
    }

    std::set<const Handler*> found;
    helpAt(nodes_, 0, tl->tokens, 0, found);
    // Registration order, for a stable output.
    std::vector<const Handler*> matches;
    for (const auto& h : handlers_) {
        if (found.count(&h)) matches.push_back(&h);
    }
    if (matches.empty()) return "no help entry for `" + std::string(input) + "`";
    if (matches.size() == 1) return helpLong(*matches[0]);

    // Several handlers, only one with a long help: one usage for them all.
    const Handler* with_long = nullptr;
    int count = 0;
    for (const Handler* h : matches) {
        if (!h->help_long.empty()) {
            ++count;
            with_long = h;
        }
    }
    if (count == 1) {
        std::vector<const Pattern*> ps;
        for (const Handler* h : matches) {
            for (const auto& p : h->parsed) ps.push_back(&p);
        }
        return helpLong(ps, with_long->help_long, std::string());
    }
    return helpShort(matches);
}

}  // namespace herd::cli
