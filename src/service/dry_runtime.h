// A Runtime that does no kernel work: it only moves VMs between states as
// the lifecycle commands do (launch: BUILDING, start: RUNNING, stop: PAUSED,
// kill: QUIT), so the VM lifecycle and its commands can be tested (and used)
// before the container runtime exists.
#pragma once

#include "service/vm.h"

namespace herd {

class DryRuntime : public Runtime {
  public:
    Result<void> launch(Vm& vm) override;
    Result<void> start(Vm& vm) override;
    Result<void> stop(Vm& vm) override;
    Result<void> kill(Vm& vm) override;
    Result<void> flush(Vm& vm) override;
};

}  // namespace herd
