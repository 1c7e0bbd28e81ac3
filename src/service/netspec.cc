#include "service/netspec.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <optional>
#include <vector>

#include "base/strings.h"
#include "cli/text.h"

namespace herd {

namespace {

bool isHex(char c) {
    return std::isxdigit(static_cast<unsigned char>(c)) != 0;
}

// Digits in groups of `group` hex digits joined by `sep`.
bool isGrouped(std::string_view s, size_t group, char sep) {
    for (size_t i = 0; i < s.size(); ++i) {
        bool at_sep = i % (group + 1) == group;
        if (at_sep ? s[i] != sep : !isHex(s[i])) return false;
    }
    return true;
}

bool isQinq(std::string_view s) {
    return cli::text::toLower(s) == "qinq";
}

// The network devices `qemu-system-x86_64 -device help` lists.
constexpr std::array kNicModels = {
    "e1000",
    "e1000-82540em",
    "e1000-82544gc",
    "e1000-82545em",
    "e1000e",
    "i82550",
    "i82551",
    "i82557a",
    "i82557b",
    "i82557c",
    "i82558a",
    "i82558b",
    "i82559a",
    "i82559b",
    "i82559c",
    "i82559er",
    "i82562",
    "i82801",
    "igb",
    "ne2k_isa",
    "ne2k_pci",
    "pcnet",
    "rocker",
    "rtl8139",
    "tulip",
    "usb-net",
    "virtio-net-device",
    "virtio-net-pci",
    "virtio-net-pci-non-transitional",
    "virtio-net-pci-transitional",
    "vmxnet3",
};

// The fields of a netspec once told apart; empty when not given.
struct Fields {
    std::string bridge{}, vlan{}, mac{}, driver{};
    bool qinq = false;
};

// Tells the fields apart by count and content (the forms listed at
// parseNetSpec), or nothing when no form fits.
std::optional<Fields> classify(const std::vector<std::string>& f) {
    auto mac = [&](size_t i) { return isMac(f[i]); };
    auto drv = [&](size_t i) { return isNicDriver(f[i]); };
    auto qinq = [&](size_t i) { return isQinq(f[i]); };
    switch (f.size()) {
        case 1:
            return Fields{.vlan = f[0]};
        case 2:
            if (qinq(1)) return Fields{.vlan = f[0], .qinq = true};
            if (mac(1)) return Fields{.vlan = f[0], .mac = f[1]};
            if (drv(1)) return Fields{.vlan = f[0], .driver = f[1]};
            return Fields{.bridge = f[0], .vlan = f[1]};
        case 3:
            if (qinq(2) && mac(1)) return Fields{.vlan = f[0], .mac = f[1], .qinq = true};
            if (qinq(2) && drv(1)) return Fields{.vlan = f[0], .driver = f[1], .qinq = true};
            if (qinq(2)) return Fields{.bridge = f[0], .vlan = f[1], .qinq = true};
            if (mac(2)) return Fields{.bridge = f[0], .vlan = f[1], .mac = f[2]};
            if (mac(1) && drv(2)) return Fields{.vlan = f[0], .mac = f[1], .driver = f[2]};
            if (drv(2)) return Fields{.bridge = f[0], .vlan = f[1], .driver = f[2]};
            return std::nullopt;
        case 4:
            if (qinq(3) && mac(1))
                return Fields{.vlan = f[0], .mac = f[1], .driver = f[2], .qinq = true};
            if (qinq(3) && mac(2))
                return Fields{.bridge = f[0], .vlan = f[1], .mac = f[2], .qinq = true};
            if (qinq(3) && drv(2))
                return Fields{.bridge = f[0], .vlan = f[1], .driver = f[2], .qinq = true};
            if (drv(3) && mac(2))
                return Fields{.bridge = f[0], .vlan = f[1], .mac = f[2], .driver = f[3]};
            return std::nullopt;
        case 5:
            if (mac(2) && drv(3) && qinq(4))
                return Fields{
                    .bridge = f[0], .vlan = f[1], .mac = f[2], .driver = f[3], .qinq = true};
            return std::nullopt;
        default:
            return std::nullopt;
    }
}

}  // namespace

bool isMac(std::string_view s) {
    if (s.size() == 17) return (s[2] == ':' || s[2] == '-') && isGrouped(s, 2, s[2]);
    if (s.size() == 14) return isGrouped(s, 4, '.');
    return false;
}

bool isNicDriver(std::string_view s) {
    return std::find(kNicModels.begin(), kNicModels.end(), s) != kNicModels.end();
}

Result<NetConfig> parseNetSpec(std::string_view spec) {
    auto fields = classify(split(spec, ","));
    if (!fields) return Error::msg("malformed netspec");
    NetConfig n;
    n.raw = std::string(spec);
    if (!fields->bridge.empty()) n.bridge = fields->bridge;
    n.alias = fields->vlan;
    n.mac = cli::text::toLower(fields->mac);
    if (!fields->driver.empty()) n.driver = fields->driver;
    n.qinq = fields->qinq;
    return n;
}

void NetConfig::moveTo(const std::string& new_bridge, int new_vlan, const std::string& new_alias) {
    if (new_vlan == kDisconnectedVlan) {
        alias.clear();
        bridge.clear();
    } else {
        alias = new_alias;
        bridge = new_bridge;
    }
    vlan = new_vlan;
    ip4.clear();
    ip6.clear();
}

std::string NetConfig::str() const {
    std::vector<std::string> parts;
    if (!bridge.empty() && bridge != kDefaultBridge) parts.push_back(bridge);
    parts.push_back(alias);
    if (!mac.empty()) parts.push_back(mac);
    if (!driver.empty() && driver != kDefaultDriver) parts.push_back(driver);
    if (qinq) parts.push_back("qinq");
    std::string out;
    for (size_t i = 0; i < parts.size(); ++i) out += (i ? "," : "") + parts[i];
    return out;
}

}  // namespace herd
