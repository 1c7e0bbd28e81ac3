// router, clear router: minimega's minirouter configuration (service/router.h).
#include <fmt/format.h>

#include "service/commands/commands.h"
#include "service/commands/vm_internal.h"
#include "service/gostr.h"
#include "service/router.h"

namespace herd {

namespace {

using cli::Command;

// `router <vm> fw ...`: firewall rules for traffic the router forwards.
Result<void> setFw(Command& c, Router& r) {
    std::string action;
    for (const char* a : {"accept", "drop", "reject"})
        if (c.flag(a)) action = a;
    if (c.has("chain")) {
        const std::string& chain = c.str("chain");
        if (c.flag("default")) return r.setFwChainDefault(chain, action);
        if (c.flag("in") || c.flag("out"))
            return r.applyFwChain(chain, c.flag("in"), c.str("index"));
        return r.addFwChainRule(chain, c.str("src"), c.str("dst"), c.str("proto"), action);
    }
    if (c.flag("default")) {
        r.fw_default = action;
        return {};
    }
    return r.addFwRule(c.str("index"), c.flag("in"), c.str("src"), c.str("dst"), c.str("proto"),
                       action);
}

// Applies one `router <vm> <setting>` to `r`.
Result<void> setRouter(Command& c, Router& r) {
    if (c.flag("log")) {
        for (const char* l : {"fatal", "error", "warn", "info", "debug"})
            if (c.flag(l)) r.log_level = l;
        return {};
    }
    if (c.flag("interface")) {
        const std::string& n = c.str("network");
        auto idx = go::atoi(n);
        if (!idx.ok())
            return Error::msg(fmt::format("invalid network: {} : {}", n, idx.error().text()));
        return r.addInterface(*idx, c.str("IPv4/MASK"), c.flag("lo"));
    }
    if (c.flag("dhcp")) {
        RouterDhcp& d = r.dhcp[c.str("listen")];
        if (c.flag("range")) {
            d.low = c.str("low");
            d.high = c.str("high");
        } else if (c.flag("router")) {
            d.router = c.str("router");
        } else if (c.flag("dns")) {
            d.dns = c.str("address");
        } else if (c.flag("static")) {
            d.statics[c.str("mac")] = c.str("ip");
        }
        return {};
    }
    if (c.flag("dns")) {
        r.dns[c.str("ip")].push_back(c.str("hostname"));
        return {};
    }
    if (c.flag("upstream")) {
        r.upstream = c.str("ip");
        return {};
    }
    if (c.flag("gw")) {
        r.gw = c.str("gw");
        return {};
    }
    if (c.flag("ra")) {
        r.ra.insert(c.str("subnet"));
        return {};
    }
    if (c.flag("route")) {
        if (c.flag("static")) {
            r.addStatic(c.str("network"), c.str("next-hop"), c.str("staticroutename"));
        } else if (c.flag("ospf")) {
            RouterOspf& o = r.ospf[c.str("area")];
            if (c.flag("export")) {
                o.prefixes.insert(c.str("Ipv4/Mask"));
            } else {
                auto& opts = o.interfaces[c.str("network")];
                opts.clear();
                if (c.has("option")) opts[c.str("option")] = c.str("value");
            }
        } else if (c.flag("bgp")) {
            RouterBgp& b = r.bgp[c.str("processname")];
            if (c.flag("export")) {
                b.exports.insert(c.flag("all") ? std::string("all") : c.str("filtername"));
            } else if (c.flag("rrclient")) {
                b.rrclient = true;
            } else {
                // As minimega: an AS that is not a number is 0.
                auto as = go::atoi(c.str("asnumber"));
                int64_t v = as.ok() ? *as : 0;
                if (c.flag("local")) {
                    b.local_ip = c.str("IPv4");
                    b.local_as = v;
                } else {
                    b.neighbor_ip = c.str("IPv4");
                    b.neighbor_as = v;
                }
            }
        }
        return {};
    }
    if (c.flag("rid")) {
        if (!isIp(c.str("id"))) return Error::msg("invalid routerid: " + c.str("id"));
        r.rid = c.str("id");
        return {};
    }
    if (c.flag("fw")) return setFw(c, r);
    return {};
}

void cliRouter(Command& c, CommandContext& ctx) {
    const std::string& name = c.str("vm");
    Vm* vm = findVm(ctx, name);
    if (!vm) return ctx.fail("vm not found: " + name);
    Routers& all = ctx.herd().routers();
    Router* existing = all.find(ctx.ns(), vm->id);
    if (c.bools.empty()) {
        if (!existing) return ctx.fail(fmt::format("vm {} not a router", name));
        auto it = vm->tags().find("minirouter_log");
        return ctx.reply(existing->summary(it == vm->tags().end() ? "" : it->second));
    }
    if (c.flag("commit")) {
        Router& r = all.findOrCreate(ctx.ns(), *vm);
        return okOrFail(ctx, commitRouter(ctx.herd(), ctx.ns(), *vm, r));
    }
    // Applied to a copy: a setting that is refused leaves no router behind
    // and changes nothing.
    Router next = existing ? *existing : Router(vm->config.networks.size());
    auto r = setRouter(c, next);
    if (!r.ok()) return ctx.fail(r.error().text());
    all.findOrCreate(ctx.ns(), *vm) = std::move(next);
    ctx.ok();
}

Result<void> clearDhcp(Command& c, Router& r) {
    if (!c.has("listen")) {
        r.dhcp.clear();
        return {};
    }
    const std::string& addr = c.str("listen");
    auto it = r.dhcp.find(addr);
    if (it == r.dhcp.end()) return Error::msg("no such address: " + addr);
    RouterDhcp& d = it->second;
    if (c.flag("range")) {
        d.low.clear();
        d.high.clear();
    } else if (c.flag("router")) {
        d.router.clear();
    } else if (c.flag("dns")) {
        d.dns.clear();
    } else if (c.flag("static")) {
        if (!c.has("mac")) {
            d.statics.clear();
        } else if (!d.statics.erase(c.str("mac"))) {
            return Error::msg("no such mac: " + c.str("mac"));
        }
    } else {
        r.dhcp.erase(it);
    }
    return {};
}

Result<void> clearOspf(Command& c, Router& r) {
    if (!c.has("area")) {
        r.ospf.clear();
        return {};
    }
    auto it = r.ospf.find(c.str("area"));
    if (it == r.ospf.end()) return Error::msg("no such area: " + c.str("area"));
    RouterOspf& o = it->second;
    if (c.has("network")) {
        if (!o.interfaces.erase(c.str("network")))
            return Error::msg("no such interface: " + c.str("network"));
    } else if (c.flag("export")) {
        if (!o.prefixes.erase(c.str("Ipv4/Mask")))
            return Error::msg("no such filter: " + c.str("Ipv4/Mask"));
    } else {
        o.interfaces.clear();
        o.prefixes.clear();
    }
    return {};
}

Result<void> clearRoute(Command& c, Router& r) {
    if (c.flag("static") && c.has("staticroutename")) {
        const std::string& name = c.str("staticroutename");
        auto it = r.named.find(name);
        if (it == r.named.end()) return Error::msg("no such named static route: " + name);
        const std::string& net = c.str("network");
        if (net == "all") {
            r.named.erase(it);
        } else if (!it->second.erase(net)) {
            return Error::msg("no such network in named static route: " + net);
        }
        return {};
    }
    if (c.flag("static")) {
        const std::string& net = c.str("network");
        if (net.empty() || net == "all") {
            r.statics.clear();
        } else if (!r.statics.erase(net)) {
            return Error::msg("no such static route: " + net);
        }
        return {};
    }
    if (c.flag("namedstatic")) {
        r.named.clear();
        return {};
    }
    if (c.flag("ospf")) return clearOspf(c, r);
    if (c.flag("bgp")) {
        const std::string& p = c.str("processname");
        auto it = r.bgp.find(p);
        if (it == r.bgp.end()) return Error::msg("no such bgp process: " + p);
        if (c.flag("rrclient")) {
            it->second.rrclient = false;
        } else if (c.flag("local")) {
            it->second.local_ip.clear();
            it->second.local_as = 0;
        } else if (c.flag("neighbor")) {
            it->second.neighbor_ip.clear();
            it->second.neighbor_as = 0;
        } else {
            r.bgp.erase(it);
        }
        return {};
    }
    r.statics.clear();
    r.named.clear();
    r.ospf.clear();
    r.bgp.clear();
    return {};
}

Result<void> clearSetting(Command& c, Router& r) {
    if (c.flag("interface"))
        return r.clearInterface(c.str("network"), c.str("IPv4/MASK"), c.flag("lo"));
    if (c.flag("dhcp")) return clearDhcp(c, r);
    if (c.flag("dns")) {
        if (!c.has("ip")) {
            r.dns.clear();
        } else if (!r.dns.erase(c.str("ip"))) {
            return Error::msg("no such ip: " + c.str("ip"));
        }
        return {};
    }
    if (c.flag("upstream")) {
        r.upstream.clear();
        return {};
    }
    if (c.flag("gw")) {
        r.gw.clear();
        return {};
    }
    if (c.flag("ra")) {
        if (!c.has("subnet")) {
            r.ra.clear();
        } else if (!r.ra.erase(c.str("subnet"))) {
            return Error::msg("no such subnet: " + c.str("subnet"));
        }
        return {};
    }
    if (c.flag("route")) return clearRoute(c, r);
    if (c.flag("rid")) {
        r.rid = "0.0.0.0";
        return {};
    }
    if (c.flag("fw")) {
        r.clearFw();
        return {};
    }
    r.clearAll();
    return {};
}

void cliClearRouter(Command& c, CommandContext& ctx) {
    Routers& all = ctx.herd().routers();
    if (!c.has("vm")) {
        all.clearNamespace(ctx.ns());
        return ctx.ok();
    }
    const std::string& name = c.str("vm");
    Vm* vm = findVm(ctx, name);
    if (!vm) return ctx.fail("no such vm " + name);
    Router* r = all.find(ctx.ns(), vm->id);
    if (!r) return ctx.fail("no such router " + name);
    Router next = *r;
    auto done = clearSetting(c, next);
    if (!done.ok()) return ctx.fail(done.error().text());
    *r = std::move(next);
    ctx.ok();
}

}  // namespace

void registerRouterCommands(Herd& herd) {
    addHandler(
        herd,
        makeHandler(
            "configure running minirouter VMs",
            "Configure VMs of the router image (scripts/herd-image router) through their\n"
            "agent. Settings build up on the host; \"router <vm> commit\" sends them to the\n"
            "VM, whose minirouter applies them: addresses on its interfaces, dnsmasq for\n"
            "DHCP, DNS and router advertisements, bird for static, OSPF and BGP routes,\n"
            "nftables for firewall rules.\n"
            "\"router <vm>\" alone shows the settings.\n\n"
            "- log\t: minirouter's log level in the VM\n"
            "- interface\t: an address (CIDR) or dhcp for the NIC at an index of \"vm config\n"
            "\t  net\" (zero indexed); with lo, a loopback address keyed by the index\n"
            "- dhcp\t: a DHCP server for the network of a listen address: a range, a\n"
            "\t  router and a DNS server to hand out, static leases by MAC\n"
            "- dns\t: a host name for an address; upstream: where other names are asked\n"
            "- gw\t: the default gateway; ra: IPv6 router advertisements for a subnet\n"
            "- route\t: static routes (a next hop, or 0 for none in a named set), OSPF\n"
            "\t  areas with interfaces and exports, BGP processes\n"
            "- rid\t: the router id (default: the highest loopback, else the highest\n"
            "\t  interface address, fixed at the first commit)\n"
            "- fw\t: firewall rules on forwarded traffic: by NIC index, traffic coming\n"
            "\t  in or going out, [src] dst (a.b.c.d[/len][:port]) and a protocol\n"
            "\t  (tcp, udp, sctp, icmp or all); user chains with their own default,\n"
            "\t  applied to a NIC; the default action (accept). Replies to allowed\n"
            "\t  connections always pass.\n\n"
            "Examples:\n\n"
            "\tvm config net 100 200\n"
            "\trouter r1 interface 0 10.0.0.1/24\n"
            "\trouter r1 interface 1 10.1.0.1/24\n"
            "\trouter r1 dhcp 10.0.0.1 range 10.0.0.10 10.0.0.50\n"
            "\trouter r1 dhcp 10.0.0.1 router 10.0.0.1\n"
            "\trouter r1 route static 10.9.0.0/16 10.1.0.2\n"
            "\trouter r1 fw drop in 0 10.1.0.5:22 tcp\n"
            "\trouter r1 commit\n\n"
            "Remove settings with \"clear router\".",
            {"router <vm>",
             "router <vm> <commit,>",
             "router <vm> <rid,> <id>",
             "router <vm> <log,> <level,> <fatal,error,warn,info,debug>",
             "router <vm> <interface,> <network> <IPv4/MASK or IPv6/MASK or dhcp> [lo,]",
             "router <vm> <dhcp,> <listen address> <range,> <low address> <high address>",
             "router <vm> <dhcp,> <listen address> <router,> <router address>",
             "router <vm> <dhcp,> <listen address> <dns,> <address>",
             "router <vm> <dhcp,> <listen address> <static,> <mac> <ip>",
             "router <vm> <dns,> <ip> <hostname>",
             "router <vm> <upstream,> <ip>",
             "router <vm> <gw,> <gw>",
             "router <vm> <ra,> <subnet>",
             "router <vm> <route,> <static,> <network> <next-hop> [staticroutename]",
             "router <vm> <route,> <ospf,> <area> <network>",
             "router <vm> <route,> <ospf,> <area> <network> <option> <value>",
             "router <vm> <route,> <ospf,> <area> <export,> <Ipv4/Mask or staticroutename>",
             "router <vm> <route,> <bgp,> <processname> <local,neighbor> <IPv4> <asnumber>",
             "router <vm> <route,> <bgp,> <processname> <rrclient,>",
             "router <vm> <route,> <bgp,> <processname> <export,> <all,filter> <filtername>",
             "router <vm> <fw,> <default,> <accept,drop>",
             "router <vm> <fw,> <accept,drop,reject> <in,out> <index> <dst> <proto>",
             "router <vm> <fw,> <accept,drop,reject> <in,out> <index> <src> <dst> <proto>",
             "router <vm> <fw,> chain <chain> <default,> action <accept,drop,reject>",
             "router <vm> <fw,> chain <chain> action <accept,drop,reject> <dst> <proto>",
             "router <vm> <fw,> chain <chain> action <accept,drop,reject> <src> <dst> <proto>",
             "router <vm> <fw,> chain <chain> apply <in,out> <index>"},
            cliRouter, vmSuggest(false)));
    addHandler(
        herd,
        makeHandler(
            "clear router settings",
            "Remove what \"router\" set: every router of the namespace, everything of one\n"
            "router (but its log level, upstream DNS server and default gateway), or one\n"
            "setting. Nothing changes in the VM until the next \"router <vm> commit\".\n\n"
            "\tclear router r1 interface 0 10.0.0.1/24\n"
            "\tclear router r1 dhcp 10.0.0.1 static\n"
            "\tclear router r1 route static all",
            {"clear router",
             "clear router <vm>",
             "clear router <vm> <rid,>",
             "clear router <vm> <interface,>",
             "clear router <vm> <interface,> <network>",
             "clear router <vm> <interface,> <network> <IPv4/MASK or IPv6/MASK or dhcp or all> "
             "[lo,]",
             "clear router <vm> <dhcp,>",
             "clear router <vm> <dhcp,> <listen address>",
             "clear router <vm> <dhcp,> <listen address> <range,>",
             "clear router <vm> <dhcp,> <listen address> <router,>",
             "clear router <vm> <dhcp,> <listen address> <dns,>",
             "clear router <vm> <dhcp,> <listen address> <static,>",
             "clear router <vm> <dhcp,> <listen address> <static,> <mac>",
             "clear router <vm> <dns,>",
             "clear router <vm> <dns,> <ip>",
             "clear router <vm> <upstream,>",
             "clear router <vm> <gw,>",
             "clear router <vm> <ra,>",
             "clear router <vm> <ra,> <subnet>",
             "clear router <vm> <route,>",
             "clear router <vm> <route,> <static,namedstatic>",
             "clear router <vm> <route,> <static,> <network or all> [staticroutename]",
             "clear router <vm> <route,> <ospf,>",
             "clear router <vm> <route,> <ospf,> <area>",
             "clear router <vm> <route,> <ospf,> <area> <network>",
             "clear router <vm> <route,> <ospf,> <area> <export,> <Ipv4/Mask or staticroutename>",
             "clear router <vm> <route,> <bgp,> <processname>",
             "clear router <vm> <route,> <bgp,> <processname> <rrclient,>",
             "clear router <vm> <route,> <bgp,> <processname> <local,neighbor>",
             "clear router <vm> <fw,>"},
            cliClearRouter, vmSuggest(false)));
}

}  // namespace herd
