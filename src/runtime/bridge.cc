#include "runtime/bridge.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <set>

#include "base/log.h"
#include "base/unique_fd.h"
#include "runtime/delay_line.h"
#include "runtime/tc_bpf.h"
#include "runtime/tc_mirror.h"
#include "runtime/trunk.h"

namespace herd::runtime {

namespace {

std::string base36Upper(unsigned long v) {
    static const char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    std::string s;
    do {
        s.insert(s.begin(), digits[v % 36]);
        v /= 36;
    } while (v);
    return s;
}

// Consumes one or more characters of `set` from the front of `s`.
bool eat(std::string_view& s, bool (*in)(char)) {
    size_t n = 0;
    while (n < s.size() && in(s[n])) ++n;
    if (n == 0) return false;
    s.remove_prefix(n);
    return true;
}

bool isDigit(char c) {
    return c >= '0' && c <= '9';
}
bool isUpper36(char c) {
    return isDigit(c) || (c >= 'A' && c <= 'Z');
}

bool eatChar(std::string_view& s, char c) {
    if (s.empty() || s[0] != c) return false;
    s.remove_prefix(1);
    return true;
}

}  // namespace

Result<std::string> vethHostName(std::string_view prefix, int vmid, int nic) {
    std::string p(prefix);
    std::string name = p + "v" + std::to_string(vmid) + "n" + std::to_string(nic);
    if (name.size() <= kMaxIfName) return name;
    name = p + "x" + base36Upper(static_cast<unsigned long>(vmid)) + "n" + std::to_string(nic);
    if (name.size() <= kMaxIfName) return name;
    return Error::msg("interface name for vm " + std::to_string(vmid) + " nic " +
                      std::to_string(nic) + " is over 15 bytes: " + name);
}

bool isOwnedLink(std::string_view prefix, std::string_view ifname) {
    if (prefix.empty() || ifname.substr(0, prefix.size()) != prefix) return false;
    std::string_view s = ifname.substr(prefix.size());
    if (s.empty()) return false;
    std::string_view t = s;
    char marker = t[0];
    t.remove_prefix(1);
    switch (marker) {
        case 'v':  // v<digits>n<digits>
            return eat(t, isDigit) && eatChar(t, 'n') && eat(t, isDigit) && t.empty();
        case 'x':  // x<B36>n<digits>
            return eat(t, isUpper36) && eatChar(t, 'n') && eat(t, isDigit) && t.empty();
        case 'b':  // b<digits>[x<B36>]
            if (!eat(t, isDigit)) return false;
            if (t.empty()) return true;
            return eatChar(t, 'x') && eat(t, isUpper36) && t.empty();
        case 'k':  // k<digits>
        case 't':  // t<digits>: host tap
        case 'p':  // p<digits>: bridge end of a host tap
        case 'm':  // m<digits>: capture mirror port
        case 'u':  // u<digits>: tunnel port
        case 'w':  // w<digits>: a qos delay line's tap
        case 'q':  // q<digits>: a trunk's VLAN port (kernel backend)
        case 'r':  // r<digits>: its free end
        case 'o':  // o<digits>: an overflow bridge of a VLAN
        case 'd':  // d<digits>: its uplink's end on the VLAN's first bridge
        case 'e':  // e<digits>: its uplink's end on the overflow bridge
            return eat(t, isDigit) && t.empty();
        default:
            return false;
    }
}

namespace {

// P <marker><n>, within the kernel's limit.
Result<std::string> numberedName(std::string_view prefix, char marker, int n, const char* what) {
    std::string name = std::string(prefix) + marker + std::to_string(n);
    if (name.size() > kMaxIfName) return Error::msg(std::string(what) + " over 15 bytes: " + name);
    return name;
}

}  // namespace

Result<std::string> hostTapName(std::string_view prefix, int n) {
    return numberedName(prefix, 't', n, "host tap name");
}

Result<std::string> delayTapName(std::string_view prefix, int n) {
    return numberedName(prefix, 'w', n, "delay tap name");
}

Result<std::string> mirrorPortName(std::string_view prefix, int n) {
    return numberedName(prefix, 'm', n, "mirror port name");
}

Result<std::string> tunnelPortName(std::string_view prefix, int n) {
    return numberedName(prefix, 'u', n, "tunnel port name");
}

Result<std::string> overflowBridgeName(std::string_view prefix, int n) {
    return numberedName(prefix, 'o', n, "overflow bridge name");
}

Result<std::pair<std::string, std::string>> overflowUplinkNames(std::string_view prefix, int n) {
    auto d = numberedName(prefix, 'd', n, "overflow uplink name");
    if (!d.ok()) return d.error();
    auto e = numberedName(prefix, 'e', n, "overflow uplink name");
    if (!e.ok()) return e.error();
    return std::make_pair(*d, *e);
}

int pickBridge(const std::vector<int>& used) {
    for (size_t i = 0; i < used.size(); ++i) {
        // The first bridge keeps room for uplinks; an overflow bridge's own
        // uplink takes one of its slots.
        const int cap = i == 0 ? kBridgePortSlots - kFirstBridgeReserve : kBridgePortSlots - 1;
        if (used[i] < cap) return static_cast<int>(i);
    }
    return -1;
}

Result<std::string> BridgeNames::name(const std::string& bridge, int vlan) {
    if (vlan < 0 || vlan > 4095) {
        return Error::msg("invalid vlan " + std::to_string(vlan) + " for bridge " + bridge);
    }
    auto key = std::make_pair(bridge, vlan);
    if (auto it = names_.find(key); it != names_.end()) return it->second;
    int index;
    if (bridge == kDefaultBridgeName) {
        index = 0;
    } else if (auto bi = bridge_index_.find(bridge); bi != bridge_index_.end()) {
        index = bi->second;
    } else {
        index = next_index_++;
        bridge_index_[bridge] = index;
    }
    std::string n = prefix_ + "b" + std::to_string(vlan);
    if (index > 0) n += "x" + base36Upper(static_cast<unsigned long>(index));
    if (n.size() > kMaxIfName) n = prefix_ + "k" + std::to_string(next_fallback_++);
    if (n.size() > kMaxIfName) return Error::msg("bridge name over 15 bytes: " + n);
    names_[key] = n;
    return n;
}

Result<void> BridgeNames::assign(const std::string& bridge, int vlan, const std::string& kernel) {
    auto key = std::make_pair(bridge, vlan);
    auto refuse = [&] {
        return Error::msg("bridge " + kernel + " cannot stand for " + bridge + " vlan " +
                          std::to_string(vlan));
    };
    if (auto it = names_.find(key); it != names_.end()) {
        if (it->second == kernel) return Ok();
        return refuse();
    }
    if (lookup(kernel)) return refuse();
    const std::string plain = prefix_ + "b" + std::to_string(vlan);
    std::string_view rest(kernel);
    if (kernel == plain) {
        if (bridge != kDefaultBridgeName) return refuse();
    } else if (kernel.rfind(plain + "x", 0) == 0) {
        rest.remove_prefix(plain.size() + 1);
        unsigned long index = 0;
        for (char ch : rest) {
            if (!std::isdigit(static_cast<unsigned char>(ch)) && (ch < 'A' || ch > 'Z'))
                return refuse();
            index = index * 36 +
                    static_cast<unsigned long>(
                        std::isdigit(static_cast<unsigned char>(ch)) ? ch - '0' : ch - 'A' + 10);
            if (index > 1u << 20) return refuse();
        }
        if (bridge == kDefaultBridgeName || index == 0) return refuse();
        auto bi = bridge_index_.find(bridge);
        if (bi != bridge_index_.end() && bi->second != static_cast<int>(index)) return refuse();
        for (const auto& [other, i] : bridge_index_)
            if (other != bridge && i == static_cast<int>(index)) return refuse();
        bridge_index_[bridge] = static_cast<int>(index);
        next_index_ = std::max(next_index_, static_cast<int>(index) + 1);
    } else if (kernel.rfind(prefix_ + "k", 0) == 0) {
        rest.remove_prefix(prefix_.size() + 1);
        int n = 0;
        for (char ch : rest) {
            if (!std::isdigit(static_cast<unsigned char>(ch)) || n > 1 << 20) return refuse();
            n = n * 10 + (ch - '0');
        }
        next_fallback_ = std::max(next_fallback_, n + 1);
    } else {
        return refuse();
    }
    names_[key] = kernel;
    return Ok();
}

std::optional<std::pair<std::string, int>> BridgeNames::lookup(const std::string& kernel) const {
    for (const auto& [key, n] : names_) {
        if (n == kernel) return key;
    }
    return std::nullopt;
}

namespace {

bool isSwitchLink(std::string_view prefix, std::string_view name);
int overflowNumber(std::string_view prefix, std::string_view name);

class KernelBridgeBackend : public SwitchBackend {
  public:
    KernelBridgeBackend(std::string prefix, Netlink nl)
        : names_(prefix), prefix_(std::move(prefix)), nl_(std::move(nl)) {}

