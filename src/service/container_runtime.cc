#include "service/container_runtime.h"

#include <fcntl.h>
#include <malloc.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <filesystem>
#include <variant>

#include "base/log.h"
#include "base/subprocess.h"
#include "runtime/rootfs.h"

namespace herd {

namespace fs = std::filesystem;

struct ContainerRuntime::Instance {
    runtime::Child child;
    std::unique_ptr<runtime::Cgroup> cgroup;
    std::shared_ptr<runtime::Console> console;
    uint64_t generation = 0;  // which launch of the VM the reaper reports on
};

// What a launch needs, computed on the command thread before the parallel part.
struct ContainerRuntime::Prepared {
    Vm* vm = nullptr;
    runtime::LaunchSpec spec;
    runtime::CgroupLimits limits;
    std::unique_ptr<Instance> in;  // moved in from inst_ on relaunch
    // One veth per NIC, made in the child's network namespace by a worker.
    std::vector<runtime::VethSpec> nics;
    std::vector<runtime::PortPlan> ports;
};

namespace {

Result<void> mkdirAll(const std::string& path) {
    std::error_code ec;
    fs::create_directories(path, ec);
    if (ec) return Error::sys(ec.value(), "mkdir", path);
    return Ok();
}

// The host's root directory, under whatever name (symlink, bind mount).
bool isHostRoot(const std::string& p) {
    struct stat st {};
    struct stat root {};
    return ::stat(p.c_str(), &st) == 0 && ::stat("/", &root) == 0 && st.st_dev == root.st_dev &&
           st.st_ino == root.st_ino;
}

bool isDir(const std::string& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// An instance dir's name under the base.
std::string instanceDir(const Vm& vm) {
    return std::to_string(vm.id);
}

// Creates a NIC's veth. EEXIST on relaunch means the previous launch's veth
// still exists: its network namespace is freed asynchronously after the kill.
// Such a name is ours (vethHostName), so it is removed and the create retried.
Result<void> createNic(runtime::Netlink& nl, const runtime::VethSpec& spec) {
    auto r = nl.createVeth(spec);
    for (int attempt = 0; !r.ok() && r.error().errnum() == EEXIST && attempt < 3; ++attempt) {
        auto d = nl.deleteLink(spec.host_name);
        if (!d.ok() && d.error().errnum() != ENODEV) return r;
        r = nl.createVeth(spec);
    }
    return r;
}

// Runs fn(i, state) for every i < n on up to `workers` threads, the caller's
// included; each thread has its own default-constructed State.
template <typename State, typename Fn>
void parallelForWith(size_t n, int workers, Fn fn) {
    const size_t w = std::max<size_t>(1, std::min<size_t>(static_cast<size_t>(workers), n));
    std::atomic<size_t> next{0};
    auto loop = [&] {
        State state;
        for (size_t i; (i = next.fetch_add(1)) < n;) fn(i, state);
    };
    std::vector<std::thread> pool;
    for (size_t t = 1; t < w; ++t) pool.emplace_back(loop);
    loop();
    for (auto& t : pool) t.join();
}

template <typename Fn>
void parallelFor(size_t n, int workers, Fn fn) {
    parallelForWith<std::monostate>(n, workers, [&](size_t i, std::monostate&) { fn(i); });
}

}  // namespace

ContainerRuntime::ContainerRuntime(ContainerRuntimeOptions opts, boost::asio::io_context& io,
                                   Post post)
    : opts_(std::move(opts)), io_(io), post_(std::move(post)) {}

Result<std::shared_ptr<ContainerRuntime>> ContainerRuntime::create(ContainerRuntimeOptions opts,
                                                                   boost::asio::io_context& io,
                                                                   Post post) {
    if (!opts.base_dir) return Error::msg("container runtime: no base directory");
    std::shared_ptr<ContainerRuntime> rt(
        new ContainerRuntime(std::move(opts), io, std::move(post)));
    // Before anything carrying the prefix is touched: a second live daemon
    // with it would kill the first one's containers and remove its links.
    rt->prefix_claim_ = rt->opts_.prefix_claim;
    if (!rt->prefix_claim_) {
        auto claim = runtime::claimPrefix(rt->opts_.prefix);
        if (!claim.ok()) return claim.error();
        rt->prefix_claim_ = std::make_shared<unique_fd>(std::move(*claim));
    }
    // Disk mounts a SIGKILLed daemon left under this base (no live one can
    // share it): their VM ids are about to be reused.
    if (auto n = runtime::unmountStaleDisks(rt->opts_.base); !n.ok()) {
        HERD_LOG(warn, "disk mounts left under {}: {}", rt->opts_.base, n.error().text());
    }
    auto cg = runtime::detectCgroups(rt->opts_.cgroup_root, rt->opts_.prefix);
    if (!cg.ok()) return cg.error();
    rt->cgroups_ = std::move(*cg);
    rt->opts_.net.prefix = rt->opts_.prefix;
    std::string why;
    auto sw = runtime::makeSwitchBackend(rt->opts_.net, &why);
    if (!sw.ok()) return sw.error().wrap("network");
    rt->switch_ = std::move(*sw);
    HERD_LOG(info, "network: {}", why);
    auto iso = runtime::makeIsolation();
    if (!iso.ok()) return iso.error();
    rt->iso_ = std::move(*iso);
    rt->epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
    if (!rt->epoll_) return Error::sysNow("epoll_create1", "reaper");
    rt->wake_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!rt->wake_) return Error::sysNow("eventfd", "reaper");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = ~uint64_t{0};
    if (epoll_ctl(rt->epoll_.get(), EPOLL_CTL_ADD, rt->wake_.get(), &ev) != 0) {
        return Error::sysNow("epoll_ctl", "reaper");
    }
    rt->reaper_ = std::thread([r = rt.get()] { r->reaperLoop(); });
    // The guests' addresses for `vm info` (ip, ip6). Without it (no
    // CAP_NET_RAW) containers still run; the columns stay empty.
    std::weak_ptr<ContainerRuntime> weak = rt;
    auto snoop = runtime::Snooper::start(rt->opts_.prefix, [weak, post = rt->post_] {
        post([weak] {
            if (auto r = weak.lock()) r->applyAddresses();
        });
    });
    if (snoop.ok()) {
        rt->snoop_ = std::move(*snoop);
    } else {
        HERD_LOG(warn, "address snooping off: {}", snoop.error().text());
    }
    return rt;
}

ContainerRuntime::~ContainerRuntime() {
    // Whatever still runs is killed: a daemon leaves no container behind.
    for (auto& [id, in] : inst_) {
        if (in->cgroup) (void)in->cgroup->kill();
        in->child.killAndReap();
        if (in->cgroup) (void)in->cgroup->remove();
        if (in->console) in->console->close();
    }
    inst_.clear();
    janitor_.drain();
    uint64_t one = 1;
    if (wake_) (void)!::write(wake_.get(), &one, sizeof one);
    if (reaper_.joinable()) reaper_.join();
    if (cgroups_) (void)cgroups_->nuke();  // null when create() failed early
    // The veths die with their namespaces; the bridges herd made go now.
    if (switch_) {
        if (auto r = switch_->shutdown(); !r.ok()) HERD_LOG(warn, "network: {}", r.error().text());
    }
}

// The reaper thread only notices exits; reaping and state changes happen on
// the command thread, so the service layer stays single-threaded.
void ContainerRuntime::reaperLoop() {
    epoll_event evs[64];
    for (;;) {
        int n = epoll_wait(epoll_.get(), evs, 64, -1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return;
        for (int i = 0; i < n; ++i) {
            uint64_t key = evs[i].data.u64;
            if (key == ~uint64_t{0}) return;
            int id = static_cast<int>(key >> 32);
            uint64_t gen = key & 0xffffffffu;
            post_([this, id, gen] { onExit(id, gen); });
        }
    }
}

void ContainerRuntime::watch(int id, Instance& in) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.u64 = (static_cast<uint64_t>(id) << 32) | (in.generation & 0xffffffffu);
    epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, in.child.pidfd(), &ev);
}

