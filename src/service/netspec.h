// One NIC of a VM as `vm config net` takes it: the netspec
// `[bridge,]vlan[,mac][,driver][,qinq]`, its parser and its print form.
// Pure text; no I/O.
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"

namespace herd {

inline constexpr std::string_view kDefaultBridge = "mega_bridge";
inline constexpr std::string_view kDefaultDriver = "e1000";
inline constexpr int kDisconnectedVlan = -1;

// One NIC. `alias` is what the user typed for the VLAN; `vlan` its resolved
// number.
// How a live NIC's host end is shaped (`qos add`), as the user typed each
// value (minimega shows them so: `rate 1mbit`, `loss 0.50`, `delay 100ms`).
// Empty strings are unset; rate excludes loss and delay. State of the host
// end, not configuration: it goes when the container's veths do.
struct NicQos {
    std::string rate;
    std::string loss;
    std::string delay;
    bool empty() const { return rate.empty() && loss.empty() && delay.empty(); }
    bool operator==(const NicQos&) const = default;
};

struct NetConfig {
    std::string alias;
    int vlan = 0;
    std::string bridge = std::string(kDefaultBridge);
    std::string mac;  // lower case; empty until the VM is created
    // The emulated NIC model of a KVM VM; kept and shown, unused by
    // containers (their NICs are veth pairs).
    std::string driver = std::string(kDefaultDriver);
    bool qinq = false;
    std::string tap;  // set by the runtime
    std::string ip4, ip6;
    NicQos qos;       // set by `qos add` on a live container, kept across moves
    std::string raw;  // the spec as typed, re-parsed by `vm config clone`

    // `[bridge,]alias[,mac][,driver][,qinq]`: the default bridge and driver
    // are left out.
    std::string str() const;
    // `vm net connect/disconnect`: the NIC's new switch (vlan
    // kDisconnectedVlan = on none); learnt addresses no longer hold.
    void moveTo(const std::string& new_bridge, int new_vlan, const std::string& new_alias);
};

// Parses one netspec (without resolving the VLAN). Its fields are told apart
// by count and content: a MAC parses as one (`xx:xx:xx:xx:xx:xx`,
// `xx-xx-...`, `xxxx.xxxx.xxxx`), a driver is one of QEMU's NIC models
// (isNicDriver), `qinq` (any case) asks for a dot1q tunnel, and whatever
// else comes before the VLAN is the bridge. The forms:
//   vlan
//   bridge,vlan | vlan,mac | vlan,driver | vlan,qinq
//   bridge,vlan,mac | bridge,vlan,driver | bridge,vlan,qinq
//   vlan,mac,driver | vlan,mac,qinq | vlan,driver,qinq
//   bridge,vlan,mac,driver | bridge,vlan,mac,qinq | bridge,vlan,driver,qinq
//   vlan,mac,driver,qinq
//   bridge,vlan,mac,driver,qinq
// Anything else is `malformed netspec`.
Result<NetConfig> parseNetSpec(std::string_view spec);

// A NIC model of QEMU's (`e1000`, `virtio-net-pci`, `rtl8139`, ...). minimega
// asks the configured QEMU binary for its list; herd runs no QEMU and knows
// the models of QEMU's x86 machines.
bool isNicDriver(std::string_view s);

// A 48-bit MAC address in one of the forms Go's net.ParseMAC accepts.
bool isMac(std::string_view s);

}  // namespace herd