    std::string_view kind() const override { return "kernel"; }

    Result<PortPlan> prepare(const std::string& bridge, int vlan) override {
        auto kname = names_.name(bridge, vlan);
        if (!kname.ok()) return kname.error();
        auto it = switches_.find(*kname);
        if (it == switches_.end()) {
            Entry e;
            e.info = {bridge, vlan, *kname, false};
            auto made = nl_.createBridge(*kname);
            if (made.ok()) {
                e.info.created = true;
            } else if (made.error().errnum() != EEXIST) {
                return made.error();
            }
            auto idx = nl_.ifindex(*kname);
            if (!idx.ok()) {
                if (e.info.created) (void)nl_.deleteLink(*kname);
                return idx.error().wrap("bridge " + bridge + " vlan " + std::to_string(vlan));
            }
            if (!e.info.created) {
                // An existing interface of that name must really be a bridge
                // (and up): it is used, never removed.
                HERD_TRY(checkBridge(*kname));
                HERD_TRY(nl_.setUp(*kname));
            }
            e.ifindex = *idx;
            if (!e.info.created) {
                auto n = countPorts(e.ifindex);
                if (!n.ok()) return n.error();
                e.used = *n;
            }
            it = switches_.emplace(*kname, e).first;
            // The bridge's trunks carry the new VLAN too.
            for (auto& u : uplinks_) {
                if (u.bridge != bridge) continue;
                if (auto r = carryVlan(*u.trunk, vlan, e.ifindex); !r.ok()) {
                    if (e.info.created) (void)nl_.deleteLink(*kname);
                    switches_.erase(it);
                    return r.error();
                }
            }
        }
        // The bridge of the VLAN with room; counted here, when the port is
        // promised (its veth is made later, on a launch worker), and taken
        // again from the kernel whenever ports are released.
        Entry& e = it->second;
        std::vector<int> used{e.used};
        for (const auto& o : e.overflow) used.push_back(o.used);
        int pick = pickBridge(used);
        if (pick < 0) {
            HERD_TRY(addOverflow(e));
            pick = static_cast<int>(e.overflow.size());
        }
        PortPlan p;
        if (pick == 0) {
            ++e.used;
            p.master = e.ifindex;
            p.switch_name = *kname;
        } else {
            Overflow& o = e.overflow[static_cast<size_t>(pick - 1)];
            ++o.used;
            p.master = o.ifindex;
            p.switch_name = o.kname;
        }
        p.vlan = vlan;
        return p;
    }

