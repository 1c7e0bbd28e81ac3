#include "service/agent_addresses.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

namespace herd {

bool usableAgentAddress(const std::string& ip, bool& v6) {
    unsigned char a[16] = {};
    if (inet_pton(AF_INET, ip.c_str(), a) == 1) {
        v6 = false;
        return a[0] != 0 && a[0] != 127 && !(a[0] == 169 && a[1] == 254) && a[0] < 224;
    }
    if (inet_pton(AF_INET6, ip.c_str(), a) == 1) {
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
    auto lower = [](std::string s) {
        for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        return s;
    };
    if (std::none_of(macs.begin(), macs.end(),
                     [&](const std::string& m) { return lower(m) == n.mac; }))
        return;
    bool got4 = false, got6 = false;
    for (const auto& ip : ips) {
        bool v6 = false;
        if (!usableAgentAddress(ip, v6)) continue;
        if (!v6 && !got4) {
            n.ip4 = ip;
            got4 = true;
        } else if (v6 && !got6) {
            n.ip6 = ip;
            got6 = true;
        }
    }
}

}  // namespace herd
