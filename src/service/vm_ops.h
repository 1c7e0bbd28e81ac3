// VM operations of one namespace, on top of the registry and the runtime:
// target application (`all`, names, ids), the launch queue and scheduler
// (`vm launch`), the lifecycle commands (start, stop, kill, flush) and
// namespace teardown (`clear namespace`).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "service/herd.h"

namespace herd {

// What `vm config` setters need, for namespace `ns`.
ConfigContext configContext(Herd& herd, const std::string& ns);

// Ok without errors, else one error of the texts joined by newlines (how
// commands over many VMs report).
Result<void> joinErrors(const std::vector<std::string>& errors);

// Called for each VM a target selects; returns whether the operation applied
// to the VM in its state, and appends any error text.
using ApplyFn = std::function<bool(Vm& vm, bool wild, std::vector<std::string>& errors)>;

// Applies fn to the VMs of `ns` selected by `target`. A single non-wild
// target that matches nothing fails with `vm not found: <t>`, one the
// operation does not apply to with `VM state error: <t>`. Errors are joined
// by newlines.
Result<void> applyTarget(Herd& herd, const std::string& ns, std::string_view target,
                         const ApplyFn& fn);

// `vm launch <type> <names> [config]`: expands and checks the names (in
// minimega's order) and queues them.
Result<void> queueVms(Herd& herd, Namespace& ns, std::string_view names, VmType type,
                      VmConfig config);

// Launches everything queued in `ns` (vm-<k> names assigned here). Creation
// conflicts and runtime launch failures are returned (joined), after every
// VM was tried. A launch of more than kLaunchChunk VMs goes in chunks of that
// many, with a `progress` line after each.
inline constexpr size_t kLaunchChunk = 500;
Result<void> scheduleQueue(Herd& herd, Namespace& ns,
                           const std::function<void(const std::string&)>& progress = {});

Result<void> startVms(Herd& herd, const std::string& ns, std::string_view target);
Result<void> stopVms(Herd& herd, const std::string& ns, std::string_view target);
Result<void> killVms(Herd& herd, const std::string& ns, std::string_view target);
Result<void> flushVms(Herd& herd, const std::string& ns, std::string_view target);
// `vm flush` without a target: forgets every QUIT/ERROR VM; errors are only
// logged, as in minimega.
void flushAll(Herd& herd, const std::string& ns);

// `clear namespace <name|all>`: kills and flushes the namespace's VMs and
// forgets it. Unknown name: `unknown namespace: <name>`.
Result<void> destroyNamespace(Herd& herd, const std::string& name);

}  // namespace herd