    // A deleted interface leaves its bridge by itself. Here the ports of
    // every bridge are counted again from the kernel, and an overflow bridge
    // with no container port left is removed with its uplink. `ports`
    // belong to dead containers: the kernel may still be tearing their
    // network namespaces down, so they count as gone (by ifindex: a
    // relaunch makes a new interface of the same name).
    Result<void> releasePorts(const std::vector<std::string>& ports) override {
        if (switches_.empty()) return Ok();
        auto all = nl_.links();
        if (!all.ok()) return all.error().wrap("count bridge ports");
        const std::set<std::string> released(ports.begin(), ports.end());
        std::set<int> present;
        std::set<std::string> uplink_ends;
        for (const auto& [kname, e] : switches_) {
            for (const auto& o : e.overflow) {
                uplink_ends.insert(o.uplink);
                uplink_ends.insert(o.uplink_peer);
            }
        }
        for (const auto& l : *all) {
            present.insert(l.index);
            if (l.master > 0 && released.count(l.name)) dead_.insert(l.index);
        }
        std::erase_if(dead_, [&](int i) { return !present.count(i); });
        struct Count {
            int all = 0;   // slots taken
            int live = 0;  // of which not a dead container's
        };
        std::map<int, Count> counts;  // by bridge ifindex
        for (const auto& l : *all) {
            if (l.master <= 0 || uplink_ends.count(l.name)) continue;
            Count& c = counts[l.master];
            ++c.all;
            if (!dead_.count(l.index)) ++c.live;
        }
        Result<void> first;
        for (auto& [kname, e] : switches_) {
            e.used = counts[e.ifindex].all;
            for (auto it = e.overflow.begin(); it != e.overflow.end();) {
                const Count c = counts[it->ifindex];
                if (c.live > 0) {
                    it->used = c.all;
                    ++it;
                    continue;
                }
                auto r = removeOverflow(*it);
                if (!r.ok() && first.ok()) first = r;
                it = e.overflow.erase(it);
            }
        }
        return first;
    }

    Result<void> attach(Netlink&, const std::string&, const PortPlan&) override { return Ok(); }

