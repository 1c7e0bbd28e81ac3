// Durability of the container runtime (docs/durability.md): the records of
// VMs on disk, the adoption of what a previous daemon on the same base left
// running under the keeper, and `quit keep`.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>

#include "base/log.h"
#include "runtime/parallel.h"
#include "service/container_runtime.h"
#include "service/record_journal.h"
#include "service/vm_record.h"

namespace herd {

namespace {

std::string describeStatus(int status) {
    if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return std::string("killed by ") + strsignal(WTERMSIG(status));
    return "status " + std::to_string(status);
}

// Field 4 of /proc/<pid>/stat: the parent's pid (0 when it cannot be read).
int parentOf(int pid) {
    char buf[512];
    const std::string path = "/proc/" + std::to_string(pid) + "/stat";
    unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    ssize_t n = fd ? ::read(fd.get(), buf, sizeof buf - 1) : -1;
    if (n <= 0) return 0;
    buf[n] = 0;
    const char* paren = std::strrchr(buf, ')');  // the name may hold anything
    int ppid = 0;
    char state = 0;
    if (!paren || std::sscanf(paren + 1, " %c %d", &state, &ppid) != 2) return 0;
    return ppid;
}

bool isNumber(const std::string& s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

}  // namespace

// ---- records ---------------------------------------------------------------

std::string ContainerRuntime::recordOf(const Vm& vm) const {
    auto* c = find(vm.id);
    runtime::ContainerRecord none;
    none.id = vm.id;
    none.name = vm.name;
    none.uuid = vm.uuid();
    return vmRecordJson(vm, c ? c->record() : none);
}

void ContainerRuntime::saveRecord(const Vm& vm) {
    if (!journal_ || keeping_) return;
    if (auto r = journal_->put(vm.id, recordOf(vm)); !r.ok()) {
        HERD_LOG(warn, "records: vm {} ({}): {}", vm.id, vm.name, r.error().text());
    }
    if (journal_->wantsCompaction()) compactRecords();
}

void ContainerRuntime::compactRecords() {
    if (!journal_) return;
    std::map<int, std::string> live;
    for (const auto& [id, vm] : vms_) live[id] = recordOf(*vm);
    if (auto r = journal_->compact(live); !r.ok()) HERD_LOG(warn, "records: {}", r.error().text());
}

void ContainerRuntime::dropRecord(int id) {
    if (!journal_ || keeping_) return;
    if (auto r = journal_->drop(id); !r.ok()) HERD_LOG(warn, "records: {}", r.error().text());
}

void ContainerRuntime::syncRecords() {
    if (!journal_) return;
    if (auto r = journal_->sync(); !r.ok()) HERD_LOG(warn, "records: {}", r.error().text());
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
    auto journal = RecordJournal::open(std::move(*dir));
    if (!journal.ok()) {
        HERD_LOG(warn, "records: {}", journal.error().text());
        return;
    }
    journal_ = std::make_unique<RecordJournal>(std::move(*journal));
    if (journal_->skipped() > 0) {
        HERD_LOG(warn, "records: {} torn or unreadable lines skipped", journal_->skipped());
    }
    for (const auto& [id, text] : journal_->loaded()) {
        auto rec = parseVmRecord(text, opts_.base, opts_.hostname);
        if (!rec.ok() || rec->vm->id != id) {
            // Nothing to bring back: its container and instance directory
            // go with the other leftovers.
            HERD_LOG(warn, "records: vm {}: {}", id,
                     rec.ok() ? "the record is another VM's" : rec.error().text());
            continue;
        }
        for (const auto& w : rec->warnings)
            HERD_LOG(warn, "records: vm {} ({}): {}: left at its default", rec->vm->id,
                     rec->vm->name, w);
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
    const bool had_console = bool(kept.console_master);
    kept.disk = take(Container::diskKey(id));
    {
        // A disk the keeper keeps as a mount comes without a descriptor.
        auto it = held.find(Container::diskKey(id));
        kept.disk_kept = !kept.disk && it != held.end() && it->second.empty();
    }
    if (kept.disk || kept.disk_kept) taken.insert(Container::diskKey(id));
    unique_fd cc = take(Container::ccKey(id));

    // Whether the record's init still runs, and is the record's: it is a
    // child the keeper has not reaped (so its pid cannot have been reused
    // since the keeper listed it), and its start time is the record's.
    std::string why;
    bool ended_well = false;
    const bool was_up = inStates(vm.state, kKillable);
    if (was_up) {
        const int pid = cr.init_pid;
        kept.live = pid > 0 && leftovers_->children.count(pid);
        if (pid <= 0) {
            why = "no init was recorded";
        } else if (!kept.live) {
            auto st = leftovers_->exits.find(pid);
            why = st != leftovers_->exits.end()
                      ? "its init ended while no daemon ran (" + describeStatus(st->second) + ")"
                      : "its init is gone (the keeper ended)";
            ended_well = st != leftovers_->exits.end() && WIFEXITED(st->second) &&
                         WEXITSTATUS(st->second) == 0 && cr.released;
        } else if (runtime::processStartTime(pid) != cr.init_start ||
                   parentOf(pid) != (keeper_ ? keeper_->pid() : ::getpid())) {
            why = "pid " + std::to_string(pid) + " is another process now";
            kept.live = false;
        } else {
            // The keeper says whether it still waits for `vm start`; one
            // that does not has exec'd (a start the dead daemon did not
            // finish, when the record says BUILDING).
            kept.waiting = leftovers_->waiting.count(pid) > 0;
            kept.serial = leftovers_->children[pid];
            if (vm.state == VmState::Building && !kept.waiting) {
                vm.state = VmState::Running;
                cr.released = true;
            }
        }
    }
    const bool live = kept.live;
    Container& c = containerOf(vm);
    if (auto r = c.adopt(cr, std::move(kept)); !r.ok()) {
        // The init (if any) is nobody's now: the sweep of children kills it.
        why = r.error().text();
    } else if (live) {
        pids.insert(cr.init_pid);
        if (!cr.cgroup.empty()) cgroups.insert(cr.cgroup);
        vm.pid = cr.init_pid;
        vm.console_port = c.console() ? c.console()->tcpPort() : 0;
        watchExit(vm.id, c);
    }
    if (had_console && c.console()) taken.insert(Container::consoleKey(id));
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
    std::vector<runtime::SwitchBackend::AdoptedPort> ports;
    std::vector<std::pair<Vm*, size_t>> owners;
    std::vector<QosRequest> qos;
    for (Vm* vm : vms) {
        auto& nets = vm->config.networks;
        for (size_t i = 0; i < nets.size(); ++i) {
            NetConfig& n = nets[i];
            if (n.tap.empty() || n.vlan == kDisconnectedVlan) continue;
            ports.push_back({n.tap, n.bridge, n.vlan});
            owners.emplace_back(vm, i);
        }
    }
    // Always called, even with no port: the switch also removes the
    // prefix's bridges that no adopted port is on.
    auto results = switch_->adoptPorts(*nl, ports);
    for (size_t k = 0; k < ports.size(); ++k) {
        auto [vm, i] = owners[k];
        if (!results[k].ok()) {
            HERD_LOG(warn, "adopt: vm {} nic {}: {}", vm->name, i, results[k].error().text());
            continue;
        }
        if (!vm->config.networks[i].qos.empty()) qos.push_back({vm, i, vm->config.networks[i].qos});
    }
    // The qdiscs outlived the daemon on the veths; a delay line (kernels
    // without netem) did not. Shaping again replaces either.
    auto shaped = applyQos(qos);
    for (size_t k = 0; k < qos.size(); ++k) {
        if (k < shaped.size() && !shaped[k].ok()) {
            HERD_LOG(warn, "adopt: vm {} nic {}: qos: {}", qos[k].vm->name, qos[k].nic,
                     shaped[k].error().text());
            qos[k].vm->config.networks[qos[k].nic].qos = {};
        }
    }
}

std::vector<std::unique_ptr<Vm>> ContainerRuntime::adoptLeftovers() {
    std::vector<std::unique_ptr<Vm>> out;
    std::set<std::string> taken, cgroups;
    std::set<int> pids;
    std::vector<Vm*> up;
    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    auto t_vms = t0, t_cgroups = t0, t_net = t0, t_dirs = t0;
    if (leftovers_) {
        // How the recorded inits that are gone ended, asked once.
        std::vector<int> gone;
        for (const auto& [vm, cr] : leftovers_->records)
            if (cr.init_pid > 0 && !leftovers_->children.count(cr.init_pid))
                gone.push_back(cr.init_pid);
        if (keeper_ && !gone.empty()) {
            auto e = keeper_->exits(gone);
            if (e.ok()) {
                leftovers_->exits = std::move(*e);
            } else {
                HERD_LOG(warn, "adopt: {}", e.error().text());
            }
        }
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
        for (const auto& [pid, serial] : leftovers_->children) {
            if (pids.count(pid)) continue;
            HERD_LOG(warn, "adopt: killing pid {}, a container no record names", pid);
            parent_->kill({pid, serial}, SIGKILL);
        }
        for (const auto& [key, fds] : leftovers_->held)
            if (!taken.count(key) && keeper_) keeper_->drop(key);
        leftovers_.reset();
        // The rings of VMs that were not adopted are free again.
        if (scrollbacks_) {
            std::set<int> live;
            for (const auto& vm : out) live.insert(vm->id);
            scrollbacks_->releaseExcept(live);
        }
    }
    t_vms = clock::now();
    if (auto r = cgroups_->removeExcept(cgroups); !r.ok()) {
        HERD_LOG(warn, "adopt: cgroups left: {}", r.error().text());
    }
    t_cgroups = clock::now();
    reattach(up);
    t_net = clock::now();
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
    t_dirs = clock::now();
    compactRecords();  // exactly the adopted VMs, as they are now
    if (!out.empty()) {
        auto ms = [](clock::duration d) {
            return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
        };
        HERD_LOG(info,
                 "adopted {} VMs ({} with a container) a previous daemon left in {} ms: VMs {}, "
                 "cgroups {}, network {}, directories {}, records {}",
                 out.size(), up.size(), ms(clock::now() - t0), ms(t_vms - t0),
                 ms(t_cgroups - t_vms), ms(t_net - t_cgroups), ms(t_dirs - t_net),
                 ms(clock::now() - t_dirs));
    }
    return out;
}

// ---- quit keep -------------------------------------------------------------

void ContainerRuntime::keepAll() {
    applyAddresses();
    exits_open_->store(false);  // nothing is reaped here any more
    compactRecords();           // every record, as it is now, synced
    // The consoles' scrollback stays in its rings, which the keeper holds.
    keeping_ = true;
    for (auto& [key, line] : delay_lines_) line->close(nullptr);
    delay_lines_.clear();
    for (auto& [id, c] : containers_) c->abandon();
    containers_.clear();
    vms_.clear();
}

}  // namespace herd
