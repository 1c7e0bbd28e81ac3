#include "service/capture.h"

#include <fcntl.h>

#include "base/log.h"
#include "runtime/bridge.h"
#include "service/herd.h"
#include "service/names.h"
#include "service/vm.h"
#include "service/vm_ops.h"

namespace herd {

CaptureService::~CaptureService() {
    for (auto& [id, c] : captures_)
        if (c->pcap) c->pcap->stop();
}

Result<runtime::Netlink*> CaptureService::netlink() {
    if (!nl_) {
        auto o = runtime::Netlink::open();
        if (!o.ok()) return o.error();
        nl_.emplace(std::move(*o));
    }
    return &*nl_;
}

Result<void> CaptureService::startVm(const std::string& ns, const Vm& vm, int iface,
                                     const std::string& tap, std::string path, unique_fd out) {
    const CaptureSettings& s = settings(ns);
    runtime::PcapOptions o;
    o.ifnames = {tap};
    o.snaplen = s.snaplen;
    o.filter = s.filter;
    auto pcap = runtime::PcapCapture::start(o, std::move(out), path);
    if (!pcap.ok()) return pcap.error();
    auto c = std::make_unique<Capture>();
    c->id = next_id_++;
    c->ns = ns;
    c->kind = Capture::Kind::PcapVm;
    c->bridge = vm.config.networks[static_cast<size_t>(iface)].bridge;
    c->vm_id = vm.id;
    c->vm_name = vm.name;
    c->iface = iface;
    c->path = std::move(path);
    c->pcap = std::move(*pcap);
    HERD_LOG(info, "capture {}:{} ({}) to {}", vm.name, iface, tap, c->path);
    captures_[c->id] = std::move(c);
    return Ok();
}

Result<void> CaptureService::startBridge(const std::string& ns, const std::string& bridge,
                                         std::string path, unique_fd out,
                                         runtime::SwitchBackend& sw) {
    auto nl = netlink();
    if (!nl.ok()) return nl.error();
    auto mirror = runtime::mirrorPortName(prefix_, next_mirror_);
    if (!mirror.ok()) return mirror.error();
    auto ports = sw.openCapture(**nl, bridge, *mirror);
    if (!ports.ok()) return ports.error();
    // Only the OVS backend makes the mirror port; the kernel one names its
    // own bridges.
    const bool made = ports->size() == 1 && (*ports)[0] == *mirror;
    if (made) ++next_mirror_;
    const CaptureSettings& s = settings(ns);
    runtime::PcapOptions o;
    o.ifnames = *ports;
    o.snaplen = s.snaplen;
    o.filter = s.filter;
    auto pcap = runtime::PcapCapture::start(o, std::move(out), path);
    if (!pcap.ok()) {
        if (made) (void)sw.releaseCapture(**nl, *mirror);
        return pcap.error();
    }
    auto c = std::make_unique<Capture>();
    c->id = next_id_++;
    c->ns = ns;
    c->kind = Capture::Kind::PcapBridge;
    c->bridge = bridge;
    c->path = std::move(path);
    if (made) c->mirror = *mirror;
    c->pcap = std::move(*pcap);
    HERD_LOG(info, "capture bridge {} ({} interfaces) to {}", bridge, ports->size(), c->path);
    captures_[c->id] = std::move(c);
    return Ok();
}

template <typename Pred>
Result<void> CaptureService::remove(Pred pred, runtime::SwitchBackend* sw, bool* found) {
    // As minimega: every matching capture is removed even when stopping one
    // failed; the errors are joined.
    std::string errors;
    for (auto it = captures_.begin(); it != captures_.end();) {
        Capture& c = *it->second;
        if (!pred(c)) {
            ++it;
            continue;
        }
        if (found) *found = true;
        if (c.pcap) c.pcap->stop();
        if (!c.mirror.empty() && sw) {
            auto nl = netlink();
            auto r = nl.ok() ? sw->releaseCapture(**nl, c.mirror) : Result<void>(nl.error());
            if (!r.ok()) errors += (errors.empty() ? "" : "\n") + r.error().text();
        }
        it = captures_.erase(it);
    }
    if (!errors.empty()) return Error::msg(errors);
    return Ok();
}

Result<void> CaptureService::deleteVm(const std::string& ns, const std::string& vm,
                                      std::optional<int> iface, runtime::SwitchBackend* sw) {
    bool found = false;
    auto r = remove(
        [&](const Capture& c) {
            return c.ns == ns && c.kind == Capture::Kind::PcapVm &&
                   (vm == kWildcard || c.vm_name == vm) && (!iface || c.iface == *iface);
        },
        sw, &found);
    if (r.ok() && !found) return Error::msg("vm not found: " + vm);
    return r;
}

Result<void> CaptureService::deleteBridge(const std::string& ns, const std::string& bridge,
                                          runtime::SwitchBackend* sw) {
    return remove(
        [&](const Capture& c) {
            return c.ns == ns && c.kind == Capture::Kind::PcapBridge &&
                   (bridge == kWildcard || c.bridge == bridge);
        },
        sw);
}

Result<void> CaptureService::deleteAll(const std::string& ns, runtime::SwitchBackend* sw) {
    return remove([&](const Capture& c) { return c.ns == ns; }, sw);
}

void CaptureService::clearNamespace(const std::string& ns, runtime::SwitchBackend* sw) {
    if (auto r = deleteAll(ns, sw); !r.ok()) {
        HERD_LOG(warn, "clear captures of namespace {}: {}", ns, r.error().text());
    }
    settings_.erase(ns);
}

void CaptureService::vmDown(int vm_id) {
    for (auto& [id, c] : captures_)
        if (c->kind == Capture::Kind::PcapVm && c->vm_id == vm_id && c->pcap) c->pcap->stop();
}

std::vector<const Capture*> CaptureService::list(const std::string& ns) const {
    std::vector<const Capture*> out;
    for (const auto& [id, c] : captures_)
        if (c->ns == ns) out.push_back(c.get());
    return out;
}

runtime::SwitchBackend* captureSwitch(Herd& herd) {
    return herd.runtime().switchBackend();
}

void captureVmsDown(Herd& herd, const std::vector<Vm*>& vms) {
    CaptureService* cs = herd.capturesIfAny();
    if (!cs) return;
    for (const Vm* vm : vms) cs->vmDown(vm->id);
}

void captureClearNamespace(Herd& herd, const std::string& ns) {
    if (CaptureService* cs = herd.capturesIfAny()) cs->clearNamespace(ns, captureSwitch(herd));
}

Result<unique_fd> openCaptureFile(const Dir* root, const std::string& path) {
    constexpr int kFlags = O_WRONLY | O_CREAT | O_NONBLOCK;  // a FIFO never blocks the open
    Result<unique_fd> fd = Error::msg("");
    if (path.empty()) return Error::msg("capture file: empty name");
    if (root && path[0] != '/') {
        fd = root->openFile(path, kFlags, 0600);
    } else {
        const auto slash = path.rfind('/');
        const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
        const std::string leaf = slash == std::string::npos ? path : path.substr(slash + 1);
        if (leaf.empty() || leaf == "." || leaf == "..") {
            return Error::msg("capture file " + path + ": not a file name");
        }
        auto d = Dir::open(dir);
        if (!d.ok()) return d.error();
        fd = d->openFile(leaf, kFlags, 0600);
    }
    if (!fd.ok()) return fd.error();
    HERD_TRY(runtime::claimOutputFile(fd->get(), path));
    // Writes block as usual (a full pipe is not a concern: only regular
    // files get here).
    int fl = ::fcntl(fd->get(), F_GETFL);
    if (fl < 0 || ::fcntl(fd->get(), F_SETFL, fl & ~O_NONBLOCK) != 0) {
        return Error::sysNow("fcntl", path);
    }
    return fd;
}

}  // namespace herd
