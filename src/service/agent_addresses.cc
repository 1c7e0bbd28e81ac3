#include "service/agent_addresses.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

#include "base/strings.h"

namespace herd {

std::string canonicalAddress(std::string_view ip) {
    // inet_pton reads a C string: a NUL inside would hide what follows it.
    if (ip.empty() || ip.size() >= INET6_ADDRSTRLEN || ip.find('\0') != std::string_view::npos)
        return "";
    std::string s(ip);
    unsigned char a[16] = {};
    char out[INET6_ADDRSTRLEN] = {};
    for (int fam : {AF_INET, AF_INET6})
        if (inet_pton(fam, s.c_str(), a) == 1 && inet_ntop(fam, a, out, sizeof out)) return out;
    return "";
}

std::string canonicalMac(std::string_view mac) {
    if (mac.size() != 17) return "";
    std::string out;
    for (size_t i = 0; i < mac.size(); ++i) {
        unsigned char ch = static_cast<unsigned char>(mac[i]);
        if (i % 3 == 2) {
            if (ch != ':' && ch != '-') return "";
            out += ':';
        } else {
            if (!std::isxdigit(ch)) return "";
            out += static_cast<char>(std::tolower(ch));
        }
    }
    return out;
}

bool usableAgentAddress(const std::string& ip, bool& v6) {
    std::string canon = canonicalAddress(ip);
    if (canon.empty()) return false;
    unsigned char a[16] = {};
    if (inet_pton(AF_INET, canon.c_str(), a) == 1) {
        v6 = false;
        return a[0] != 0 && a[0] != 127 && !(a[0] == 169 && a[1] == 254) && a[0] < 224;
    }
    if (inet_pton(AF_INET6, canon.c_str(), a) == 1) {
        v6 = true;
        static const unsigned char zero[16] = {};
        if (std::equal(a, a + 15, zero) && (a[15] == 0 || a[15] == 1)) return false;
        return !(a[0] == 0xfe && (a[1] & 0xc0) == 0x80) && a[0] != 0xff;
    }
    return false;
}

void applyAgentAddresses(Vm& vm, const std::vector<std::string>& ips,
                         const std::vector<std::string>& macs) {
    auto& nets = vm.config.networks;
    if (nets.size() != 1 || nets[0].vlan == kDisconnectedVlan) return;
    NetConfig& n = nets[0];
    if (std::none_of(macs.begin(), macs.end(),
                     [&](const std::string& m) { return canonicalMac(m) == n.mac; }))
        return;
    bool got4 = false, got6 = false;
    for (const auto& ip : ips) {
        bool v6 = false;
        if (!usableAgentAddress(ip, v6)) continue;
        // Stored canonical: what reaches `vm info` is our text, not the guest's.
        if (!v6 && !got4) {
            n.ip4 = canonicalAddress(ip);
            got4 = true;
        } else if (v6 && !got6) {
            n.ip6 = canonicalAddress(ip);
            got6 = true;
        }
    }
}

bool addressMatches(const std::string& want, const std::string& have) {
    auto slash = want.find('/');
    if (slash == std::string::npos) return want == have;
    std::string net = want.substr(0, slash);
    unsigned char a[16], b[16];
    int fam = net.find(':') == std::string::npos ? AF_INET : AF_INET6;
    int len = fam == AF_INET ? 4 : 16;
    if (inet_pton(fam, net.c_str(), a) != 1 || inet_pton(fam, have.c_str(), b) != 1) return false;
    // A prefix length that is not a number matches nothing (atoi's 0 would
    // have matched every address).
    auto prefix = parseUint(std::string_view(want).substr(slash + 1), 0, len * 8, "prefix length");
    if (!prefix.ok()) return false;
    const int bits = static_cast<int>(*prefix);
    for (int i = 0; i < len; ++i) {
        int take = std::clamp(bits - i * 8, 0, 8);
        unsigned char mask = static_cast<unsigned char>(0xff00 >> take);
        if ((a[i] & mask) != (b[i] & mask)) return false;
    }
    return true;
}

}  // namespace herd
