// The `vm info` ip/ip6 columns from what the cc agent reports. The agent
// lists all of the guest's addresses and MACs, not which address is on which
// interface, so only an unambiguous report is used: a VM with one NIC whose
// MAC is among the agent's gets its first usable IPv4 and IPv6 (the snooper,
// runtime/snoop.h, learns them per NIC from the wire).
//
// The agent is the guest's, so none of its text is trusted: addresses and
// MACs are kept only if they parse, and then in their canonical text.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "service/vm.h"

namespace herd {

// The canonical text (inet_ntop) of an IPv4 or IPv6 address, or "" when
// `ip` is not exactly one.
std::string canonicalAddress(std::string_view ip);
// A MAC address as six lower-case hex pairs joined by ':' (also accepted
// with '-' or upper case), or "" when `mac` is not one.
std::string canonicalMac(std::string_view mac);

// Whether `ip` (text) can be a NIC's own address: not loopback, link-local,
// unspecified or multicast. Sets `v6` to its family.
bool usableAgentAddress(const std::string& ip, bool& v6);

// The cc filter `ip=<want>`: whether address `have` is `want`, or lies in
// `want` when that is a CIDR block (IPv4 or IPv6). A block whose prefix
// length is not a number from 0 to the family's width matches nothing.
bool addressMatches(const std::string& want, const std::string& have);

void applyAgentAddresses(Vm& vm, const std::vector<std::string>& ips,
                         const std::vector<std::string>& macs);

}  // namespace herd
