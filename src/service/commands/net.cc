// Host networking commands: tap, clear tap, bridge, dnsmasq.
#include <algorithm>
#include <map>
#include <set>

#include "service/commands/commands.h"
#include "service/commands/tap_mirror.h"
#include "service/commands/vm_internal.h"
#include "service/gostr.h"
#include "service/hostnet.h"
#include "service/names.h"
#include "service/tap_mirror.h"
#include "service/vm.h"
#include "service/vm_ops.h"

namespace herd {

namespace {

using cli::Command;

// What the kernel accepts as an interface name (dev_valid_name), checked
// here so the error names the problem.
Result<void> checkTapName(const std::string& prefix, const std::string& name) {
    if (name == std::string(kWildcard))
        return Error::msg("`" + name + "` is a reserved word -- cannot use for tap name");
    if (name.size() > runtime::kMaxIfName)
        return Error::msg("invalid tap name " + name + ": longer than 15 bytes");
    bool bad = name.empty() || name == "." || name == "..";
    for (char ch : name)
        bad = bad || ch == '/' || ch == ':' || ch == ' ' || ch == '\t' || ch == '\n' ||
              ch == '\r' || ch == '\v' || ch == '\f';
    if (bad) return Error::msg("invalid tap name " + name + ": not a valid interface name");
    if (runtime::isOwnedLink(prefix, name))
        return Error::msg("invalid tap name " + name + ": reserved for herd's own interfaces");
    return Ok();
}

bool isVmTap(Herd& herd, const std::string& name) {
    for (const auto& ns : herd.namespaces().names())
        for (Vm* vm : herd.vms().inNamespace(ns))
            for (const auto& n : vm->config.networks)
                if (n.tap == name) return true;
    return false;
}

void tapCreate(Command& c, CommandContext& ctx) {
    Herd& herd = ctx.herd();
    const std::string bridge =
        c.has("bridge") ? c.str("bridge") : std::string(runtime::kDefaultBridgeName);
    if (bridge == std::string(kWildcard))
        return ctx.fail("`" + bridge + "` is a reserved word -- cannot use for bridge name");
    HostNet::TapRequest req;
    req.bridge = bridge;
    req.ns = ctx.ns();
    req.dhcp = c.flag("dhcp");
    if (c.has("tap")) {
        req.name = c.str("tap");
        if (auto r = checkTapName(herd.options().prefix, req.name); !r.ok())
            return ctx.fail(r.error().text());
    }
    if (c.has("ip")) {
        // A bare address gets the family's full width (parseIp), as `ip
        // addr add`, which minimega runs, gives it: /32 or /128.
        const std::string& text = c.str("ip");
        runtime::IpPrefix p;
        bool parsed = text.find('/') == std::string::npos ? runtime::parseIp(text, p)
                                                          : runtime::parseCidr(text, p);
        if (!parsed) return ctx.fail("invalid CIDR address: " + text);
        req.ip = p;
    }
    auto vlan = herd.vlans().lookup(ctx.ns(), c.str("vlan"));
    if (!vlan.ok()) return ctx.fail(vlan.error().text());
    req.vlan = *vlan;
    runtime::SwitchBackend* sw = herd.runtime().switchBackend();
    if (!sw) return ctx.fail("host taps need the container runtime (not -runtime dry)");
    HostNet& hn = herd.hostnet();
    if (!req.name.empty()) {
        if (hn.findTap(req.name)) return ctx.fail("tap already on bridge");
        auto exists = hn.linkExists(req.name);
        if (!exists.ok()) return ctx.fail(exists.error().text());
        if (*exists)
            return ctx.fail("invalid tap name " + req.name + ": an interface of that name exists");
    }
    auto name = hn.createTap(*sw, req);
    if (!name.ok()) return ctx.fail(name.error().text());
    ctx.reply(*name);
}

Result<void> tapDelete(CommandContext& ctx, const std::string& which) {
    Herd& herd = ctx.herd();
    HostNet* hn = herd.hostnetIfAny();
    runtime::SwitchBackend* sw = herd.runtime().switchBackend();
    if (which == std::string(kWildcard)) {
        if (!hn) return Ok();
        std::vector<std::string> names;
        for (const HostTap* t : hn->taps())
            if (t->ns == ctx.ns()) names.push_back(t->name);
        if (herd.tapMirrorsIfAny()) herd.tapMirrors().portsGone(sw, names);
        for (const auto& n : names) HERD_TRY(hn->deleteTap(sw, n));
        return Ok();
    }
    if (HostTap* t = hn ? hn->findTap(which) : nullptr) {
        if (t->ns != ctx.ns()) return Error::msg("not a host tap in active namespace");
        if (herd.tapMirrorsIfAny()) herd.tapMirrors().portsGone(sw, {which});
        return hn->deleteTap(sw, which);
    }
    if (isVmTap(herd, which)) return Error::msg("not a host tap");
    return Error::msg("unknown tap");
}

void tapCommand(Command& c, CommandContext& ctx) {
    if (c.flag("create")) return tapCreate(c, ctx);
    if (c.flag("mirror")) return tapMirrorCommand(c, ctx);
    if (c.flag("delete")) return okOrFail(ctx, tapDelete(ctx, c.str("tap")));
    std::vector<std::vector<std::string>> rows;
    if (ctx.herd().hostnetIfAny()) {
        for (const HostTap* t : ctx.herd().hostnet().taps()) {
            if (t->ns != ctx.ns()) continue;
            rows.push_back({t->bridge, t->name, ctx.herd().vlans().print(ctx.ns(), t->vlan)});
        }
    }
    emitTable(ctx, {"bridge", "tap", "vlan"}, std::move(rows), "");
}

void dnsmasqCommand(Command& c, CommandContext& ctx) {
    if (c.has("id")) {
        const std::string& id = c.str("id");
        HostNet* hn = ctx.herd().hostnetIfAny();
        if (id == std::string(kWildcard)) {
            if (!hn) return ctx.ok();
            std::string errs;
            for (const DnsmasqServer* s : hn->dnsmasqs()) {
                if (auto r = hn->killDnsmasq(s->id); !r.ok())
                    errs += (errs.empty() ? "" : "\n") + r.error().text();
            }
            return errs.empty() ? ctx.ok() : ctx.fail(errs);
        }
        auto n = go::atoi(id);
        if (!n.ok()) return ctx.fail(n.error().text());
        if (!hn || *n < 0 || *n > 1 << 30) return ctx.fail("invalid id");
        return okOrFail(ctx, hn->killDnsmasq(static_cast<int>(*n)));
    }
    if (c.has("listen") || c.has("config")) {
        auto id = ctx.herd().hostnet().startDnsmasq(
            c.has("listen") ? c.str("listen") : "", c.has("low") ? c.str("low") : "",
            c.has("high") ? c.str("high") : "", c.has("config") ? c.str("config") : "");
        if (!id.ok()) return ctx.fail(id.error().text());
        return ctx.ok();
    }
    std::vector<std::vector<std::string>> rows;
    if (HostNet* hn = ctx.herd().hostnetIfAny()) {
        for (const DnsmasqServer* s : hn->dnsmasqs()) {
            rows.push_back({std::to_string(s->id), s->addr, s->min, s->max, s->path,
                            std::to_string(hn->dnsmasqPid(*s))});
        }
    }
    emitTable(ctx, {"ID", "Listening Address", "Min", "Max", "Path", "PID"}, std::move(rows), "");
}

cli::SuggestFn tapSuggest() {
    return [](CommandContext& ctx, const std::string& key, const std::string& typed) {
        std::vector<std::string> out;
        auto match = [&](const std::string& s) { return s.compare(0, typed.size(), typed) == 0; };
        if (key == "tap" && ctx.herd().hostnetIfAny()) {
            if (match(std::string(kWildcard))) out.emplace_back(kWildcard);
            for (const HostTap* t : ctx.herd().hostnet().taps())
                if (t->ns == ctx.ns() && match(t->name)) out.push_back(t->name);
        }
        return out;
    };
}

}  // namespace

void registerNetCommands(Herd& herd) {
    addHandler(
        herd,
        makeHandler(
            "control host taps for communicating between hosts and VMs",
            "Control host taps on a named vlan for communicating between a "
            "host and any VMs\non that vlan.\n\n"
            "Calling tap with no arguments lists the taps of the active "
            "namespace.\n\n"
            "To create a host tap with ip and netmask 10.0.0.1/24 on VLAN 5:\n\n"
            "\ttap create 5 ip 10.0.0.1/24\n\n"
            "Optionally give the bridge (default mega_bridge) and the tap's "
            "name (default\n<prefix>t<n>), or use dhcp instead of an address "
            "(a DHCP client runs on the\ntap until it is deleted):\n\n"
            "\ttap create 5 bridge br0 dhcp mytap\n\n"
            "To delete a host tap, or all of the namespace's:\n\n"
            "\ttap delete <tap>\n\ttap delete all\n\n"
            "To mirror every frame a tap sends and receives onto another tap "
            "of the same\nbridge (by tap names, or by VM names and interface "
            "indexes), and to stop:\n\n"
            "\ttap mirror <src tap> <dst tap> [bridge]\n"
            "\ttap mirror <vm> <idx> <vm2> <idx2>\n"
            "\tclear tap mirror [dst tap]\n\tclear tap mirror <vm> <idx or all>\n\n"
            "On the kernel-bridge backend a host tap is one end of a veth "
            "pair whose other\nend (<prefix>p<n>) is on the VLAN's bridge.",
            {"tap", "tap <create,> <vlan>", "tap <create,> <vlan> name <tap name>",
             "tap <create,> <vlan> <dhcp,> [tap name]",
             "tap <create,> <vlan> <dhcp,> name <tap name>",
             "tap <create,> <vlan> ip <ip> [tap name]",
             "tap <create,> <vlan> ip <ip> name <tap name>", "tap <create,> <vlan> bridge <bridge>",
             "tap <create,> <vlan> bridge <bridge> name [tap name]",
             "tap <create,> <vlan> bridge <bridge> <dhcp,> [tap name]",
             "tap <create,> <vlan> bridge <bridge> <dhcp,> name <tap name>",
             "tap <create,> <vlan> bridge <bridge> ip <ip> [tap name]",
             "tap <create,> <vlan> bridge <bridge> ip <ip> name <tap name>",
             "tap <delete,> <tap name or all>", "tap <mirror,> <src name> <dst name> [bridge]",
             "tap <mirror,> <vm name> <interface index> <vm2 name> <interface2 "
             "index>"},
            tapCommand, tapSuggest()));
    addHandler(herd,
               makeHandler("reset tap state",
                           "Delete every mirror, then every host tap, of the active namespace; "
                           "or only\nmirrors. See \"help tap\".",
                           {"clear tap", "clear tap <mirror,> [name]",
                            "clear tap <mirror,> <vm name> <interface index or all>"},
                           [](Command& c, CommandContext& ctx) {
                               if (c.flag("mirror")) return clearTapMirrorCommand(c, ctx);
                               if (ctx.herd().tapMirrorsIfAny()) {
                                   auto r = ctx.herd().tapMirrors().removeAll(
                                       ctx.herd().runtime().switchBackend(), ctx.ns());
                                   if (!r.ok()) return ctx.fail(r.error().text());
                               }
                               okOrFail(ctx, tapDelete(ctx, std::string(kWildcard)));
                           }));
    addHandler(herd,
               makeHandler("start a dhcp/dns server on a specified ip",
                           "Start a dhcp/dns server (Debian's dnsmasq) on the interface holding "
                           "an IP, serving\na range. For example, to serve 10.0.0.2 - "
                           "10.0.254.254 from 10.0.0.1:\n\n"
                           "\tdnsmasq start 10.0.0.1 10.0.0.2 10.0.254.254\n\n"
                           "An additional dnsmasq config file (full path) may follow, or be "
                           "given alone:\n\n"
                           "\tdnsmasq start /path/to/config\n\n"
                           "With no arguments, list the running servers. To kill one, or all:\n\n"
                           "\tdnsmasq kill 2\n\tdnsmasq kill all",
                           {"dnsmasq",
                            "dnsmasq start <listen address> <low dhcp range> <high dhcp range> "
                            "[config]",
                            "dnsmasq start <config>", "dnsmasq kill <id or all>"},
                           dnsmasqCommand));
}

}  // namespace herd
