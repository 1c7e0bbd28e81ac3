#include "agent/router_conf.h"

#include <algorithm>
#include <cctype>

namespace herd::minirouter {

namespace {

bool isV6(const std::string& s) {
    return s.find(':') != std::string::npos;
}

// The number after a name's leading letters (veth12 -> 12); names without
// one sort first, by name.
long long nameNumber(const std::string& n) {
    size_t i = 0;
    while (i < n.size() && std::isalpha(static_cast<unsigned char>(n[i]))) ++i;
    if (i == n.size() || !std::isdigit(static_cast<unsigned char>(n[i]))) return -1;
    long long v = 0;
    for (; i < n.size() && std::isdigit(static_cast<unsigned char>(n[i])); ++i) {
        v = v * 10 + (n[i] - '0');
        if (v > (1LL << 40)) break;
    }
    return v;
}

// A word safe to put in a dnsmasq or bird configuration unquoted: no
// spaces, quotes, braces, semicolons, commas or control characters.
bool plainWord(const std::string& s) {
    if (s.empty()) return false;
    return std::all_of(s.begin(), s.end(), [](unsigned char c) {
        return c > ' ' && c < 0x7f && c != '"' && c != '\'' && c != '{' && c != '}' && c != ';' &&
               c != ',' && c != '#' && c != '\\';
    });
}

// A bird symbol (protocol name) for a user's name: letters, digits and
// underscores; anything else becomes an underscore.
std::string symbol(const std::string& s) {
    std::string o = s;
    for (char& ch : o)
        if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_') ch = '_';
    return o;
}

bool digits(const std::string& s) {
    return !s.empty() && s.size() <= 5 &&
           std::all_of(s.begin(), s.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
}

// A firewall address `[ip[/len]][:port]` (IPv4) split into its parts; false
// when it is not one.
bool fwAddress(const std::string& a, std::string& ip, std::string& port) {
    auto colon = a.find(':');
    ip = a.substr(0, colon);
    port = colon == std::string::npos ? "" : a.substr(colon + 1);
    if (colon != std::string::npos && !digits(port)) return false;
    if (ip.empty()) return colon != std::string::npos;
    return std::all_of(ip.begin(), ip.end(),
                       [](char ch) { return (ch >= '0' && ch <= '9') || ch == '.' || ch == '/'; });
}

bool fwAction(const std::string& a) {
    return a == "accept" || a == "drop" || a == "reject";
}

bool fwChainName(const std::string& s) {
    return !s.empty() && s.size() <= 24 && std::all_of(s.begin(), s.end(), [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-';
    });
}

void add(std::vector<std::string>& v, const std::string& s) {
    if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
}

}  // namespace

std::vector<std::string> orderInterfaces(std::vector<std::string> names) {
    names.erase(std::remove(names.begin(), names.end(), "lo"), names.end());
    std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
        long long x = nameNumber(a), y = nameNumber(b);
        return x != y ? x < y : a < b;
    });
    return names;
}

std::vector<std::string> words(const std::string& line) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
        if (i >= line.size()) break;
        std::string w;
        if (line[i] == '"') {
            ++i;
            while (i < line.size() && line[i] != '"') {
                if (line[i] == '\\' && i + 1 < line.size()) ++i;
                w += line[i++];
            }
            ++i;
        } else {
            while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i])))
                w += line[i++];
        }
        out.push_back(w);
    }
    return out;
}

