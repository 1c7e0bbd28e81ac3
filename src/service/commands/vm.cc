// vm launch/info/start/stop/kill/flush/tag and clear vm tag.
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "service/commands/commands.h"
#include "service/commands/vm_internal.h"
#include "service/names.h"
#include "service/vm_ops.h"

namespace herd {

void addHandler(Herd& herd, cli::Handler h) {
    std::string first = h.patterns.empty() ? "" : h.patterns.front();
    if (auto r = herd.commands().add(std::move(h)); !r) {
        std::fprintf(stderr, "herd: bad command pattern `%s`: %s\n", first.c_str(),
                     r.error().text().c_str());
        std::abort();
    }
}

cli::Handler makeHandler(std::string help_short, std::string help_long,
                         std::vector<std::string> patterns, cli::CallFn call,
                         cli::SuggestFn suggest) {
    cli::Handler h;
    h.help_short = std::move(help_short);
    h.help_long = std::move(help_long);
    h.patterns = std::move(patterns);
    h.call = std::move(call);
    h.suggest = std::move(suggest);
    return h;
}

void emitTable(CommandContext& ctx, std::vector<std::string> header,
               std::vector<std::vector<std::string>> rows, const std::string& error) {
    auto r = ctx.response();
    r.header = std::move(header);
    r.tabular = std::move(rows);
    r.error = error;
    ctx.emit({std::move(r)});
}

void okOrFail(CommandContext& ctx, const Result<void>& r) {
    if (r.ok())
        ctx.ok();
    else
        ctx.fail(r.error().text());
}

cli::SuggestFn vmSuggest(bool wild) {
    return [wild](CommandContext& ctx, const std::string& key, const std::string& typed) {
        std::vector<std::string> out;
        if (key != "vm") return out;
        if (wild && std::string(kWildcard).compare(0, typed.size(), typed) == 0)
            out.emplace_back(kWildcard);
        for (Vm* vm : ctx.herd().vms().inNamespace(ctx.ns()))
            if (vm->name.compare(0, typed.size(), typed) == 0) out.push_back(vm->name);
        return out;
    };
}

namespace {

// A VM's Data as minimega's `vm info` carries it, written as Go's
// encoding/json writes the struct (members sorted, as for the map it was):
// straight into text, since a big table has 10,000 of them.
void appendVmData(std::string& out, const Vm& vm) {
    out += "{\"ActiveCC\":";
    out += vm.cc_active ? "true" : "false";
    out += ",\"Host\":";
    cli::appendGoString(out, vm.host);
    out += ",\"ID\":";
    out += std::to_string(vm.id);
    out += ",\"Name\":";
    cli::appendGoString(out, vm.name);
    out += ",\"Namespace\":";
    cli::appendGoString(out, vm.ns);
    out += ",\"Pid\":";
    out += std::to_string(vm.pid);
    out += ",\"State\":";
    out += std::to_string(static_cast<unsigned>(vm.state));
    out += ",\"Tags\":{";
    bool first = true;
    for (const auto& [k, v] : vm.config.tags) {
        if (!first) out += ',';
        first = false;
        cli::appendGoString(out, k);
        out += ':';
        cli::appendGoString(out, v);
    }
    out += "},\"Type\":";
    out += vm.type == VmType::Kvm ? "1" : "2";
    out += ",\"UUID\":";
    cli::appendGoString(out, vm.uuid());
    out += '}';
}

void cliVmInfo(cli::Command& c, CommandContext& ctx) {
    const auto& cols = c.flag("summary") ? vmInfoSummaryColumns() : vmInfoColumns();
    // Each column resolved once; those no enclosing `.columns`/`.filter`
    // reads stay empty (nothing shows them), which saves most of the work
    // of `.columns name,state vm info` on a big table.
    std::vector<std::optional<VmInfoColumn>> wanted;
    wanted.reserve(cols.size());
    for (const auto& col : cols) {
        if (ctx.wantsColumn(col))
            wanted.emplace_back(std::in_place, col);
        else
            wanted.emplace_back();
    }
    const auto& vlans = ctx.herd().vlans();
    auto vms = ctx.herd().vms().inNamespace(ctx.ns());
    std::vector<std::vector<std::string>> rows;
    rows.reserve(vms.size());
    std::string data = "[";
    data.reserve(vms.size() * 200);
    for (Vm* vm : vms) {
        auto& row = rows.emplace_back(cols.size());
        for (size_t i = 0; i < cols.size(); ++i) {
            if (!wanted[i]) continue;
            auto v = wanted[i]->cell(*vm, vlans);
            row[i] = v ? std::move(*v) : std::string("N/A");
        }
        if (data.size() > 1) data += ',';
        appendVmData(data, *vm);
    }
    data += ']';
    cli::Batch b(1, ctx.response());  // not {r}: that would copy the table
    b[0].header = cols;
    b[0].tabular = std::move(rows);
    b[0].data_go = std::move(data);
    ctx.emit(std::move(b));
}

void cliVmLaunch(cli::Command& c, CommandContext& ctx) {
    Namespace& ns = ctx.nspace();
    auto progress = [&ctx](const std::string& text) { ctx.status(text); };
    if (!c.has("name")) return okOrFail(ctx, scheduleQueue(ctx.herd(), ns, progress));

    VmConfig cfg = ns.vm_config;
    if (c.has("config")) {
        auto it = ns.saved_configs.find(c.str("config"));
        if (it == ns.saved_configs.end())
            return ctx.fail(fmt::format("config {} does not exist", c.str("config")));
        cfg = it->second;
    }
    if (c.flag("kvm")) return ctx.fail("herd only runs containers: use `vm launch container`");

    auto r = queueVms(ctx.herd(), ns, c.str("name"), VmType::Container, std::move(cfg));
    if (r.ok() && !ns.queueing) r = scheduleQueue(ctx.herd(), ns, progress);
    okOrFail(ctx, r);
}

void cliVmTag(cli::Command& c, CommandContext& ctx) {
    std::string key = c.has("key") ? c.str("key") : std::string(kWildcard);
    const std::string& target = c.str("vm");
    if (c.has("value")) {
        if (key == kWildcard) return ctx.fail("cannot assign to wildcard");
        std::string value = c.str("value");
        return okOrFail(ctx, applyTarget(ctx.herd(), ctx.ns(), target,
                                         [&](Vm& vm, bool, std::vector<std::string>&) {
                                             vm.tags()[key] = value;
                                             ctx.herd().runtime().saveRecords({&vm});
                                             return true;
                                         }));
    }
    std::vector<std::vector<std::string>> rows;
    auto r =
        applyTarget(ctx.herd(), ctx.ns(), target, [&](Vm& vm, bool, std::vector<std::string>&) {
            if (key == kWildcard) {
                for (auto& [k, v] : vm.tags()) rows.push_back({vm.name, k, v});
            } else {
                auto it = vm.tags().find(key);
                rows.push_back({vm.name, it == vm.tags().end() ? std::string() : it->second});
            }
            return true;
        });
    std::vector<std::string> header = key == kWildcard
                                          ? std::vector<std::string>{"name", "tag", "value"}
                                          : std::vector<std::string>{"name", "value"};
    emitTable(ctx, std::move(header), std::move(rows), r.ok() ? "" : r.error().text());
}

void cliClearVmTag(cli::Command& c, CommandContext& ctx) {
    std::string target = c.has("vm") ? c.str("vm") : std::string(kWildcard);
    // minimega reads the wrong key here and always clears every tag; herd
    // clears the tag named.
    std::string key = c.has("tag") ? c.str("tag") : std::string(kWildcard);
    okOrFail(ctx, applyTarget(ctx.herd(), ctx.ns(), target,
                              [&](Vm& vm, bool, std::vector<std::string>&) {
                                  if (key == kWildcard)
                                      vm.tags().clear();
                                  else
                                      vm.tags().erase(key);
                                  ctx.herd().runtime().saveRecords({&vm});
                                  return true;
                              }));
}

const char* kTargetHelp =
    "VMs may be selected by name, id, range or wildcard: `foo`, `foo,bar`, `foo[0-2,5]`,\n"
    "`3`, or `all`. Including `all` in a list makes the whole command wild.";

}  // namespace

void registerVmCommands(Herd& herd) {
    addHandler(
        herd,
        makeHandler(
            "print information about VMs",
            "Print information about the VMs of the namespace in tabular form; .filter and\n"
            ".columns select rows and columns. The optional summary flag limits the columns to\n"
            "id, name, state, type, uuid, cc_active and vlan. Columns that do not apply to a VM's\n"
            "type show N/A.",
            {"vm info [summary,]"}, cliVmInfo, nullptr));
    addHandler(
        herd,
        makeHandler(
            "launch virtual machines in a paused state",
            "Launch VMs in the BUILDING state from the current `vm config` (or a saved one):\n\n"
            "\tvm launch container foo[0-9]\n\tvm launch container 5 endpoint\n\n"
            "The name may be a count, a name or a range expression; names cannot be integers or\n"
            "`all`. With queueing on (`ns queueing true`), VMs are only queued until a bare\n"
            "`vm launch`. herd runs containers only: `kvm` is rejected.",
            {"vm launch", "vm launch <kvm,> <name or count> [config]",
             "vm launch <container,> <name or count> [config]"},
            cliVmLaunch, nullptr));
    addHandler(
        herd,
        makeHandler(
            "start paused virtual machines",
            std::string("Start VMs. A named VM is started in the BUILDING, PAUSED, QUIT or ERROR\n"
                        "state; with the wildcard only BUILDING and PAUSED VMs are started.\n\n") +
                kTargetHelp,
            {"vm <start,> <vm target>"},
            [](cli::Command& c, CommandContext& ctx) {
                okOrFail(ctx, startVms(ctx.herd(), ctx.ns(), c.str("vm")));
            },
            vmSuggest(true)));
    addHandler(herd,
               makeHandler(
                   "stop/pause virtual machines",
                   std::string("Pause RUNNING VMs; `vm start` resumes them.\n\n") + kTargetHelp,
                   {"vm <stop,> <vm target>"},
                   [](cli::Command& c, CommandContext& ctx) {
                       okOrFail(ctx, stopVms(ctx.herd(), ctx.ns(), c.str("vm")));
                   },
                   vmSuggest(true)));
    addHandler(herd,
               makeHandler(
                   "kill running virtual machines",
                   std::string("Kill VMs (BUILDING, RUNNING or PAUSED); they become QUIT.\n\n") +
                       kTargetHelp,
                   {"vm <kill,> <vm target>"},
                   [](cli::Command& c, CommandContext& ctx) {
                       okOrFail(ctx, killVms(ctx.herd(), ctx.ns(), c.str("vm")));
                   },
                   vmSuggest(true)));
    addHandler(
        herd,
        makeHandler(
            "discard information about quit or failed VMs",
            std::string("Forget QUIT and ERROR VMs; their names may be reused. Without a target,\n"
                        "every such VM of the namespace is flushed.\n\n") +
                kTargetHelp,
            {"vm <flush,>", "vm <flush,> <vm target>"},
            [](cli::Command& c, CommandContext& ctx) {
                if (!c.has("vm")) {
                    flushAll(ctx.herd(), ctx.ns());
                    return ctx.ok();
                }
                okOrFail(ctx, flushVms(ctx.herd(), ctx.ns(), c.str("vm")));
            },
            vmSuggest(true)));
    addHandler(
        herd,
        makeHandler("display or set a tag for the specified VM",
                    std::string("Display or set tags, key-value pairs attached to VMs:\n\n"
                                "\tvm tag foo color red\n\tvm tag foo color\n\tvm tag all\n\n") +
                        kTargetHelp,
                    {"vm tag <vm target> [key or all]", "vm tag <vm target> <key> <value>"},
                    cliVmTag, vmSuggest(true)));
    addHandler(herd,
               makeHandler("remove tags from a VM",
                           "Remove one tag (`clear vm tag <target> <tag>`), all tags of some VMs\n"
                           "(`clear vm tag <target>`) or every tag of every VM (`clear vm tag`).",
                           {"clear vm tag", "clear vm tag <vm target> [tag]"}, cliClearVmTag,
                           vmSuggest(true)));
    registerVmConfigCommands(herd);
}

}  // namespace herd