void ContainerRuntime::setState(Vm& vm, VmState s) {
    vm.state = s;
    (void)opts_.base_dir->writeFile(instanceDir(vm) + "/state", stateString(s), 0644);
}

void ContainerRuntime::fail(Vm& vm, const Error& e) {
    vm.tags()["error"] = e.text();
    setState(vm, VmState::Error);
}

ContainerRuntime::Janitor::Janitor() : thread_([this] { loop(); }) {}

ContainerRuntime::Janitor::~Janitor() {
    drain();
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
}

void ContainerRuntime::Janitor::add(std::unique_ptr<runtime::Cgroup> cg) {
    {
        std::lock_guard lock(mu_);
        queue_.push_back(std::move(cg));
    }
    cv_.notify_one();
}

void ContainerRuntime::Janitor::drain() {
    std::unique_lock lock(mu_);
    idle_.wait(lock, [this] { return queue_.empty() && !busy_; });
}

void ContainerRuntime::Janitor::loop() {
    std::unique_lock lock(mu_);
    for (;;) {
        cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping
        auto cg = std::move(queue_.front());
        queue_.pop_front();
        busy_ = true;
        lock.unlock();
        (void)cg->remove();
        cg.reset();
        lock.lock();
        busy_ = false;
        if (queue_.empty()) idle_.notify_all();
    }
}

