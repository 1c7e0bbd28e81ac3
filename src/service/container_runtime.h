// The container runtime: what `vm launch/start/stop/kill/flush` do to real
// containers, built from the runtime modules (launch, cgroups, console,
// isolation). Runs on the command thread, except the kernel-heavy part of a
// launch, which it spreads over worker threads.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "base/fs.h"
#include "runtime/bridge.h"
#include "runtime/cgroup.h"
#include "runtime/console.h"
#include "runtime/disk.h"
#include "runtime/isolation.h"
#include "runtime/launch.h"
#include "runtime/snoop.h"
#include "runtime/switch_select.h"
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
};

// A DHCP server's host interface and the switch it sits on.
struct DhcpServerPort {
    std::string ifname;
    std::string bridge;  // as the user names it
    int vlan = 0;
};

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

    // `vm top` figures of a live container.
    Result<runtime::CgroupStats> stats(const Vm& vm);
    std::vector<int> procs(const Vm& vm);
    std::shared_ptr<runtime::Console> console(const Vm& vm);
    const char* cgroupVersion() const { return cgroups_->version(); }
    // The switch every NIC and host tap is attached to (command thread only).
    runtime::SwitchBackend& switchBackend() { return *switch_; }
    // The DHCP servers herd runs (`dnsmasq start` on a host tap): a lease
    // shows in `vm info` only when one of them acknowledged the NIC's own
    // request and sits on the NIC's switch (command thread only).
    void setDhcpServers(std::vector<DhcpServerPort> servers);

    // `vm net connect/disconnect` of NIC `index` (checked by the caller): to
    // `vlan` on `bridge`, or off every switch when `vlan` is kDisconnectedVlan.
    // A container with veths (BUILDING, RUNNING, PAUSED) has its host end moved
    // first; any other only has its config changed, which its next launch uses.
    // On failure nothing changes: the port is put back where it was and the
    // config is left alone.
    Result<void> moveNic(Vm& vm, size_t index, const std::string& bridge, int vlan,
                         const std::string& alias);

    // The cc backchannel (service/cc.h). `open` makes the VM's listening
    // socket (kept across relaunches) and returns its host path, bound to
    // /cc in the container; `drop` disconnects the VM's agent when the
    // container goes down; `close` removes the socket at flush.
    struct Backchannel {
        std::function<Result<std::string>(Vm&)> open;
        std::function<void(Vm&)> drop;
        std::function<void(Vm&)> close;
    };
    void setBackchannel(Backchannel b) { backchannel_ = std::move(b); }

    // Kills every container and removes everything under this daemon's
    // prefix; also works on what a SIGKILLed daemon left.
    Result<void> nuke();

  private:
    struct Instance;
    ContainerRuntime(ContainerRuntimeOptions opts, boost::asio::io_context& io, Post post);

    struct Prepared;
    Result<void> prepare(Vm& vm, Prepared& p);
    Result<void> prepareNics(Vm& vm, Prepared& p);
    void finishLaunch(Vm& vm, Prepared& p, Result<void>& r);
    void attachPorts(std::vector<Prepared>& preps, std::vector<Result<void>>& results);
    void onExit(int id, uint64_t generation);
    void setState(Vm& vm, VmState s);
    void fail(Vm& vm, const Error& e);
    void watch(int id, Instance& in);
    void reaperLoop();

    // Removes the cgroups of stopped containers in the background: reclaiming
    // what is still charged to a memcg before rmdir takes a few ms, which
    // `vm kill` need not wait for. Drained before nuke and shutdown.
    class Janitor {
      public:
        Janitor();
        ~Janitor();  // drains, then stops
        void add(std::unique_ptr<runtime::Cgroup> cg);
        void drain();

      private:
        void loop();
        std::mutex mu_;
        std::condition_variable cv_, idle_;
        std::deque<std::unique_ptr<runtime::Cgroup>> queue_;
        bool busy_ = false;
        bool stop_ = false;
        std::thread thread_;
    };

    void release(Instance& in, bool defer);
    // The VM's disk-limit tmpfs, mounted on its first launch and kept until
    // flush; returns its path.
    Result<const runtime::Disk*> diskFor(const Vm& vm);
    // Records what the address snooper learnt (command thread).
    void applyAddresses();
    // Drops the switch ports of these VMs' NICs, whose veths died with them
    // (and their qos, which went with the veths).
    void releasePorts(const std::vector<Vm*>& vms);

    ContainerRuntimeOptions opts_;
    boost::asio::io_context& io_;
    Post post_;
    std::shared_ptr<unique_fd> prefix_claim_;  // runtime::claimPrefix, held first, released last
    std::unique_ptr<runtime::CgroupDriver> cgroups_;
    std::unique_ptr<runtime::SwitchBackend> switch_;
    runtime::Isolation iso_;
    std::map<int, std::unique_ptr<Instance>> inst_;  // by VM id
    std::map<int, Vm*> vms_;                         // the VMs we run, by id
    std::map<int, runtime::Disk> disks_;             // by VM id, until flush
    uint64_t generation_ = 0;
    std::shared_ptr<std::atomic<bool>> trim_pending_ = std::make_shared<std::atomic<bool>>(false);
    unique_fd epoll_;
    unique_fd wake_;
    std::thread reaper_;
    Janitor janitor_;  // last: destroyed (drained) first
    Backchannel backchannel_;
    std::unique_ptr<runtime::Snooper> snoop_;  // null when AF_PACKET is unavailable
    std::vector<DhcpServerPort> dhcp_servers_;
};

}  // namespace herd
