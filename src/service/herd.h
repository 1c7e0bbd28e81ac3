// The daemon's whole state. Every handler runs holding the daemon's command
// lock, one command at a time (as minimega's command lock makes them), so the
// service layer needs no locks of its own. A handler that waits on something
// outside this state gives the lock up meanwhile with waitUnlocked().
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cli/table.h"
#include "service/namespace.h"
#include "service/vlan_alias.h"
#include "service/vm.h"

namespace boost::asio {
class io_context;
}

namespace herd {

class CaptureService;
class CcService;
class Dir;
class HostNet;
class TapMirrors;
class WebControl;

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

    Options opts;
    cli::CommandTable table;

    // opts.base and opts.filepath, opened once by the daemon (base/fs.h):
    // every file under them is opened beneath these descriptors, never by
    // its path. Null under unit tests.
    std::shared_ptr<const Dir> base_dir;
    std::shared_ptr<const Dir> files_dir;

    std::vector<std::string> history;            // recorded command lines
    std::map<std::string, std::string> aliases;  // .alias name -> expansion
    std::map<std::string, std::string> environ;  // the environment $VAR reads and .env edits

    Namespaces namespaces;

    // Every VM of every namespace (ids are daemon-wide), the VLAN aliases
    // they use, and what runs them: the DryRuntime (no kernel work, state
    // transitions only) until the daemon installs its own; never null.
    VmRegistry vms;
    VlanAliases vlans;
    std::shared_ptr<Runtime> runtime;

    // The daemon's event loop and a way back to the command thread (set by
    // the daemon; null under unit tests). cc serves its sockets from `io`.
    boost::asio::io_context* io = nullptr;
    std::function<void(std::function<void()>)> post;
    // Command and control (service/cc.h); created by attachCc().
    std::shared_ptr<CcService> cc;
    // Host taps and dnsmasq servers (service/hostnet.h); made on first use.
    std::shared_ptr<HostNet> hostnet;
    // Packet captures (service/capture.h); made on first use.
    std::shared_ptr<CaptureService> captures;
    // `tap mirror`s (service/tap_mirror.h); made on first use.
    std::shared_ptr<TapMirrors> tap_mirrors;

    // Set by `quit`: the front end stops after replying (delay in seconds).
    std::function<void(int delay_s)> request_quit;

    // The web page server (`web` command; null when the daemon has none),
    // and what is told, on the command thread, after anything that may have
    // changed the VMs (each command, each runtime event): the page's live
    // table listens there. Both set by the daemon.
    std::shared_ptr<WebControl> web;
    std::function<void()> on_change;

    // Runs `wait` without the command lock, so that other clients' commands,
    // cc and the web page go on while it runs; returns with the lock held
    // again. `wait` must not touch this state (copy what it needs first) and
    // whatever the handler holds into it (a Vm*) must be looked up again
    // afterwards. `cancel`, if given, makes `wait` return soon when the
    // daemon stops. Without a daemon (unit tests) `wait` just runs.
    void waitUnlocked(const std::function<void()>& wait, const std::function<void()>& cancel = {});
    // Set by the daemon: how waitUnlocked gives the lock up.
    std::function<void(const std::function<void()>&, const std::function<void()>&)> unlocked;
};

// The version string `version` prints and `-version` shows.
std::string versionString();

}  // namespace herd