// Gives back what a stopped container held (its cgroup); the console, the
// instance dir and the overlay stay for a relaunch until `vm flush`.
// `defer`: the (empty) group is removed by the janitor thread.
void ContainerRuntime::release(Instance& in, bool defer) {
    if (!in.cgroup) return;
    // Normally empty by now: the kernel kills every process of a PID
    // namespace, and waits for them, before its init is reaped. Whatever is
    // left is killed through the cgroup.
    if (!in.cgroup->procs().empty()) (void)in.cgroup->kill();
    if (defer) {
        janitor_.add(std::move(in.cgroup));
        return;
    }
    (void)in.cgroup->remove();
    in.cgroup.reset();
}

void ContainerRuntime::onExit(int id, uint64_t gen) {
    auto it = inst_.find(id);
    auto vit = vms_.find(id);
    if (it == inst_.end() || vit == vms_.end()) return;
    Instance& in = *it->second;
    if ((in.generation & 0xffffffffu) != gen) return;  // an earlier launch
    auto status = in.child.tryReap();
    if (!status) return;  // already reaped by kill
    Vm& vm = *vit->second;
    release(in, /*defer=*/true);
    releasePorts({&vm});
    if (backchannel_.drop) backchannel_.drop(vm);
    if (!inStates(vm.state, kKillable)) return;
    if (WIFEXITED(*status) && WEXITSTATUS(*status) == 0 && in.child.released()) {
        setState(vm, VmState::Quit);
    } else {
        fail(vm, Error::msg("killed container: " + waitStatusText(*status)));
    }
}

Result<std::string> ContainerRuntime::filesystemOf(const VmConfig& c) const {
    if (!c.filesystem.empty()) return c.filesystem;
    if (!isDir(opts_.default_image)) {
        return Error::msg("the built-in guest image is missing at " + opts_.default_image +
                          " (rebuild herd, or set vm config filesystem)");
    }
    return opts_.default_image;
}

Result<void> ContainerRuntime::checkConfig(const VmConfig& c) const {
    auto fs = filesystemOf(c);
    if (!fs.ok()) return fs.error();
    HERD_TRY(runtime::checkRootfs(*fs, c.init.empty() ? std::string() : c.init[0]));
    if (!c.preinit.empty()) {
        if (auto r = runtime::checkHostProgram(c.preinit); !r.ok())
            return r.error().wrap("preinit");
    }
    return Ok();
}

