#include "runtime/container.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>

#include "base/log.h"

namespace herd::runtime {

namespace {

Result<void> mkdirAll(const std::string& path) {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
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

// Creates a NIC's veth. EEXIST on relaunch means the previous launch's veth
// still exists: its network namespace is freed asynchronously after the kill.
// Such a name is ours (vethHostName), so it is removed and the create retried.
Result<void> createNic(Netlink& nl, const VethSpec& spec) {
    auto r = nl.createVeth(spec);
    for (int attempt = 0; !r.ok() && r.error().errnum() == EEXIST && attempt < 3; ++attempt) {
        auto d = nl.deleteLink(spec.host_name);
        if (!d.ok() && d.error().errnum() != ENODEV) return r;
        r = nl.createVeth(spec);
    }
    // EXFULL: the kernel bridge has all the ports it can hold. The kernel
    // backend spreads a VLAN over overflow bridges before that happens, so
    // this means something else filled the bridge.
    if (!r.ok() && r.error().errnum() == EXFULL && spec.master > 0) {
        return Error::sys(EXFULL, "create veth",
                          spec.host_name +
                              " (its bridge already holds 1023 ports, the kernel bridge's fixed "
                              "limit BR_MAX_PORTS)");
    }
    return r;
}

// Whether `path` is a directory with a file system of its own mounted on it.
bool isMountPoint(const std::string& path) {
    struct stat st {};
    struct stat up {};
    return !path.empty() && ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode) &&
           ::stat((path + "/..").c_str(), &up) == 0 && st.st_dev != up.st_dev;
}

std::string netnsOf(int pid) {
    char buf[64];
    const std::string link = "/proc/" + std::to_string(pid) + "/ns/net";
    ssize_t n = ::readlink(link.c_str(), buf, sizeof buf);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

}  // namespace

// Field 22 of /proc/<pid>/stat: when the process started, in clock ticks
// since boot (0 when it cannot be read).
uint64_t processStartTime(int pid) {
    auto text = readSmallFile("/proc/" + std::to_string(pid) + "/stat", 4096);
    if (!text.ok()) return 0;
    auto paren = text->rfind(')');  // the command name may hold spaces and parentheses
    if (paren == std::string::npos) return 0;
    size_t pos = paren + 2;  // field 3
    for (int field = 3; field < 22 && pos != std::string::npos; ++field) {
        pos = text->find(' ', pos);
        if (pos != std::string::npos) ++pos;
    }
    if (pos == std::string::npos) return 0;
    return std::strtoull(text->c_str() + pos, nullptr, 10);
}

Container::~Container() {
    // Whatever still runs is killed: a daemon leaves no container behind.
    if (cgroup_) (void)cgroup_->kill();
    child_.killAndReap();
    if (cgroup_) (void)cgroup_->remove();
    closeConsole();
}

void Container::closeConsole() {
    // The VM's scrollback ring goes too, whether or not it has a console (a
    // create that failed, an adoption without one), unless abandoned: the
    // next daemon shows it.
    if (host_.scrollbacks && !abandoned_) host_.scrollbacks->release(id_);
    if (!console_) return;
    if (host_.parent) host_.parent->drop(consoleKey(id_));
    if (host_.consoles) host_.consoles->remove(id_, console_.get());
    console_->close();
    console_.reset();
}

Result<void> Container::makeDir(const std::string& name, const std::string& uuid) {
    name_ = name;
    uuid_ = uuid;
    // Beneath the base's descriptor, through no symbolic link: the overlay's
    // upper layer in here is the guest's to fill.
    const Dir& base = *host_.base;
    const std::string dir = instanceDirName(id_);
    HERD_TRY(base.mkdir(dir, 0700));
    {
        auto d = base.openDir(dir);
        if (!d.ok()) return d.error();
        if (::fchmod(d->fd(), 0700) != 0) return Error::sysNow("chmod", base.pathOf(dir));
    }
    HERD_TRY(base.writeFile(dir + "/name", name, 0644));
    if (!base.exists(dir + "/uuid")) HERD_TRY(base.writeFile(dir + "/uuid", uuid + "\n", 0400));
    return Ok();
}

Result<void> Container::prepare(const ContainerSpec& spec) {
    ++generation_;
    ports_.clear();
    nics_.clear();
    auto plan = planContainer(spec, host_.plan);
    if (!plan.ok()) return plan.error();
    plan_ = std::make_unique<ContainerPlan>(std::move(*plan));
    root_ = plan_->launch.root;
    disk_mib_ = plan_->disk_mib;
    HERD_TRY(prepareRoot(spec));
    HERD_TRY(prepareBinds(spec));
    HERD_TRY(preparePorts(spec));
    return prepareConsole();
}

Result<void> Container::prepareRoot(const ContainerSpec& spec) {
    if (!isDir(spec.filesystem)) return Error::sys(ENOENT, "filesystem", spec.filesystem);
    for (const auto& d : plan_->mkdirs) HERD_TRY(host_.base->mkdir(d, 0755));
    if (plan_->disk_mib == 0) return Ok();
    if (!disk_) {
        auto d = Disk::create(plan_->disk_fallback, plan_->disk_mib);
        if (!d.ok()) return d.error().wrap("disk-limit");
        disk_.emplace(std::move(*d));
        // A detached disk exists only through descriptors or mounts: the
        // keeper keeps it (without a descriptor per disk), so that a later
        // daemon can relaunch on it.
        if (disk_->layersFd() >= 0 && host_.parent) {
            if (host_.parent->keepDisk(diskKey(id_), disk_->layersFd())) {
                disk_->keptByParent();
            } else {
                host_.parent->hold(diskKey(id_), {disk_->layersFd()});
            }
        }
    }
    LaunchSpec& l = plan_->launch;
    l.layers_fd = disk_->layersFd();
    if (disk_->kept()) {
        l.disk_key = diskKey(id_);
    } else if (l.layers_fd < 0) {
        l.upperdir = disk_->path() + "/" + l.upperdir;
        l.workdir = disk_->path() + "/" + l.workdir;
    }
    return Ok();
}

Result<void> Container::prepareBinds(const ContainerSpec& spec) {
    // Kept across relaunches (minimega fails relaunching with fifos).
    for (const auto& f : plan_->fifos) HERD_TRY(host_.base->mkfifo(f, 0660));
    for (const auto& v : spec.volumes) {
        HERD_TRY(mkdirAll(v.source));
        // The service refuses `/` as typed; a symlink can still lead there.
        if (isHostRoot(v.source)) {
            return Error::msg("volume " + v.target + ": " + v.source +
                              " is the host's root directory, which cannot be a volume");
        }
    }
    return Ok();
}

// Makes sure each NIC's switch exists; the veths are made by launch().
Result<void> Container::preparePorts(const ContainerSpec& spec) {
    for (size_t i = 0; i < spec.nics.size(); ++i) {
        const NicSpec& n = spec.nics[i];
        auto plan = planPort(*host_.net, {n.bridge, n.vlan, n.connected});
        if (!plan.ok()) return plan.error();
        plan_->veths[i].master = plan->master;
        ports_.push_back(std::move(*plan));
        nics_.push_back(plan_->veths[i].host_name);
    }
    return Ok();
}

ConsoleOptions Container::consoleOptions() const {
    ConsoleOptions co;
    co.name = "console of vm " + std::to_string(id_);
    co.tcp_address = host_.console_address;
    co.tcp_token = host_.console_token;
    if (host_.scrollbacks) {
        // The VM's ring: what an adopted console had shown is in it already.
        auto ring = host_.scrollbacks->ringFor(id_);
        if (ring.ok()) {
            co.buffer = *ring;
        } else {
            HERD_LOG(warn, "{}: scrollback in the daemon only: {}", co.name, ring.error().text());
        }
    }
    return co;
}

Result<void> Container::prepareConsole() {
    if (console_) return Ok();  // kept across relaunches
    auto con = Console::create(*host_.io, consoleOptions());
    if (!con.ok()) return con.error();
    console_ = *con;
    listConsole();
    // A copy of the pty master outlives the daemon in the keeper: the
    // guest's console session gets no hangup when the daemon dies.
    if (host_.parent) host_.parent->hold(consoleKey(id_), {console_->masterFd()});
    return Ok();
}

void Container::listConsole() {
    if (host_.consoles && console_) host_.consoles->add(id_, console_);
}

Result<void> Container::launch(std::optional<Netlink>& nl) {
    if (!plan_) return Error::msg("launch " + name_ + ": not prepared");
    plan_->launch.console = console_->slavePath();
    // A name per launch: the janitor may still be removing the group of
    // this container's previous run.
    auto cg = host_.cgroups->create(std::to_string(id_) + "." + std::to_string(generation_),
                                    plan_->limits);
    if (!cg.ok()) return cg.error();
    cgroup_ = std::move(*cg);
    auto* cgp = cgroup_.get();
    auto child =
        runtime::launch(plan_->launch, host_.parent, [cgp](int pid) { return cgp->attach(pid); });
    if (!child.ok()) return child.error();
    // The NICs, now that the child's network namespace exists. On failure
    // the child is dropped here, which kills and reaps it.
    for (size_t k = 0; k < plan_->veths.size(); ++k) {
        if (!nl) {
            auto o = Netlink::open();
            if (!o.ok()) return o.error();
            nl.emplace(std::move(*o));
        }
        plan_->veths[k].netns_pid = child->pid();
        if (auto r = createNic(*nl, plan_->veths[k]); !r.ok()) {
            return r.error().wrap("nic " + std::to_string(k));
        }
    }
    child_ = std::move(*child);
    return Ok();
}

void Container::launched() {
    // The child has its own copy of what it reads: a container between
    // launches keeps only what its record names. Freed here, on the thread
    // that made them (a worker's free would contend for this one's arena).
    plan_.reset();
    ports_.clear();  // attached
    ports_.shrink_to_fit();
    if (console_) console_->resume();
}

Result<void> Container::freeze() {
    if (!cgroup_) return Error::msg("container " + name_ + " has no cgroup");
    return cgroup_->freeze();
}

Result<void> Container::thaw() {
    if (!cgroup_) return Error::msg("container " + name_ + " has no cgroup");
    return cgroup_->thaw();
}

void Container::signalKill(bool frozen) {
    if (cgroup_ && frozen) (void)cgroup_->thaw();
    child_.kill();
}

void Container::releaseCgroup(bool defer) {
    if (!cgroup_) return;
    // Normally empty by now: the kernel kills every process of a PID
    // namespace, and waits for them, before its init is reaped. Whatever is
    // left is killed through the cgroup.
    if (!cgroup_->procs().empty()) (void)cgroup_->kill();
    if (defer && host_.janitor) {
        host_.janitor->add(std::move(cgroup_));
        return;
    }
    (void)cgroup_->remove();
    cgroup_.reset();
}

Result<CgroupStats> Container::stats() {
    if (!cgroup_) return Error::msg("vm not running: " + name_);
    return cgroup_->stats();
}

std::vector<int> Container::procs() {
    return cgroup_ ? cgroup_->procs() : std::vector<int>{};
}

Result<void> Container::teardown() {
    child_.killAndReap();
    if (host_.parent) host_.parent->drop(diskKey(id_));
    releaseCgroup(/*defer=*/false);
    closeConsole();
    plan_.reset();
    if (!disk_) return Ok();
    auto r = disk_->release();  // before its directory goes
    disk_.reset();
    return r;
}

Result<void> Container::removeFiles() const {
    return host_.base->removeTree(instanceDirName(id_));
}

ContainerRecord Container::record() const {
    ContainerRecord r;
    r.id = id_;
    r.name = name_;
    r.uuid = uuid_;
    r.generation = generation_;
    if (child_.pid() > 0 && !child_.reaped()) {
        r.init_pid = child_.pid();
        r.init_start = processStartTime(r.init_pid);
        r.netns = netnsOf(r.init_pid);
        r.released = child_.released();
    }
    if (cgroup_) r.cgroup = cgroup_->name();
    r.veths = nics_;
    if (disk_) {
        r.disk = disk_->layersFd() >= 0 || disk_->kept() ? DiskKind::Detached : DiskKind::Attached;
        r.disk_path = disk_->path();
        r.disk_mib = disk_mib_;
    }
    if (console_) r.console = host_.plan.base + "/" + kConsoleSocket;
    r.root = root_;
    return r;
}

Result<void> Container::adopt(const ContainerRecord& r, Kept kept) {
    name_ = r.name;
    uuid_ = r.uuid;
    generation_ = r.generation;
    root_ = r.root;
    nics_ = r.veths;
    disk_mib_ = r.disk_mib;
    if (r.disk == DiskKind::Detached && kept.disk_kept) {
        disk_.emplace(Disk::adopt(unique_fd(), "", /*kept=*/true));
    } else if (r.disk == DiskKind::Detached && kept.disk) {
        disk_.emplace(Disk::adopt(std::move(kept.disk), ""));
    } else if (r.disk == DiskKind::Attached && isMountPoint(r.disk_path)) {
        // (Not one any more, e.g. after a reboot: a relaunch mounts anew.)
        disk_.emplace(Disk::adopt(unique_fd(), r.disk_path));
    }
    if (kept.console_master) {
        auto con = Console::adopt(*host_.io, consoleOptions(), std::move(kept.console_master));
        if (!con.ok()) return con.error().wrap("console");
        console_ = *con;
        listConsole();
        console_->resume();
    }
    if (!kept.live) return Ok();
    if (!r.cgroup.empty()) {
        auto cg = host_.cgroups->open(r.cgroup);
        if (!cg.ok()) return cg.error().wrap("cgroup");
        cgroup_ = std::move(*cg);
    }
    child_ = Child::adopt({r.init_pid, kept.serial}, host_.parent, !kept.waiting);
    return Ok();
}

void Container::abandon() {
    abandoned_ = true;
    child_.abandon();
    cgroup_.reset();
    if (console_) {
        if (host_.consoles) host_.consoles->remove(id_, console_.get());
        console_->close();  // the keeper keeps its copy of the master
        console_.reset();
    }
    if (disk_) {
        disk_->abandon();
        disk_.reset();
    }
    plan_.reset();
}

void attachPorts(SwitchBackend& net, const std::vector<Container*>& batch,
                 std::vector<Result<void>>& results) {
    std::vector<SwitchBackend::PortRequest> reqs;
    std::vector<size_t> owners;
    for (size_t i = 0; i < batch.size(); ++i) {
        if (!batch[i] || !results[i].ok()) continue;
        const auto& names = batch[i]->nicNames();
        const auto& ports = batch[i]->ports();
        bool any = false;
        for (size_t k = 0; k < ports.size(); ++k) {
            if (ports[k].switch_name.empty()) continue;  // disconnected NIC
            reqs.push_back({names[k], ports[k]});
            any = true;
        }
        if (any) owners.push_back(i);
    }
    if (reqs.empty()) return;
    auto r = net.attachMany(reqs);
    if (r.ok()) return;
    for (size_t i : owners) {
        results[i] = r.error().wrap("network");
        batch[i]->killAndReap();
    }
}

Result<PortPlan> planPort(SwitchBackend& net, const PortPlace& place) {
    if (!place.connected) return PortPlan{};
    return net.prepare(place.bridge, place.vlan);
}

Result<void> movePort(SwitchBackend& net, const std::string& port, const PortPlace& from,
                      const PortPlan& to) {
    const bool connect = !to.switch_name.empty();
    auto nl = Netlink::open();
    if (!nl.ok()) return nl.error();
    // A kernel bridge port moves in one step (a new master replaces the
    // old); a switch that attaches by other means is left first.
    Result<void> r;
    if (from.connected && to.master == 0) r = net.detach(*nl, port);
    if (r.ok() && connect) {
        if (to.master != 0) r = nl->setMaster(port, to.master);
        if (r.ok()) r = net.attach(*nl, port, to);
    }
    if (r.ok() || r.error().errnum() == ENODEV) return r;
    // Back where it was, so that port and config still agree.
    if (from.connected) {
        auto old = net.prepare(from.bridge, from.vlan);
        if (old.ok()) {
            if (old->master != 0) (void)nl->setMaster(port, old->master);
            (void)net.attach(*nl, port, *old);
        }
    } else {
        (void)net.detach(*nl, port);
    }
    return r;
}

}  // namespace herd::runtime
