#include "service/container_runtime.h"

#include "runtime/guest_mount.h"

#include <malloc.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <chrono>

#include "base/log.h"
#include "base/subprocess.h"
#include "runtime/disk.h"
#include "runtime/hostcheck.h"
#include "runtime/parallel.h"
#include "runtime/rootfs.h"

namespace herd {

namespace {

bool isDir(const std::string& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

runtime::PortPlace placeOf(const std::string& bridge, int vlan) {
    return {bridge, vlan, vlan != kDisconnectedVlan};
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
    HERD_TRY(rt->setUp());
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

// The daemon-wide parts: the prefix's claim, cgroups, the switch, the
// isolation profiles, the exit watcher.
Result<void> ContainerRuntime::setUp() {
    // Before anything carrying the prefix is touched: a second live daemon
    // with it would kill the first one's containers and remove its links.
    prefix_claim_ = opts_.prefix_claim;
    if (!prefix_claim_) {
        auto claim = runtime::claimPrefix(opts_.prefix);
        if (!claim.ok()) return claim.error();
        prefix_claim_ = std::make_shared<unique_fd>(std::move(*claim));
    }
    auto iso = runtime::makeIsolation();
    if (!iso.ok()) return iso.error();
    iso_ = std::move(*iso);
    // A running keeper holds a previous daemon's containers; the records
    // say what they were. The sweeps below spare what is to be adopted.
    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    HERD_TRY(openKeeper());
    const auto t_keeper = clock::now();
    readRecords();
    const auto t_records = clock::now();
    // Disk mounts a SIGKILLed daemon left under this base (no live one can
    // share it): their VM ids are about to be reused.
    if (auto n = runtime::unmountStaleDisks(opts_.base, keptDisks()); !n.ok()) {
        HERD_LOG(warn, "disk mounts left under {}: {}", opts_.base, n.error().text());
    }
    auto cg = runtime::detectCgroups(opts_.cgroup_root, opts_.prefix);
    if (!cg.ok()) return cg.error();
    cgroups_ = std::move(*cg);
    opts_.net.prefix = opts_.prefix;
    opts_.net.keep_links = keptLinks();
    std::string why;
    auto sw = runtime::makeSwitchBackend(opts_.net, &why);
    opts_.net.keep_links.clear();
    if (!sw.ok()) return sw.error().wrap("network");
    switch_ = std::move(*sw);
    HERD_LOG(info, "network: {}", why);
    if (leftovers_) {
        auto ms = [](clock::duration d) {
            return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
        };
        HERD_LOG(info,
                 "leftovers of a previous daemon: {} records; keeper {} ms, records {} ms, "
                 "sweeps {} ms",
                 leftovers_->records.size(), ms(t_keeper - t0), ms(t_records - t_keeper),
                 ms(clock::now() - t_records));
    }
    // Every console's viewers come through one socket, <base>/console.
    auto consoles = runtime::ConsoleListener::create(io_, opts_.base_dir);
    if (!consoles.ok()) return consoles.error().wrap("consoles");
    consoles_ = std::move(*consoles);
    fillHost();
    return Ok();
}

Result<void> ContainerRuntime::openKeeper() {
    if (opts_.keeper_exe.empty()) {
        parent_ = runtime::selfParent(iso_);
        return Ok();
    }
    bool started = false;
    auto k = runtime::Keeper::open(opts_.base, opts_.keeper_exe, &started);
    if (!k.ok()) return k.error().wrap("keeper");
    keeper_ = *k;
    parent_ = keeper_;
    HERD_LOG(info, "keeper: pid {} ({})", keeper_->pid(), started ? "started" : "running");
    // Each new chunk of scrollback rings goes to the keeper at once.
    scrollbacks_ = std::make_unique<runtime::ScrollbackArena>(
        runtime::ConsoleOptions{}.scrollback, kScrollbackSlots,
        [keeper = keeper_](size_t index, int fd) {
            keeper->hold(runtime::ScrollbackArena::keyOf(index), {fd});
        },
        [keeper = keeper_](size_t index) { keeper->drop(runtime::ScrollbackArena::keyOf(index)); });
    if (!started) {
        // A previous daemon's containers, for adoptLeftovers().
        leftovers_ = std::make_unique<Leftovers>();
        auto kids = keeper_->children();
        if (!kids.ok()) return kids.error().wrap("keeper");
        for (const auto& k : *kids) {
            leftovers_->children[k.pid] = k.serial;
            if (k.waiting) leftovers_->waiting.insert(k.pid);
        }
        auto held = keeper_->fetch();
        if (!held.ok()) return held.error().wrap("keeper");
        leftovers_->held = std::move(*held);
        adoptScrollbacks();
    }
    return Ok();
}

// The previous daemon's scrollback rings, as it left them (even killed): its
// consoles show them again once adopted. A chunk that is not one is let go.
void ContainerRuntime::adoptScrollbacks() {
    auto& held = leftovers_->held;
    for (auto it = held.begin(); it != held.end();) {
        auto index = runtime::ScrollbackArena::indexOf(it->first);
        if (!index) {
            ++it;
            continue;
        }
        Result<void> r = Error::msg("scrollback: " + it->first + " holds no memfd");
        if (it->second.size() == 1) r = scrollbacks_->adopt(*index, std::move(it->second[0]));
        if (!r.ok()) {
            HERD_LOG(warn, "adopt: {}", r.error().text());
            keeper_->drop(it->first);
        }
        it = held.erase(it);
    }
}

void ContainerRuntime::fillHost() {
    host_.base = opts_.base_dir.get();
    host_.plan = {opts_.base, opts_.prefix, opts_.pids_max,
                  std::string(cgroups_->version()) == "v2"};
    host_.cgroups = cgroups_.get();
    host_.net = switch_.get();
    host_.iso = &iso_;
    host_.parent = parent_;
    host_.io = &io_;
    host_.consoles = consoles_.get();
    host_.console_address = opts_.console_address;
    host_.console_token = opts_.console_token;
    host_.janitor = &janitor_;
    host_.scrollbacks = scrollbacks_.get();
}

ContainerRuntime::~ContainerRuntime() {
    if (!keeping_ && !shut_down_) {
        // Neither an orderly stop nor `quit keep` (a start that failed half
        // way, a stop that timed out): nothing is killed or removed, the
        // containers go on under the keeper for the next daemon to adopt.
        exits_open_->store(false);
        for (auto& [id, c] : containers_) c->abandon();
        containers_.clear();
        keeping_ = true;
    }
    for (auto& [key, line] : delay_lines_) line->close(nullptr);  // their taps go
    delay_lines_.clear();
    janitor_.drain();
    if (consoles_) consoles_->close();
}

void ContainerRuntime::shutdown() {
    if (keeping_ || shut_down_) return;
    shut_down_ = true;
    for (auto& [key, line] : delay_lines_) line->close(nullptr);  // their taps go
    delay_lines_.clear();
    containers_.clear();  // kills whatever still runs: a daemon leaves no container behind
    vms_.clear();
    // Nothing is left to adopt.
    if (journal_) (void)journal_->compact({});
    janitor_.drain();
    exits_open_->store(false);
    if (keeper_) {
        if (auto r = keeper_->quit(); !r.ok()) HERD_LOG(warn, "keeper: {}", r.error().text());
    }
    if (cgroups_) (void)cgroups_->nuke();  // null when create() failed early
    // The veths die with their namespaces; the bridges herd made go now.
    if (switch_) {
        if (auto r = switch_->shutdown(); !r.ok()) HERD_LOG(warn, "network: {}", r.error().text());
    }
}

runtime::Container* ContainerRuntime::find(int id) const {
    auto it = containers_.find(id);
    return it == containers_.end() ? nullptr : it->second.get();
}

runtime::Container& ContainerRuntime::containerOf(const Vm& vm) {
    auto& c = containers_[vm.id];
    if (!c) c = std::make_unique<runtime::Container>(host_, vm.id);
    return *c;
}

void ContainerRuntime::setState(Vm& vm, VmState s) {
    vm.state = s;
    (void)opts_.base_dir->writeFile(runtime::instanceDirName(vm.id) + "/state", stateString(s),
                                    0644);
    saveRecord(vm);
}

void ContainerRuntime::fail(Vm& vm, const Error& e) {
    vm.tags()["error"] = e.text();
    setState(vm, VmState::Error);
}

void ContainerRuntime::watchExit(int id, runtime::Container& c) {
    // The parent only notices exits (on its own thread); reaping and state
    // changes happen on the command thread, so the service layer stays
    // single-threaded.
    const uint64_t gen = c.generation() & 0xffffffffu;
    parent_->watch(c.child().ref(), [this, open = exits_open_, post = post_, id, gen] {
        if (!*open) return;
        post([this, open, id, gen] {
            if (*open) onExit(id, gen);
        });
    });
}

void ContainerRuntime::onExit(int id, uint64_t gen) {
    auto* c = find(id);
    auto vit = vms_.find(id);
    if (!c || vit == vms_.end()) return;
    if ((c->generation() & 0xffffffffu) != gen) return;  // an earlier launch
    auto status = c->tryReap();
    if (!status) return;  // already reaped by kill
    Vm& vm = *vit->second;
    c->releaseCgroup(/*defer=*/true);
    releasePorts({&vm});
    if (backchannel_.drop) backchannel_.drop(vm);
    if (!inStates(vm.state, kKillable)) return;
    if (WIFEXITED(*status) && WEXITSTATUS(*status) == 0 && c->released()) {
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

Result<void> ContainerRuntime::checkCapacity(size_t containers, size_t with_cc) const {
    auto usage = runtime::readHostUsage();
    if (!usage.ok()) {  // a /proc without these files: the launch will tell
        HERD_LOG(warn, "host limits: {}", usage.error().text());
        return Ok();
    }
    return runtime::checkCapacity(*usage, containers, with_cc);
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

Result<runtime::ContainerSpec> containerSpecOf(const Vm& vm, const std::string& filesystem) {
    const VmConfig& c = vm.config;
    runtime::ContainerSpec s;
    s.id = vm.id;
    s.name = vm.name;
    s.uuid = vm.uuid();
    s.hostname = c.hostname.empty() ? vm.name : c.hostname;
    s.filesystem = filesystem;
    s.snapshot = c.snapshot;
    s.disk_limit_mib = c.disk_limit == kUnlimited ? 0 : c.disk_limit;
    s.fifos = c.fifos;
    for (const auto& [dst, typed] : c.volumes) {
        auto v = parseVolumeSource(typed);  // checked by vm config too
        if (!v.ok()) return v.error();
        s.volumes.push_back({v->path, dst, v->readonly, v->suid, v->dev});
    }
    s.preinit = c.preinit;
    s.init = c.init;
    s.memory_mib = c.memory;
    s.vcpus = c.vcpus;
    for (const auto& n : c.networks) {
        s.nics.push_back({n.mac, n.bridge, n.vlan, n.vlan != kDisconnectedVlan});
    }
    return s;
}

Result<runtime::ContainerSpec> ContainerRuntime::specOf(Vm& vm) {
    auto fs = filesystemOf(vm.config);
    if (!fs.ok()) return fs.error();
    auto s = containerSpecOf(vm, *fs);
    if (!s.ok()) return s.error();
    if (vm.config.backchannel && backchannel_.open) {
        // As minimega, a backchannel that cannot be set up is only a warning.
        auto sock = backchannel_.open(vm);
        if (sock.ok()) {
            s->cc_socket = *sock;
            // The guest's /cc is this socket: the keeper keeps it listening
            // for a later daemon.
            int fd = backchannel_.listener ? backchannel_.listener(vm) : -1;
            if (fd >= 0) parent_->hold(runtime::Container::ccKey(vm.id), {fd});
        } else {
            HERD_LOG(warn, "cc backchannel for {}: {}", vm.name, sock.error().text());
        }
    }
    return s;
}

Result<void> ContainerRuntime::prepare(Vm& vm, runtime::Container& c) {
    HERD_TRY(c.makeDir(vm.name, vm.uuid()));  // first: the cc socket goes in there
    auto spec = specOf(vm);
    if (!spec.ok()) return spec.error();
    auto r = c.prepare(*spec);
    // Each NIC's host end, as far as the launch named them (`tap` in vm info).
    const auto& names = c.nicNames();
    for (size_t i = 0; i < names.size(); ++i) {
        NetConfig& n = vm.config.networks[i];
        n.tap = names[i];
        n.ip4.clear();  // learnt again from the new launch's traffic
        n.ip6.clear();
        n.qos = {};  // a new veth, unshaped
    }
    return r;
}

std::vector<Result<void>> ContainerRuntime::launchMany(const std::vector<Vm*>& vms) {
    std::vector<Result<void>> results(vms.size());
    if (auto r = cgroups_->setup(); !r.ok()) {
        for (size_t i = 0; i < vms.size(); ++i) {
            results[i] = r.error().wrap("cgroups");
            fail(*vms[i], results[i].error());
        }
        return results;
    }
    std::vector<runtime::Container*> batch(vms.size());
    for (size_t i = 0; i < vms.size(); ++i) {
        vms_[vms[i]->id] = vms[i];
        batch[i] = &containerOf(*vms[i]);
        results[i] = prepare(*vms[i], *batch[i]);
    }
    // The kernel work, on `workers` threads: cgroups, clone, mounts, veths;
    // one netlink socket per worker, opened on first use.
    runtime::parallelForWith<std::optional<runtime::Netlink>>(
        vms.size(), opts_.workers, [&](size_t i, std::optional<runtime::Netlink>& nl) {
            if (results[i].ok()) results[i] = batch[i]->launch(nl);
        });
    runtime::attachPorts(*switch_, batch, results);
    for (size_t i = 0; i < vms.size(); ++i) finishLaunch(*vms[i], *batch[i], results[i]);
    syncRecords();
    return results;
}

void ContainerRuntime::finishLaunch(Vm& vm, runtime::Container& c, Result<void>& r) {
    if (!r.ok()) {
        c.releaseCgroup(/*defer=*/false);
        r = r.error().wrap("launch " + vm.name);
        fail(vm, r.error());
        return;
    }
    vm.pid = c.pid();
    vm.console_port = c.console() ? c.console()->tcpPort() : 0;
    vm.tags().erase("error");
    setState(vm, VmState::Building);
    c.launched();
    watchExit(vm.id, c);
    (void)opts_.base_dir->writeFile(runtime::instanceDirName(vm.id) + "/config",
                                    vm.config.configFile(), 0755);
}

Result<void> ContainerRuntime::launch(Vm& vm) {
    return launchMany({&vm})[0];
}

// The ones that stopped (QUIT, ERROR) are launched again, all at once.
void ContainerRuntime::relaunchStopped(const std::vector<Vm*>& vms,
                                       std::vector<Result<void>>& results) {
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
}

std::vector<Result<void>> ContainerRuntime::startMany(const std::vector<Vm*>& vms) {
    std::vector<Result<void>> results(vms.size());
    relaunchStopped(vms, results);
    // Release every BUILDING one first, then wait for each exec: the waits overlap.
    std::vector<size_t> released;
    for (size_t i = 0; i < vms.size(); ++i) {
        Vm& vm = *vms[i];
        if (!results[i].ok()) continue;
        auto* c = find(vm.id);
        if (!c) {
            results[i] = Error::msg("vm " + vm.name + " has no container");
            continue;
        }
        if (vm.state == VmState::Paused) {
            if (auto r = c->thaw(); !r.ok()) {
                fail(vm, r.error().wrap("unstartable"));
                results[i] = r.error().wrap("unstartable");
            } else {
                setState(vm, VmState::Running);
            }
        } else if (vm.state == VmState::Building) {
            released.push_back(i);
        }
    }
    waitExecs(vms, released, results);
    syncRecords();
    return results;
}

// Waits for the inits of `vms[released]` to exec, with one deadline for the
// whole batch, longer for more containers: when thousands of inits exec at
// once on a loaded host, the last ones may need more than one container's
// 10 s (seen at 1,000 on two cores right after another 1,000 were torn
// down: exec waits to be moved to another CPU).
void ContainerRuntime::waitExecs(const std::vector<Vm*>& vms, const std::vector<size_t>& released,
                                 std::vector<Result<void>>& results) {
    const int timeout_ms = 10000 + 20 * static_cast<int>(released.size());
    std::vector<runtime::Child*> children;
    for (size_t i : released) children.push_back(&find(vms[i]->id)->child());
    auto rs = runtime::Child::startAll(children, timeout_ms);
    for (size_t k = 0; k < released.size(); ++k) {
        const size_t i = released[k];
        Vm& vm = *vms[i];
        runtime::Container& c = *find(vm.id);
        auto& r = rs[k];
        if (!r.ok()) {
            // One that has not exec'd by now is killed, so that it cannot go
            // on to run init in a VM that is not RUNNING; the reaper reports
            // the exit and sets ERROR.
            c.killInit();
            results[i] = r.error().wrap("start " + vm.name);
            continue;
        }
        if (vm.state == VmState::Building) setState(vm, VmState::Running);
    }
}

Result<void> ContainerRuntime::start(Vm& vm) {
    return startMany({&vm})[0];
}

Result<void> ContainerRuntime::stop(Vm& vm) {
    auto* c = find(vm.id);
    if (!c || !c->hasCgroup()) return Error::msg("vm " + vm.name + " is not running");
    if (auto r = c->freeze(); !r.ok()) {
        fail(vm, r.error().wrap("unstoppable"));
        return r.error().wrap("unstoppable");
    }
    setState(vm, VmState::Paused);
    return Ok();
}

std::vector<Result<void>> ContainerRuntime::killMany(const std::vector<Vm*>& vms) {
    std::vector<Result<void>> results(vms.size());
    std::vector<runtime::Container*> cs(vms.size(), nullptr);
    // Signal all first, then reap: the teardowns overlap in the kernel.
    for (size_t i = 0; i < vms.size(); ++i) {
        cs[i] = find(vms[i]->id);
        if (cs[i]) cs[i]->signalKill(vms[i]->state == VmState::Paused);
    }
    // Reaping waits for each namespace's teardown and removing cgroups for the
    // kernel: spread over the workers. Each touches only its own container.
    runtime::parallelFor(vms.size(), opts_.workers, [&](size_t i) {
        if (!cs[i]) return;
        cs[i]->killAndReap();
        cs[i]->releaseCgroup(/*defer=*/true);
    });
    releasePorts(vms);
    for (Vm* vm : vms) {
        if (backchannel_.drop) backchannel_.drop(*vm);
        setState(*vm, VmState::Quit);
    }
    syncRecords();
    return results;
}

Result<void> ContainerRuntime::kill(Vm& vm) {
    return killMany({&vm})[0];
}

void ContainerRuntime::releasePorts(const std::vector<Vm*>& vms) {
    std::vector<std::string> ports;
    for (Vm* vm : vms) {
        closeDelayLines(vm->id);
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
    std::vector<runtime::Container*> cs(vms.size(), nullptr);
    releasePorts(vms);
    for (size_t i = 0; i < vms.size(); ++i) {
        cs[i] = find(vms[i]->id);
        if (cs[i]) {
            if (auto r = cs[i]->teardown(); !r.ok()) HERD_LOG(warn, "{}", r.error().text());
        }
        vms_.erase(vms[i]->id);
        if (backchannel_.close) backchannel_.close(*vms[i]);
        parent_->drop(runtime::Container::ccKey(vms[i]->id));
        dropRecord(vms[i]->id);
    }
    syncRecords();
    // Instance dirs (overlay upper layers included) go in parallel.
    runtime::parallelFor(vms.size(), opts_.workers, [&](size_t i) {
        if (cs[i]) results[i] = cs[i]->removeFiles();
    });
    for (Vm* vm : vms) containers_.erase(vm->id);
    if (containers_.empty()) trimSoon();
    return results;
}

// malloc keeps freed memory in its arenas. Later, once the registry entries
// and the consoles (closed on the io thread) are gone too.
void ContainerRuntime::trimSoon() {
    if (trim_pending_->exchange(true)) return;
    auto timer = std::make_shared<boost::asio::steady_timer>(io_, std::chrono::milliseconds(300));
    timer->async_wait([timer, pending = trim_pending_](const boost::system::error_code&) {
        *pending = false;
        malloc_trim(0);
    });
}

Result<void> ContainerRuntime::flush(Vm& vm) {
    return flushMany({&vm})[0];
}

Result<void> ContainerRuntime::moveNic(Vm& vm, size_t index, const std::string& bridge, int vlan,
                                       const std::string& alias) {
    NetConfig& n = vm.config.networks.at(index);
    applyAddresses();  // what was learnt before the move belongs to the old VLAN
    auto* c = find(vm.id);
    if (c && c->running() && inStates(vm.state, kKillable) && !n.tap.empty()) {
        auto plan = runtime::planPort(*switch_, placeOf(bridge, vlan));
        if (!plan.ok()) return plan.error();
        auto r = runtime::movePort(*switch_, n.tap, placeOf(n.bridge, n.vlan), *plan);
        // ENODEV: the container died under us: its veth is gone, only the
        // config remains to change (the exit is being reported).
        if (!r.ok() && r.error().errnum() != ENODEV) {
            return r.error().wrap("vm " + vm.name + " nic " + std::to_string(index));
        }
    }
    n.moveTo(bridge, vlan, alias);
    if (vms_.count(vm.id)) saveRecords({&vm});
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
        const NetConfig before = n;
        if (ip4_ok) n.ip4 = l.ip4;
        if (!l.ip6.empty()) n.ip6 = l.ip6;
        if (n.ip4 != before.ip4 || n.ip6 != before.ip6) saveRecord(*vit->second);
    }
}

Result<runtime::CgroupStats> ContainerRuntime::stats(const Vm& vm) {
    auto* c = find(vm.id);
    if (!c) return Error::msg("vm not running: " + vm.name);
    return c->stats();
}

std::vector<int> ContainerRuntime::procs(const Vm& vm) {
    auto* c = find(vm.id);
    return c ? c->procs() : std::vector<int>{};
}

std::shared_ptr<runtime::Console> ContainerRuntime::console(const Vm& vm) {
    auto* c = find(vm.id);
    return c ? c->console() : nullptr;
}

Result<runtime::GuestMount> ContainerRuntime::mountRoot(const Vm& vm, const std::string& target) {
    auto* c = find(vm.id);
    if (!c || !c->running() || !inStates(vm.state, kKillable))
        return Error::msg("vm not running: " + vm.name);
    auto pidfd = parent_->pidfd(c->child().ref());
    if (!pidfd.ok()) return pidfd.error();
    return runtime::mountGuestRoot(pidfd->get(), target);
}

std::vector<std::string> ContainerRuntime::nicHostNames(const Vm& vm) const {
    auto* c = find(vm.id);
    if (!c || !c->running() || !inStates(vm.state, kKillable)) return {};
    return c->nicNames();
}

Result<void> ContainerRuntime::nuke() {
    janitor_.drain();
    for (auto& [key, line] : delay_lines_) line->close(nullptr);
    delay_lines_.clear();
    containers_.clear();  // kills them, closes their consoles, lets go of their disks
    vms_.clear();
    leftovers_.reset();
    if (journal_) (void)journal_->compact({});
    auto r = keeper_ ? keeper_->killAll() : Result<void>(Ok());
    if (auto c = cgroups_->nuke(); !c.ok() && r.ok()) r = c;
    if (auto n = runtime::unmountStaleDisks(opts_.base); !n.ok() && r.ok()) r = n.error();
    // Whatever carries our prefix: veths left by a dead daemon, our bridges,
    // our OVS ports.
    auto links = runtime::nukeSwitches(opts_.net);
    switch_->forget();
    if (!r.ok()) return r;
    return links;
}

}  // namespace herd
