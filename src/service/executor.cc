#include "service/executor.h"

#include "base/strings.h"
#include "cli/preprocess.h"
#include "service/url_args.h"

namespace herd {

namespace {

// Replaces the first word of a top-level line by its alias (`.alias`, as in
// minimega).
std::string expandAlias(std::string_view line, const std::map<std::string, std::string>& aliases) {
    std::string l(trim(line));
    if (aliases.empty() || l.empty()) return l;
    auto sp = l.find_first_of(" \t");
    std::string first = l.substr(0, sp);
    auto it = aliases.find(first);
    if (it == aliases.end()) return l;
    return sp == std::string::npos ? it->second : it->second + l.substr(sp);
}

}  // namespace

void Executor::runLine(std::string_view line, Session& session, const BatchOut& out) {
    std::string text = expandAlias(line, herd_.aliases());

    // Each batch is rendered with the flags in force when it is emitted, so
    // that `.annotate false (command)` applies to that command's output only.
    Sink sink = [&](cli::Batch b) {
        std::string rendered = cli::render(b, session.flags);
        out(b, rendered);
    };

    auto compiled = herd_.commands().compile(text);
    if (!compiled.ok()) {
        cli::Response r;
        r.host = herd_.options().hostname;
        r.error = compiled.error().text();
        sink({std::move(r)});
        return;
    }
    cli::Command& cmd = *compiled;
    if (cmd.empty()) return;

    // `.record true` typed while recording is off must not be recorded either.
    const bool recording = session.flags.record;
    CommandContext ctx{herd_, session, *this, sink, herd_.namespaces().activeName()};
    if (!cmd.comment) run(cmd, ctx);
    if (recording && session.flags.record && cmd.record) herd_.history().push_back(cmd.original);
    herd_.daemon().changed();
}

Result<void> Executor::runFileLine(std::string_view line, CommandContext& ctx) {
    auto compiled = herd_.commands().compile(line);
    if (!compiled.ok()) return compiled.error();
    cli::Command& cmd = *compiled;
    if (cmd.empty() || cmd.comment) return Ok();
    run(cmd, ctx);
    return Ok();
}

void Executor::run(cli::Command& cmd, CommandContext& ctx) {
    if (!cmd.handler) return;
    if (ctx.session().flags.preprocess) {
        const auto& vars = herd_.environ();
        cli::preprocess(cmd, [&vars](const std::string& k) -> std::optional<std::string> {
            auto it = vars.find(k);
            if (it == vars.end()) return std::nullopt;
            return it->second;
        });
        // URL forms (http://, file:, tar:): a failure keeps the command from running.
        if (auto r = preprocessUrls(cmd, herd_); !r.ok()) return ctx.fail(r.error().text());
    }
    cmd.handler->call(cmd, ctx);
}

}  // namespace herd