    // The ports stay on the bridges they are on: a bridge with ports is not
    // deleted and made anew (the kernel's work for that grows with the
    // square of its ports). Each port's bridge, found from the kernel (an
    // overflow bridge through its uplink), becomes this backend's for the
    // port's (bridge, VLAN); the ports that are on none are attached anew;
    // the prefix's bridges no port is on are leftovers and go.
    std::vector<Result<void>> adoptPorts(Netlink& nl,
                                         const std::vector<AdoptedPort>& ports) override {
        std::vector<Result<void>> out(ports.size());
        auto all = nl_.links();
        if (!all.ok()) {
            for (auto& r : out) r = all.error();
            return out;
        }
        std::map<std::string, const LinkInfo*> by_name;
        std::map<int, const LinkInfo*> by_index;
        for (const auto& l : *all) {
            by_name[l.name] = &l;
            by_index[l.index] = &l;
        }
        auto masterOf = [&](const std::string& name) -> const LinkInfo* {
            auto it = by_name.find(name);
            if (it == by_name.end() || it->second->master <= 0) return nullptr;
            auto m = by_index.find(it->second->master);
            return m == by_index.end() ? nullptr : m->second;
        };
        std::vector<AdoptedPort> anew;
        std::vector<size_t> anew_idx;
        for (size_t i = 0; i < ports.size(); ++i) {
            const AdoptedPort& p = ports[i];
            const LinkInfo* m = masterOf(p.name);
            Result<void> r = m && m->kind == "bridge" && isSwitchLink(prefix_, m->name)
                                 ? adoptBridge(p, *m, masterOf)
                                 : Result<void>(Error::msg("on no bridge of ours"));
            if (!r.ok()) {
                anew.push_back(p);
                anew_idx.push_back(i);
            }
        }
        // The counts of ports, from the kernel.
        (void)releasePorts({});
        auto rest = SwitchBackend::adoptPorts(nl, anew);
        for (size_t k = 0; k < rest.size(); ++k) out[anew_idx[k]] = rest[k];
        removeLeftoverSwitches();
        return out;
    }

    Result<void> detach(Netlink& nl, const std::string& port) override {
        return nl.setMaster(port, 0);
    }

    // A veth pair rather than a TAP device: a TAP has no carrier until a
    // process opens it and hands what the bridge forwards to that file
    // descriptor, not to the host's stack. `name` stays in the host with the
    // addresses; its peer (P p<n>) is enslaved to the VLAN's bridge and up.
    Result<void> createHostPort(Netlink& nl, const std::string& name,
                                const PortPlan& plan) override {
        if (plan.master <= 0) return Error::msg("tap " + name + ": no bridge to attach to");
        std::string peer;
        for (;; ++next_peer_) {
            peer = prefix_ + "p" + std::to_string(next_peer_);
            if (peer.size() > kMaxIfName) return Error::msg("tap peer name over 15 bytes: " + peer);
            auto idx = nl.ifindex(peer);
            if (!idx.ok() && idx.error().errnum() == ENODEV) break;
            if (!idx.ok()) return idx.error();
        }
        ++next_peer_;
        VethSpec spec;
        spec.host_name = peer;  // the end createVeth enslaves and brings up
        spec.peer_name = name;  // created in our namespace too (no netns given)
        spec.master = plan.master;
        spec.host_up = true;
        if (auto r = nl.createVeth(spec); !r.ok()) return r.error().wrap("tap " + name);
        if (auto r = nl.setUp(name); !r.ok()) {
            (void)nl.deleteLink(peer);
            return r.error().wrap("tap " + name);
        }
        host_ports_[name] = peer;
        return Ok();
    }

    Result<void> deleteHostPort(Netlink& nl, const std::string& name) override {
        // Deleting either end of a veth deletes the pair.
        auto it = host_ports_.find(name);
        const std::string victim = it != host_ports_.end() ? it->second : name;
        auto r = nl.deleteLink(victim);
        if (it != host_ports_.end()) host_ports_.erase(it);
        if (!r.ok() && r.error().errnum() != ENODEV) return r;
        return Ok();
    }

    Result<void> addTapMirror(Netlink& nl, const std::string& bridge, const std::string& src,
                              const std::string& dst) override {
        auto on_src = onBridge(nl, bridge, src);
        if (!on_src.ok()) return on_src.error();
        if (!*on_src) return Error::msg("source tap is not on bridge");
        auto on_dst = onBridge(nl, bridge, dst);
        if (!on_dst.ok()) return on_dst.error();
        if (!*on_dst) return Error::msg("destination tap is not on bridge");
        if (tc_mirrors_.count(dst)) return Error::msg("destination tap is already a mirror");
        // A priority no other mirror of this source uses names its filters.
        uint16_t prio = 0;
        for (int tries = 0; tries < 65535 && prio == 0; ++tries) {
            next_prio_ = next_prio_ >= 65535 ? kFirstMirrorPrio : next_prio_ + 1;
            bool used = false;
            for (const auto& [d, m] : tc_mirrors_)
                used = used || (m.src == src && m.prio == next_prio_);
            if (!used) prio = next_prio_;
        }
        if (prio == 0) return Error::msg("mirror " + src + ": too many mirrors of this tap");
        // A host tap's named end is the host's side: copies must arrive on
        // it (ingress); sent out of it they would reach the bridge instead.
        const bool to_ingress = host_ports_.count(dst) > 0;
        HERD_TRY(addTcMirror(nl, src, dst, prio, to_ingress));
        tc_mirrors_[dst] = {src, prio};
        return Ok();
    }