namespace {

// One `fw ...` directive (w[0] is "fw") into the model; why it is not one,
// or empty.
template <typename IfName>
std::string parseFw(RouterConf& c, const std::vector<std::string>& w, IfName&& ifname) {
    size_t n = w.size();
    if (n == 2 && w[1] == "flush") {
        c.fw = true;
        c.fw_default = "accept";
        c.fw_forward.clear();
        c.fw_chains.clear();
        return {};
    }
    if (n == 3 && w[1] == "default") {
        if (w[2] != "accept" && w[2] != "drop") return "default must be accept or drop";
        c.fw_default = w[2];
        return {};
    }
    // The match of a rule: [src] dst proto, the last n-from words.
    auto match = [&](size_t from, FwRule& r) -> std::string {
        size_t k = n - from;
        if (k != 2 && k != 3) return "malformed";
        r.proto = w[n - 1];
        if (r.proto == "all") r.proto.clear();
        if (!r.proto.empty() && r.proto != "tcp" && r.proto != "udp" && r.proto != "sctp" &&
            r.proto != "icmp")
            return "unknown protocol";
        if (k == 3 && !fwAddress(w[from], r.src, r.sport)) return "bad source";
        if (!fwAddress(w[n - 2], r.dst, r.dport)) return "bad destination";
        bool ports = !r.sport.empty() || !r.dport.empty();
        if (ports && r.proto != "tcp" && r.proto != "udp" && r.proto != "sctp")
            return "ports need tcp, udp or sctp";
        return {};
    };
    if (n >= 3 && w[1] == "chain") {
        const std::string& name = w[2];
        if (!fwChainName(name)) return "bad chain name";
        if (n == 6 && w[3] == "default" && w[4] == "action") {
            if (!fwAction(w[5])) return "unknown action";
            c.fw_chains[name].default_action = w[5];
            return {};
        }
        if (n == 6 && w[3] == "apply" && (w[4] == "in" || w[4] == "out")) {
            if (!c.fw_chains.count(name)) return "unknown chain";
            FwRule r;
            std::string ifn;
            if (!ifname(w[5], ifn)) return "no such interface";
            (w[4] == "in" ? r.iif : r.oif) = ifn;
            r.target = name;
            r.jump = true;
            c.fw_forward.push_back(r);
            return {};
        }
        if (n >= 7 && w[3] == "action") {
            if (!fwAction(w[4])) return "unknown action";
            FwRule r;
            std::string why = match(5, r);
            if (!why.empty()) return why;
            r.target = w[4];
            c.fw_chains[name].rules.push_back(r);
            return {};
        }
        return "malformed";
    }
    if (n >= 6 && fwAction(w[1]) && (w[2] == "in" || w[2] == "out")) {
        FwRule r;
        std::string ifn;
        if (!ifname(w[3], ifn)) return "no such interface";
        (w[2] == "in" ? r.iif : r.oif) = ifn;
        std::string why = match(4, r);
        if (!why.empty()) return why;
        r.target = w[1];
        c.fw_forward.push_back(r);
        return {};
    }
    return "unknown directive";
}

std::string nftRule(const FwRule& r) {
    std::string o = "    ";
    if (!r.iif.empty()) o += "iifname \"" + r.iif + "\" ";
    if (!r.oif.empty()) o += "oifname \"" + r.oif + "\" ";
    if (!r.proto.empty()) o += "meta l4proto " + r.proto + " ";
    if (!r.src.empty()) o += "ip saddr " + r.src + " ";
    if (!r.sport.empty()) o += "th sport " + r.sport + " ";
    if (!r.dst.empty()) o += "ip daddr " + r.dst + " ";
    if (!r.dport.empty()) o += "th dport " + r.dport + " ";
    return o + (r.jump ? "jump u_" + r.target : r.target) + "\n";
}

}  // namespace

bool fwActive(const RouterConf& c) {
    return c.fw_default != "accept" || !c.fw_forward.empty() || !c.fw_chains.empty();
}

std::string nftConf(const RouterConf& c) {
    // Creating the table first makes the delete valid when there is none;
    // the whole file is one transaction, so traffic never sees a half.
    std::string o = "table inet minirouter\ndelete table inet minirouter\n";
    if (!fwActive(c)) return o;
    o += "table inet minirouter {\n";
    for (const auto& [name, chain] : c.fw_chains) {
        o += "  chain u_" + name + " {\n";
        for (const auto& r : chain.rules) o += nftRule(r);
        if (!chain.default_action.empty()) o += "    " + chain.default_action + "\n";
        o += "  }\n";
    }
    o += "  chain forward {\n    type filter hook forward priority filter; policy " + c.fw_default +
         ";\n    ct state established,related accept\n";
    for (const auto& r : c.fw_forward) o += nftRule(r);
    o += "  }\n}\n";
    return o;
}

