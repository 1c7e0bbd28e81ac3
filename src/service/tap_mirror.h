// `tap mirror`: which mirrors a namespace made, named by their destination
// tap, as minimega remembers them. The kernel work is the switch backend's
// (SwitchBackend::addTapMirror/removeTapMirror).
//
// Lifetime: a mirror goes with `clear tap mirror`, `clear tap`, `clear
// namespace`, and when its destination or its source stops existing (`vm
// kill`/`vm flush` of their VM, `tap delete` of a host tap), so a later VM
// or tap of the same name never inherits it.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "runtime/bridge.h"
#include "runtime/netlink.h"

namespace herd {

class Herd;
struct Vm;

struct TapMirror {
    std::string ns;
    std::string bridge;
    std::string src;
    std::string dst;
};

class TapMirrors {
  public:
    // Errors: `cannot mirror tap to itself`, then the backend's.
    Result<void> add(runtime::SwitchBackend& sw, const std::string& ns, const std::string& bridge,
                     const std::string& src, const std::string& dst);
    // `not a valid mirror` when `dst` is no mirror destination of `ns`.
    Result<void> remove(runtime::SwitchBackend* sw, const std::string& ns, const std::string& dst);
    // Every mirror of `ns`.
    Result<void> removeAll(runtime::SwitchBackend* sw, const std::string& ns);
    // The interfaces `ports` are going: the mirrors they feed or receive go.
    void portsGone(runtime::SwitchBackend* sw, const std::vector<std::string>& ports);
    bool isDestination(const std::string& ns, const std::string& dst) const;
    std::vector<const TapMirror*> list(const std::string& ns) const;

  private:
    Result<runtime::Netlink*> netlink();
    std::map<std::string, TapMirror> by_dst_;
    std::optional<runtime::Netlink> nl_;
};

// Hooks: a VM's host ends are about to go; a namespace is being cleared.
void tapMirrorVmsDown(Herd& herd, const std::vector<Vm*>& vms);
void tapMirrorClearNamespace(Herd& herd, const std::string& ns);

}  // namespace herd