Result<void> ContainerRuntime::prepare(Vm& vm, Prepared& p) {
    const VmConfig& c = vm.config;
    const std::string inst = vm.instance_path;
    p.vm = &vm;
    // Beneath the base's descriptor, through no symbolic link: the overlay's
    // upper layer in here is the guest's to fill.
    const Dir& base = *opts_.base_dir;
    const std::string dir = instanceDir(vm);
    HERD_TRY(base.mkdir(dir, 0700));
    {
        // Root's alone even if it existed (it holds the console socket).
        auto d = base.openDir(dir);
        if (!d.ok()) return d.error();
        if (::fchmod(d->fd(), 0700) != 0) return Error::sysNow("chmod", inst);
    }
    HERD_TRY(base.writeFile(dir + "/name", vm.name, 0644));
    if (!base.exists(dir + "/uuid"))
        HERD_TRY(base.writeFile(dir + "/uuid", vm.uuid() + "\n", 0400));
    auto& s = p.spec;
    s.hostname = c.hostname.empty() ? vm.name : c.hostname;
    auto fs = filesystemOf(c);
    if (!fs.ok()) return fs.error();
    const std::string& filesystem = *fs;
    if (!isDir(filesystem)) return Error::sys(ENOENT, "filesystem", filesystem);
    if (c.snapshot) {
        s.root = inst + "/fs";
        s.lowerdir = filesystem;
        HERD_TRY(base.mkdir(dir + "/fs", 0755));
        // Upper and work directories on the VM's size-limited tmpfs
        // (runtime/disk.h), unless its disk limit is unlimited.
        if (c.disk_limit == kUnlimited) {
            s.upperdir = inst + "/upper";
            s.workdir = inst + "/work";
            HERD_TRY(base.mkdir(dir + "/upper", 0755));
            HERD_TRY(base.mkdir(dir + "/work", 0755));
        } else {
            auto disk = diskFor(vm);
            if (!disk.ok()) return disk.error();
            const runtime::Disk& d = **disk;
            s.layers_fd = d.layersFd();
            const std::string under = s.layers_fd >= 0 ? "" : d.path() + "/";
            s.upperdir = under + "upper";
            s.workdir = under + "work";
        }
    } else {
        s.root = filesystem;
    }
    for (uint64_t i = 0; i < c.fifos; ++i) {
        std::string f = "/fifo" + std::to_string(i);
        // Kept across relaunches (minimega fails relaunching with fifos).
        HERD_TRY(base.mkfifo(dir + f, 0660));
        s.binds.push_back({inst + f, "/dev/fifos" + f, true});
    }
    for (const auto& [dst, typed] : c.volumes) {
        auto v = parseVolumeSource(typed);  // checked by vm config too
        if (!v.ok()) return v.error();
        HERD_TRY(mkdirAll(v->path));
        // The setter refuses `/` as typed; a symlink can still lead there.
        if (isHostRoot(v->path)) {
            return Error::msg("volume " + dst + ": " + v->path +
                              " is the host's root directory, which cannot be a volume");
        }
        runtime::BindSpec b{v->path, dst.empty() || dst[0] != '/' ? "/" + dst : dst, false};
        b.readonly = v->readonly;
        b.allow_suid = v->suid;
        b.allow_dev = v->dev;
        s.binds.push_back(std::move(b));
    }
    if (c.backchannel && backchannel_.open) {
        // As minimega, a backchannel that cannot be set up is only a warning.
        auto sock = backchannel_.open(vm);
        if (sock.ok()) {
            s.binds.push_back({*sock, "/cc", true});
        } else {
            HERD_LOG(warn, "cc backchannel for {}: {}", vm.name, sock.error().text());
        }
    }
    s.uuid_file = inst + "/uuid";
    s.preinit = c.preinit;
    s.init = c.init;
    s.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm",
             "HOME=/root", "container=herd"};
    s.cgroup_ns = std::string(cgroups_->version()) == "v2";
    s.net_admin = !c.networks.empty();  // guests configure their own NICs
    // Host storage a guest writes to: the filesystem itself without a
    // snapshot, or a read-write volume, unless the user allowed set-ID files
    // and devices on it (`:suid,dev`). Volumes are the directory binds.
    s.host_storage = !c.snapshot;
    for (const auto& b : s.binds) {
        if (!b.file && !b.readonly && !(b.allow_suid && b.allow_dev)) s.host_storage = true;
    }
    p.limits.memory_bytes = c.memory << 20;
    p.limits.vcpus = c.vcpus;
    p.limits.pids_max = opts_.pids_max;
    return prepareNics(vm, p);
}

Result<const runtime::Disk*> ContainerRuntime::diskFor(const Vm& vm) {
    auto it = disks_.find(vm.id);
    if (it != disks_.end()) return &it->second;
    auto d = runtime::Disk::create(vm.instance_path + "/disk", vm.config.disk_limit);
    if (!d.ok()) return d.error().wrap("disk-limit");
    return &disks_.emplace(vm.id, std::move(*d)).first->second;
}

// Names every NIC's host end (shown as `tap` by vm info) and makes sure its
// switch exists; the veths themselves are made by the workers.
Result<void> ContainerRuntime::prepareNics(Vm& vm, Prepared& p) {
    auto& nets = vm.config.networks;
    p.nics.clear();
    p.ports.clear();
    for (size_t i = 0; i < nets.size(); ++i) {
        NetConfig& n = nets[i];
        auto host = runtime::vethHostName(opts_.prefix, vm.id, static_cast<int>(i));
        if (!host.ok()) return host.error();
        runtime::PortPlan plan;
        if (n.vlan != kDisconnectedVlan) {
            auto pl = switch_->prepare(n.bridge, n.vlan);
            if (!pl.ok()) return pl.error();
            plan = *pl;
        }
        n.tap = *host;
        n.ip4.clear();  // learnt again from the new launch's traffic
        n.ip6.clear();
        n.qos = {};  // a new veth, unshaped
        runtime::VethSpec spec;
        spec.host_name = *host;
        spec.peer_name = "veth" + std::to_string(i);
        spec.peer_mac = n.mac;
        spec.master = plan.master;
        p.nics.push_back(std::move(spec));
        p.ports.push_back(std::move(plan));
    }
    return Ok();
}

