// The daemon's whole state. Every handler runs holding the daemon's command
// lock, one command at a time (as minimega's command lock makes them), so the
// service layer needs no locks of its own. A handler that waits on something
// outside this state gives the lock up meanwhile with waitUnlocked().
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cli/table.h"
#include "service/daemon_link.h"
#include "service/namespace.h"
#include "service/vlan_alias.h"
#include "service/vm.h"

namespace herd {

class Bridges;
class CaptureService;
class CcService;
class Dir;
class GuestMounts;
class HostNet;
class Plumber;
class Routers;
class TapMirrors;

struct Options {
    std::string base = "/tmp/herd";         // state root: socket, pid file, instance dirs
    std::string filepath;                   // file root, default <base>/files
    std::string prefix = "herd";            // prefix of every host-global object we create
    std::string hostname;                   // this host's name (`Host` of responses)
    std::string self_exe;                   // path of the herd binary
    std::string cgroup = "/sys/fs/cgroup";  // cgroup mount root (-cgroup)
};

class Herd {
  public:
    explicit Herd(Options opts);
    ~Herd();
    Herd(const Herd&) = delete;
    Herd& operator=(const Herd&) = delete;

    const Options& options() const { return opts_; }
    cli::CommandTable& commands() { return table_; }

    // What clients recorded: command lines, `.alias`es, and the environment
    // `$VAR` reads and `.env` edits (the daemon's own at start).
    std::vector<std::string>& history() { return history_; }
    std::map<std::string, std::string>& aliases() { return aliases_; }
    std::map<std::string, std::string>& environ() { return environ_; }
    const std::vector<std::string>& history() const { return history_; }
    const std::map<std::string, std::string>& aliases() const { return aliases_; }
    const std::map<std::string, std::string>& environ() const { return environ_; }

    // Every VM of every namespace (ids are daemon-wide), the namespaces, and
    // the VLAN aliases they use.
    Namespaces& namespaces() { return namespaces_; }
    VmRegistry& vms() { return vms_; }
    VlanAliases& vlans() { return vlans_; }
    const Namespaces& namespaces() const { return namespaces_; }
    const VmRegistry& vms() const { return vms_; }
    const VlanAliases& vlans() const { return vlans_; }

    // What runs VMs: the DryRuntime (no kernel work, state transitions only)
    // until the daemon installs its own; never null.
    Runtime& runtime() { return *runtime_; }
    // The same, for a handler that keeps using it while the lock is given up
    // (the daemon replaces it when it stops).
    std::shared_ptr<Runtime> runtimeShared() const { return runtime_; }
    void setRuntime(std::shared_ptr<Runtime> rt);

    // opts.base and opts.filepath, opened once by the daemon (base/fs.h):
    // every file under them is opened beneath these descriptors, never by
    // its path. Null under unit tests.
    const std::shared_ptr<const Dir>& baseDir() const { return base_dir_; }
    const std::shared_ptr<const Dir>& filesDir() const { return files_dir_; }
    void setDirs(std::shared_ptr<const Dir> base, std::shared_ptr<const Dir> files);

    // The daemon hosting this state (NoDaemon until one attaches; it must
    // outlive this object or detach with attachDaemon(nullptr)).
    DaemonLink& daemon() { return *daemon_; }
    void attachDaemon(DaemonLink* d);

    // Runs `wait` without the command lock, so that other clients' commands,
    // cc and the web page go on while it runs; returns with the lock held
    // again. `wait` must not touch this state (copy what it needs first) and
    // whatever the handler holds into it (a Vm*) must be looked up again
    // afterwards. `cancel`, if given, makes `wait` return soon when the
    // daemon stops. Without a daemon `wait` just runs.
    void waitUnlocked(const std::function<void()>& wait, const std::function<void()>& cancel = {}) {
        daemon_->runUnlocked(wait, cancel);
    }

    // The services that keep state beside the VMs, each made on first use:
    // command and control (service/cc.h), host taps and dnsmasq servers
    // (service/hostnet.h), packet captures (service/capture.h) and `tap
    // mirror`s (service/tap_mirror.h). The ...IfAny forms never make one.
    CcService& cc();
    CcService* ccIfAny() { return cc_.get(); }
    HostNet& hostnet();
    HostNet* hostnetIfAny() { return hostnet_.get(); }
    CaptureService& captures();
    CaptureService* capturesIfAny() { return captures_.get(); }
    TapMirrors& tapMirrors();
    TapMirrors* tapMirrorsIfAny() { return tap_mirrors_.get(); }
    // `cc mount`s (service/guest_mounts.h).
    GuestMounts& guestMounts();
    GuestMounts* guestMountsIfAny() { return guest_mounts_.get(); }
    // `bridge trunk|tunnel|config|destroy` (service/bridges.h).
    Bridges& bridges();
    Bridges* bridgesIfAny() { return bridges_.get(); }
    // Named pipes and pipelines (service/plumber.h); shared with the cc
    // connections that stream guest stdio into them.
    Plumber& plumber();
    Plumber* plumberIfAny() { return plumber_.get(); }
    // `router` settings (service/router.h).
    Routers& routers();
    Routers* routersIfAny() { return routers_.get(); }
    // Drops a service (the daemon's shutdown; the next use makes a new one).
    void dropCc();
    void dropPlumber();
    void dropHostnet();
    void dropGuestMounts();

  private:
    Options opts_;
    cli::CommandTable table_;
    std::shared_ptr<const Dir> base_dir_;
    std::shared_ptr<const Dir> files_dir_;
    std::vector<std::string> history_;
    std::map<std::string, std::string> aliases_;
    std::map<std::string, std::string> environ_;
    Namespaces namespaces_;
    VmRegistry vms_;
    VlanAliases vlans_;
    std::shared_ptr<Runtime> runtime_;
    NoDaemon no_daemon_;
    DaemonLink* daemon_ = &no_daemon_;
    std::shared_ptr<CcService> cc_;
    std::shared_ptr<HostNet> hostnet_;
    std::shared_ptr<CaptureService> captures_;
    std::shared_ptr<TapMirrors> tap_mirrors_;
    std::shared_ptr<GuestMounts> guest_mounts_;
    std::shared_ptr<Bridges> bridges_;
    std::shared_ptr<Plumber> plumber_;
    std::shared_ptr<Routers> routers_;
};

// The version string `version` prints and `-version` shows.
std::string versionString();

}  // namespace herd
