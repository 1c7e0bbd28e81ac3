#include "service/dry_runtime.h"

#include <fmt/format.h>

namespace herd {

Result<void> DryRuntime::launch(Vm& vm) {
    vm.state = VmState::Building;
    return Ok();
}

Result<void> DryRuntime::start(Vm& vm) {
    switch (vm.state) {
        case VmState::Building:
        case VmState::Paused:
        case VmState::Quit:  // a relaunch, then run
        case VmState::Error:
            vm.state = VmState::Running;
            return Ok();
        case VmState::Running:
            return Ok();
    }
    return Ok();
}

Result<void> DryRuntime::stop(Vm& vm) {
    if (vm.state != VmState::Running) return Error::msg(fmt::format("vm not running: {}", vm.id));
    vm.state = VmState::Paused;
    return Ok();
}

Result<void> DryRuntime::kill(Vm& vm) {
    if (!inStates(vm.state, kKillable))
        return Error::msg(
            fmt::format("invalid VM state to kill: {} {}", vm.id, stateString(vm.state)));
    vm.state = VmState::Quit;
    for (auto& n : vm.config.networks) n.qos = {};  // went with the (pretend) veths
    return Ok();
}

Result<void> DryRuntime::flush(Vm&) {
    return Ok();
}

}  // namespace herd
