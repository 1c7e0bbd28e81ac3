// minimega's dot-commands: output flags, .filter, .columns, .alias, .env.
#include <algorithm>

#include "base/strings.h"
#include "cli/transform.h"
#include "service/command_context.h"
#include "service/commands/commands.h"

namespace herd {

namespace {

using cli::Command;

const char* boolText(bool b) {
    return b ? "true" : "false";
}

// Sets a session flag for the duration of one nested command, unless an
// outer dot-command already set it (the outermost one wins).
template <typename T>
class ScopedFlag {
  public:
    ScopedFlag(Session& s, unsigned bit, T& slot, T value) : s_(s), bit_(bit), slot_(slot) {
        if (s_.pinned & bit_) return;
        active_ = true;
        saved_ = slot_;
        slot_ = value;
        s_.pinned |= bit_;
    }
    ~ScopedFlag() {
        if (!active_) return;
        slot_ = saved_;
        s_.pinned &= ~bit_;
    }
    ScopedFlag(const ScopedFlag&) = delete;
    ScopedFlag& operator=(const ScopedFlag&) = delete;

  private:
    Session& s_;
    unsigned bit_;
    T& slot_;
    T saved_{};
    bool active_ = false;
};

// One pin bit per output flag. .preprocess is not pinned: it acts on the
// nested command before it runs, so the innermost one wins (as in minicli).
unsigned pinBit(bool cli::Flags::*field) {
    using F = cli::Flags;
    bool F::*const all[] = {&F::annotate, &F::headers, &F::sort, &F::compress, &F::record};
    for (unsigned i = 0; i < sizeof all / sizeof all[0]; ++i) {
        if (all[i] == field) return 1u << i;
    }
    return 0;
}
constexpr unsigned kModePin = 1u << 8;

// `.X [true,false]` prints or sets this client's default; `.X <true,false>
// (command)` applies the value to that command only.
void flagCommand(Command& c, CommandContext& ctx, bool cli::Flags::*field) {
    bool& slot = ctx.session().flags.*field;
    if (!c.sub) {
        if (c.flag("true") || c.flag("false")) {
            slot = c.flag("true");
            ctx.ok();
        } else {
            ctx.reply(boolText(slot));
        }
        return;
    }
    c.sub->setRecord(false);
    ScopedFlag<bool> scoped(ctx.session(), pinBit(field), slot, c.flag("true"));
    ctx.run(*c.sub);
}

// .csv and .json: enabling sets the mode; `false` resets only if that mode
// is the current one (and, as in minicli, otherwise prints the state).
void modeCommand(Command& c, CommandContext& ctx, cli::Mode mode) {
    cli::Mode& slot = ctx.session().flags.mode;
    if (!c.sub) {
        if (c.flag("true")) {
            slot = mode;
            ctx.ok();
        } else if (c.flag("false") && slot == mode) {
            slot = cli::Mode::Default;
            ctx.ok();
        } else {
            ctx.reply(boolText(slot == mode));
        }
        return;
    }
    c.sub->setRecord(false);
    cli::Mode value = slot;
    if (c.flag("true")) {
        value = mode;
    } else if (slot == mode) {
        value = cli::Mode::Default;
    }
    ScopedFlag<cli::Mode> scoped(ctx.session(), kModePin, slot, value);
    ctx.run(*c.sub);
}

// Runs `sub` with a sink that transforms each batch before passing it on;
// a transform error replaces that batch by the error (as minicli does).
// `narrow` tells the inner context which columns the transform reads.
template <typename Transform, typename Narrow>
void runTransformed(Command& c, CommandContext& ctx, Transform transform, Narrow narrow) {
    c.sub->setRecord(false);
    CommandContext inner = ctx.withSink(
        [&ctx, &transform](cli::Batch b) {
            auto r = transform(b);
            if (!r.ok()) {
                ctx.fail(r.error().text());
                return;
            }
            ctx.emit(std::move(b));
        },
        true);
    narrow(inner);
    inner.run(*c.sub);
}

void filterCommand(Command& c, CommandContext& ctx) {
    auto f = cli::parseFilter(c.str("filter"));
    if (!f.ok()) return ctx.fail(f.error().text());
    runTransformed(
        c, ctx, [&f](cli::Batch& b) { return cli::applyFilter(b, *f); },
        [&f](CommandContext& inner) { inner.readsColumn(f->column); });
}

void columnsCommand(Command& c, CommandContext& ctx) {
    std::string cols = c.str("columns");
    runTransformed(
        c, ctx, [&cols](cli::Batch& b) { return cli::applyColumns(b, cols); },
        [&cols](CommandContext& inner) { inner.keepOnlyColumns(split(cols, ",")); });
}

void aliasCommand(Command& c, CommandContext& ctx) {
    const auto& parts = c.list("alias");
    if (parts.empty()) {
        std::vector<std::vector<std::string>> rows;
        for (const auto& [k, v] : ctx.herd().aliases()) rows.push_back({k, v});
        return ctx.table({"alias", "expansion"}, std::move(rows));
    }
    std::string text;
    for (const auto& p : parts) text += (text.empty() ? "" : " ") + p;
    auto eq = text.find('=');
    if (eq == std::string::npos) return ctx.fail("expected alias of format `alias=expansion`");
    ctx.herd().aliases()[text.substr(0, eq)] = text.substr(eq + 1);
    ctx.ok();
}

void unaliasCommand(Command& c, CommandContext& ctx) {
    ctx.herd().aliases().erase(c.str("alias"));
    ctx.ok();
}

void envCommand(Command& c, CommandContext& ctx) {
    auto& vars = ctx.herd().environ();
    if (!c.has("name")) {
        std::vector<std::vector<std::string>> rows;
        for (const auto& [k, v] : vars) rows.push_back({k, v});
        return ctx.table({"key", "value"}, std::move(rows));
    }
    const std::string& name = c.str("name");
    if (!c.has("value")) {
        auto it = vars.find(name);
        return ctx.reply(it == vars.end() ? "" : it->second);
    }
    if (c.str("value").empty()) {
        vars.erase(name);
    } else {
        vars[name] = c.str("value");
    }
    ctx.ok();
}

void add(Herd& herd, cli::Handler h) {
    auto r = herd.commands().add(std::move(h));
    if (!r.ok()) throw std::logic_error(r.error().text());
}

void addFlag(Herd& herd, const std::string& name, std::string short_help, std::string long_help,
             bool cli::Flags::*field) {
    add(herd, {std::move(short_help),
               std::move(long_help),
               {"." + name + " [true,false]", "." + name + " <true,false> (command)"},
               [field](Command& c, CommandContext& ctx) { flagCommand(c, ctx, field); },
               nullptr,
               {}});
}

void addMode(Herd& herd, const std::string& name, std::string short_help, std::string long_help,
             cli::Mode mode) {
    add(herd, {std::move(short_help),
               std::move(long_help),
               {"." + name + " [true,false]", "." + name + " <true,false> (command)"},
               [mode](Command& c, CommandContext& ctx) { modeCommand(c, ctx, mode); },
               nullptr,
               {}});
}

}  // namespace

void registerDotCommands(Herd& herd) {
    using F = cli::Flags;
    addMode(herd, "csv", "enable or disable CSV mode",
            "Enable or disable CSV mode. Enabling CSV mode disables JSON mode, if enabled.",
            cli::Mode::Csv);
    addMode(herd, "json", "enable or disable JSON mode",
            "Enable or disable JSON mode. Enabling JSON mode disables CSV mode, if enabled.",
            cli::Mode::Json);
    addFlag(herd, "headers", "enable or disable headers for tabular data",
            "Enable or disable headers for tabular data.", &F::headers);
    addFlag(herd, "annotate", "enable or disable hostname annotation",
            "Enable or disable hostname annotation for responses.", &F::annotate);
    addFlag(herd, "sort", "enable or disable sorting of tabular data",
            "Enable or disable sorting of tabular data.", &F::sort);
    addFlag(herd, "compress", "enable or disable output compression",
            "Enable or disable output compression of like output from multiple responses.",
            &F::compress);
    addFlag(herd, "preprocess", "enable or disable preprocessing",
            "Enable or disable the argument preprocessor ($VAR expansion).", &F::preprocess);
    add(herd, {"enable or disable history recording",
               "Enable or disable the recording of a given command in the command history.",
               {".record [true,false]", ".record <true,false> (command)"},
               [](Command& c, CommandContext& ctx) {
                   if (c.sub) {
                       c.record = c.flag("true");
                   } else if (!c.flag("true")) {
                       c.record = false;  // `.record false` is never recorded
                   }
                   flagCommand(c, ctx, &F::record);
               },
               nullptr,
               {}});
    add(herd, {"filter tabular data by column value",
               "Filters tabular data based on the value in a particular column. For example, to\n"
               "search for vms in a particular state:\n\n\t.filter state=running vm info\n\n"
               "Filters can also be inverted:\n\n\t.filter state!=running vm info\n\n"
               "Filters are case insensitive and may be stacked:\n\n"
               "\t.filter state=RUNNING .filter vcpus=4 vm info\n\n"
               "If the column value is a list or an object (i.e. \"[...]\", \"{...}\"), then\n"
               ".filter implicitly uses substring matching.\n\n"
               "Substring matching can be specified explicity:\n\n"
               "\t.filter state~run vm info\n\t.filter state!~run vm info",
               {".filter <filter> (command)"},
               filterCommand,
               nullptr,
               {}});
    add(herd, {"show certain columns from tabular data",
               "Filter tabular data using particular column names. For example, to display\n"
               "only the vm name and state:\n\n\t.columns name,state vm info\n\n"
               "Column names are comma-seperated. Note: the annotate flag controls the presence\n"
               "of the host column.",
               {".columns <columns as csv> (command)"},
               columnsCommand,
               nullptr,
               {}});
    add(herd, {"create an alias",
               "Create a new alias similar to bash aliases:\n\n"
               "\t.alias vmr=.filter state=running vm info\n\n"
               "The alias is interpreted as the text up to the first \"=\". Running .alias\n"
               "without any argument lists the existing aliases. .unalias removes one.",
               {".alias", ".alias <alias>..."},
               aliasCommand,
               nullptr,
               {}});
    add(herd, {"remove an alias",
               "Removes an alias by name. See .alias for a listing of aliases.",
               {".unalias <alias>"},
               unaliasCommand,
               nullptr,
               {}});
    add(herd, {"show or set environment variables",
               "Without arguments, list the environment that $VAR expansion reads. With a name,\n"
               "print its value. With a name and a value, set it (an empty value unsets it).",
               {".env [name]", ".env <name> <value>"},
               envCommand,
               nullptr,
               {}});
}

}  // namespace herd
