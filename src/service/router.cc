#include "service/router.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <memory>

#include "base/fs.h"
#include "service/cc.h"
#include "service/gostr.h"
#include "service/herd.h"
#include "service/namespace.h"
#include "service/vm.h"

namespace herd {

namespace {

// The address bytes of an IPv4 or IPv6 address, as Go's net.ParseIP makes
// them: 16 bytes, an IPv4 address mapped (::ffff:a.b.c.d). Empty if neither.
std::string ipBytes(const std::string& s) {
    std::array<unsigned char, 16> b{};
    in_addr v4{};
    if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
        b[10] = b[11] = 0xff;
        std::memcpy(b.data() + 12, &v4, 4);
        return std::string(b.begin(), b.end());
    }
    if (inet_pton(AF_INET6, s.c_str(), b.data()) == 1) return std::string(b.begin(), b.end());
    return {};
}

std::string addressOf(const std::string& cidr) {
    return cidr.substr(0, cidr.find('/'));
}

// Go's %v of a []string: `[a b]`.
std::string goList(const std::vector<std::string>& v) {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); ++i) {
        if (i) out += ' ';
        out += v[i];
    }
    return out + "]";
}

// Left-aligned cells padded to the widest of the column plus one space
// (and at least `minwidth`), the last cell as it is: Go's tabwriter with
// padding 1 and padchar ' ', for a block of lines with the same cell count.
std::string tabulate(const std::vector<std::vector<std::string>>& rows, size_t minwidth) {
    std::vector<size_t> width;
    for (const auto& r : rows)
        for (size_t i = 0; i + 1 < r.size(); ++i) {
            if (width.size() <= i) width.resize(i + 1, minwidth);
            width[i] = std::max(width[i], r[i].size() + 1);
        }
    std::string out;
    for (const auto& r : rows) {
        for (size_t i = 0; i < r.size(); ++i) {
            out += r[i];
            if (i + 1 < r.size()) out.append(width[i] - r[i].size(), ' ');
        }
        out += '\n';
    }
    return out;
}

// Whether `s` is an IPv4 address, or an IPv4 network with a prefix length.
bool isIpv4OrNet(const std::string& s) {
    in_addr v4{};
    if (inet_pton(AF_INET, s.c_str(), &v4) == 1) return true;
    return isCidr(s) && s.find(':') == std::string::npos;
}

bool portProto(const std::string& p) {
    return p == "tcp" || p == "udp" || p == "sctp";
}

// A firewall address as minimega takes it: `ip` or `ip:port`. herd also
// checks what the guest's firewall will be given: the address is IPv4 (an
// address or a network, or empty with a port: any address), the port is
// 1-65535 and only used with a protocol that has ports.
Result<void> checkFwAddress(const char* what, const std::string& a, const std::string& proto) {
    auto colon = a.find(':');
    if (a.empty() || (colon != std::string::npos && a.find(':', colon + 1) != std::string::npos))
        return Error::msg(fmt::format(
            "malformed fw {} {}: want an IPv4 address or network, optionally with :port", what, a));
    std::string host = a.substr(0, colon);
    if (colon != std::string::npos) {
        std::string port = a.substr(colon + 1);
        auto n = go::atoi(port);
        if (!n.ok())
            return Error::msg(
                fmt::format("validating fw {} port {}: {}", what, port, n.error().text()));
        if (*n < 1 || *n > 65535)
            return Error::msg(fmt::format("invalid fw {} port {}: want 1-65535", what, port));
        if (!portProto(proto))
            return Error::msg(fmt::format("fw {} port {} needs protocol tcp, udp or sctp, not {}",
                                          what, port, proto));
    } else if (host.empty()) {
        return Error::msg(fmt::format("malformed fw {} {}", what, a));
    }
    if (!host.empty() && !isIpv4OrNet(host))
        return Error::msg(fmt::format(
            "invalid fw {} {}: {} is not an IPv4 address or network (a.b.c.d or a.b.c.d/len)", what,
            a, host));
    return {};
}

Result<void> checkFwMatch(const std::string& src, const std::string& dst,
                          const std::string& proto) {
    if (proto != "all" && proto != "icmp" && !portProto(proto))
        return Error::msg("invalid fw protocol " + proto + ": want tcp, udp, sctp, icmp or all");
    if (!src.empty()) {
        auto r = checkFwAddress("source", src, proto);
        if (!r.ok()) return r;
    }
    return checkFwAddress("destination", dst, proto);
}

