#include "runtime/trunk.h"

#include <cerrno>

#include "runtime/tc_bpf.h"

namespace herd::runtime {

Result<std::unique_ptr<KernelTrunk>> KernelTrunk::open(Netlink& nl, const std::string& nic,
                                                       const std::string& filter_name) {
    std::unique_ptr<KernelTrunk> t(new KernelTrunk());
    t->nic_ = nic;
    t->filter_name_ = filter_name;
    auto idx = nl.ifindex(nic);
    if (!idx.ok()) return idx.error().wrap("trunk " + nic);
    t->nic_index_ = *idx;
    auto map = createVlanMap();
    if (!map.ok()) return map.error().wrap("trunk " + nic);
    t->map_ = std::move(*map);
    auto prog = loadTcProgram(untagProgram(t->map_.get()), "herd_untag");
    if (!prog.ok()) return prog.error().wrap("trunk " + nic);
    t->untag_ = std::move(*prog);
    auto r = attachTrunkFilter(nl, nic, /*ingress_hook=*/true, t->untag_.get(), filter_name);
    if (!r.ok()) {
        t->closed_ = true;  // nothing attached
        return r.error().wrap("trunk " + nic);
    }
    t->made_clsact_ = *r;
    return t;
}

KernelTrunk::~KernelTrunk() {
    if (closed_) return;
    if (auto nl = Netlink::open(); nl.ok()) (void)close(*nl);
}

Result<void> KernelTrunk::addVlan(Netlink& nl, int vlan, int bridge_ifindex,
                                  const std::string& port, const std::string& peer) {
    if (vlans_.count(vlan)) return Ok();
    const std::string object = "trunk " + nic_ + " vlan " + std::to_string(vlan);
    auto prog = loadTcProgram(tagProgram(vlan, nic_index_), "herd_tag");
    if (!prog.ok()) return prog.error().wrap(object);
    VethSpec spec;
    spec.host_name = port;  // enslaved and up
    spec.peer_name = peer;  // in our namespace too
    spec.master = bridge_ifindex;
    if (auto r = nl.createVeth(spec); !r.ok()) return r.error().wrap(object);
    // Until the filters are in place the bridge's frames reach the peer,
    // which is down: they are dropped, never sent untagged.
    auto undo = [&](const Error& e) -> Result<void> {
        (void)nl.deleteLink(port);
        (void)setVlanTarget(map_.get(), vlan, 0);
        return e.wrap(object);
    };
    if (auto r = attachTrunkFilter(nl, port, /*ingress_hook=*/false, prog->get(), filter_name_);
        !r.ok())
        return undo(r.error());
    if (auto r = nl.setUp(peer); !r.ok()) return undo(r.error());
    auto peer_index = nl.ifindex(peer);
    if (!peer_index.ok()) return undo(peer_index.error());
    if (auto r = setVlanTarget(map_.get(), vlan, *peer_index); !r.ok()) return undo(r.error());
    vlans_[vlan] = {port, std::move(*prog)};
    return Ok();
}

Result<void> KernelTrunk::close(Netlink& nl) {
    if (closed_) return Ok();
    closed_ = true;
    Result<void> first = removeTrunkFilter(nl, nic_, /*ingress_hook=*/true);
    // The interface gets back the qdiscs it had.
    if (made_clsact_ && first.ok()) first = removeClsact(nl, nic_);
    for (auto& [vlan, v] : vlans_) {
        // Deleting one end deletes the pair, with the filter on it.
        auto r = nl.deleteLink(v.port);
        if (!r.ok() && r.error().errnum() != ENODEV && first.ok()) first = r;
    }
    vlans_.clear();
    untag_.reset();
    map_.reset();
    return first;
}

std::vector<int> KernelTrunk::vlans() const {
    std::vector<int> out;
    for (const auto& [v, x] : vlans_) out.push_back(v);
    return out;
}

}  // namespace herd::runtime