RouterConf parse(const std::string& text, const std::vector<std::string>& ifnames) {
    RouterConf c;
    auto ifname = [&](const std::string& idx, std::string& out) {
        if (idx == "lo") {
            out = "lo";
            return true;
        }
        if (idx.empty() || idx.size() > 6 ||
            !std::all_of(idx.begin(), idx.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
            return false;
        size_t n = std::stoul(idx);
        if (n >= ifnames.size()) return false;
        out = ifnames[n];
        return true;
    };
    size_t start = 0;
    int lineno = 0;
    while (start < text.size()) {
        size_t nl = text.find('\n', start);
        std::string line =
            text.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
        start = nl == std::string::npos ? text.size() : nl + 1;
        ++lineno;
        auto w = words(line);
        if (w.empty()) continue;
        auto bad = [&](const std::string& why) {
            c.errors.push_back("line " + std::to_string(lineno) + " `" + line + "`: " + why);
        };
        for (const auto& x : w)
            if (!plainWord(x)) {
                bad("unexpected characters in `" + x + "`");
                w.clear();
                break;
            }
        if (w.empty()) continue;
        const std::string& k = w[0];
        size_t n = w.size();
        if (k == "log" && n == 3 && w[1] == "level") {
            c.log_level = w[2];
        } else if (k == "ip" && n == 2 && w[1] == "flush") {
            c.ip_flush = true;
        } else if (k == "ip" && n == 4 && w[1] == "add") {
            std::string ifn;
            if (!ifname(w[2], ifn)) {
                bad("no such interface");
                continue;
            }
            if (ifn == "lo" && w[3] == "dhcp") {
                bad("dhcp on loopback");
                continue;
            }
            c.ips.push_back({ifn, w[3]});
        } else if (k == "dnsmasq" && n == 2 && w[1] == "flush") {
            c.dhcp.clear();
            c.hosts.clear();
            c.upstream.clear();
            c.ra.clear();
        } else if (k == "dnsmasq" && n == 2 && w[1] == "commit") {
        } else if (k == "dnsmasq" && n == 6 && w[1] == "dhcp" && w[2] == "range") {
            c.dhcp[w[3]].low = w[4];
            c.dhcp[w[3]].high = w[5];
        } else if (k == "dnsmasq" && n == 6 && w[1] == "dhcp" && w[2] == "option" &&
                   (w[3] == "router" || w[3] == "dns")) {
            (w[3] == "router" ? c.dhcp[w[4]].router : c.dhcp[w[4]].dns) = w[5];
        } else if (k == "dnsmasq" && n == 6 && w[1] == "dhcp" && w[2] == "static") {
            c.dhcp[w[3]].statics[w[4]] = w[5];
        } else if (k == "dnsmasq" && n == 4 && w[1] == "dns") {
            add(c.hosts[w[3]], w[2]);
        } else if (k == "dnsmasq" && n == 3 && w[1] == "upstream") {
            c.upstream = w[2];
        } else if (k == "dnsmasq" && n == 3 && w[1] == "ra") {
            add(c.ra, w[2]);
        } else if (k == "route" && n == 5 && w[1] == "add" && w[2] == "default" && w[3] == "gw") {
            c.gw = w[4];
        } else if (k == "route" && n == 3 && w[1] == "del" && w[2] == "default") {
            c.gw.clear();
        } else if (k == "bird" && n == 2 && w[1] == "flush") {
            c.statics4.clear();
            c.statics6.clear();
            c.named.clear();
            c.ospf.clear();
            c.bgp.clear();
            c.router_id.clear();
        } else if (k == "bird" && n == 2 && w[1] == "commit") {
        } else if (k == "bird" && n == 5 && w[1] == "static") {
            const std::string &net = w[2], &nh = w[3], &name = w[4];
            if (name == "null") {
                (isV6(net) ? c.statics6 : c.statics4)[net] = nh == "null" ? "" : nh;
            } else {
                c.named[name][net] = nh == "null" ? "" : nh;
            }
        } else if (k == "bird" && n >= 4 && w[1] == "ospf" && w[3] == "filter") {
            if (n != 5) {
                bad("malformed");
                continue;
            }
            Ospf& o = c.ospf[w[2]];
            add(w[4].find('/') != std::string::npos ? o.networks : o.exports, w[4]);
        } else if (k == "bird" && (n == 4 || n == 6) && w[1] == "ospf") {
            std::string ifn;
            if (!ifname(w[3], ifn)) {
                bad("no such interface");
                continue;
            }
            auto& opts = c.ospf[w[2]].interfaces[ifn];
            if (n == 6) {
                if (!plainWord(w[4]) || !plainWord(w[5])) {
                    bad("unexpected characters in an option");
                    continue;
                }
                opts[w[4]] = w[5];
            }
        } else if (k == "bird" && n == 6 && w[1] == "bgp" &&
                   (w[3] == "local" || w[3] == "neighbor")) {
            Bgp& b = c.bgp[w[2]];
            (w[3] == "local" ? b.local_ip : b.neighbor_ip) = w[4];
            (w[3] == "local" ? b.local_as : b.neighbor_as) = w[5];
        } else if (k == "bird" && n == 4 && w[1] == "bgp" && w[3] == "rrclient") {
            c.bgp[w[2]].rrclient = true;
        } else if (k == "bird" && n == 5 && w[1] == "bgp" && w[3] == "filter") {
            if (w[4] == "all")
                c.bgp[w[2]].export_all = true;
            else
                add(c.bgp[w[2]].exports, w[4]);
        } else if (k == "bird" && n == 3 && w[1] == "routerid") {
            c.router_id = w[2];
        } else if (k == "fw") {
            std::string why = parseFw(c, w, ifname);
            if (!why.empty()) bad(why);
        } else {
            bad("unknown directive");
        }
    }
    return c;
}

std::string dnsmasqConf(const RouterConf& c, const std::string& leases) {
    std::string o = "# written by minirouter\nno-resolv\nbind-dynamic\n";
    o += "dhcp-leasefile=" + leases + "\n";
    if (!c.upstream.empty()) o += "server=" + c.upstream + "\n";
    o += "dhcp-lease-max=4294967295\n";
    for (const auto& [addr, d] : c.dhcp) {
        if (!d.low.empty())
            o += "dhcp-range=set:" + addr + "," + d.low + "," + d.high + "\n";
        else
            o += "dhcp-range=set:" + addr + "," + addr + ",static\n";
        for (const auto& [mac, ip] : d.statics)
            o += "dhcp-host=set:" + addr + "," + mac + "," + ip + "\n";
        if (!d.router.empty()) o += "dhcp-option=tag:" + addr + ",option:router," + d.router + "\n";
        if (!d.dns.empty()) o += "dhcp-option=tag:" + addr + ",option:dns-server," + d.dns + "\n";
    }
    for (const auto& [host, ips] : c.hosts) {
        o += "host-record=" + host;
        for (const auto& ip : ips) o += "," + ip;
        o += "\n";
    }
    if (!c.ra.empty()) o += "enable-ra\n";
    for (const auto& s : c.ra) o += "dhcp-range=" + s + ",ra-names\n";
    return o;
}

std::string birdConf(const RouterConf& c) {
    std::string o = "# written by minirouter\n";
    if (!c.router_id.empty() && c.router_id != "0.0.0.0") o += "router id " + c.router_id + ";\n";
    o += "protocol device { scan time 10; }\n";
    o += "protocol kernel kernel4 { scan time 10; ipv4 { import none; export all; }; }\n";
    o += "protocol kernel kernel6 { scan time 10; ipv6 { import none; export all; }; }\n";
    auto routes = [](const std::map<std::string, std::string>& m) {
        std::string r;
        for (const auto& [net, nh] : m)
            r += nh.empty() ? "  route " + net + " blackhole;\n"
                            : "  route " + net + " via " + nh + ";\n";
        return r;
    };
    if (!c.statics4.empty())
        o += "protocol static {\n  check link;\n  ipv4;\n" + routes(c.statics4) + "}\n";
    if (!c.statics6.empty())
        o += "protocol static {\n  check link;\n  ipv6;\n" + routes(c.statics6) + "}\n";
    for (const auto& [name, m] : c.named) {
        bool v6 = !m.empty() && isV6(m.begin()->first);
        o += "protocol static static_" + symbol(name) + " {\n  " + (v6 ? "ipv6" : "ipv4") +
             " { import all; };\n" + routes(m) + "}\n";
    }
    auto exportFilter = [](const std::vector<std::string>& names, bool all) {
        if (!all && names.empty()) return std::string("export none;");
        std::string f = "export filter { ";
        if (all) f += "if source = RTS_BGP then accept; ";
        for (const auto& n : names) f += "if proto = \"static_" + symbol(n) + "\" then accept; ";
        return f + "reject; };";
    };
    if (!c.ospf.empty()) {
        // bird exports per protocol, not per area: one filter for them all.
        std::vector<std::string> exports;
        for (const auto& [area, a] : c.ospf)
            for (const auto& e : a.exports) add(exports, e);
        o += "protocol ospf v2 ospf4 {\n  ipv4 { import all; " + exportFilter(exports, false) +
             " };\n";
        for (const auto& [area, a] : c.ospf) {
            o += "  area " + area + " {\n";
            if (!a.networks.empty()) {
                o += "    networks {";
                for (const auto& n : a.networks) o += " " + n + ";";
                o += " };\n";
            }
            for (const auto& [ifn, opts] : a.interfaces) {
                o += "    interface \"" + ifn + "\" {";
                for (const auto& [k, v] : opts) o += " " + k + " " + v + ";";
                o += " };\n";
            }
            o += "  };\n";
        }
        o += "}\n";
    }
    for (const auto& [name, b] : c.bgp) {
        o += "protocol bgp " + symbol(name) + " {\n";
        if (!b.local_ip.empty()) o += "  local " + b.local_ip + " as " + b.local_as + ";\n";
        if (!b.neighbor_ip.empty())
            o += "  neighbor " + b.neighbor_ip + " as " + b.neighbor_as + ";\n";
        if (b.rrclient) o += "  rr client;\n";
        o += "  ipv4 { import all; " + exportFilter(b.exports, b.export_all) + " };\n}\n";
    }
    return o;
}

}  // namespace herd::minirouter