    Result<void> removeTapMirror(Netlink& nl, const std::string& dst) override {
        auto it = tc_mirrors_.find(dst);
        if (it == tc_mirrors_.end()) return Error::msg("not a valid mirror");
        auto r = removeTcMirror(nl, it->second.src, it->second.prio);
        if (!r.ok()) return Error::msg("delete mirror failed: " + r.error().text());
        tc_mirrors_.erase(it);
        return Ok();
    }

    Result<void> addTrunk(Netlink&, const std::string& bridge, const std::string& iface) override {
        for (const auto& u : uplinks_) {
            if (u.iface != iface) continue;
            if (u.bridge == bridge) return Error::msg("bridge already trunking to " + iface);
            return Error::msg("add port failed: " + iface + " is already a trunk of bridge " +
                              u.bridge);
        }
        auto r = openUplink(bridge, iface, false);
        if (!r.ok()) return r.error().wrap("add port failed");
        return Ok();
    }

    Result<void> addTunnel(Netlink&, const std::string& bridge, const TunnelSpec& t) override {
        if (t.type != "vxlan") {
            return Error::msg("add tunnel failed: " + t.type +
                              " tunnels need gretap links, which this kernel lacks "
                              "(CONFIG_NET_IPGRE_DEMUX, CONFIG_NET_IPGRE); use vxlan, or -switch "
                              "ovs");
        }
        if (auto r = nl_.createVxlan(t.name, t.key.value_or(0), t.remote); !r.ok())
            return r.error().wrap("add tunnel failed");
        auto r = openUplink(bridge, t.name, true);
        if (!r.ok()) {
            (void)nl_.deleteLink(t.name);
            return r.error().wrap("add tunnel failed");
        }
        return Ok();
    }

    Result<void> removeUplink(Netlink&, const std::string& bridge, const std::string& iface,
                              bool tunnel) override {
        for (auto it = uplinks_.begin(); it != uplinks_.end(); ++it) {
            if (it->bridge != bridge || it->iface != iface || it->tunnel != tunnel) continue;
            auto r = closeUplink(*it);
            uplinks_.erase(it);
            if (!r.ok()) {
                return r.error().wrap(tunnel ? "remove tunnel failed" : "remove port failed");
            }
            return Ok();
        }
        return Error::msg(std::string(tunnel ? "unknown tunnel: " : "unknown trunk: ") + iface);
    }

    std::vector<Uplink> uplinks() const override {
        std::vector<Uplink> out;
        for (const auto& u : uplinks_) out.push_back({u.bridge, u.iface, u.tunnel});
        return out;
    }

    Result<void> destroyBridge(Netlink&, const std::string& bridge) override {
        if (!hasBridge(bridge)) return Error::msg("bridge not found: " + bridge);
        Result<void> first;
        for (auto it = uplinks_.begin(); it != uplinks_.end();) {
            if (it->bridge != bridge) {
                ++it;
                continue;
            }
            auto r = closeUplink(*it);
            if (!r.ok() && first.ok()) first = r;
            it = uplinks_.erase(it);
        }
        for (auto it = switches_.begin(); it != switches_.end();) {
            if (it->second.info.bridge != bridge) {
                ++it;
                continue;
            }
            for (const auto& o : it->second.overflow) {
                auto r = removeOverflow(o);
                if (!r.ok() && first.ok()) first = r;
            }
            if (it->second.info.created) {
                auto r = nl_.deleteLink(it->first);
                if (!r.ok() && r.error().errnum() != ENODEV && first.ok()) first = r;
            }
            it = switches_.erase(it);
        }
        return first;
    }

    Result<void> shutdown() override {
        Result<void> first;
        for (const auto& [dst, m] : tc_mirrors_) (void)removeTcMirror(nl_, m.src, m.prio);
        tc_mirrors_.clear();
        for (auto& u : uplinks_) {
            auto r = closeUplink(u);
            if (!r.ok() && first.ok()) first = r;
        }
        uplinks_.clear();
        // Host taps the service layer did not delete go with their peers.
        for (const auto& [name, peer] : host_ports_) (void)nl_.deleteLink(peer);
        host_ports_.clear();
        for (const auto& [kname, e] : switches_) {
            for (const auto& o : e.overflow) {
                auto r = removeOverflow(o);
                if (!r.ok() && first.ok()) first = r;
            }
            if (!e.info.created) continue;
            auto r = nl_.deleteLink(kname);
            if (!r.ok() && r.error().errnum() != ENODEV && first.ok()) first = r;
        }
        switches_.clear();
        return first;
    }

    void forget() override {
        uplinks_.clear();  // each trunk's undo finds its filter and links gone
        switches_.clear();
        host_ports_.clear();
        tc_mirrors_.clear();
        dead_.clear();
    }

