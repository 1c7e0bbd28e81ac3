// One container and every kernel object it holds, with RAII: its instance
// directory `<base>/<id>` (files, fifos, overlay layers), its disk (disk.h),
// its console (console.h), and, while it runs, its init (launch.h), cgroup
// (cgroup.h), network namespace and the host ends of its NICs' veths.
//
// A container outlives its launches: `vm kill` and `vm start` stop and
// relaunch the same Container, which keeps its directory, disk and console;
// each launch has a new generation, cgroup and veths. Destroying a Container
// kills its init and gives back its cgroup, console and disk, but leaves
// its files: what is on disk is what a later daemon finds (record()), and
// removeFiles() is `vm flush`'s.
//
// A launch is four steps, so that a batch of them can share the work:
//   makeDir, prepare   command thread (files, disk, console, switch plans)
//   launch             any thread, one container per thread (cgroup, clone, veths)
//   attachPorts        command thread, the whole batch at once (OVS: one transaction)
//   launched           command thread (the console starts reading)
#pragma once

#include <boost/asio/io_context.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/fs.h"
#include "base/result.h"
#include "runtime/bridge.h"
#include "runtime/cgroup.h"
#include "runtime/console.h"
#include "runtime/console_listener.h"
#include "runtime/container_spec.h"
#include "runtime/disk.h"
#include "runtime/isolation.h"
#include "runtime/launch.h"
#include "runtime/reaper.h"

namespace herd::runtime {

// What all containers of one daemon share; owned by whoever makes them.
struct ContainerHost {
    const Dir* base = nullptr;  // the base directory: every file is made beneath it
    PlanContext plan;           // base path, prefix, limits
    CgroupDriver* cgroups = nullptr;
    SwitchBackend* net = nullptr;
    const Isolation* iso = nullptr;
    // Who clones and reaps the containers (the keeper, runtime/keeper.h).
    std::shared_ptr<ContainerParent> parent;
    boost::asio::io_context* io = nullptr;  // the consoles' event loop
    // The one socket viewers reach every console through (null: consoles
    // are reached through the web page and TCP only).
    ConsoleListener* consoles = nullptr;
    std::string console_address;  // TCP consoles; "" = none
    std::string console_token;
    CgroupJanitor* janitor = nullptr;
    // Where consoles keep their scrollback so that it outlives the daemon
    // (null: in the daemon's heap).
    ScrollbackArena* scrollbacks = nullptr;
};

class Container {
  public:
    Container(const ContainerHost& host, int id) : host_(host), id_(id) {}
    ~Container();
    Container(const Container&) = delete;
    Container& operator=(const Container&) = delete;

    int id() const { return id_; }
    // Which launch this is (1 for the first); names the cgroup.
    uint64_t generation() const { return generation_; }

    // Makes the instance directory (root's alone, 0700, even if it existed:
    // the guest's files are in there) with its `name` and `uuid` files.
    Result<void> makeDir(const std::string& name, const std::string& uuid);
    // Starts a new launch from `spec`: makes what it needs on the host (the
    // layers' directories or disk, fifos, volume directories, the console)
    // and plans each NIC's switch port. Command thread.
    Result<void> prepare(const ContainerSpec& spec);
    // Clones init into its cgroup and namespaces and makes its NICs' veths
    // (`nl`: the calling thread's netlink socket, opened on first use).
    // Returns once the container is BUILDING. Any thread.
    Result<void> launch(std::optional<Netlink>& nl);
    // After a successful launch (and attachPorts): the console starts
    // reading; the plan is let go. Command thread.
    void launched();

    // The host ends of this launch's veths (from prepare on), in NIC order.
    const std::vector<std::string>& nicNames() const { return nics_; }
    // Where they go, until launched().
    const std::vector<PortPlan>& ports() const { return ports_; }
    // The directory the root filesystem is mounted on, or is.
    const std::string& root() const { return root_; }

    bool running() const { return child_.pid() > 0; }  // launched, maybe exited since
    int pid() const { return child_.pid(); }
    Child& child() { return child_; }
    bool released() const { return child_.released(); }
    const std::shared_ptr<Console>& console() const { return console_; }
    bool hasCgroup() const { return cgroup_ != nullptr; }

    // SIGKILL to init, leaving the reaping to the exit watcher.
    void killInit() { child_.kill(); }
    // `vm stop` / `vm start` of a PAUSED container.
    Result<void> freeze();
    Result<void> thaw();
    // SIGKILL to init (thawing a frozen container first: frozen tasks die
    // only once thawed); killing init kills the whole PID namespace.
    void signalKill(bool frozen);
    int killAndReap() { return child_.killAndReap(); }
    std::optional<int> tryReap() { return child_.tryReap(); }
    // Gives back what a stopped container held (its cgroup); the console,
    // the instance directory and the disk stay for a relaunch. `defer`: the
    // (empty) group is removed by the janitor thread.
    void releaseCgroup(bool defer);
    Result<CgroupStats> stats();
    std::vector<int> procs();