std::vector<Result<void>> ContainerRuntime::launchMany(const std::vector<Vm*>& vms) {
    std::vector<Result<void>> results(vms.size());
    std::vector<Prepared> preps(vms.size());
    if (auto r = cgroups_->setup(); !r.ok()) {
        for (size_t i = 0; i < vms.size(); ++i) {
            results[i] = r.error().wrap("cgroups");
            fail(*vms[i], results[i].error());
        }
        return results;
    }
    for (size_t i = 0; i < vms.size(); ++i) {
        Vm& vm = *vms[i];
        vms_[vm.id] = &vm;
        auto& p = preps[i];
        results[i] = prepare(vm, p);
        auto it = inst_.find(vm.id);
        if (it != inst_.end()) {
            p.in = std::move(it->second);
            inst_.erase(it);
        } else {
            p.in = std::make_unique<Instance>();
        }
        p.in->generation = ++generation_;
        if (!p.in->console && results[i].ok()) {
            runtime::ConsoleOptions co;
            co.unix_path = vm.instance_path + "/console";
            co.tcp_address = opts_.console_address;
            co.tcp_token = opts_.console_token;
            auto con = runtime::Console::create(io_, co);
            if (con.ok()) {
                p.in->console = *con;
            } else {
                results[i] = con.error();
            }
        }
    }

    // The kernel work, on `workers` threads: cgroups, clone, mounts.
    auto work = [&](size_t i, std::optional<runtime::Netlink>& nl) {
        if (!results[i].ok()) return;
        Prepared& p = preps[i];
        p.spec.console = p.in->console->slavePath();
        // A name per launch: the janitor may still be removing the group of
        // this VM's previous run.
        auto cg = cgroups_->create(
            std::to_string(p.vm->id) + "." + std::to_string(p.in->generation), p.limits);
        if (!cg.ok()) {
            results[i] = cg.error();
            return;
        }
        p.in->cgroup = std::move(*cg);
        auto* cgp = p.in->cgroup.get();
        auto child = runtime::launch(p.spec, iso_, [cgp](int pid) { return cgp->attach(pid); });
        if (!child.ok()) {
            results[i] = child.error();
            return;
        }
        // The NICs, now that the child's network namespace exists. On failure
        // the child is dropped here, which kills and reaps it.
        for (size_t k = 0; k < p.nics.size(); ++k) {
            if (!nl) {
                auto o = runtime::Netlink::open();
                if (!o.ok()) {
                    results[i] = o.error();
                    return;
                }
                nl.emplace(std::move(*o));
            }
            p.nics[k].netns_pid = child->pid();
            Result<void> r = createNic(*nl, p.nics[k]);
            if (!r.ok()) {
                results[i] = r.error().wrap("nic " + std::to_string(k));
                return;
            }
        }
        p.in->child = std::move(*child);
    };
    // One netlink socket per worker, opened on first use.
    parallelForWith<std::optional<runtime::Netlink>>(vms.size(), opts_.workers, work);

    attachPorts(preps, results);
    for (size_t i = 0; i < vms.size(); ++i) finishLaunch(*vms[i], preps[i], results[i]);
    return results;
}

// The switch ports of every NIC made in this batch, at once (the kernel
// backend attached them when creating them; OVS adds them in one
// transaction). All or none: on failure the batch's containers that have
// ports are killed, and their veths go with their network namespaces.
void ContainerRuntime::attachPorts(std::vector<Prepared>& preps,
                                   std::vector<Result<void>>& results) {
    std::vector<runtime::SwitchBackend::PortRequest> reqs;
    std::vector<size_t> owners;
    for (size_t i = 0; i < preps.size(); ++i) {
        if (!results[i].ok()) continue;
        bool any = false;
        for (size_t k = 0; k < preps[i].nics.size(); ++k) {
            if (preps[i].ports[k].switch_name.empty()) continue;  // disconnected NIC
            reqs.push_back({preps[i].nics[k].host_name, preps[i].ports[k]});
            any = true;
        }
        if (any) owners.push_back(i);
    }
    if (reqs.empty()) return;
    auto r = switch_->attachMany(reqs);
    if (r.ok()) return;
    for (size_t i : owners) {
        results[i] = r.error().wrap("network");
        preps[i].in->child.killAndReap();
    }
}

