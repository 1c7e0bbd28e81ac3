// ContainerRuntime::applyQos: `qos add` and `clear qos` on real containers.
// The qdisc goes on the host end of the NIC's veth, as the root qdisc: its
// egress is what the guest receives (minimega shapes its taps the same way).
// The host end is the same interface on both switch backends; a kernel
// bridge or OVS only forwards into it. The qdisc goes with the veth when the
// container's network namespace dies (vm kill, vm flush, nuke).
//
// A kernel without the netem qdisc cannot delay in a qdisc: there a delay
// goes through a delay line (runtime/delay_line.h) on the same host end,
// with the loss share in its filter, and no root qdisc.
#include <cerrno>
#include <optional>

#include "runtime/bridge.h"
#include "runtime/delay_line.h"
#include "runtime/qdisc.h"
#include "service/container_runtime.h"
#include "service/qos.h"

namespace herd {

std::vector<Result<void>> ContainerRuntime::applyQos(const std::vector<QosRequest>& reqs) {
    std::vector<Result<void>> out(reqs.size());
    std::optional<runtime::Netlink> nl;  // one socket for the whole batch
    for (size_t k = 0; k < reqs.size(); ++k) {
        const Vm& vm = *reqs[k].vm;
        const size_t nic = reqs[k].nic;
        // The veth's host end, as the container that made it names it.
        const std::vector<std::string> names = nicHostNames(vm);
        const std::string tap = nic < names.size() ? names[nic] : std::string();
        const std::string what = "qos vm " + vm.name + " nic " + std::to_string(nic);
        const bool clear = reqs[k].qos.empty();
        if (!inStates(vm.state, kKillable) || tap.empty()) {
            // Nothing to remove from a veth that is gone; nothing to shape on it.
            if (!clear) out[k] = Error::msg("tap " + tap + " not found").wrap(what);
            continue;
        }
        if (!nl) {
            auto o = runtime::Netlink::open();
            if (!o.ok()) {
                out[k] = o.error().wrap(what);
                continue;
            }
            nl.emplace(std::move(*o));
        }
        Result<void> r = clear ? runtime::deleteRootQdisc(*nl, tap)
                               : shape(*nl, vm.id, nic, tap, qdiscOf(reqs[k].qos));
        if (clear) closeDelayLine(vm.id, nic, &*nl);
        // ENODEV: the container died under us; its exit is being reported,
        // and a removal has nothing left to do.
        if (!r.ok() && !(clear && r.error().errnum() == ENODEV)) out[k] = r.error().wrap(what);
    }
    return out;
}

Result<void> ContainerRuntime::shape(runtime::Netlink& nl, int vmid, size_t nic,
                                     const std::string& tap, const runtime::QdiscSpec& spec) {
    const auto* netem = std::get_if<runtime::NetemSpec>(&spec);
    auto r = runtime::replaceRootQdisc(nl, tap, spec);
    // netem's absence (ENOENT) with a delay: the delay line's turn.
    if (r.ok() || r.error().errnum() != ENOENT || !netem || netem->delay_ns == 0) {
        if (r.ok()) closeDelayLine(vmid, nic, &nl);  // rate, or loss alone, replace a delay
        return r;
    }
    const auto key = std::make_pair(vmid, nic);
    if (auto it = delay_lines_.find(key); it != delay_lines_.end()) {
        return it->second->change(nl, netem->delay_ns, netem->loss_percent);
    }
    auto name = runtime::delayTapName(opts_.prefix, next_delay_tap_++);
    if (!name.ok()) return name.error();
    runtime::DelayLineSpec d;
    d.ifname = tap;
    d.tap_name = *name;
    d.delay_ns = netem->delay_ns;
    d.loss_percent = netem->loss_percent;
    auto line = runtime::DelayLine::create(io_, nl, d);
    if (!line.ok()) return line.error();
    // The delay line carries the loss too: a root qdisc (a rate, or loss
    // alone) goes, as netem would have replaced it.
    if (auto del = runtime::deleteRootQdisc(nl, tap); !del.ok()) {
        (*line)->close(&nl);
        return del.error();
    }
    delay_lines_[key] = std::move(*line);
    return Ok();
}

void ContainerRuntime::closeDelayLine(int vmid, size_t nic, runtime::Netlink* nl) {
    auto it = delay_lines_.find({vmid, nic});
    if (it == delay_lines_.end()) return;
    it->second->close(nl);
    delay_lines_.erase(it);
}

void ContainerRuntime::closeDelayLines(int vmid) {
    auto it = delay_lines_.lower_bound({vmid, 0});
    while (it != delay_lines_.end() && it->first.first == vmid) {
        it->second->close(nullptr);  // the host end went with the container
        it = delay_lines_.erase(it);
    }
}

}  // namespace herd