    std::vector<SwitchInfo> switches() const override {
        std::vector<SwitchInfo> out;
        for (const auto& [kname, e] : switches_) {
            out.push_back(e.info);
            for (const auto& o : e.overflow)
                out.push_back({e.info.bridge, e.info.vlan, o.kname, true, true});
        }
        return out;
    }

  private:
    // An overflow bridge of a VLAN and its uplink to the VLAN's first bridge.
    struct Overflow {
        std::string kname;  // P o<n>
        int ifindex = 0;
        std::string uplink;       // P d<n>, a port of the first bridge
        std::string uplink_peer;  // P e<n>, a port of this one
        int used = 0;             // container ports held or promised
    };
    struct Entry {
        SwitchInfo info;
        int ifindex = 0;
        int used = 0;                    // ports held or promised, uplinks aside
        std::vector<Overflow> overflow;  // in the order made
    };

    // Takes over the bridge `m` that adopted port `p` is on: the VLAN's
    // first bridge, or one of its overflow bridges (found through its
    // uplink P d<n>, a port of the first one).
    template <typename MasterOf>
    Result<void> adoptBridge(const AdoptedPort& p, const LinkInfo& m, const MasterOf& masterOf) {
        const LinkInfo* first = &m;
        std::optional<Overflow> over;
        if (int n = overflowNumber(prefix_, m.name); n >= 0) {
            auto ends = overflowUplinkNames(prefix_, n);
            if (!ends.ok()) return ends.error();
            first = masterOf(ends->first);
            if (!first || first->kind != "bridge" || !isSwitchLink(prefix_, first->name))
                return Error::msg("overflow bridge " + m.name + " has no uplink");
            over = Overflow{m.name, m.index, ends->first, ends->second, 0};
        }
        HERD_TRY(names_.assign(p.bridge, p.vlan, first->name));
        auto it = switches_.find(first->name);
        if (it == switches_.end()) {
            Entry e;
            e.info = {p.bridge, p.vlan, first->name, true};
            e.ifindex = first->index;
            it = switches_.emplace(first->name, e).first;
        }
        if (over) {
            auto& list = it->second.overflow;
            if (std::none_of(list.begin(), list.end(),
                             [&](const Overflow& o) { return o.kname == over->kname; }))
                list.push_back(*over);
        }
        return Ok();
    }

    // The prefix's bridges and overflow uplinks that no adopted port is on.
    void removeLeftoverSwitches() {
        auto all = nl_.links();
        if (!all.ok()) return;
        std::set<std::string> ours;
        for (const auto& [kname, e] : switches_) {
            ours.insert(kname);
            for (const auto& o : e.overflow) {
                ours.insert(o.kname);
                ours.insert(o.uplink);
                ours.insert(o.uplink_peer);
            }
        }
        for (int pass = 0; pass < 2; ++pass) {  // uplinks, then bridges
            for (const auto& l : *all) {
                if (!isSwitchLink(prefix_, l.name) || ours.count(l.name)) continue;
                if ((l.kind == "bridge") != (pass == 1)) continue;
                if (auto r = nl_.deleteLink(l.name); !r.ok() && r.error().errnum() != ENODEV)
                    HERD_LOG(warn, "adopt: {}", r.error().text());
            }
        }
    }

    // A new overflow bridge for `e`'s VLAN, with its uplink to `e`'s bridge.
    Result<void> addOverflow(Entry& e) {
        Overflow o;
        for (;; ++next_overflow_) {
            auto b = overflowBridgeName(prefix_, next_overflow_);
            if (!b.ok()) return b.error();
            auto ends = overflowUplinkNames(prefix_, next_overflow_);
            if (!ends.ok()) return ends.error();
            bool taken = false;
            for (const auto& n : {*b, ends->first, ends->second}) {
                auto idx = nl_.ifindex(n);
                if (idx.ok()) taken = true;
                if (!idx.ok() && idx.error().errnum() != ENODEV) return idx.error();
            }
            if (taken) continue;
            ++next_overflow_;
            o.kname = *b;
            o.uplink = ends->first;
            o.uplink_peer = ends->second;
            break;
        }
        const std::string what = "overflow bridge " + o.kname + " of " + e.info.kernel;
        if (auto r = nl_.createBridge(o.kname); !r.ok()) return r.error().wrap(what);
        auto idx = nl_.ifindex(o.kname);
        if (!idx.ok()) {
            (void)nl_.deleteLink(o.kname);
            return idx.error().wrap(what);
        }
        o.ifindex = *idx;
        VethSpec spec;
        spec.host_name = o.uplink;  // enslaved to the first bridge and up
        spec.peer_name = o.uplink_peer;
        spec.master = e.ifindex;
        spec.host_up = true;
        Result<void> r = nl_.createVeth(spec);
        if (r.ok()) r = nl_.setMaster(o.uplink_peer, o.ifindex);
        if (r.ok()) r = nl_.setUp(o.uplink_peer);
        if (!r.ok()) {
            (void)nl_.deleteLink(o.uplink);
            (void)nl_.deleteLink(o.kname);
            return r.error().wrap(what);
        }
        e.overflow.push_back(std::move(o));
        return Ok();
    }

