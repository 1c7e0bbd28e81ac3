#include "service/herd.h"

#include <unistd.h>

#include "service/bridges.h"
#include "service/capture.h"
#include "service/cc.h"
#include "service/dry_runtime.h"
#include "service/guest_mounts.h"
#include "service/hostnet.h"
#include "service/plumber.h"
#include "service/router.h"
#include "service/tap_mirror.h"

extern char** environ;

namespace herd {

Herd::Herd(Options o) : opts_(std::move(o)), runtime_(std::make_shared<DryRuntime>()) {
    if (opts_.filepath.empty()) opts_.filepath = opts_.base + "/files";
    if (opts_.hostname.empty()) {
        char buf[256] = {};
        opts_.hostname = gethostname(buf, sizeof buf - 1) == 0 ? buf : "localhost";
    }
    // $VAR expansion reads the daemon's environment as it was at start, plus
    // `.env` edits. A map, not setenv(): other threads may call getenv.
    for (char** e = ::environ; e && *e; ++e) {
        std::string kv = *e;
        auto eq = kv.find('=');
        if (eq != std::string::npos) environ_[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
}

Herd::~Herd() = default;

void Herd::setRuntime(std::shared_ptr<Runtime> rt) {
    if (!rt) throw std::logic_error("Herd::setRuntime: null runtime");
    runtime_ = std::move(rt);
}

void Herd::setDirs(std::shared_ptr<const Dir> base, std::shared_ptr<const Dir> files) {
    base_dir_ = std::move(base);
    files_dir_ = std::move(files);
}

void Herd::attachDaemon(DaemonLink* d) {
    daemon_ = d ? d : &no_daemon_;
}

CcService& Herd::cc() {
    if (!cc_) cc_ = std::make_shared<CcService>(*this);
    return *cc_;
}

HostNet& Herd::hostnet() {
    if (!hostnet_) hostnet_ = makeHostNet(*this);
    return *hostnet_;
}

CaptureService& Herd::captures() {
    if (!captures_) captures_ = std::make_shared<CaptureService>(opts_.prefix);
    return *captures_;
}

Routers& Herd::routers() {
    if (!routers_) routers_ = std::make_shared<Routers>();
    return *routers_;
}

TapMirrors& Herd::tapMirrors() {
    if (!tap_mirrors_) tap_mirrors_ = std::make_shared<TapMirrors>();
    return *tap_mirrors_;
}

GuestMounts& Herd::guestMounts() {
    if (!guest_mounts_) guest_mounts_ = std::make_shared<GuestMounts>(base_dir_);
    return *guest_mounts_;
}

void Herd::dropGuestMounts() {
    guest_mounts_.reset();
}

Bridges& Herd::bridges() {
    if (!bridges_) bridges_ = std::make_shared<Bridges>(opts_.prefix);
    return *bridges_;
}

Plumber& Herd::plumber() {
    if (!plumber_) {
        auto it = environ_.find("PATH");
        plumber_ = std::make_shared<Plumber>(
            base_dir_, daemon_->io(),
            it == environ_.end() ? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
                                 : it->second);
    }
    return *plumber_;
}

void Herd::dropCc() {
    cc_.reset();
}

void Herd::dropPlumber() {
    plumber_.reset();
}

void Herd::dropHostnet() {
    hostnet_.reset();
}

std::string versionString() {
#ifdef HERD_VERSION
    return "herd " HERD_VERSION;
#else
    return "herd 0.1.0";
#endif
}

}  // namespace herd
