// `capture`: pcap files of a VM's NIC or of a whole bridge, per namespace, as
// minimega keeps them. The packets are read and written by the runtime
// (runtime/capture.h), one thread per capture; this is the bookkeeping: the
// namespace's settings for new captures, the list `capture` prints, which
// file a name means, and when a capture stops.
//
// Lifetime (minimega's): a capture stays listed until `capture ... delete`,
// `clear capture` or `clear namespace`; `vm kill` and `vm flush` stop the
// captures of that VM's NICs (their veths go) but keep their rows. A capture
// whose interface vanished (its container died on its own) ends by itself.
// Files are kept. Nothing outlives the daemon: the threads die with it, the
// kernel drops a dead socket's promiscuous mode, and the OVS mirror ports
// carry the prefix, so the next daemon's or nuke's cleanup removes them.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/fs.h"
#include "base/result.h"
#include "base/unique_fd.h"
#include "runtime/bridge.h"
#include "runtime/capture.h"
#include "runtime/netlink.h"

namespace herd {

class Herd;
struct Vm;

// A namespace's settings for its new captures.
struct CaptureSettings {
    uint32_t snaplen = 0;  // 0 = runtime::kDefaultSnaplen
    std::string filter;    // BPF, checked when a capture starts
    bool netflow_ascii = false;
    bool netflow_gzip = false;
};

struct Capture {
    enum class Kind { PcapVm, PcapBridge };
    int id = 0;
    std::string ns;
    Kind kind = Kind::PcapVm;
    std::string bridge;
    int vm_id = -1;  // PcapVm
    std::string vm_name;
    int iface = 0;
    std::string path;    // as listed
    std::string mirror;  // the OVS mirror port it reads ("" = none)
    std::unique_ptr<runtime::PcapCapture> pcap;
};

class CaptureService {
  public:
    explicit CaptureService(std::string prefix) : prefix_(std::move(prefix)) {}
    ~CaptureService();  // stops every capture (mirror ports are left to nuke)

    CaptureSettings& settings(const std::string& ns) { return settings_[ns]; }
    // `capture netflow timeout`: one for all namespaces (minimega's).
    uint32_t netflow_timeout = 10;

    // Starts capturing NIC `iface` of `vm` (host end `tap`) into `out`.
    Result<void> startVm(const std::string& ns, const Vm& vm, int iface, const std::string& tap,
                         std::string path, unique_fd out);
    // Starts capturing every frame on `bridge` into `out`.
    Result<void> startBridge(const std::string& ns, const std::string& bridge, std::string path,
                             unique_fd out, runtime::SwitchBackend& sw);

    // `capture pcap delete vm <vm|all> [iface]`: `vm not found: <vm>` when
    // no capture matched.
    Result<void> deleteVm(const std::string& ns, const std::string& vm, std::optional<int> iface,
                          runtime::SwitchBackend* sw);
    // `capture pcap delete bridge <bridge|all>`: no match is fine.
    Result<void> deleteBridge(const std::string& ns, const std::string& bridge,
                              runtime::SwitchBackend* sw);
    // `clear capture`: every capture of the namespace.
    Result<void> deleteAll(const std::string& ns, runtime::SwitchBackend* sw);
    // `clear namespace`: its captures and its settings.
    void clearNamespace(const std::string& ns, runtime::SwitchBackend* sw);
    // The VM's host ends are about to go (`vm kill`, `vm flush`): its
    // captures write what they hold and stop; their rows stay.
    void vmDown(int vm_id);

    // The namespace's captures, oldest first.
    std::vector<const Capture*> list(const std::string& ns) const;

  private:
    template <typename Pred>
    Result<void> remove(Pred pred, runtime::SwitchBackend* sw, bool* found = nullptr);
    Result<runtime::Netlink*> netlink();

    std::string prefix_;
    std::map<std::string, CaptureSettings> settings_;
    std::map<int, std::unique_ptr<Capture>> captures_;  // by id
    int next_id_ = 0;
    int next_mirror_ = 0;
    std::optional<runtime::Netlink> nl_;
};

// The switch backend of the container runtime; null under -runtime dry.
runtime::SwitchBackend* captureSwitch(Herd& herd);
// Hooks for the VM lifecycle and namespace teardown (no-ops when no capture
// was ever made).
void captureVmsDown(Herd& herd, const std::vector<Vm*>& vms);
void captureClearNamespace(Herd& herd, const std::string& ns);

// Opens the file a capture writes, created (0600) or truncated: `path`
// beneath `root` when `root` is given and `path` is relative (no symbolic
// link or `..` on the way), otherwise `path` as given (relative to the
// daemon's working directory), its last component never a symbolic link.
// Only a regular file of the daemon's user with one link is truncated
// (runtime::claimOutputFile).
Result<unique_fd> openCaptureFile(const Dir* root, const std::string& path);

}  // namespace herd