    // Deletes overflow bridge `o` and its uplink (either end takes the pair).
    Result<void> removeOverflow(const Overflow& o) {
        Result<void> first = nl_.deleteLink(o.uplink);
        if (!first.ok() && first.error().errnum() == ENODEV) first = Ok();
        auto r = nl_.deleteLink(o.kname);
        if (!r.ok() && r.error().errnum() != ENODEV && first.ok()) first = r;
        return first;
    }

    // How many ports bridge `ifindex` has.
    Result<int> countPorts(int ifindex) {
        auto all = nl_.links();
        if (!all.ok()) return all.error();
        int n = 0;
        for (const auto& l : *all) n += l.master == ifindex ? 1 : 0;
        return n;
    }

    // Whether `port` is a port of one of the kernel bridges carrying
    // `bridge` (a host tap through its bridge-side peer).
    Result<bool> onBridge(Netlink& nl, const std::string& bridge, const std::string& port) {
        auto hp = host_ports_.find(port);
        auto l = nl.link(hp != host_ports_.end() ? hp->second : port);
        if (!l.ok()) {
            if (l.error().errnum() == ENODEV) return false;
            return l.error();
        }
        if (l->master <= 0) return false;
        for (const auto& [kname, e] : switches_) {
            if (e.info.bridge != bridge) continue;
            if (e.ifindex == l->master) return true;
            for (const auto& o : e.overflow)
                if (o.ifindex == l->master) return true;
        }
        return false;
    }

    struct KernelUplink {
        std::string bridge;
        std::string iface;
        bool tunnel = false;
        std::unique_ptr<KernelTrunk> trunk;
    };

    // A trunk on `iface` carrying every VLAN `bridge` has now.
    Result<void> openUplink(const std::string& bridge, const std::string& iface, bool tunnel) {
        auto t = KernelTrunk::open(nl_, iface, trunkFilterName(prefix_));
        if (!t.ok()) return t.error();
        for (const auto& [kname, e] : switches_) {
            if (e.info.bridge != bridge) continue;
            if (auto r = carryVlan(**t, e.info.vlan, e.ifindex); !r.ok()) {
                (void)(*t)->close(nl_);
                return r.error();
            }
        }
        uplinks_.push_back({bridge, iface, tunnel, std::move(*t)});
        return Ok();
    }

    Result<void> closeUplink(KernelUplink& u) {
        auto r = u.trunk->close(nl_);
        if (u.tunnel) {
            auto d = nl_.deleteLink(u.iface);
            if (!d.ok() && d.error().errnum() != ENODEV && r.ok()) r = d;
        }
        return r;
    }

    // The VLAN's veth pair for trunk `t`: the next free P q<n> / P r<n>.
    Result<void> carryVlan(KernelTrunk& t, int vlan, int bridge_ifindex) {
        for (;; ++next_trunk_port_) {
            auto port = numberedName(prefix_, 'q', next_trunk_port_, "trunk port name");
            auto peer = numberedName(prefix_, 'r', next_trunk_port_, "trunk port name");
            if (!port.ok()) return port.error();
            if (!peer.ok()) return peer.error();
            bool taken = false;
            for (const auto& n : {*port, *peer}) {
                auto idx = nl_.ifindex(n);
                if (idx.ok()) taken = true;
                if (!idx.ok() && idx.error().errnum() != ENODEV) return idx.error();
            }
            if (taken) continue;
            ++next_trunk_port_;
            return t.addVlan(nl_, vlan, bridge_ifindex, *port, *peer);
        }
    }

    Result<void> checkBridge(const std::string& kname) {
        auto all = nl_.links();
        if (!all.ok()) return all.error();
        for (const auto& l : *all) {
            if (l.name == kname && l.kind != "bridge") {
                return Error::msg("cannot use " + kname + " as a bridge: it is a " +
                                  (l.kind.empty() ? std::string("device") : l.kind));
            }
        }
        return Ok();
    }