void ContainerRuntime::finishLaunch(Vm& vm, Prepared& p, Result<void>& r) {
    Instance& in = *p.in;
    if (!r.ok()) {
        release(in, /*defer=*/false);
        r = r.error().wrap("launch " + vm.name);
        fail(vm, r.error());
    } else {
        vm.pid = in.child.pid();
        vm.console_port = in.console ? in.console->tcpPort() : 0;
        vm.tags().erase("error");
        setState(vm, VmState::Building);
        if (in.console) in.console->resume();
        watch(vm.id, in);
        (void)opts_.base_dir->writeFile(instanceDir(vm) + "/config", vm.config.configFile(), 0755);
    }
    inst_[vm.id] = std::move(p.in);
}

Result<void> ContainerRuntime::launch(Vm& vm) {
    return launchMany({&vm})[0];
}

std::vector<Result<void>> ContainerRuntime::startMany(const std::vector<Vm*>& vms) {
    std::vector<Result<void>> results(vms.size());
    // Relaunch the ones that stopped, all at once.
    std::vector<Vm*> relaunch;
    std::vector<size_t> relaunch_idx;
    for (size_t i = 0; i < vms.size(); ++i) {
        if (inStates(vms[i]->state, static_cast<unsigned>(VmState::Quit) |
                                        static_cast<unsigned>(VmState::Error))) {
            relaunch.push_back(vms[i]);
            relaunch_idx.push_back(i);
        }
    }
    if (!relaunch.empty()) {
        auto rs = launchMany(relaunch);
        for (size_t k = 0; k < rs.size(); ++k) results[relaunch_idx[k]] = rs[k];
    }
    // Release every BUILDING one first, then wait for each exec: the waits overlap.
    std::vector<size_t> released;
    for (size_t i = 0; i < vms.size(); ++i) {
        Vm& vm = *vms[i];
        if (!results[i].ok()) continue;
        auto it = inst_.find(vm.id);
        if (it == inst_.end()) {
            results[i] = Error::msg("vm " + vm.name + " has no container");
            continue;
        }
        Instance& in = *it->second;
        if (vm.state == VmState::Paused) {
            if (auto r = in.cgroup->thaw(); !r.ok()) {
                fail(vm, r.error().wrap("unstartable"));
                results[i] = r.error().wrap("unstartable");
            } else {
                setState(vm, VmState::Running);
            }
        } else if (vm.state == VmState::Building) {
            results[i] = in.child.release();
            if (results[i].ok()) released.push_back(i);
        }
    }
    // One deadline for the whole batch, longer for more containers: when
    // thousands of inits exec at once on a loaded host, the last ones may
    // need more than one container's 10 s.
    using namespace std::chrono;
    const auto deadline =
        steady_clock::now() + seconds(10) + milliseconds(5) * static_cast<int>(released.size());
    for (size_t i : released) {
        Vm& vm = *vms[i];
        Instance& in = *inst_[vm.id];
        const auto left = duration_cast<milliseconds>(deadline - steady_clock::now());
        auto r = in.child.waitExec(static_cast<int>(std::max<int64_t>(left.count(), 100)));
        if (!r.ok()) {
            // One that has not exec'd by now is killed, so that it cannot go
            // on to run init in a VM that is not RUNNING; the reaper reports
            // the exit and sets ERROR.
            in.child.kill();
            results[i] = r.error().wrap("start " + vm.name);
            continue;
        }
        if (vm.state == VmState::Building) setState(vm, VmState::Running);
    }
    return results;
}

Result<void> ContainerRuntime::start(Vm& vm) {
    return startMany({&vm})[0];
}

Result<void> ContainerRuntime::stop(Vm& vm) {
    auto it = inst_.find(vm.id);
    if (it == inst_.end() || !it->second->cgroup)
        return Error::msg("vm " + vm.name + " is not running");
    if (auto r = it->second->cgroup->freeze(); !r.ok()) {
        fail(vm, r.error().wrap("unstoppable"));
        return r.error().wrap("unstoppable");
    }
    setState(vm, VmState::Paused);
    return Ok();
}

