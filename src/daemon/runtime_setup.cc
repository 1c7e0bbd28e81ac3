#include "daemon/runtime_setup.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <optional>
#include <vector>

#include <fmt/format.h>

#include "base/fs.h"
#include "base/log.h"
#include "daemon/flags.h"
#include "runtime/bridge.h"
#include "runtime/cgroup.h"
#include "runtime/console_listener.h"
#include "runtime/disk.h"
#include "runtime/hostcheck.h"
#include "runtime/keeper.h"
#include "service/container_runtime.h"
#include "service/dry_runtime.h"
#include "service/guest_mounts.h"
#include "service/hostnet.h"

namespace herd::daemon {

namespace {

// A runtime that cannot run containers on this host: every launch fails with
// the reason, so the user learns it where they typed `vm launch`.
class UnavailableRuntime : public DryRuntime {
  public:
    explicit UnavailableRuntime(std::string why) : why_(std::move(why)) {}
    Result<void> launch(Vm& vm) override {
        vm.state = VmState::Error;
        vm.tags()["error"] = why_;
        return Error::msg(why_);
    }
    Result<void> start(Vm& vm) override {
        if (inStates(vm.state, static_cast<unsigned>(VmState::Quit) |
                                   static_cast<unsigned>(VmState::Error))) {
            return Error::msg(why_);
        }
        return DryRuntime::start(vm);
    }

