// Durability of the container runtime (docs/durability.md): the records of
// VMs on disk, the adoption of what a previous daemon on the same base left
// running under the keeper, and `quit keep`.
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>

#include "base/log.h"
#include "runtime/parallel.h"
#include "service/container_runtime.h"
#include "service/vm_record.h"

namespace herd {

namespace {

using std::chrono::milliseconds;

std::string describeStatus(int status) {
    if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return std::string("killed by ") + strsignal(WTERMSIG(status));
    return "status " + std::to_string(status);
}

void killPid(int pid) {
    int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (fd < 0) return;
    ::syscall(SYS_pidfd_send_signal, fd, SIGKILL, nullptr, 0);
    ::close(fd);
}

bool isNumber(const std::string& s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

}  // namespace

// ---- records ---------------------------------------------------------------

void ContainerRuntime::saveRecord(const Vm& vm) {
    if (!records_ || keeping_) return;
    auto* c = find(vm.id);
    runtime::ContainerRecord none;
    none.id = vm.id;
    none.name = vm.name;
    none.uuid = vm.uuid();
    const std::string text = vmRecordJson(vm, c ? c->record() : none);
    const std::string leaf = std::to_string(vm.id) + ".json";
    const std::string tmp = "." + leaf + ".tmp";
    // A crash at any instant leaves the old record or the new one: the new
    // text goes to a temporary file that then replaces the record.
    unique_fd fd(::openat(records_->fd(), tmp.c_str(),
                          O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
    bool ok =
        fd && ::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size());
    fd.reset();
    if (ok) ok = ::renameat(records_->fd(), tmp.c_str(), records_->fd(), leaf.c_str()) == 0;
    if (!ok) HERD_LOG(warn, "{}", Error::sysNow("write record", records_->pathOf(leaf)).text());
}

void ContainerRuntime::dropRecord(int id) {
    if (!records_ || keeping_) return;
    (void)records_->unlink(std::to_string(id) + ".json");
}

void ContainerRuntime::syncRecords() {
    if (records_ && ::fsync(records_->fd()) != 0) {
        HERD_LOG(warn, "{}", Error::sysNow("fsync", records_->path()).text());
    }
}

void ContainerRuntime::saveRecords(const std::vector<Vm*>& vms) {
    for (Vm* vm : vms)
        if (vms_.count(vm->id)) saveRecord(*vm);
    syncRecords();
}

void ContainerRuntime::readRecords() {
    auto dir = opts_.base_dir->makeDirs(kRecordsDir, 0700);
    if (!dir.ok()) {
        HERD_LOG(warn, "records: {}", dir.error().text());
        return;
    }
    records_ = std::make_unique<Dir>(std::move(*dir));
    auto names = records_->list();
    if (!names.ok()) return;
    for (const auto& name : *names) {
        if (name.size() < 6 || name.substr(name.size() - 5) != ".json" || name[0] == '.') {
            (void)records_->unlink(name);  // a temporary file a crash left
            continue;
        }
        auto text = records_->readFile(name, 1 << 20);
        auto rec = text.ok() ? parseVmRecord(*text, opts_.base, opts_.hostname)
                             : Result<VmRecord>(text.error());
        if (!rec.ok() || name != std::to_string(rec->vm->id) + ".json") {
            // Nothing to bring back: the instance directory goes with the
            // other leftovers, the record is kept aside for a look.
            HERD_LOG(warn, "records: {}: {}", records_->pathOf(name),
                     rec.ok() ? "its name is not its id" : rec.error().text());
            (void)::renameat(records_->fd(), name.c_str(), records_->fd(), (name + ".bad").c_str());
            continue;
        }
        if (!leftovers_) leftovers_ = std::make_unique<Leftovers>();
        leftovers_->records.emplace_back(std::move(rec->vm), std::move(rec->container));
    }
}

// ---- adoption --------------------------------------------------------------

std::set<std::string> ContainerRuntime::keptDisks() const {
    std::set<std::string> out;
    if (!leftovers_) return out;
    for (const auto& [vm, cr] : leftovers_->records)
        if (cr.disk == runtime::DiskKind::Attached)
            out.insert(runtime::instanceDirName(vm->id) + "/disk");
    return out;
}

std::set<std::string> ContainerRuntime::keptLinks() const {
    std::set<std::string> out;
    if (!leftovers_) return out;
    for (const auto& [vm, cr] : leftovers_->records)
        if (cr.init_pid > 0 && leftovers_->children.count(cr.init_pid))
            out.insert(cr.veths.begin(), cr.veths.end());
    return out;
}

bool ContainerRuntime::adoptOne(Vm& vm, runtime::ContainerRecord& cr, std::set<std::string>& taken,
                                std::set<int>& pids, std::set<std::string>& cgroups) {
    using runtime::Container;
    const int id = vm.id;
    if (!opts_.base_dir->exists(runtime::instanceDirName(id))) {
        HERD_LOG(warn, "records: vm {} ({}): its directory is gone: dropped", id, vm.name);
        return false;
    }
    auto& held = leftovers_->held;
    auto take = [&](const std::string& key) {
        unique_fd fd;
        auto it = held.find(key);
        if (it != held.end() && !it->second.empty()) fd = std::move(it->second.front());
        return fd;
    };
    Container::Kept kept;
    kept.console_master = take(Container::consoleKey(id));
    if (kept.console_master) taken.insert(Container::consoleKey(id));
    kept.disk = take(Container::diskKey(id));
    if (kept.disk) taken.insert(Container::diskKey(id));
    unique_fd cc = take(Container::ccKey(id));
    unique_fd sync = take(Container::syncKey(id));

    // Whether the record's init still runs, and is the record's.
    std::string why;
    bool ended_well = false;
    const bool was_up = inStates(vm.state, kKillable);
    if (was_up) {
        const int pid = cr.init_pid;
        if (pid <= 0) {
            why = "no init was recorded";
        } else if (!leftovers_->children.count(pid)) {
            auto st = keeper_ ? keeper_->exitStatus(pid, milliseconds(200)) : std::nullopt;
            why = st ? "its init ended while no daemon ran (" + describeStatus(*st) + ")"
                     : "its init is gone (the keeper ended)";
            ended_well = st && WIFEXITED(*st) && WEXITSTATUS(*st) == 0 && cr.released;
        } else if (runtime::processStartTime(pid) != cr.init_start) {
            why = "pid " + std::to_string(pid) + " is another process now";
        } else if (vm.state == VmState::Building && !sync) {
            why = "BUILDING, but the keeper held no sync socket to start it with";
        } else {
            kept.pidfd.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
            if (!kept.pidfd) why = Error::sysNow("pidfd_open", "pid " + std::to_string(pid)).text();
            if (kept.pidfd && vm.state == VmState::Building) {
                kept.sync = std::move(sync);
                taken.insert(Container::syncKey(id));
            }
        }
    }
    const bool live = bool(kept.pidfd);
    Container& c = containerOf(vm);
    if (auto r = c.adopt(cr, std::move(kept)); !r.ok()) {
        // The init (if any) is nobody's now: the sweep of children kills it.
        why = r.error().text();
    } else if (live) {
        pids.insert(cr.init_pid);
        if (!cr.cgroup.empty()) cgroups.insert(cr.cgroup);
        vm.pid = cr.init_pid;
        vm.console_port = c.console() ? c.console()->tcpPort() : 0;
        watcher_->watch(id, c.generation(), c.pidfd());
    }
    if (was_up && !find(id)->running()) {
        vm.pid = 0;
        for (auto& n : vm.config.networks) {
            n.ip4.clear();
            n.ip6.clear();
            n.qos = {};
        }
        if (ended_well) {
            vm.state = VmState::Quit;
        } else {
            vm.state = VmState::Error;
            vm.tags()["error"] = why;
        }
        HERD_LOG(warn, "adopt: vm {} ({}): {}", id, vm.name, why);
    }
    vms_[id] = &vm;
    if (cc && backchannel_.adopt) {
        if (auto r = backchannel_.adopt(vm, cc.get()); r.ok()) {
            taken.insert(Container::ccKey(id));
        } else {
            HERD_LOG(warn, "adopt: vm {} ({}): cc: {}", id, vm.name, r.error().text());
        }
    }
    return true;
}

void ContainerRuntime::reattach(const std::vector<Vm*>& vms) {
    auto nl = runtime::Netlink::open();
    if (!nl.ok()) {
        HERD_LOG(warn, "adopt: network: {}", nl.error().text());
        return;
    }
    std::vector<runtime::SwitchBackend::PortRequest> reqs;
    std::vector<QosRequest> qos;
    for (Vm* vm : vms) {
        auto& nets = vm->config.networks;
        for (size_t i = 0; i < nets.size(); ++i) {
            NetConfig& n = nets[i];
            if (n.tap.empty() || n.vlan == kDisconnectedVlan) continue;
            auto plan = runtime::planPort(*switch_, {n.bridge, n.vlan, true});
            Result<void> r = plan.ok() ? Result<void>(Ok()) : Result<void>(plan.error());
            if (r.ok() && plan->master > 0) r = nl->setMaster(n.tap, plan->master);
            if (!r.ok()) {
                HERD_LOG(warn, "adopt: vm {} nic {}: {}", vm->name, i, r.error().text());
                continue;
            }
            reqs.push_back({n.tap, *plan});
            if (!n.qos.empty()) qos.push_back({vm, i, n.qos});
        }
    }
    if (auto r = switch_->attachMany(reqs); !r.ok()) {
        HERD_LOG(warn, "adopt: network: {}", r.error().text());
    }
    // The qdiscs outlived the daemon on the veths; a delay line (kernels
    // without netem) did not. Shaping again replaces either.
    auto results = applyQos(qos);
    for (size_t k = 0; k < qos.size(); ++k) {
        if (k < results.size() && !results[k].ok()) {
            HERD_LOG(warn, "adopt: vm {} nic {}: qos: {}", qos[k].vm->name, qos[k].nic,
                     results[k].error().text());
            qos[k].vm->config.networks[qos[k].nic].qos = {};
        }
    }
}

std::vector<std::unique_ptr<Vm>> ContainerRuntime::adoptLeftovers() {
    std::vector<std::unique_ptr<Vm>> out;
    std::set<std::string> taken, cgroups;
    std::set<int> pids;
    std::vector<Vm*> up;
    if (leftovers_) {
        for (auto& [vm, cr] : leftovers_->records) {
            if (!adoptOne(*vm, cr, taken, pids, cgroups)) {
                dropRecord(vm->id);
                continue;
            }
            if (find(vm->id)->running()) up.push_back(vm.get());
            out.push_back(std::move(vm));
        }
        // Containers no record names (a launch the dead daemon had not
        // finished): killed, and what they held let go.
        for (int pid : leftovers_->children) {
            if (pids.count(pid)) continue;
            HERD_LOG(warn, "adopt: killing pid {}, a container no record names", pid);
            killPid(pid);
        }
        for (const auto& [key, fds] : leftovers_->held)
            if (!taken.count(key) && keeper_) keeper_->drop(key);
        leftovers_.reset();
    }
    if (auto r = cgroups_->removeExcept(cgroups); !r.ok()) {
        HERD_LOG(warn, "adopt: cgroups left: {}", r.error().text());
    }
    reattach(up);
    // Instance directories no VM has any more.
    std::vector<std::string> stale;
    if (auto names = opts_.base_dir->list(); names.ok()) {
        for (const auto& n : *names)
            if (isNumber(n) && !vms_.count(std::atoi(n.c_str()))) stale.push_back(n);
    }
    runtime::parallelFor(stale.size(), opts_.workers, [&](size_t i) {
        if (auto r = opts_.base_dir->removeTree(stale[i]); !r.ok())
            HERD_LOG(warn, "adopt: {}", r.error().text());
    });
    for (const auto& vm : out) saveRecord(*vm);
    syncRecords();
    if (!out.empty()) {
        HERD_LOG(info, "adopted {} VMs ({} running) a previous daemon left", out.size(), up.size());
    }
    return out;
}

// ---- quit keep -------------------------------------------------------------

void ContainerRuntime::keepAll() {
    applyAddresses();
    watcher_.reset();  // nothing is reaped here any more
    for (auto& [id, vm] : vms_) saveRecord(*vm);
    syncRecords();
    keeping_ = true;
    for (auto& [key, line] : delay_lines_) line->close(nullptr);
    delay_lines_.clear();
    for (auto& [id, c] : containers_) c->abandon();
    containers_.clear();
    vms_.clear();
}

}  // namespace herd