// A chain name the guest can use as is: 1-24 letters, digits, _ or -.
Result<void> checkFwChain(const std::string& c) {
    bool ok = !c.empty() && c.size() <= 24 && std::all_of(c.begin(), c.end(), [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-';
    });
    if (!ok)
        return Error::msg("invalid fw chain name " + c + ": want 1-24 letters, digits, _ or -");
    return {};
}

// The index of a NIC for a firewall rule: a number below the NIC count.
Result<size_t> fwIndex(const std::string& idx, size_t nics, const char* what) {
    auto n = go::atoi(idx);
    if (!n.ok()) return Error::msg(fmt::format("converting {} index: {}", what, n.error().text()));
    if (*n < 0 || static_cast<size_t>(*n) >= nics)
        return Error::msg("no such network index: " + std::to_string(*n));
    return static_cast<size_t>(*n);
}

// minimega's text for one rule: `<chain>: <src> --> <dst> via <proto> -> <action>`
// with `<any>` for what is empty; per-NIC rules are `incoming` or `outgoing`.
std::string fwRuleText(const RouterFwRule& r, const std::string& chain) {
    auto any = [](const std::string& s) { return s.empty() ? std::string("<any>") : s; };
    std::string c = chain.empty() ? (r.in ? "incoming" : "outgoing") : chain;
    return c + ": " + any(r.src) + " --> " + any(r.dst) + " via " + any(r.proto) + " -> " +
           r.action;
}

}  // namespace

bool isIp(const std::string& s) {
    return !ipBytes(s).empty();
}

