// minirouter's configuration model, inside the guest: the file `router <vm>
// commit` sends (one directive a line, service/router.h writes it) parsed
// into a RouterConf, and the dnsmasq and bird (2.x) configurations made from
// it. Pure code, no I/O: minirouter.cc applies what this computes.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

namespace herd::minirouter {

struct Dhcp {
    std::string low, high, router, dns;
    std::map<std::string, std::string> statics;  // mac -> ip
};

struct Ospf {
    std::map<std::string, std::map<std::string, std::string>> interfaces;  // ifname -> opts
    std::vector<std::string> networks;                                     // CIDRs in the area
    std::vector<std::string> exports;                                      // named static sets
};

struct Bgp {
    std::string local_ip, local_as, neighbor_ip, neighbor_as;
    bool rrclient = false;
    bool export_all = false;
    std::vector<std::string> exports;  // named static sets
};

struct IpAdd {
    std::string ifname;  // "lo" for a loopback
    std::string value;   // a CIDR or "dhcp"
};

// A firewall rule on forwarded traffic. `target` is accept, drop, reject
// or the name of a user chain to jump to.
struct FwRule {
    std::string iif, oif;  // the interface it enters or leaves by (chains: none)
    std::string proto;     // tcp, udp, sctp, icmp; empty for any
    std::string src, sport, dst, dport;
    std::string target;
    bool jump = false;  // target is a user chain
};

struct FwChain {
    std::vector<FwRule> rules;
    std::string default_action;  // empty: return to the caller
};

struct RouterConf {
    std::string log_level = "error";
    bool ip_flush = false;  // the file changes the addresses (else they stay)
    std::vector<IpAdd> ips;
    std::map<std::string, Dhcp> dhcp;                       // by listen address
    std::map<std::string, std::vector<std::string>> hosts;  // host -> ips
    std::string upstream;
    std::string gw;  // empty: no default route
    std::vector<std::string> ra;
    std::map<std::string, std::string> statics4, statics6;            // net -> next hop
    std::map<std::string, std::map<std::string, std::string>> named;  // name -> net -> nh ("" none)
    std::map<std::string, Ospf> ospf;                                 // by area
    std::map<std::string, Bgp> bgp;
    std::string router_id;  // empty or 0.0.0.0: bird picks one
    bool fw = false;        // the file has a firewall (`fw flush`)
    std::string fw_default = "accept";
    std::vector<FwRule> fw_forward;            // in order
    std::map<std::string, FwChain> fw_chains;  // user chains by name
    std::vector<std::string> errors;           // lines that could not be used, with why
};

// Interface index -> name as minimega's minirouter counts them: the names
// of /sys/class/net without `lo`, ordered by the number after their leading
// letters (veth0, veth1, ... veth10).
std::vector<std::string> orderInterfaces(std::vector<std::string> names);

// Parses the commit file. `ifnames` maps interface indexes (orderInterfaces).
// Unknown or malformed lines are reported in `errors` and skipped.
RouterConf parse(const std::string& text, const std::vector<std::string>& ifnames);

// Splits a line into words; "..." quoted words (Go %q) are unquoted.
std::vector<std::string> words(const std::string& line);

// /etc/dnsmasq.conf for the model (DHCP per listen address, host records,
// router advertisements, upstream server).
std::string dnsmasqConf(const RouterConf& c, const std::string& leases);
// The nftables ruleset for the firewall, as one `nft -f` transaction that
// replaces the table `inet minirouter` (an empty model only removes it):
// a forward hook with the default policy that lets replies of allowed
// connections through, then the rules; user chains as `u_<name>`.
std::string nftConf(const RouterConf& c);
// Whether the model has any firewall rule, chain or a default other than accept.
bool fwActive(const RouterConf& c);
// bird.conf (bird 2): kernel and device protocols, static sets, OSPF areas,
// BGP sessions.
std::string birdConf(const RouterConf& c);

}  // namespace herd::minirouter
