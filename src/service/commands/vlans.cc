// vlans, vlans add/range/blacklist, clear vlans.
#include <fmt/format.h>

#include "service/commands/commands.h"
#include "service/commands/vm_internal.h"
#include "service/gostr.h"
#include "service/names.h"

namespace herd {

namespace {

using cli::Command;

// Ranges set in the default namespace are the global range (minimega).
std::string rangeKey(const CommandContext& ctx) {
    return ctx.ns() == kDefaultNamespace ? std::string() : ctx.ns();
}

// Parses a VLAN and range-checks it as the int64 it was parsed as: narrowing first would wrap
// 4294967301 to 5 and accept it.
Result<int> parseVlan(const std::string& s) {
    auto vlan = go::atoi(s);
    if (!vlan.ok()) return Error::msg("expected integer VLAN");
    if (*vlan < 0 || *vlan >= 4096) return Error::msg("invalid VLAN (0 <= vlan < 4096)");
    return static_cast<int>(*vlan);
}

void vlansAdd(Command& c, CommandContext& ctx) {
    auto vlan = parseVlan(c.str("vlan"));
    if (!vlan.ok()) return ctx.fail(vlan.error().text());
    okOrFail(ctx, ctx.herd().vlans().add(ctx.ns(), c.str("alias"), *vlan));
}

void vlansRange(Command& c, CommandContext& ctx) {
    VlanAliases& v = ctx.herd().vlans();
    if (c.has("min")) {
        auto min = go::atoi(c.str("min"));
        auto max = go::atoi(c.str("max"));
        if (!min.ok() || !max.ok()) return ctx.fail("expected integer values for min/max");
        // (sic: minimega's message for max <= min)
        if (*max <= *min) return ctx.fail("expected min > max");
        if (*min < 0 || *max > 4096) return ctx.fail("invalid VLAN range (0 <= min < max <= 4096)");
        return okOrFail(ctx,
                        v.setRange(rangeKey(ctx), static_cast<int>(*min), static_cast<int>(*max)));
    }
    std::vector<std::vector<std::string>> rows;
    if (auto r = v.range(rangeKey(ctx))) {
        rows.push_back({std::to_string(r->min), std::to_string(r->max), std::to_string(r->next)});
    }
    ctx.table({"min", "max", "next"}, std::move(rows));
}

void vlansBlacklist(Command& c, CommandContext& ctx) {
    if (c.has("vlan")) {
        auto vlan = parseVlan(c.str("vlan"));
        if (!vlan.ok()) return ctx.fail(vlan.error().text());
        return okOrFail(ctx, ctx.herd().vlans().blacklist(*vlan));
    }
    std::vector<std::vector<std::string>> rows;
    for (int v : ctx.herd().vlans().blacklisted()) rows.push_back({std::to_string(v)});
    ctx.table({"vlan"}, std::move(rows));
}

void cliVlans(Command& c, CommandContext& ctx) {
    if (c.flag("add")) return vlansAdd(c, ctx);
    if (c.flag("range")) return vlansRange(c, ctx);
    if (c.flag("blacklist")) return vlansBlacklist(c, ctx);
    std::vector<std::vector<std::string>> rows;
    for (auto& [alias, vlan] : ctx.herd().vlans().aliases(ctx.ns()))
        rows.push_back({alias, std::to_string(vlan)});
    ctx.table({"alias", "vlan"}, std::move(rows));
}

void cliClearVlans(Command& c, CommandContext& ctx) {
    std::string prefix = c.has("prefix") ? c.str("prefix") : std::string();
    if (prefix == kWildcard) {
        ctx.herd().vlans().reset();
        return ctx.ok();
    }
    ctx.herd().vlans().clear(ctx.ns(), prefix);
    ctx.ok();
}

}  // namespace

void registerVlanCommands(Herd& herd) {
    addHandler(
        herd,
        makeHandler(
            "display allocated VLANs",
            "Display information about allocated VLANs. With no arguments, prints the VLAN\n"
            "aliases of the namespace. Subcommands:\n\n"
            "range\t\t- view or set the VLAN range\n"
            "add\t\t- add an alias\n"
            "blacklist\t- view or create blacklisted VLANs\n\n"
            "This command is namespace aware: a range set in a namespace applies to the new\n"
            "aliases of that namespace; set in the default namespace, it is the global range.",
            {"vlans", "vlans <range,>", "vlans <range,> <min> <max>", "vlans <add,> <alias> <vlan>",
             "vlans <blacklist,> [vlan]"},
            cliVlans));
    addHandler(herd,
               makeHandler("clear allocated VLANs",
                           "Clear the namespace's aliases that start with the prefix (all of\n"
                           "them, and its range, without one), freeing the VLANs for reuse. Only\n"
                           "clear VLANs once the VMs using them are killed. `clear vlans all`\n"
                           "forgets every alias, range and blacklisted VLAN of every namespace.",
                           {"clear vlans [prefix]"}, cliClearVlans));
}

}  // namespace herd
