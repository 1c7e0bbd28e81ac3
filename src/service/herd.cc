#include "service/herd.h"

#include <unistd.h>

#include "service/dry_runtime.h"

extern char** environ;

namespace herd {

Herd::Herd(Options o) : opts(std::move(o)), runtime(std::make_shared<DryRuntime>()) {
    if (opts.filepath.empty()) opts.filepath = opts.base + "/files";
    if (opts.hostname.empty()) {
        char buf[256] = {};
        opts.hostname = gethostname(buf, sizeof buf - 1) == 0 ? buf : "localhost";
    }
    // $VAR expansion reads the daemon's environment as it was at start, plus
    // `.env` edits. A map, not setenv(): other threads may call getenv.
    for (char** e = ::environ; e && *e; ++e) {
        std::string kv = *e;
        auto eq = kv.find('=');
        if (eq != std::string::npos) this->environ[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
}

void Herd::waitUnlocked(const std::function<void()>& wait, const std::function<void()>& cancel) {
    if (unlocked) {
        unlocked(wait, cancel);
    } else {
        wait();
    }
}

std::string versionString() {
#ifdef HERD_VERSION
    return "herd " HERD_VERSION;
#else
    return "herd 0.1.0";
#endif
}

}  // namespace herd
