// namespace, clear namespace and ns.
#include <fmt/format.h>

#include "service/commands/commands.h"
#include "service/commands/vm_internal.h"
#include "service/executor.h"
#include "service/names.h"
#include "service/vm_ops.h"

namespace herd {

namespace {

void cliNamespace(cli::Command& c, CommandContext& ctx) {
    Namespaces& all = ctx.herd().namespaces();
    if (c.has("name")) {
        const std::string name = c.str("name");
        if (!validName(name)) return ctx.fail(std::string(invalidNameError(name)));
        all.getOrCreate(name);
        if (c.sub) {
            // Run one command there; the active namespace stays what it is,
            // whatever the command does (other clients' commands may run
            // while it waits, and must not see it switch).
            CommandContext sub = ctx.inNamespace(name);
            c.sub->setRecord(false);
            sub.run(*c.sub);
            return;
        }
        // Re-selecting the active namespace is silent (minimega's source;
        // its older tests expected an error).
        if (!ctx.nsScoped()) all.setActive(name);
        ctx.switchNamespace(name);  // a `read` file follows its own switches
        return ctx.ok();
    }
    // `active` is the namespace this command runs in: the daemon's active
    // one, or X in `namespace X namespace` (as minimega, which makes X active
    // while the command runs).
    std::vector<std::vector<std::string>> rows;
    for (auto& name : all.names()) {
        // `vlans range` of the namespace; the default one's is the global range.
        std::string vlans;
        if (auto r = ctx.herd().vlans().range(name == kDefaultNamespace ? "" : name))
            vlans = fmt::format("{}-{}", r->min, r->max);
        rows.push_back({name, vlans, name == ctx.ns() ? "true" : "false"});
    }
    ctx.table({"namespace", "vlans", "active"}, std::move(rows));
}

void cliClearNamespace(cli::Command& c, CommandContext& ctx) {
    if (!c.has("name") || c.str("name").empty()) {
        if (!ctx.nsScoped()) ctx.herd().namespaces().setActive(kDefaultNamespace);
        ctx.switchNamespace(kDefaultNamespace);
        return ctx.ok();
    }
    auto r = destroyNamespace(ctx.herd(), c.str("name"));
    if (!ctx.herd().namespaces().find(ctx.ns()))
        ctx.switchNamespace(ctx.herd().namespaces().activeName());
    okOrFail(ctx, r);
}

std::string joinNames(const std::vector<std::string>& names) {
    std::string out;
    for (auto& n : names) {
        if (n.empty()) continue;
        out += (out.empty() ? "" : ",") + n;
    }
    return out;
}

void cliNs(cli::Command& c, CommandContext& ctx) {
    Namespace& ns = ctx.nspace();
    if (c.flag("queueing")) {
        if (!c.flag("true") && !c.flag("false")) return ctx.reply(ns.queueing ? "true" : "false");
        ns.queueing = c.flag("true");
        return ctx.ok();
    }
    if (c.flag("flush")) {
        ns.queue.clear();
        return ctx.ok();
    }
    if (c.flag("queue")) {
        std::string out;
        for (auto& q : ns.queue) {
            out += fmt::format("VMs: {}\nNames: {}\nVM Type: {}\n\n", q.names.size(),
                               joinNames(q.names), typeString(q.type));
            out += q.config.summary() + "\n\n";
        }
        return ctx.reply(out);
    }
    if (c.flag("schedule")) return okOrFail(ctx, scheduleQueue(ctx.herd(), ns));
    if (c.flag("hosts")) return ctx.reply(ctx.herd().options().hostname);
}

}  // namespace

void registerNamespaceCommands(Herd& herd) {
    addHandler(
        herd,
        makeHandler(
            "display or change namespace",
            "With no arguments, prints the namespaces: name, VLAN range and whether it is active.\n"
            "With a name, makes that namespace active (creating it if needed). With a name and a\n"
            "command, runs the command in that namespace without changing the active one.",
            {"namespace [name]", "namespace <name> (command)"}, cliNamespace,
            [](CommandContext& ctx, const std::string& key, const std::string& typed) {
                std::vector<std::string> out;
                if (key != "name") return out;
                for (auto& n : ctx.herd().namespaces().names())
                    if (n.compare(0, typed.size(), typed) == 0) out.push_back(n);
                return out;
            }));
    addHandler(
        herd,
        makeHandler(
            "unset or delete namespace",
            "Without an argument, makes `minimega` the active namespace again. With a name,\n"
            "destroys that namespace: kills and flushes its VMs and forgets its configuration.\n"
            "`all` destroys every namespace.",
            {"clear namespace [name]"}, cliClearNamespace, nullptr));
    addHandler(herd,
               makeHandler("tinker with active namespace",
                           "Display or modify the active namespace:\n\n"
                           "- hosts    : list hosts\n"
                           "- queue    : display the VM queue\n"
                           "- flush    : clear the VM queue\n"
                           "- queueing : toggle queueing of VMs by `vm launch` (default false)\n"
                           "- schedule : launch the queued VMs (same as `vm launch`)",
                           {"ns <hosts,>", "ns <queue,>", "ns <flush,>",
                            "ns <queueing,> [true,false]", "ns <schedule,>"},
                           cliNs, nullptr));
}

}  // namespace herd
