// `router <vm> ...`: the host side of minimega's minirouter. Each namespace
// keeps, per VM id, the configuration the user builds up with `router`
// commands; `router <vm> commit` writes it as a file of one-line directives
// (configText) and sends it to the VM's agent over cc, where `minirouter -u
// <file>` applies it (src/agent/minirouter*.cc). Everything here is plain
// state and text: no I/O except commit's file and cc queue.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "base/result.h"

namespace herd {

class Herd;
struct Vm;

struct RouterDhcp {
    std::string low, high, router, dns;
    std::map<std::string, std::string> statics;  // mac -> ip
};

struct RouterOspf {
    // interface index (or `lo`) -> option -> value
    std::map<std::string, std::map<std::string, std::string>> interfaces;
    std::set<std::string> prefixes;  // networks (CIDR) or named static routes to export
};

struct RouterBgp {
    std::string local_ip, neighbor_ip;
    int64_t local_as = 0, neighbor_as = 0;
    bool rrclient = false;
    std::set<std::string> exports;  // `all` or named static routes
};

// One firewall rule on forwarded traffic. In the per-NIC list, a rule whose
// source, destination and protocol are all empty sends the traffic to the
// user chain named by `action` (`fw chain <c> apply`).
struct RouterFwRule {
    bool in = false;  // entering by the NIC (else leaving by it); unused in chains
    std::string src, dst, proto;
    std::string action;  // accept, drop, reject, or a chain's name
};

struct RouterFwChain {
    std::string default_action = "drop";
    std::vector<RouterFwRule> rules;
};

class Router {
  public:
    explicit Router(size_t nics) : ips(nics), fw_rules(nics) {}

    std::string log_level = "error";
    std::vector<std::vector<std::string>> ips;            // per NIC: CIDRs and `dhcp`, in order
    std::map<int64_t, std::string> loopbacks;             // key (the typed index) -> CIDR
    bool ips_dirty = false;                               // changed since the last commit
    std::map<std::string, RouterDhcp> dhcp;               // by listen address
    std::map<std::string, std::vector<std::string>> dns;  // ip -> hostnames
    std::string upstream, gw;
    std::set<std::string> ra;
    std::map<std::string, std::string> statics;                       // net -> next hop
    std::map<std::string, std::map<std::string, std::string>> named;  // name -> net -> nh ("" none)
    std::map<std::string, RouterOspf> ospf;                           // by area
    std::map<std::string, RouterBgp> bgp;                             // by process name
    std::string rid = "0.0.0.0";
    std::string fw_default = "accept";                // forwarded traffic no rule matched
    std::vector<std::vector<RouterFwRule>> fw_rules;  // per NIC, in order
    std::map<std::string, RouterFwChain> fw_chains;   // by name

    // `router <vm> fw <accept|drop|reject> <in|out> <idx> [src] <dst> <proto>`.
    Result<void> addFwRule(const std::string& idx, bool in, const std::string& src,
                           const std::string& dst, const std::string& proto,
                           const std::string& action);
    // `router <vm> fw chain <c> action <a> [src] <dst> <proto>` (a new chain
    // drops what its rules do not match).
    Result<void> addFwChainRule(const std::string& chain, const std::string& src,
                                const std::string& dst, const std::string& proto,
                                const std::string& action);
    // `router <vm> fw chain <c> default action <a>`.
    Result<void> setFwChainDefault(const std::string& chain, const std::string& action);
    // `router <vm> fw chain <c> apply <in|out> <idx>`.
    Result<void> applyFwChain(const std::string& chain, bool in, const std::string& idx);
    // `clear router <vm> fw`: no rules, no chains, default accept.
    void clearFw();

    // `router <vm> interface <idx> <CIDR|dhcp> [lo]`.
    Result<void> addInterface(int64_t idx, const std::string& ip, bool lo);
    // `clear router <vm> interface [<idx> [<ip|all> [lo]]]` (idx empty: all).
    Result<void> clearInterface(const std::string& idx, const std::string& ip, bool lo);
    void addStatic(const std::string& net, const std::string& nh, const std::string& name);
    // `clear router <vm>`: everything but the log level, the upstream DNS
    // server and the default gateway (as minimega).
    void clearAll();

    // The summary `router <vm>` prints; `log` is the VM's minirouter_log tag.
    std::string summary(const std::string& log) const;
    // The commit file. Fixes the router id first when it is still 0.0.0.0
    // (highest loopback, else highest interface address) and clears
    // ips_dirty, as a commit does.
    std::string commitText();
};

// The routers of every namespace, by VM id.
class Routers {
  public:
    Router* find(const std::string& ns, int vm_id);
    // Creates the router of `vm` on first use (tags the VM minirouter=<id>).
    Router& findOrCreate(const std::string& ns, Vm& vm);
    void clearNamespace(const std::string& ns) { by_ns_.erase(ns); }
    void erase(const std::string& ns, int vm_id);

  private:
    std::map<std::string, std::map<int, Router>> by_ns_;
};

// `router <vm> commit`: writes <filepath>[/<ns>]/minirouter-<vm> and queues
// the cc commands that deliver and apply it on that VM only (prefix
// minirouter-<vm>, filter uuid=<vm uuid>; an earlier commit's are deleted).
Result<void> commitRouter(Herd& herd, const std::string& ns, Vm& vm, Router& r);

// Whether `s` is an address with a prefix length (IPv4 or IPv6).
bool isCidr(const std::string& s);
bool isIp(const std::string& s);

}  // namespace herd