bool isCidr(const std::string& s) {
    auto slash = s.find('/');
    if (slash == std::string::npos) return false;
    std::string addr = s.substr(0, slash), len = s.substr(slash + 1);
    in_addr v4{};
    in6_addr v6{};
    int max = 0;
    if (inet_pton(AF_INET, addr.c_str(), &v4) == 1)
        max = 32;
    else if (inet_pton(AF_INET6, addr.c_str(), &v6) == 1)
        max = 128;
    else
        return false;
    if (len.empty() || len.size() > 3) return false;
    if (!std::all_of(len.begin(), len.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return false;
    return std::stoi(len) <= max;
}

Result<void> Router::addInterface(int64_t idx, const std::string& ip, bool lo) {
    if (lo) {
        if (ip == "dhcp") return Error::msg("Cannot put dhcp on loopback");
        if (!isCidr(ip)) return Error::msg("invalid IP: " + ip);
        for (const auto& [k, v] : loopbacks)
            if (v == ip) return Error::msg("IP " + ip + " already exists");
        loopbacks[idx] = ip;
        ips_dirty = true;
        return {};
    }
    if (idx < 0 || static_cast<size_t>(idx) >= ips.size())
        return Error::msg("no such network index: " + std::to_string(idx));
    if (ip != "dhcp" && !isCidr(ip)) return Error::msg("invalid IP: " + ip);
    auto& list = ips[static_cast<size_t>(idx)];
    if (std::find(list.begin(), list.end(), ip) != list.end())
        return Error::msg("IP " + ip + " already exists");
    list.push_back(ip);
    ips_dirty = true;
    return {};
}

Result<void> Router::clearInterface(const std::string& idx, const std::string& ip, bool lo) {
    if (idx.empty()) {
        ips.assign(ips.size(), {});
        loopbacks.clear();
        ips_dirty = true;
        return {};
    }
    auto n = go::atoi(idx);
    if (!n.ok()) return n.error();
    if (lo) {
        if (ip == "all") {
            loopbacks.clear();
            ips_dirty = true;
        } else {
            loopbacks.erase(*n);
        }
        return {};
    }
    if (*n < 0 || static_cast<size_t>(*n) >= ips.size())
        return Error::msg("no such network index: " + std::to_string(*n));
    auto& list = ips[static_cast<size_t>(*n)];
    if (ip.empty() || ip == "all") {
        list.clear();
        ips_dirty = true;
        return {};
    }
    if (ip != "dhcp" && !isCidr(ip)) return Error::msg("invalid IP: " + ip);
    auto it = std::find(list.begin(), list.end(), ip);
    if (it == list.end()) return Error::msg("no such network: " + ip);
    list.erase(it);
    ips_dirty = true;
    return {};
}

void Router::addStatic(const std::string& net, const std::string& nh, const std::string& name) {
    if (name.empty()) {
        statics[net] = nh;
        return;
    }
    named[name][net] = nh == "0" ? "" : nh;
}

Result<void> Router::addFwRule(const std::string& idx, bool in, const std::string& src,
                               const std::string& dst, const std::string& proto,
                               const std::string& action) {
    auto n = fwIndex(idx, fw_rules.size(), "fw interface");
    if (!n.ok()) return n.error();
    auto m = checkFwMatch(src, dst, proto);
    if (!m.ok()) return m;
    fw_rules[*n].push_back({in, src, dst, proto, action});
    return {};
}

Result<void> Router::addFwChainRule(const std::string& chain, const std::string& src,
                                    const std::string& dst, const std::string& proto,
                                    const std::string& action) {
    auto c = checkFwChain(chain);
    if (!c.ok()) return c;
    auto m = checkFwMatch(src, dst, proto);
    if (!m.ok()) return m;
    fw_chains[chain].rules.push_back({false, src, dst, proto, action});
    return {};
}

Result<void> Router::setFwChainDefault(const std::string& chain, const std::string& action) {
    auto c = checkFwChain(chain);
    if (!c.ok()) return c;
    fw_chains[chain].default_action = action;
    return {};
}

Result<void> Router::applyFwChain(const std::string& chain, bool in, const std::string& idx) {
    auto parsed = go::atoi(idx);
    if (!parsed.ok())
        return Error::msg("converting fw chain interface index: " + parsed.error().text());
    if (!fw_chains.count(chain)) return Error::msg("unknown chain " + chain);
    auto n = fwIndex(idx, fw_rules.size(), "fw chain interface");
    if (!n.ok()) return n.error();
    fw_rules[*n].push_back({in, "", "", "", chain});
    return {};
}

void Router::clearFw() {
    fw_default = "accept";
    fw_rules.assign(fw_rules.size(), {});
    fw_chains.clear();
}

void Router::clearAll() {
    ips.assign(ips.size(), {});
    loopbacks.clear();
    ips_dirty = true;
    dhcp.clear();
    dns.clear();
    ra.clear();
    statics.clear();
    named.clear();
    ospf.clear();
    bgp.clear();
    rid = "0.0.0.0";
    clearFw();
}

std::string Router::summary(const std::string& log) const {
    std::string o = "IPs:\n";
    for (size_t i = 0; i < ips.size(); ++i)
        o += "Network: " + std::to_string(i) + ": " + goList(ips[i]) + "\n";
    if (!loopbacks.empty()) {
        std::vector<std::string> sorted;
        for (const auto& [k, v] : loopbacks) sorted.push_back(v);
        std::sort(sorted.begin(), sorted.end());
        o += "Loopback IPs:\n";
        for (const auto& v : sorted) o += v + "\n";
    }
    o += "\n";
    for (const auto& [addr, d] : dhcp) {
        o += tabulate({{"Listen address:", addr},
                       {"Low address:", d.low},
                       {"High address:", d.high},
                       {"Router:", d.router},
                       {"DNS:", d.dns},
                       {"Static IPs:", ""}},
                      5);
        std::vector<std::vector<std::string>> rows;
        for (const auto& [mac, ip] : d.statics) rows.push_back({"", mac, ip});
        o += tabulate(rows, 5) + "\n";
    }
    if (!dns.empty()) {
        o += "DNS:\n";
        for (const auto& [ip, hosts] : dns)
            for (const auto& h : hosts) o += ip + "\t" + h + "\n";
        o += "\n";
    }
    if (!upstream.empty()) o += "Upstream DNS: " + upstream + "\n";
    if (!gw.empty()) o += "Default Gateway: " + gw + "\n";
    if (!ra.empty()) {
        o += "Router Advertisements:\n";
        for (const auto& s : ra) o += s + "\n";
        o += "\n";
    }
    if (!statics.empty()) {
        o += "Static Routes:\n";
        for (const auto& [net, nh] : statics) o += net + "\t" + nh + "\n";
        o += "\n";
    }
    if (!named.empty()) {
        o += "Named Static Routes:\n";
        for (const auto& [name, routes] : named) {
            o += name + "\n";
            for (const auto& [net, nh] : routes)
                o += "\t" + net + (nh.empty() ? "" : "\t" + nh) + "\n";
        }
        o += "\n";
    }
    for (const auto& [area, a] : ospf) {
        o += "OSPF Area:\t" + area + "\nInterfaces:\n";
        for (const auto& [iface, opts] : a.interfaces) o += "\t" + iface + "\n";
        if (!a.prefixes.empty()) {
            o += "OSPF Export Networks or Routes:\n";
            for (const auto& p : a.prefixes) o += "\t" + p + "\n";
        }
        o += "\n";
    }
    for (const auto& [name, b] : bgp) {
        o += "BGP Process Name:\t" + name + "\n";
        o += "BGP Local IP:\t" + b.local_ip + "\n";
        o += "BGP Local As:\t" + std::to_string(b.local_as) + "\n";
        o += "BGP Neighbor IP:\t" + b.neighbor_ip + "\n";
        o += "BGP Neighbor As:\t" + std::to_string(b.neighbor_as) + "\n";
        o += std::string("BGP RouteReflector:\t") + (b.rrclient ? "true" : "false") + "\n";
        if (!b.exports.empty()) {
            o += "BGP Export Networks or Routes:\n";
            for (const auto& e : b.exports) o += "\t" + e + "\n";
        }
        o += "\n";
    }
    // Firewall: minimega prints its rules section whenever the VM has NICs;
    // herd only when there is a rule or the default is not accept.
    bool any_rule =
        std::any_of(fw_rules.begin(), fw_rules.end(), [](const auto& v) { return !v.empty(); });
    if (any_rule || fw_default != "accept") {
        o += "Firewall Rules:\n";
        for (size_t i = 0; i < fw_rules.size(); ++i)
            for (const auto& r : fw_rules[i])
                o += "  (iface " + std::to_string(i) + ") " + fwRuleText(r, "") + "\n";
        o += "  Default Action: " + fw_default + "\n";
    }
    if (!fw_chains.empty()) {
        o += "Firewall Chains:\n";
        for (const auto& [name, chain] : fw_chains) {
            for (const auto& r : chain.rules) o += "  " + fwRuleText(r, name) + "\n";
            o += "  Default Action (" + name + "): " + chain.default_action + "\n";
        }
    }
    o += "Log:\n";
    size_t start = 0;
    while (true) {
        size_t nl = log.find('\n', start);
        o += "\t" + log.substr(start, nl == std::string::npos ? std::string::npos : nl - start) +
             "\n";
        if (nl == std::string::npos) break;
        start = nl + 1;
    }
    return o;
}

std::string Router::commitText() {
    // The router id: as typed, else the highest loopback address, else the
    // highest interface address (compared as Go compares net.IP bytes).
    if (rid == "0.0.0.0") {
        std::string best = ipBytes(rid);
        auto consider = [&](const std::string& cidr) {
            std::string a = addressOf(cidr), b = ipBytes(a);
            if (!b.empty() && b > best) {
                best = b;
                rid = a;
            }
        };
        if (!loopbacks.empty()) {
            for (const auto& [k, v] : loopbacks) consider(v);
        } else {
            for (const auto& list : ips)
                for (const auto& ip : list) consider(ip);
        }
    }

    std::string o = "log level " + log_level + "\n";
    if (ips_dirty) {
        o += "ip flush\n";
        for (size_t i = 0; i < ips.size(); ++i)
            for (const auto& ip : ips[i]) o += "ip add " + std::to_string(i) + " " + ip + "\n";
        for (const auto& [k, v] : loopbacks) o += "ip add lo " + v + "\n";
    }
    o += "dnsmasq flush\n";
    for (const auto& [addr, d] : dhcp) {
        if (!d.low.empty()) o += "dnsmasq dhcp range " + addr + " " + d.low + " " + d.high + "\n";
        if (!d.router.empty()) o += "dnsmasq dhcp option router " + addr + " " + d.router + "\n";
        if (!d.dns.empty()) o += "dnsmasq dhcp option dns " + addr + " " + d.dns + "\n";
        for (const auto& [mac, ip] : d.statics)
            o += "dnsmasq dhcp static " + addr + " " + mac + " " + ip + "\n";
    }
    for (const auto& [ip, hosts] : dns)
        for (const auto& h : hosts) o += "dnsmasq dns " + ip + " " + h + "\n";
    if (!upstream.empty()) o += "dnsmasq upstream " + upstream + "\n";
    o += gw.empty() ? std::string("route del default\n") : "route add default gw " + gw + "\n";
    for (const auto& s : ra) o += "dnsmasq ra " + s + "\n";
    o += "dnsmasq commit\n";
    o += "bird flush\n";
    for (const auto& [net, nh] : statics) o += "bird static " + net + " " + nh + " null\n";
    for (const auto& [name, routes] : named)
        for (const auto& [net, nh] : routes)
            o += "bird static " + net + " " + (nh.empty() ? "null" : nh) + " " + name + "\n";
    for (const auto& [area, a] : ospf) {
        for (const auto& [iface, opts] : a.interfaces) {
            o += "bird ospf " + area + " " + iface + "\n";
            for (const auto& [k, v] : opts)
                o += "bird ospf " + area + " " + iface + " " + go::quote(k) + " " + go::quote(v) +
                     "\n";
        }
        for (const auto& p : a.prefixes) o += "bird ospf " + area + " filter " + p + "\n";
    }
    for (const auto& [name, b] : bgp) {
        o += "bird bgp " + name + " local " + b.local_ip + " " + std::to_string(b.local_as) + "\n";
        o += "bird bgp " + name + " neighbor " + b.neighbor_ip + " " +
             std::to_string(b.neighbor_as) + "\n";
        if (b.rrclient) o += "bird bgp " + name + " rrclient\n";
        for (const auto& e : b.exports) o += "bird bgp " + name + " filter " + e + "\n";
    }
    o += "bird routerid " + rid + "\n";
    o += "bird commit\n";
    // The firewall, always (the guest starts over from `fw flush`): user
    // chains first, so that the per-NIC rules can send traffic to them.
    o += "fw flush\nfw default " + fw_default + "\n";
    auto match = [](const RouterFwRule& r) {
        return (r.src.empty() ? "" : " " + r.src) + " " + r.dst + " " + r.proto;
    };
    for (const auto& [name, chain] : fw_chains) {
        for (const auto& r : chain.rules)
            o += "fw chain " + name + " action " + r.action + match(r) + "\n";
        o += "fw chain " + name + " default action " + chain.default_action + "\n";
    }
    for (size_t i = 0; i < fw_rules.size(); ++i)
        for (const auto& r : fw_rules[i]) {
            std::string dir = std::string(r.in ? " in " : " out ") + std::to_string(i);
            if (r.src.empty() && r.dst.empty() && r.proto.empty())
                o += "fw chain " + r.action + " apply" + dir + "\n";
            else
                o += "fw " + r.action + dir + match(r) + "\n";
        }
    ips_dirty = false;
    return o;
}

Router* Routers::find(const std::string& ns, int vm_id) {
    auto n = by_ns_.find(ns);
    if (n == by_ns_.end()) return nullptr;
    auto r = n->second.find(vm_id);
    return r == n->second.end() ? nullptr : &r->second;
}

Router& Routers::findOrCreate(const std::string& ns, Vm& vm) {
    auto& m = by_ns_[ns];
    auto it = m.find(vm.id);
    if (it != m.end()) return it->second;
    vm.tags()["minirouter"] = std::to_string(vm.id);
    return m.emplace(vm.id, Router(vm.config.networks.size())).first->second;
}

void Routers::erase(const std::string& ns, int vm_id) {
    auto n = by_ns_.find(ns);
    if (n != by_ns_.end()) n->second.erase(vm_id);
}

Result<void> commitRouter(Herd& herd, const std::string& ns, Vm& vm, Router& r) {
    const std::string name = "minirouter-" + vm.name;
    // The file root (default namespace) or the namespace's directory in it,
    // written beneath the root's descriptor so that no link redirects it.
    std::string rel = ns == kDefaultNamespace ? name : ns + "/" + name;
    std::string text = r.commitText();
    if (herd.filesDir() && herd.filesDir()->valid()) {
        if (ns != kDefaultNamespace) {
            auto d = herd.filesDir()->makeDirs(ns, 0755);
            if (!d.ok()) return d.error();
        }
        auto w = herd.filesDir()->writeFileAtomic(rel, text, 0644);
        if (!w.ok()) return w.error();
    }
    CcService& cc = herd.cc();
    // minimega first queues `rm` of the guest's old copy, because miniccc
    // keeps a file it already has. herd-cc overwrites it, and writes files
    // as they arrive, ahead of queued commands: an `rm` queued first would
    // run after the new copy landed and remove it. So: send, then apply.
    cc.deletePrefix(ns, name);
    CcFilter only;
    only.uuid = vm.uuid();
    const std::string guest = std::string(ccproto::kGuestFiles) + "/" + name;
    auto queue = [&](CcCommand cmd) {
        cmd.prefix = name;
        cmd.filter = only;
        cc.postScoped(ns, std::move(cmd));
    };
    CcCommand send;
    send.send = {name};
    send.send_host = {herd.options().filepath + "/" + rel};
    queue(std::move(send));
    CcCommand apply;
    apply.argv = {"minirouter", "-u", guest};
    queue(std::move(apply));
    return {};
}

}  // namespace herd
