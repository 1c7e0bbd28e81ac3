// A trunk of the kernel-bridge backend: one host interface (a NIC the user
// names, or a vxlan link herd made for `bridge tunnel`) that carries every
// VLAN of a bridge, each with its 802.1Q tag, as an Open vSwitch port
// without a tag does.
//
// The backend makes one kernel bridge per VLAN, and this kernel has no
// 802.1Q links, so the tagging is done by tc BPF (runtime/tc_bpf.h). Per
// carried VLAN v a veth pair: `port` is a port of v's bridge whose egress
// filter tags what the bridge sends it with v and redirects it out of the
// trunk; `peer` is its free end. The trunk's ingress filter untags frames of
// VLAN v and redirects them out of `peer`, so they arrive on `port` and enter
// v's bridge. Frames on the trunk without a tag, or of a VLAN the bridge does
// not carry, reach the host's stack unchanged.
//
// close() (or the destructor, best effort) removes the filter on the trunk
// (and its clsact qdisc, when the trunk had none before) and every veth pair; the programs and map
// go when their descriptors close.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "runtime/netlink.h"

namespace herd::runtime {

class KernelTrunk {
  public:
    // Attaches the untag filter to `nic` (which must exist); `filter_name`
    // marks it as this daemon's (trunkFilterName).
    static Result<std::unique_ptr<KernelTrunk>> open(Netlink& nl, const std::string& nic,
                                                     const std::string& filter_name);
    KernelTrunk(const KernelTrunk&) = delete;
    KernelTrunk& operator=(const KernelTrunk&) = delete;
    ~KernelTrunk();

    // Carries VLAN `vlan`, whose kernel bridge has ifindex `bridge_ifindex`,
    // through a new veth pair `port` (enslaved to that bridge) and `peer`.
    // All or nothing. A VLAN carried already is Ok.
    Result<void> addVlan(Netlink& nl, int vlan, int bridge_ifindex, const std::string& port,
                         const std::string& peer);
    // Removes the filter from the trunk interface and every veth pair.
    Result<void> close(Netlink& nl);

    const std::string& nic() const { return nic_; }
    std::vector<int> vlans() const;

  private:
    KernelTrunk() = default;
    struct Vlan {
        std::string port;
        unique_fd prog;
    };
    std::string nic_;
    int nic_index_ = 0;
    std::string filter_name_;
    unique_fd map_;
    unique_fd untag_;
    std::map<int, Vlan> vlans_;
    bool made_clsact_ = false;  // the trunk's clsact qdisc is ours to remove
    bool closed_ = false;
};

}  // namespace herd::runtime
