#include "service/tap_mirror.h"

#include <algorithm>

#include "service/herd.h"
#include "service/vm.h"
#include "service/vm_ops.h"

namespace herd {

Result<runtime::Netlink*> TapMirrors::netlink() {
    if (!nl_) {
        auto nl = runtime::Netlink::open();
        if (!nl.ok()) return nl.error();
        nl_.emplace(std::move(*nl));
    }
    return &*nl_;
}

Result<void> TapMirrors::add(runtime::SwitchBackend& sw, const std::string& ns,
                             const std::string& bridge, const std::string& src,
                             const std::string& dst) {
    if (src == dst) return Error::msg("cannot mirror tap to itself");
    auto nl = netlink();
    if (!nl.ok()) return nl.error();
    HERD_TRY(sw.addTapMirror(**nl, bridge, src, dst));
    by_dst_[dst] = {ns, bridge, src, dst};
    return Ok();
}

Result<void> TapMirrors::remove(runtime::SwitchBackend* sw, const std::string& ns,
                                const std::string& dst) {
    auto it = by_dst_.find(dst);
    if (it == by_dst_.end() || it->second.ns != ns) return Error::msg("not a valid mirror");
    if (sw) {
        auto nl = netlink();
        if (!nl.ok()) return nl.error();
        HERD_TRY(sw->removeTapMirror(**nl, dst));
    }
    by_dst_.erase(it);
    return Ok();
}

Result<void> TapMirrors::removeAll(runtime::SwitchBackend* sw, const std::string& ns) {
    std::vector<std::string> mine;
    for (const auto& [dst, m] : by_dst_)
        if (m.ns == ns) mine.push_back(dst);
    Result<void> first;
    for (const auto& dst : mine)
        if (auto r = remove(sw, ns, dst); !r.ok() && first.ok()) first = r;
    return first;
}

void TapMirrors::portsGone(runtime::SwitchBackend* sw, const std::vector<std::string>& ports) {
    auto gone = [&](const std::string& p) {
        return std::find(ports.begin(), ports.end(), p) != ports.end();
    };
    std::vector<TapMirror> doomed;
    for (const auto& [dst, m] : by_dst_)
        if (gone(dst) || gone(m.src)) doomed.push_back(m);
    // The interface goes anyway: a failure here leaves nothing that matters
    // (tc filters die with the source; OVS drops the rows with the ports).
    for (const auto& m : doomed) (void)remove(sw, m.ns, m.dst);
}

bool TapMirrors::isDestination(const std::string& ns, const std::string& dst) const {
    auto it = by_dst_.find(dst);
    return it != by_dst_.end() && it->second.ns == ns;
}

std::vector<const TapMirror*> TapMirrors::list(const std::string& ns) const {
    std::vector<const TapMirror*> out;
    for (const auto& [dst, m] : by_dst_)
        if (m.ns == ns) out.push_back(&m);
    return out;
}

void tapMirrorVmsDown(Herd& herd, const std::vector<Vm*>& vms) {
    TapMirrors* tm = herd.tapMirrorsIfAny();
    if (!tm) return;
    std::vector<std::string> ports;
    for (const Vm* vm : vms)
        for (const auto& n : vm->config.networks)
            if (!n.tap.empty()) ports.push_back(n.tap);
    tm->portsGone(herd.runtime().switchBackend(), ports);
}

void tapMirrorClearNamespace(Herd& herd, const std::string& ns) {
    if (TapMirrors* tm = herd.tapMirrorsIfAny())
        (void)tm->removeAll(herd.runtime().switchBackend(), ns);
}

}  // namespace herd