    BridgeNames names_;
    std::string prefix_;
    Netlink nl_;
    std::map<std::string, Entry> switches_;          // by kernel name
    std::map<std::string, std::string> host_ports_;  // host tap -> its bridge-side peer
    struct TcMirror {
        std::string src;
        uint16_t prio = 0;
    };
    std::map<std::string, TcMirror> tc_mirrors_;  // by destination
    // Mirrors come after the qos delay filter, which must see frames first.
    static constexpr uint16_t kFirstMirrorPrio = kDelayFilterPrio + 1;
    uint16_t next_prio_ = kDelayFilterPrio;
    int next_peer_ = 0;
    std::vector<KernelUplink> uplinks_;  // trunks and tunnels
    int next_trunk_port_ = 0;
    int next_overflow_ = 0;
    std::set<int> dead_;  // ifindexes of released ports still in the kernel
};

}  // namespace

Result<unique_fd> claimPrefix(std::string_view prefix) {
    unique_fd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd) return Error::sysNow("socket", "prefix claim");
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    const std::string name = "herd-prefix-" + std::string(prefix);
    if (name.size() + 1 > sizeof a.sun_path) return Error::msg("prefix too long: " + name);
    // Abstract (leading NUL): no file to remove, and scoped like the links
    // themselves, to this network namespace.
    std::memcpy(a.sun_path + 1, name.data(), name.size());
    auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), len) != 0) {
        if (errno == EADDRINUSE) {
            return Error::msg("prefix " + std::string(prefix) +
                              " is in use by another live herd daemon: choose another -prefix");
        }
        return Error::sysNow("bind", "prefix claim " + name);
    }
    return fd;
}

Result<std::unique_ptr<SwitchBackend>> makeKernelBridgeBackend(std::string prefix,
                                                               const std::set<std::string>& keep) {
    auto nl = Netlink::open();
    if (!nl.ok()) return nl.error();
    // With the prefix claimed, any link in its grammar was left by a daemon
    // killed before it could clean up (SIGKILL). Left there, its P b<vlan>
    // would be adopted as preexisting (never removed) with its old ports, e.g.
    // a tap peer P p<n> with the host's address, on the new experiment's VLAN.
    if (auto r = nukeLinks(prefix, keep); !r.ok())
        return r.error().wrap("links a dead daemon left");
    return std::unique_ptr<SwitchBackend>(
        new KernelBridgeBackend(std::move(prefix), std::move(*nl)));
}

namespace {

// A kernel backend's bridge (P b.., P k.., P o..) or overflow uplink end
// (P d.., P e..).
bool isSwitchLink(std::string_view prefix, std::string_view name) {
    if (!isOwnedLink(prefix, name) || name.size() <= prefix.size()) return false;
    const char marker = name[prefix.size()];
    return marker == 'b' || marker == 'k' || marker == 'o' || marker == 'd' || marker == 'e';
}

// n of an overflow bridge's name P o<n>, or -1.
int overflowNumber(std::string_view prefix, std::string_view name) {
    if (!isOwnedLink(prefix, name) || name.size() <= prefix.size() + 1 ||
        name[prefix.size()] != 'o')
        return -1;
    int n = 0;
    for (char ch : name.substr(prefix.size() + 1)) {
        if (n > 1 << 20) return -1;
        n = n * 10 + (ch - '0');
    }
    return n;
}

}  // namespace

std::vector<Result<void>> SwitchBackend::adoptPorts(Netlink& nl,
                                                    const std::vector<AdoptedPort>& ports) {
    std::vector<Result<void>> out(ports.size());
    std::vector<PortRequest> reqs;
    std::vector<size_t> owners;
    for (size_t i = 0; i < ports.size(); ++i) {
        auto plan = prepare(ports[i].bridge, ports[i].vlan);
        if (!plan.ok()) {
            out[i] = plan.error();
            continue;
        }
        if (plan->master > 0) {
            out[i] = nl.setMaster(ports[i].name, plan->master);
            if (!out[i].ok()) continue;
        }
        reqs.push_back({ports[i].name, *plan});
        owners.push_back(i);
    }
    if (attachMany(reqs).ok()) return out;
    // All or none (OVS: one transaction): one bad port must not keep the
    // others off their switches.
    for (size_t k = 0; k < reqs.size(); ++k) out[owners[k]] = attachMany({reqs[k]});
    return out;
}

Result<void> nukeLinks(std::string_view prefix, const std::set<std::string>& keep) {
    auto nl = Netlink::open();
    if (!nl.ok()) return nl.error();
    // Trunk filters on interfaces that are not ours (a NIC the user named).
    Result<void> first = nukeTrunkFilters(*nl, prefix);
    auto all = nl->links();
    if (!all.ok()) return all.error();
    // Ports first: deleting a bridge with ports works too, but a port deleted
    // afterwards would briefly be a free-standing interface.
    for (int pass = 0; pass < 2; ++pass) {
        for (const auto& l : *all) {
            if (!isOwnedLink(prefix, l.name) || keep.count(l.name)) continue;
            if (!keep.empty() && isSwitchLink(prefix, l.name)) continue;  // for adoptPorts
            bool bridge = l.kind == "bridge";
            if (bridge != (pass == 1)) continue;
            auto r = nl->deleteLink(l.name);
            // A veth whose other end died with its namespace meanwhile: gone.
            if (!r.ok() && r.error().errnum() != ENODEV && first.ok()) first = r;
        }
    }
    return first;
}

}  // namespace herd::runtime