  private:
    std::string why_;
};

std::string defaultImage(const Herd& herd) {
    std::string exe = herd.options().self_exe;
    auto slash = exe.find_last_of('/');
    return (slash == std::string::npos ? std::string(".") : exe.substr(0, slash)) + "/guest";
}

constexpr const char* kPrefixRecord = "prefix";

// The prefix a base records, "" when it records none.
Result<std::string> recordedPrefix(const Dir& base) {
    auto text = base.readFile(kPrefixRecord, 64);
    if (!text.ok()) {
        if (text.error().errnum() == ENOENT) return std::string();
        return text.error();
    }
    std::string p = *text;
    while (!p.empty() && (p.back() == '\n' || p.back() == ' ')) p.pop_back();
    if (!validPrefix(p))
        return Error::msg(base.pathOf(kPrefixRecord) + ": not a prefix: `" + p + "`");
    return p;
}

// Whether a base holds what a daemon made (its containers' directories, host
// taps, DHCP servers and clients): what a killed daemon may have left.
bool holdsLeftovers(const Dir& base) {
    auto names = base.list();
    if (!names.ok()) return true;  // cannot tell: assume so
    for (const auto& n : *names) {
        if (n.find_first_not_of("0123456789") == std::string::npos || n == "taps" ||
            n.rfind("dnsmasq_", 0) == 0 || n.rfind("udhcpc_", 0) == 0)
            return true;
    }
    return false;
}

}  // namespace

std::shared_ptr<Runtime> makeUnavailableRuntime(std::string why) {
    return std::make_shared<UnavailableRuntime>(std::move(why));
}

Result<std::shared_ptr<unique_fd>> claimPrefixAtStart(const Dir& base, const std::string& path,
                                                      const std::string& prefix, bool containers) {
    // A state-only daemon makes nothing on the host that a prefix names.
    if (!containers) return std::shared_ptr<unique_fd>();
    auto recorded = recordedPrefix(base);
    if (!recorded.ok()) return recorded.error();
    if (!recorded->empty() && *recorded != prefix && holdsLeftovers(base)) {
        return Error::msg(fmt::format(
            "base {} holds what a daemon with -prefix {} left (recorded in {}/{}): run `herd "
            "-base {} -nuke` first, or start with -prefix {}",
            path, *recorded, path, kPrefixRecord, path, *recorded));
    }
    auto claim = runtime::claimPrefix(prefix);
    if (!claim.ok()) return claim.error();
    HERD_TRY(base.writeFileAtomic(kPrefixRecord, prefix + "\n", 0600));
    return std::make_shared<unique_fd>(std::move(*claim));
}

void forgetPrefix(const Dir& base) {
    if (auto r = base.unlink(kPrefixRecord); !r.ok() && r.error().errnum() != ENOENT) {
        HERD_LOG(warn, "{}", r.error().text());
    }
}

std::shared_ptr<Runtime> makeRuntime(const RuntimeFlags& flags, const Herd& herd,
                                     boost::asio::io_context& io,
                                     std::function<void(std::function<void()>)> post) {
    if (flags.kind == "dry") return std::make_shared<DryRuntime>();
    auto problems = runtime::checkHost();
    for (const auto& p : problems) HERD_LOG(warn, "host check: {}", p);
    if (!problems.empty()) {
        return std::make_shared<UnavailableRuntime>("containers cannot run on this host: " +
                                                    problems.front());
    }
    ContainerRuntimeOptions o;
    o.base = herd.options().base;
    o.base_dir = herd.baseDir();
    o.prefix = herd.options().prefix;
    o.cgroup_root = herd.options().cgroup;
    o.default_image = flags.image.empty() ? defaultImage(herd) : flags.image;
    o.console_address = flags.console_address;
    o.console_token = flags.console_token;
    o.net = flags.net;
    o.prefix_claim = flags.prefix_claim;
    o.keeper_exe = herd.options().self_exe;
    o.hostname = herd.options().hostname;
    auto rt = ContainerRuntime::create(o, io, std::move(post));
    if (!rt.ok()) {
        HERD_LOG(warn, "container runtime: {}", rt.error().text());
        return std::make_shared<UnavailableRuntime>("containers cannot run on this host: " +
                                                    rt.error().text());
    }
    HERD_LOG(info, "container runtime ready (cgroup {}, image {}, switch {})",
             (*rt)->cgroupVersion(), o.default_image, (*rt)->switchBackend()->kind());
    return *rt;
}

int nukeStandalone(const Options& options, const runtime::SwitchOptions& net, bool prefix_given) {
    Options opts = options;
    // The base is checked as the daemon checks it: removing what a base
    // another user controls holds would follow their links.
    std::optional<Dir> base;
    auto opened = openPrivateDir(opts.base, 0700, /*create=*/false, "base directory");
    if (opened.ok()) {
        base = std::move(*opened);
    } else if (opened.error().errnum() != ENOENT) {
        std::fprintf(stderr, "herd: nuke: %s\n", opened.error().text().c_str());
        return 1;
    }
    // A live daemon holds the pid file's lock: it must be asked instead.
    if (base) {
        auto fd = base->openFile("minimega.pid", O_RDWR);
        if (fd.ok() && ::flock(fd->get(), LOCK_EX | LOCK_NB) != 0) {
            std::fprintf(stderr,
                         "herd: a daemon is running on %s: use `herd -base %s -e nuke` instead\n",
                         opts.base.c_str(), opts.base.c_str());
            return 1;
        }
    }
    // Which prefix: the one the base records, else the one given.
    {
        auto recorded = base ? recordedPrefix(*base) : Result<std::string>(std::string());
        if (!recorded.ok()) {
            std::fprintf(stderr, "herd: nuke: %s\n", recorded.error().text().c_str());
            return 1;
        }
        if (!recorded->empty()) {
            if (prefix_given && opts.prefix != *recorded) {
                std::fprintf(stderr,
                             "herd: nuke: %s was used with -prefix %s (recorded in %s/%s), not "
                             "%s: run `herd -base %s -nuke`\n",
                             opts.base.c_str(), recorded->c_str(), opts.base.c_str(), kPrefixRecord,
                             opts.prefix.c_str(), opts.base.c_str());
                return 2;
            }
            opts.prefix = *recorded;
        } else if (!prefix_given) {
            std::fprintf(stderr,
                         "herd: nuke: %s records no prefix (%s/%s is missing), so herd cannot "
                         "tell which links and cgroups to remove: give the daemon's -prefix\n",
                         opts.base.c_str(), opts.base.c_str(), kPrefixRecord);
            return 2;
        }
    }
    // A live daemon on another base may hold the prefix: what carries it is its.
    auto claim = runtime::claimPrefix(opts.prefix);
    if (!claim.ok()) {
        std::fprintf(stderr, "herd: nuke: %s\n", claim.error().text().c_str());
        return 1;
    }
    int status = 0;
    // The keeper (runtime/keeper.h) kills its containers and exits.
    if (base) {
        auto keeper = runtime::Keeper::connect(base->path());
        if (keeper.ok()) {
            if (auto r = (*keeper)->quit(); !r.ok()) {
                std::fprintf(stderr, "herd: nuke: %s\n", r.error().text().c_str());
                status = 1;
            }
        } else if (keeper.error().errnum() != ENOENT && keeper.error().errnum() != ECONNREFUSED) {
            std::fprintf(stderr, "herd: nuke: %s\n", keeper.error().text().c_str());
            status = 1;
        }
    }
    auto driver = runtime::detectCgroups(opts.cgroup, opts.prefix);
    if (driver.ok()) {
        if (auto r = (*driver)->nuke(); !r.ok()) {
            std::fprintf(stderr, "herd: nuke: %s\n", r.error().text().c_str());
            status = 1;
        }
    }
    // dnsmasq servers and tap DHCP clients by their records; user-named
    // taps; `cc mount`s of the containers' root filesystems.
    if (base) {
        if (auto r = nukeGuestMounts(*base); !r.ok()) {
            std::fprintf(stderr, "herd: nuke: %s\n", r.error().text().c_str());
            status = 1;
        }
        if (auto r = nukeHostNet(*base, opts.prefix); !r.ok()) {
            std::fprintf(stderr, "herd: nuke: %s\n", r.error().text().c_str());
            status = 1;
        }
    }
    // Interfaces named by this prefix (veths a killed daemon left, bridges),
    // and its Open vSwitch ports and bridges when an ovsdb answers.
    runtime::SwitchOptions so = net;
    so.prefix = opts.prefix;
    if (auto r = runtime::nukeSwitches(so); !r.ok()) {
        std::fprintf(stderr, "herd: nuke: %s\n", r.error().text().c_str());
        status = 1;
    }
    // The containers' disk-limit tmpfs mounts, before their directories go.
    if (auto r = runtime::unmountStaleDisks(opts.base); !r.ok()) {
        std::fprintf(stderr, "herd: nuke: %s\n", r.error().text().c_str());
        status = 1;
    }
    // Only what herd puts in a base: never a user's other files. Through
    // the base's descriptor, following no link (a guest made the links in
    // its overlay's upper layer).
    if (base) {
        std::vector<std::string> ours;
        auto names = base->list();
        if (!names.ok()) {
            std::fprintf(stderr, "herd: nuke: %s\n", names.error().text().c_str());
            status = 1;
        }
        for (const auto& name : names.ok() ? *names : std::vector<std::string>{}) {
            if (name == "minimega" || name == "minimega.pid" || name == "files" ||
                name == "namespaces" || name == "background.log" || name == "token" ||
                name == "web.url" || name == "records" || name == runtime::kKeeperSocket ||
                name == runtime::kConsoleSocket || name == runtime::kKeeperLog ||
                (name == kPrefixRecord && status == 0) ||
                name.find_first_not_of("0123456789") == std::string::npos)
                ours.push_back(name);
        }
        for (const auto& name : ours) {
            if (auto r = base->removeTree(name); !r.ok()) {
                std::fprintf(stderr, "herd: nuke: %s\n", r.error().text().c_str());
                status = 1;
            }
        }
        // Only if now empty.
        if (::rmdir(base->path().c_str()) != 0 && errno != ENOTEMPTY && errno != EEXIST) {
            HERD_LOG(debug, "{}", Error::sysNow("rmdir", base->path()).text());
        }
    }
    return status;
}

}  // namespace herd::daemon
