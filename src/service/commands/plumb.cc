// pipe, plumb, clear pipe, clear plumb: named pipes and pipelines
// (service/plumber.h).
#include "service/commands/commands.h"
#include "service/commands/vm_internal.h"
#include "service/gostr.h"
#include "service/plumber.h"

namespace herd {

namespace {

using cli::Command;

void pipeList(CommandContext& ctx) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& p : ctx.herd().plumber().list(ctx.ns()))
        rows.push_back({p.name, p.mode, std::to_string(p.readers), std::to_string(p.writers),
                        std::to_string(p.count), go::list(p.via), p.previous,
                        std::to_string(p.dropped)});
    ctx.table({"name", "mode", "readers", "writers", "count", "via", "previous", "dropped"},
              std::move(rows));
}

void pipeCommand(Command& c, CommandContext& ctx) {
    if (!c.has("pipe")) return pipeList(ctx);
    Plumber* pl = &ctx.herd().plumber();
    const std::string name = Plumber::qualify(ctx.ns(), c.str("pipe"));
    if (auto ok = Plumber::checkName(name); !ok.ok()) return ctx.fail(ok.error().text());
    if (c.flag("mode")) {
        Plumber::Mode m = c.flag("round-robin") ? Plumber::Mode::RoundRobin
                          : c.flag("random")    ? Plumber::Mode::Random
                                                : Plumber::Mode::All;
        return okOrFail(ctx, pl->setMode(name, m));
    }
    if (c.flag("log")) return okOrFail(ctx, pl->setLog(name, c.flag("true")));
    if (c.flag("via")) return okOrFail(ctx, pl->setVia(name, c.list("command")));
    okOrFail(ctx, pl->write(name, c.str("data")));
}

void clearPipe(Command& c, CommandContext& ctx) {
    Plumber* pl = &ctx.herd().plumber();
    if (!c.has("pipe")) return okOrFail(ctx, pl->clearAll());
    const std::string name = Plumber::qualify(ctx.ns(), c.str("pipe"));
    for (const char* what : {"mode", "log", "via"})
        if (c.flag(what)) return okOrFail(ctx, pl->resetSetting(name, what));
    okOrFail(ctx, pl->clearPipe(name));
}

void plumbCommand(Command& c, CommandContext& ctx) {
    Plumber* pl = &ctx.herd().plumber();
    if (!c.has("src")) {
        std::vector<std::vector<std::string>> rows;
        for (const auto& p : pl->pipelines(ctx.ns())) rows.push_back({p});
        return ctx.table({"pipeline"}, std::move(rows));
    }
    std::vector<std::string> stages{c.str("src")};
    for (const auto& d : c.list("dst")) stages.push_back(d);
    // A stage whose first word is a program in PATH runs that program;
    // anything else names a pipe of this namespace.
    for (auto& s : stages) {
        if (pl->isProgram(s)) continue;
        s = Plumber::qualify(ctx.ns(), s);
        if (auto ok = Plumber::checkName(s); !ok.ok()) return ctx.fail(ok.error().text());
    }
    okOrFail(ctx, pl->plumb(stages));
}

void clearPlumb(Command& c, CommandContext& ctx) {
    Plumber* pl = &ctx.herd().plumber();
    const auto& words = c.list("pipeline");
    if (words.empty()) {
        pl->clearPipelines();
        return ctx.ok();
    }
    std::string production;
    for (const auto& w : words) production += (production.empty() ? "" : " ") + w;
    okOrFail(ctx, pl->clearPipeline(production));
}

}  // namespace

void registerPlumbCommands(Herd& herd) {
    addHandler(
        herd,
        makeHandler(
            "create and list named pipes",
            "Named pipes carry messages (lines) from writers to readers. Write one message:\n\n"
            "\tpipe foo \"Hello pipes\"\n\n"
            "A pipe delivers to every reader (mode all, the default), to one reader after\n"
            "another (round-robin) or to one at random:\n\n"
            "\tpipe foo mode round-robin\n\n"
            "\"pipe <pipe> log true\" logs every message; \"pipe <pipe> via <command>...\"\n"
            "passes each message through a host program (once per reader, as the user\n"
            "nobody when the daemon runs as root, 5 s at most) whose output replaces it.\n\n"
            "Guest processes read and write pipes with cc exec|background stdin=<pipe>\n"
            "stdout=<pipe> stderr=<pipe>. Host programs reach pipe <name> of namespace <ns>\n"
            "through the root-only unix sockets <base>/pipes/<ns>/<name>.write (send lines)\n"
            "and <base>/pipes/<ns>/<name>.read (receive messages).\n\n"
            "Without arguments, pipe lists the namespace's pipes. A reader that does not\n"
            "keep up has at most 1 MiB queued; what does not fit is dropped and counted\n"
            "in the dropped column.",
            {"pipe", "pipe <pipe> <mode,> <all,round-robin,random>",
             "pipe <pipe> <log,> <true,false>", "pipe <pipe> <via,> <command>...",
             "pipe <pipe> <data>"},
            pipeCommand));
    addHandler(herd, makeHandler(
                         "delete named pipes or reset their settings",
                         "clear pipe deletes every pipe (unless one has writers); clear pipe\n"
                         "<pipe> deletes one, closing its readers; clear pipe <pipe> mode|log|via\n"
                         "resets that setting (all, false, none).",
                         {"clear pipe", "clear pipe <pipe>", "clear pipe <pipe> <mode,log,via>"},
                         clearPipe));
    addHandler(herd,
               makeHandler(
                   "plumb pipes and host programs into pipelines",
                   "Each stage is a pipe or, when its first word is a program in PATH, a host\n"
                   "program (quote a program with arguments: \"sed -u s/a/b/\"). Each stage feeds\n"
                   "the next: a pipe stage's messages, a program's stdout lines. Programs run as\n"
                   "the user nobody when the daemon runs as root. When any stage ends, the\n"
                   "pipeline is removed and its programs killed.\n\n"
                   "\tplumb p0 \"sed -u s/hello/goodbye/\" p1\n\n"
                   "Without arguments, plumb lists the pipelines of the namespace.",
                   {"plumb", "plumb <src> <dst>..."}, plumbCommand));
    addHandler(herd, makeHandler("delete pipelines",
                                 "clear plumb <stages>... deletes that pipeline (give pipes as\n"
                                 "<namespace>//<name>); clear plumb deletes every pipeline.",
                                 {"clear plumb [pipeline]..."}, clearPlumb));
}

}  // namespace herd
