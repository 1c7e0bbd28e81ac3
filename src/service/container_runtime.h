// The container runtime: what `vm launch/start/stop/kill/flush` do to real
// containers. The decisions are made here (which VM, what its config asks
// for, its state, the errors the user sees); the containers themselves are
// runtime::Container (runtime/container.h), which this builds from plain
// specs. Runs on the command thread, except the kernel-heavy part of a
// launch, which it spreads over worker threads.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "base/fs.h"
#include "runtime/bridge.h"
#include "runtime/cgroup.h"
#include "runtime/container.h"
#include "runtime/delay_line.h"
#include "runtime/isolation.h"
#include "runtime/keeper.h"
#include "runtime/qdisc.h"
#include "runtime/reaper.h"
#include "runtime/snoop.h"
#include "runtime/switch_select.h"
#include "service/record_journal.h"
#include "service/vm.h"

namespace herd {

struct ContainerRuntimeOptions {
    std::string base;                     // instance dirs live in <base>/<id>
    std::shared_ptr<const Dir> base_dir;  // <base>, opened: their files are made beneath it
    std::string prefix;                   // cgroup subtree name
    // The prefix's claim (runtime::claimPrefix), when the daemon made it at
    // start; otherwise create() claims the prefix itself.
    std::shared_ptr<unique_fd> prefix_claim;
    std::string cgroup_root = "/sys/fs/cgroup";
    std::string default_image;    // used when `vm config filesystem` is unset
    std::string console_address;  // TCP consoles; "" = none
    std::string console_token;    // what a TCP console viewer sends first
    uint64_t pids_max = 4096;     // per container, against fork bombs
    int workers = 2;              // threads doing launches in parallel
    runtime::SwitchOptions net;   // switch backend (prefix filled in)
    // herd's own binary, run as the keeper (runtime/keeper.h); "" = this
    // process clones and reaps the containers itself (tests).
    std::string keeper_exe;
    std::string hostname;  // this host's name (records: `vm config schedule`)
};

// What a VM's config asks of its container, with `filesystem` as its root
// filesystem; the cc socket is left to the caller. Pure: no I/O.
Result<runtime::ContainerSpec> containerSpecOf(const Vm& vm, const std::string& filesystem);

class ContainerRuntime : public Runtime {
  public:
    // Runs `fn` on the command thread (exit notifications come from a
    // reaper thread).
    using Post = std::function<void(std::function<void()>)>;

    static Result<std::shared_ptr<ContainerRuntime>> create(ContainerRuntimeOptions opts,
                                                            boost::asio::io_context& io, Post post);
    ~ContainerRuntime() override;

    Result<void> launch(Vm& vm) override;
    Result<void> start(Vm& vm) override;
    Result<void> stop(Vm& vm) override;
    Result<void> kill(Vm& vm) override;
    Result<void> flush(Vm& vm) override;
    Result<void> checkConfig(const VmConfig& config) const override;
    Result<void> checkCapacity(size_t containers, size_t with_cc) const override;
    // `qos`: the root qdisc of each NIC's host end (container_qos.cc).
    std::vector<Result<void>> applyQos(const std::vector<QosRequest>& reqs) override;
    // The filesystem a VM runs on (the built-in image unless configured); an
    // error when that is the built-in image and it is missing.
    Result<std::string> filesystemOf(const VmConfig& config) const;

    // Batches: the same, for many VMs at once (vm launch 500 uses both cores).
    std::vector<Result<void>> launchMany(const std::vector<Vm*>& vms) override;
    std::vector<Result<void>> startMany(const std::vector<Vm*>& vms) override;
    std::vector<Result<void>> killMany(const std::vector<Vm*>& vms) override;
    std::vector<Result<void>> flushMany(const std::vector<Vm*>& vms) override;

    bool runsContainers() const override { return true; }
    Result<runtime::CgroupStats> stats(const Vm& vm) override;
    std::vector<int> procs(const Vm& vm) override;
    std::shared_ptr<runtime::Console> console(const Vm& vm) override;
    Result<runtime::GuestMount> mountRoot(const Vm& vm, const std::string& target) override;
    std::vector<std::string> nicHostNames(const Vm& vm) const override;
    // Command thread only.
    runtime::SwitchBackend* switchBackend() override { return switch_.get(); }
    // A container with veths (BUILDING, RUNNING, PAUSED) has its host end
    // moved first; any other only has its config changed, which its next
    // launch uses. On failure the port is put back where it was and the
    // config is left alone.
    Result<void> moveNic(Vm& vm, size_t index, const std::string& bridge, int vlan,
                         const std::string& alias) override;
    void setDhcpServers(std::vector<DhcpServerPort> servers) override;
    void setBackchannel(Backchannel b) override { backchannel_ = std::move(b); }
    Result<void> nuke() override;
    // Durability (docs/durability.md, container_adopt.cc).
    void saveRecords(const std::vector<Vm*>& vms) override;
    std::vector<std::unique_ptr<Vm>> adoptLeftovers() override;
    void keepAll() override;
    // The orderly stop: kills every container, ends the keeper, removes the
    // records, cgroups and bridges. Without it (or keepAll) the destructor
    // leaves everything running for the next daemon.
    void shutdown() override;

    const char* cgroupVersion() const { return cgroups_->version(); }