std::vector<Result<void>> ContainerRuntime::killMany(const std::vector<Vm*>& vms) {
    std::vector<Result<void>> results(vms.size());
    std::vector<Instance*> ins(vms.size(), nullptr);
    // Signal all first, then reap: the teardowns overlap in the kernel.
    for (size_t i = 0; i < vms.size(); ++i) {
        auto it = inst_.find(vms[i]->id);
        if (it == inst_.end()) continue;
        Instance& in = *it->second;
        ins[i] = &in;
        // Killing init kills the whole PID namespace; frozen tasks die only
        // once thawed.
        if (in.cgroup && vms[i]->state == VmState::Paused) (void)in.cgroup->thaw();
        if (in.child.pid() > 0)
            ::syscall(SYS_pidfd_send_signal, in.child.pidfd(), SIGKILL, nullptr, 0);
    }
    // Reaping waits for each namespace's teardown and removing cgroups for the
    // kernel: spread over the workers. Each touches only its own Instance.
    parallelFor(vms.size(), opts_.workers, [&](size_t i) {
        if (!ins[i]) return;
        ins[i]->child.killAndReap();
        release(*ins[i], /*defer=*/true);
    });
    releasePorts(vms);
    for (Vm* vm : vms) {
        if (backchannel_.drop) backchannel_.drop(*vm);
        setState(*vm, VmState::Quit);
    }
    return results;
}

Result<void> ContainerRuntime::kill(Vm& vm) {
    return killMany({&vm})[0];
}

void ContainerRuntime::releasePorts(const std::vector<Vm*>& vms) {
    std::vector<std::string> ports;
    for (Vm* vm : vms) {
        for (auto& n : vm->config.networks) {
            if (!n.tap.empty()) ports.push_back(n.tap);
            n.qos = {};  // the qdisc went with the veth
        }
    }
    if (ports.empty()) return;
    if (auto r = switch_->releasePorts(ports); !r.ok()) {
        HERD_LOG(warn, "network: {}", r.error().text());
    }
}

std::vector<Result<void>> ContainerRuntime::flushMany(const std::vector<Vm*>& vms) {
    std::vector<Result<void>> results(vms.size());
    releasePorts(vms);
    for (Vm* vm : vms) {
        auto it = inst_.find(vm->id);
        if (it != inst_.end()) {
            Instance& in = *it->second;
            in.child.killAndReap();
            release(in, /*defer=*/false);
            if (in.console) in.console->close();
            inst_.erase(it);
        }
        vms_.erase(vm->id);
        if (backchannel_.close) backchannel_.close(*vm);
        // The disk tmpfs (the overlay's changes) goes before its directory.
        if (auto d = disks_.find(vm->id); d != disks_.end()) {
            if (auto r = d->second.release(); !r.ok()) HERD_LOG(warn, "{}", r.error().text());
            disks_.erase(d);
        }
    }
    // Instance dirs (overlay upper layers included) go in parallel. The
    // guest filled its upper layer: its links are removed, never followed.
    parallelFor(vms.size(), opts_.workers,
                [&](size_t i) { results[i] = opts_.base_dir->removeTree(instanceDir(*vms[i])); });
    // Give the memory of a whole experiment back to the system: malloc keeps
    // freed memory in its arenas. Later, once the registry entries and the
    // consoles (closed on the io thread) are gone too.
    if (inst_.empty() && !trim_pending_->exchange(true)) {
        auto timer =
            std::make_shared<boost::asio::steady_timer>(io_, std::chrono::milliseconds(300));
        timer->async_wait([timer, pending = trim_pending_](const boost::system::error_code&) {
            *pending = false;
            malloc_trim(0);
        });
    }
    return results;
}

Result<void> ContainerRuntime::flush(Vm& vm) {
    return flushMany({&vm})[0];
}

