// `vm config` and `clear vm config`.
#include <fmt/format.h>

#include "service/commands/vm_internal.h"
#include "service/vm_ops.h"

namespace herd {

namespace {

void cliVmConfig(cli::Command& c, CommandContext& ctx) {
    Namespace& ns = ctx.nspace();
    if (c.flag("save")) {
        ns.saved_configs[c.str("name")] = ns.vm_config;
        return ctx.ok();
    }
    if (c.flag("restore")) {
        if (c.has("name")) {
            auto it = ns.saved_configs.find(c.str("name"));
            if (it == ns.saved_configs.end())
                return ctx.fail(fmt::format("config {} does not exist", c.str("name")));
            ns.vm_config = it->second;
            return ctx.ok();
        }
        if (ns.saved_configs.empty()) return ctx.fail("no vm configs saved");
        std::string out;
        for (auto& [name, _] : ns.saved_configs) out += name + "\n";
        return ctx.reply(out);
    }
    if (c.flag("clone")) {
        const std::string& target = c.str("vm");
        Vm* found = ctx.herd().vms().find(ns.name, target);
        if (!found) return ctx.fail(fmt::format("vm not found: {}", target));
        // The VM's own fields, the current KVM ones (a container has none).
        VmConfig cfg = found->config;
        for (auto& f : configFields())
            if (!f.appliesTo(found->type)) f.value.copy(cfg, ns.vm_config);
        cfg.uuid.clear();
        // Re-parse the NICs as they were typed: aliases resolve again and
        // generated MACs are not copied.
        std::vector<std::string> raw;
        for (auto& n : cfg.networks) raw.push_back(n.raw);
        ns.vm_config = cfg;
        if (raw.empty()) return ctx.ok();
        auto r = findConfigField("networks")
                     ->value.set(ns.vm_config, raw, configContext(ctx.herd(), ns.name));
        return okOrFail(ctx, r);
    }
    ctx.reply(ns.vm_config.summary());
}

// The handler of one `vm config <field>`.
cli::Handler fieldHandler(const ConfigField& f) {
    cli::Handler h;
    h.help_short = f.helpShort();
    h.help_long = f.helpLong();
    const std::string& list_key = f.value.list_key;
    std::vector<std::string> names = f.aliases;
    names.insert(names.begin(), f.name);
    for (auto& n : names) {
        const std::string base = "vm config " + n;
        switch (f.value.arity) {
            case FieldArity::One:
                h.patterns.push_back(base + " [value]");
                break;
            case FieldArity::Bool:
                h.patterns.push_back(base + " [true,false]");
                break;
            case FieldArity::List:
                h.patterns.push_back(base + " [" + list_key + "]...");
                break;
            case FieldArity::Map:
                h.patterns.push_back(base);
                h.patterns.push_back(base + " <key> [value]");
                break;
            case FieldArity::Pairs:
                h.patterns.push_back(base);
                h.patterns.push_back(base + " <match> <replacement>");
                break;
        }
    }
    const std::string name = f.name;
    h.call = [name, list_key](cli::Command& c, CommandContext& ctx) {
        const FieldValue& f = findConfigField(name)->value;
        VmConfig& cfg = ctx.nspace().vm_config;
        std::vector<std::string> args;
        switch (f.arity) {
            case FieldArity::One:
                if (!c.has("value")) return ctx.reply(f.get(cfg));
                args = {c.str("value")};
                break;
            case FieldArity::Bool:
                if (!c.flag("true") && !c.flag("false")) return ctx.reply(f.get(cfg));
                args = {c.flag("true") ? "true" : "false"};
                break;
            case FieldArity::List:
                if (c.list(list_key).empty()) return ctx.reply(f.get(cfg));
                args = c.list(list_key);
                break;
            case FieldArity::Map: {
                if (!c.has("key")) return ctx.reply(f.get(cfg));
                if (!c.has("value")) {
                    // minimega looks up the wrong key here and prints
                    // nothing; herd prints the entry.
                    return ctx.reply(f.lookup(cfg, c.str("key")));
                }
                args = {c.str("key"), c.str("value")};
                break;
            }
            case FieldArity::Pairs:
                if (!c.has("match")) return ctx.reply(f.get(cfg));
                args = {c.str("match"), c.str("replacement")};
                break;
        }
        okOrFail(ctx, f.set(cfg, args, configContext(ctx.herd(), ctx.ns())));
    };
    return h;
}

}  // namespace

void registerVmConfigCommands(Herd& herd) {
    addHandler(
        herd,
        makeHandler(
            "display, save, or restore the current VM configuration",
            "Display, save, or restore the current VM configuration of the namespace.\n\n"
            "With no arguments, prints the whole configuration. `vm config save <name>` stores a\n"
            "copy, `vm config restore` lists the saved names and `vm config restore <name>`\n"
            "replaces the current configuration with one. `vm config clone <vm name>` copies the\n"
            "configuration of a launched VM (re-parsing its networks and clearing its UUID).\n\n"
            "`clear vm config` resets every field but keeps saved configurations.",
            {"vm config", "vm config <save,> <name>", "vm config <restore,> [name]",
             "vm config <clone,> <vm name>"},
            cliVmConfig, vmSuggest(false)));
    for (auto& f : configFields()) addHandler(herd, fieldHandler(f));

    cli::Handler clear;
    clear.help_short = "reset one or more configurations to default value";
    clear.help_long = "Reset every `vm config` field, or the one named, to its default.";
    clear.patterns = {"clear vm config"};
    for (auto& name : clearableFields())
        clear.patterns.push_back("clear vm config <" + name + ",>");
    clear.call = [](cli::Command& c, CommandContext& ctx) {
        std::string mask;
        for (auto& [k, v] : c.bools)
            if (v) mask = k;
        ctx.nspace().vm_config.clear(mask);
        ctx.ok();
    };
    addHandler(herd, std::move(clear));

    addHandler(herd, makeHandler(
                         "remove tags for newly launched VMs",
                         "Remove one tag from `vm config tags`, or all of them with `all`.",
                         {"clear vm config tag <key>"},
                         [](cli::Command& c, CommandContext& ctx) {
                             auto& tags = ctx.nspace().vm_config.tags;
                             if (c.str("key") == "all")
                                 tags.clear();
                             else
                                 tags.erase(c.str("key"));
                             ctx.ok();
                         },
                         nullptr));
}

}  // namespace herd