    // `vm flush`, first half: kills init if it still runs, gives back the
    // cgroup, closes the console and lets go of the disk (the overlay's
    // changes). An error is the disk's; the rest is done regardless.
    Result<void> teardown();
    // Second half: removes the instance directory (its links are removed,
    // never followed). Any thread.
    Result<void> removeFiles() const;
    // What a later daemon would need to find this container again.
    ContainerRecord record() const;

    // What the keeper kept of a container a previous daemon made.
    struct Kept {
        bool live = false;         // its init runs (checked to be the record's)
        uint64_t serial = 0;       // ... as which of the keeper's launches
        bool waiting = false;      // ... and waits for `vm start` (BUILDING)
        unique_fd console_master;  // the console's pty master
        unique_fd disk;            // a detached disk's layers
        bool disk_kept = false;    // ... or the keeper keeps it (keepDisk)
    };
    // Takes over the container `r` records (adoption, docs/durability.md):
    // its directory, disk and console, and, when `kept.live` is set, its
    // running init and cgroup. The caller checked that the init is the
    // record's. An error names what could not be taken over.
    Result<void> adopt(const ContainerRecord& r, Kept kept);
    // Lets go of everything without killing or removing any of it (`quit
    // keep`): the container goes on under the keeper for a later daemon.
    void abandon();
    // The keys under which the container parent keeps this container's
    // descriptors (ContainerParent::hold).
    static std::string consoleKey(int id) { return "console/" + std::to_string(id); }
    static std::string diskKey(int id) { return "disk/" + std::to_string(id); }
    // The VM's cc listening socket (the service's, kept here by the runtime).
    static std::string ccKey(int id) { return "cc/" + std::to_string(id); }

  private:
    void closeConsole();
    Result<void> prepareRoot(const ContainerSpec& spec);
    Result<void> prepareBinds(const ContainerSpec& spec);
    Result<void> preparePorts(const ContainerSpec& spec);
    Result<void> prepareConsole();
    // The console's TCP listener, if any.
    ConsoleOptions consoleOptions() const;
    // Makes console_ reachable through the console socket (host_.consoles).
    void listConsole();

    const ContainerHost& host_;
    int id_;
    std::string name_, uuid_;
    uint64_t generation_ = 0;
    std::optional<Disk> disk_;  // made on the first launch with a disk limit, kept until flush
    std::shared_ptr<Console> console_;
    bool abandoned_ = false;  // abandon(): what it held is the next daemon's
    // This launch's plan, from prepare until launched (or the next prepare).
    std::unique_ptr<ContainerPlan> plan_;
    std::vector<PortPlan> ports_;  // one per NIC (switch_name "" = on no switch), until launched
    // This launch's, kept while the container exists (its record).
    std::string root_;
    uint64_t disk_mib_ = 0;
    std::vector<std::string> nics_;  // host ends of the veths, in NIC order
    std::unique_ptr<Cgroup> cgroup_;
    Child child_;  // last: destroyed (killed) first
};

// Field 22 of /proc/<pid>/stat: when the process started, in clock ticks
// since boot (0 when it cannot be read). With the pid it names one process
// for good (records: ContainerRecord::init_start).
uint64_t processStartTime(int pid);

// The switch ports of every NIC a batch launched, at once (the kernel
// backend attached them when it made the veths; OVS adds them in one
// transaction). All or none: on failure every container of the batch that
// has ports is killed (its veths go with its network namespace) and gets
// the error. `batch` holds null for the containers whose launch failed.
void attachPorts(SwitchBackend& net, const std::vector<Container*>& batch,
                 std::vector<Result<void>>& results);

// Where a NIC's switch port is: on `bridge`'s switch for `vlan`, or on none.
struct PortPlace {
    std::string bridge;
    int vlan = 0;
    bool connected = false;
};

// Makes sure the switch of `place` exists and says how to attach to it; a
// place on no switch has an empty plan (no switch_name). Command thread.
Result<PortPlan> planPort(SwitchBackend& net, const PortPlace& place);

// Moves host interface `port` from `from` to the switch of `to` (`vm net
// connect/disconnect`). On failure the port is put back where it was; the
// error keeps its errno (ENODEV: the interface is gone with its container).
Result<void> movePort(SwitchBackend& net, const std::string& port, const PortPlace& from,
                      const PortPlan& to);

}  // namespace herd::runtime