  private:
    ContainerRuntime(ContainerRuntimeOptions opts, boost::asio::io_context& io, Post post);
    Result<void> setUp();
    void fillHost();  // host_, from the members it points at
    // Connects to the base's keeper, starting it when none runs; a running
    // one's children and descriptors become leftovers_.
    Result<void> openKeeper();
    // Maps the scrollback rings leftovers_->held names (and takes them out).
    void adoptScrollbacks();
    // Consoles to a chunk of scrollback rings (64 KiB each, touched only as
    // written): 16 MiB of address space, 8 KiB of slot table.
    static constexpr size_t kScrollbackSlots = 256;
    // Reads the records a previous daemon left (container_adopt.cc).
    void readRecords();
    // What the start-up sweeps must spare: the disks and links of the
    // recorded containers that still run.
    std::set<std::string> keptDisks() const;
    std::set<std::string> keptLinks() const;
    // The record of one VM (vm_record.h), appended to the journal but not
    // synced; syncRecords() makes a batch durable with one fdatasync.
    std::string recordOf(const Vm& vm) const;
    void saveRecord(const Vm& vm);
    // Rewrites the journal with exactly the records of vms_.
    void compactRecords();
    void dropRecord(int id);
    void syncRecords();
    // Takes over one recorded VM; false when it is to be dropped.
    bool adoptOne(Vm& vm, runtime::ContainerRecord& cr, std::set<std::string>& taken,
                  std::set<int>& pids, std::set<std::string>& cgroups);
    // Puts the NICs of adopted running VMs back on their switches, and
    // their qos back on them.
    void reattach(const std::vector<Vm*>& vms);

    // The container of a VM: made on its first launch, gone at flush.
    runtime::Container* find(int id) const;
    runtime::Container& containerOf(const Vm& vm);
    // What the VM's config asks of its container (opens the cc socket).
    Result<runtime::ContainerSpec> specOf(Vm& vm);
    Result<void> prepare(Vm& vm, runtime::Container& c);
    void finishLaunch(Vm& vm, runtime::Container& c, Result<void>& r);
    void relaunchStopped(const std::vector<Vm*>& vms, std::vector<Result<void>>& results);
    void waitExecs(const std::vector<Vm*>& vms, const std::vector<size_t>& released,
                   std::vector<Result<void>>& results);
    // Has onExit(id, generation) called on the command thread when c's init
    // exits.
    void watchExit(int id, runtime::Container& c);
    void onExit(int id, uint64_t generation);
    void setState(Vm& vm, VmState s);
    void fail(Vm& vm, const Error& e);
    // Records what the address snooper learnt (command thread).
    void applyAddresses();
    // Drops the switch ports of these VMs' NICs, whose veths died with them
    // (and their qos, which went with the veths).
    void releasePorts(const std::vector<Vm*>& vms);
    // Gives the memory of a whole experiment back to the system, later.
    void trimSoon();
    // qos on one NIC's host end: a root qdisc, or a delay line where the
    // kernel has no netem (container_qos.cc).
    Result<void> shape(runtime::Netlink& nl, int vmid, size_t nic, const std::string& tap,
                       const runtime::QdiscSpec& spec);
    void closeDelayLine(int vmid, size_t nic, runtime::Netlink* nl);
    void closeDelayLines(int vmid);  // all of a VM's, whose veths are gone

    ContainerRuntimeOptions opts_;
    boost::asio::io_context& io_;
    Post post_;
    std::shared_ptr<unique_fd> prefix_claim_;  // runtime::claimPrefix, held first, released last
    std::unique_ptr<runtime::CgroupDriver> cgroups_;
    std::unique_ptr<runtime::SwitchBackend> switch_;
    runtime::Isolation iso_;
    runtime::CgroupJanitor janitor_;
    std::shared_ptr<runtime::Keeper> keeper_;             // null when keeper_exe is ""
    std::shared_ptr<runtime::ContainerParent> parent_;    // keeper_, or this process
    std::shared_ptr<runtime::ConsoleListener> consoles_;  // <base>/console
    // The consoles' scrollback rings, held by the keeper (null without one).
    std::unique_ptr<runtime::ScrollbackArena> scrollbacks_;
    runtime::ContainerHost host_;                                    // points at the members above
    std::map<int, std::unique_ptr<runtime::Container>> containers_;  // by VM id
    std::map<int, Vm*> vms_;                                         // the VMs we run, by id
    // Exits are reported (onExit) while this is true: false once nothing is
    // reaped here any more (shutdown, quit keep).
    std::shared_ptr<std::atomic<bool>> exits_open_ = std::make_shared<std::atomic<bool>>(true);
    std::shared_ptr<std::atomic<bool>> trim_pending_ = std::make_shared<std::atomic<bool>>(false);
    Backchannel backchannel_;
    std::unique_ptr<runtime::Snooper> snoop_;  // null when AF_PACKET is unavailable
    std::vector<DhcpServerPort> dhcp_servers_;
    // qos delay lines, by VM id and NIC (kernels without netem).
    std::map<std::pair<int, size_t>, std::shared_ptr<runtime::DelayLine>> delay_lines_;
    int next_delay_tap_ = 0;  // delay taps are numbered

    // <base>/records/journal (record_journal.h); null when it cannot be made.
    std::unique_ptr<RecordJournal> journal_;
    // What a previous daemon on this base left, from start until
    // adoptLeftovers() takes it.
    struct Leftovers {
        std::vector<std::pair<std::unique_ptr<Vm>, runtime::ContainerRecord>> records;
        std::map<int, uint64_t> children;  // the keeper's living ones: pid -> serial
        std::set<int> waiting;             // ... of which BUILDING (waiting for start)
        std::map<int, int> exits;          // how recorded inits that are gone ended
        std::map<std::string, std::vector<unique_fd>> held;
    };
    std::unique_ptr<Leftovers> leftovers_;
    // `quit keep` was done: the destructor kills and removes nothing.
    bool keeping_ = false;
    bool shut_down_ = false;  // shutdown() was done
};

}  // namespace herd