Result<void> ContainerRuntime::moveNic(Vm& vm, size_t index, const std::string& bridge, int vlan,
                                       const std::string& alias) {
    NetConfig& n = vm.config.networks.at(index);
    applyAddresses();  // what was learnt before the move belongs to the old VLAN
    auto it = inst_.find(vm.id);
    bool live = it != inst_.end() && it->second->child.pid() > 0 && inStates(vm.state, kKillable) &&
                !n.tap.empty();
    if (live) {
        runtime::PortPlan plan;
        if (vlan != kDisconnectedVlan) {
            auto pl = switch_->prepare(bridge, vlan);
            if (!pl.ok()) return pl.error();
            plan = *pl;
        }
        auto nl = runtime::Netlink::open();
        if (!nl.ok()) return nl.error();
        const bool was = n.vlan != kDisconnectedVlan;
        // A kernel bridge port moves in one step (a new master replaces the
        // old); a switch that attaches by other means is left first.
        Result<void> r;
        if (was && plan.master == 0) r = switch_->detach(*nl, n.tap);
        if (r.ok() && vlan != kDisconnectedVlan) {
            if (plan.master != 0) r = nl->setMaster(n.tap, plan.master);
            if (r.ok()) r = switch_->attach(*nl, n.tap, plan);
        }
        if (!r.ok() && r.error().errnum() == ENODEV) {
            // The container died under us: its veth is gone, only the
            // config remains to change (the exit is being reported).
            live = false;
        } else if (!r.ok()) {
            // Back where it was, so that port and config still agree.
            if (was) {
                auto old = switch_->prepare(n.bridge, n.vlan);
                if (old.ok()) {
                    if (old->master != 0) (void)nl->setMaster(n.tap, old->master);
                    (void)switch_->attach(*nl, n.tap, *old);
                }
            } else {
                (void)switch_->detach(*nl, n.tap);
            }
            return r.error().wrap("vm " + vm.name + " nic " + std::to_string(index));
        }
    }
    n.moveTo(bridge, vlan, alias);
    return Ok();
}

void ContainerRuntime::setDhcpServers(std::vector<DhcpServerPort> servers) {
    dhcp_servers_ = std::move(servers);
    if (!snoop_) return;
    std::vector<std::string> names;
    for (const auto& s : dhcp_servers_) names.push_back(s.ifname);
    snoop_->setServers(std::move(names));
}

// The snooper reports what came in on a host end this daemon named, about
// the MAC it carried; the NIC must still be the one that has that host end
// and MAC, on a live container. A lease must come from a server of ours on
// the NIC's own switch (bridge and VLAN): the ACK of a server on another
// VLAN, or of one that is gone, says nothing about this NIC.
void ContainerRuntime::applyAddresses() {
    if (!snoop_) return;
    for (const auto& l : snoop_->drain()) {
        auto id = runtime::parseVethHostName(opts_.prefix, l.ifname);
        auto vit = id ? vms_.find(id->first) : vms_.end();
        if (vit == vms_.end() || !inStates(vit->second->state, kKillable)) continue;
        auto& nets = vit->second->config.networks;
        if (static_cast<size_t>(id->second) >= nets.size()) continue;
        NetConfig& n = nets[static_cast<size_t>(id->second)];
        if (n.tap != l.ifname || n.mac != l.mac || n.vlan == kDisconnectedVlan) continue;
        bool ip4_ok = !l.ip4.empty();
        if (ip4_ok && !l.ip4_server.empty()) {
            ip4_ok = std::any_of(dhcp_servers_.begin(), dhcp_servers_.end(), [&](const auto& s) {
                return s.ifname == l.ip4_server && s.bridge == n.bridge && s.vlan == n.vlan;
            });
        }
        if (ip4_ok) n.ip4 = l.ip4;
        if (!l.ip6.empty()) n.ip6 = l.ip6;
    }
}

Result<runtime::CgroupStats> ContainerRuntime::stats(const Vm& vm) {
    auto it = inst_.find(vm.id);
    if (it == inst_.end() || !it->second->cgroup) return Error::msg("vm not running: " + vm.name);
    return it->second->cgroup->stats();
}

std::vector<int> ContainerRuntime::procs(const Vm& vm) {
    auto it = inst_.find(vm.id);
    if (it == inst_.end() || !it->second->cgroup) return {};
    return it->second->cgroup->procs();
}

std::shared_ptr<runtime::Console> ContainerRuntime::console(const Vm& vm) {
    auto it = inst_.find(vm.id);
    return it == inst_.end() ? nullptr : it->second->console;
}

Result<void> ContainerRuntime::nuke() {
    janitor_.drain();
    for (auto& [id, in] : inst_) {
        in->child.killAndReap();
        if (in->console) in->console->close();
    }
    inst_.clear();
    vms_.clear();
    disks_.clear();  // lets go of them (unmounts attached ones)
    auto r = cgroups_->nuke();
    if (auto n = runtime::unmountStaleDisks(opts_.base); !n.ok() && r.ok()) r = n.error();
    // Whatever carries our prefix: veths left by a dead daemon, our bridges,
    // our OVS ports.
    auto links = runtime::nukeSwitches(opts_.net);
    switch_->forget();
    if (!r.ok()) return r;
    return links;
}

}  // namespace herd
