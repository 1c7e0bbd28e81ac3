// ContainerRuntime::applyQos: `qos add` and `clear qos` on real containers.
// The qdisc goes on the host end of the NIC's veth, as the root qdisc: its
// egress is what the guest receives (minimega shapes its taps the same way).
// The host end is the same interface on both switch backends; a kernel
// bridge or OVS only forwards into it. The qdisc goes with the veth when the
// container's network namespace dies (vm kill, vm flush, nuke).
#include <optional>

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
                               : runtime::replaceRootQdisc(*nl, tap, qdiscOf(reqs[k].qos));
        // ENODEV: the container died under us; its exit is being reported,
        // and a removal has nothing left to do.
        if (!r.ok() && !(clear && r.error().errnum() == ENODEV)) out[k] = r.error().wrap(what);
    }
    return out;
}

}  // namespace herd
