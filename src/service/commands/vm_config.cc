// `vm config` and `clear vm config`.
#include <fmt/format.h>

#include "service/commands/vm_internal.h"
#include "service/vm_ops.h"

namespace herd {

namespace {

// The KVM half of a config, kept when cloning a container's config.
void copyKvmFields(VmConfig& dst, const VmConfig& src) {
    dst.qemu = src.qemu;
    dst.kernel = src.kernel;
    dst.initrd = src.initrd;
    dst.cdrom = src.cdrom;
    dst.migrate = src.migrate;
    dst.cpu = src.cpu;
    dst.sockets = src.sockets;
    dst.cores = src.cores;
    dst.threads = src.threads;
    dst.machine = src.machine;
    dst.serial_ports = src.serial_ports;
    dst.virtio_ports = src.virtio_ports;
    dst.vga = src.vga;
    dst.append = src.append;
    dst.disks = src.disks;
    dst.qemu_append = src.qemu_append;
    dst.qemu_override = src.qemu_override;
}

void cliVmConfig(cli::Command& c, Env& env) {
    Namespace& ns = env.nspace();
    if (c.flag("save")) {
        ns.saved_configs[c.str("name")] = ns.vm_config;
        return env.ok();
    }
    if (c.flag("restore")) {
        if (c.has("name")) {
            auto it = ns.saved_configs.find(c.str("name"));
            if (it == ns.saved_configs.end())
                return env.fail(fmt::format("config {} does not exist", c.str("name")));
            ns.vm_config = it->second;
            return env.ok();
        }
        if (ns.saved_configs.empty()) return env.fail("no vm configs saved");
        std::string out;
        for (auto& [name, _] : ns.saved_configs) out += name + "\n";
        return env.reply(out);
    }
    if (c.flag("clone")) {
        const std::string& target = c.str("vm");
        Vm* found = env.herd.vms.find(ns.name, target);
        if (!found) return env.fail(fmt::format("vm not found: {}", target));
        VmConfig cfg = found->config;
        copyKvmFields(cfg, ns.vm_config);
        cfg.uuid.clear();
        // Re-parse the NICs as they were typed: aliases resolve again and
        // generated MACs are not copied.
        std::vector<std::string> raw;
        for (auto& n : cfg.networks) raw.push_back(n.raw);
        ns.vm_config = cfg;
        if (raw.empty()) return env.ok();
        auto r =
            findConfigField("networks")->set(ns.vm_config, raw, configContext(env.herd, ns.name));
        return okOrFail(env, r);
    }
    env.reply(ns.vm_config.summary());
}

// The handler of one `vm config <field>`.
cli::Handler fieldHandler(const ConfigField& f) {
    cli::Handler h;
    h.help_short = f.help_short;
    h.help_long = f.help_long;
    const std::string base = "vm config " + f.name;
    std::string list_key = f.name == "networks" ? "netspec"
                           : f.name == "disks"  ? "diskspec"
                                                : "value";
    switch (f.arity) {
        case FieldArity::One:
            h.patterns = {base + " [value]"};
            break;
        case FieldArity::Bool:
            h.patterns = {base + " [true,false]"};
            break;
        case FieldArity::List:
            h.patterns = {base + " [" + list_key + "]..."};
            break;
        case FieldArity::Map:
            h.patterns = {base, base + " <key> [value]"};
            break;
        case FieldArity::Pairs:
            h.patterns = {base, base + " <match> <replacement>"};
            break;
    }
    const std::string name = f.name;
    h.call = [name, list_key](cli::Command& c, Env& env) {
        const ConfigField& f = *findConfigField(name);
        VmConfig& cfg = env.nspace().vm_config;
        std::vector<std::string> args;
        switch (f.arity) {
            case FieldArity::One:
                if (!c.has("value")) return env.reply(f.get(cfg));
                args = {c.str("value")};
                break;
            case FieldArity::Bool:
                if (!c.flag("true") && !c.flag("false")) return env.reply(f.get(cfg));
                args = {c.flag("true") ? "true" : "false"};
                break;
            case FieldArity::List:
                if (c.list(list_key).empty()) return env.reply(f.get(cfg));
                args = c.list(list_key);
                break;
            case FieldArity::Map: {
                if (!c.has("key")) return env.reply(f.get(cfg));
                if (!c.has("value")) {
                    // minimega looks up the wrong key here and prints
                    // nothing; herd prints the entry.
                    const auto& m = name == "volume" ? cfg.volumes : cfg.tags;
                    auto it = m.find(c.str("key"));
                    return env.reply(it == m.end() ? std::string() : it->second);
                }
                args = {c.str("key"), c.str("value")};
                break;
            }
            case FieldArity::Pairs:
                if (!c.has("match")) return env.reply(f.get(cfg));
                args = {c.str("match"), c.str("replacement")};
                break;
        }
        okOrFail(env, f.set(cfg, args, configContext(env.herd, env.ns)));
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
    clear.call = [](cli::Command& c, Env& env) {
        std::string mask;
        for (auto& [k, v] : c.bools)
            if (v) mask = k;
        env.nspace().vm_config.clear(mask);
        env.ok();
    };
    addHandler(herd, std::move(clear));

    addHandler(herd, makeHandler(
                         "remove tags for newly launched VMs",
                         "Remove one tag from `vm config tags`, or all of them with `all`.",
                         {"clear vm config tag <key>"},
                         [](cli::Command& c, Env& env) {
                             auto& tags = env.nspace().vm_config.tags;
                             if (c.str("key") == "all")
                                 tags.clear();
                             else
                                 tags.erase(c.str("key"));
                             env.ok();
                         },
                         nullptr));
}

}  // namespace herd
