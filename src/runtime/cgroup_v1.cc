// cgroup v1: one hierarchy per controller (this host's layout).
#include <signal.h>

#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "runtime/cgroup.h"
#include "runtime/cgroup_fs.h"

namespace herd::runtime {

namespace {

class CgroupV1 : public Cgroup {
  public:
    CgroupV1(std::string name, std::map<std::string, std::string> dirs)
        : name_(std::move(name)), dirs_(std::move(dirs)) {}

    const std::string& name() const override { return name_; }

    Result<void> attach(int pid) override {
        std::set<std::string> done;
        for (const auto& [ctrl, dir] : dirs_) {
            if (!done.insert(dir).second) continue;  // co-mounted controllers
            HERD_TRY(cgfs::write(dir + "/cgroup.procs", std::to_string(pid)));
        }
        return Ok();
    }

    Result<void> freeze() override {
        const std::string state = dir("freezer") + "/freezer.state";
        HERD_TRY(cgfs::write(state, "FROZEN"));
        // FREEZING -> FROZEN takes a few ms for many tasks.
        for (int i = 0; i < 2000; ++i) {
            auto s = cgfs::read(state);
            if (s.ok() && s->rfind("FROZEN", 0) == 0) return Ok();
            std::this_thread::sleep_for(std::chrono::microseconds(500));
        }
        return Error::msg("freeze " + name_ + ": still FREEZING after 1 s");
    }

    Result<void> thaw() override {
        return cgfs::write(dir("freezer") + "/freezer.state", "THAWED");
    }

    Result<void> kill() override {
        // Frozen tasks cannot fork while we signal them; SIGKILL is delivered
        // once they are thawed.
        auto fr = freeze();
        // cgroup.procs shows 0 for a process outside the reader's PID
        // namespace; kill(0) would signal the daemon's own process group.
        for (int pid : procs())
            if (pid > 0) ::kill(pid, SIGKILL);
        auto th = thaw();
        if (!fr.ok()) return fr;
        return th;
    }

    Result<void> remove() override {
        // Reclaim the page cache still charged to the group first: otherwise
        // the removed memcg lingers in the kernel ("dying") until memory
        // pressure frees those pages, and thousands of them slow down every
        // later cgroup and container on the host.
        (void)cgfs::write(dir("memory") + "/memory.force_empty", "0");
        std::set<std::string> done;
        Result<void> first = Ok();
        for (const auto& [ctrl, d] : dirs_) {
            if (!done.insert(d).second) continue;
            auto r = cgfs::rmdirRetry(d);
            if (!r.ok() && first.ok()) first = r;
        }
        return first;
    }

    Result<CgroupStats> stats() override {
        CgroupStats st;
        auto mem = cgfs::readCounter(dir("memory") + "/memory.usage_in_bytes");
        if (!mem.ok()) return mem.error();
        st.memory_bytes = *mem;
        std::string acct = dirs_.count("cpuacct") ? dirs_["cpuacct"] : "";
        if (!acct.empty()) {
            auto cpu = cgfs::readCounter(acct + "/cpuacct.usage");
            if (!cpu.ok()) return cpu.error();
            st.cpu_ns = *cpu;
        }
        st.procs = procs().size();
        return st;
    }

    std::vector<int> procs() override { return cgfs::readPids(dir("freezer") + "/cgroup.procs"); }

  private:
    std::string dir(const std::string& ctrl) {
        auto it = dirs_.find(ctrl);
        return it == dirs_.end() ? std::string() : it->second;
    }
    std::string name_;
    std::map<std::string, std::string> dirs_;  // controller -> this group's dir
};

class DriverV1 : public CgroupDriver {
  public:
    DriverV1(std::vector<std::pair<std::string, std::string>> mounts, std::string prefix)
        : prefix_(std::move(prefix)) {
        for (auto& [ctrl, dir] : mounts) mounts_[ctrl] = dir;
    }

    const char* version() const override { return "v1"; }

    Result<void> setup() override {
        if (ready_) return Ok();
        for (const char* need : {"memory", "cpu", "pids", "devices", "freezer"}) {
            if (!mounts_.count(need)) {
                return Error::msg(std::string("cgroup v1: no hierarchy with the ") + need +
                                  " controller is mounted");
            }
        }
        for (const auto& d : distinctDirs()) HERD_TRY(cgfs::mkdirOk(d + "/" + prefix_));
        // Older kernels need hierarchical accounting switched on; newer ones
        // always have it and refuse the write, which is fine.
        (void)cgfs::write(mounts_["memory"] + "/" + prefix_ + "/memory.use_hierarchy", "1");
        // Device rules live on the daemon's group: container groups inherit
        // them when created, and can never widen them.
        const std::string dev = mounts_["devices"] + "/" + prefix_;
        // Only while the group still allows everything (a fresh group; the
        // kernel refuses `deny a` once it has children).
        auto list = cgfs::read(dev + "/devices.list");
        if (list.ok() && list->find("a *:* rwm") != std::string::npos) {
            HERD_TRY(cgfs::write(dev + "/devices.deny", "a"));
            for (const auto& r : defaultDeviceRules()) {
                std::string minor = r.minor < 0 ? "*" : std::to_string(r.minor);
                HERD_TRY(cgfs::write(
                    dev + "/devices.allow",
                    std::string(1, r.type) + " " + std::to_string(r.major) + ":" + minor + " rwm"));
            }
        }
        return Ok();
    }

    Result<std::unique_ptr<Cgroup>> create(const std::string& name,
                                           const CgroupLimits& limits) override {
        std::map<std::string, std::string> dirs;
        for (const auto& [ctrl, root] : mounts_) dirs[ctrl] = root + "/" + prefix_ + "/" + name;
        auto cg = std::make_unique<CgroupV1>(name, dirs);
        std::set<std::string> made;
        auto undo = [&] {
            for (const auto& d : made) (void)cgfs::rmdirRetry(d, 0);
        };
        for (const auto& [ctrl, d] : dirs) {
            if (made.count(d)) continue;
            if (auto r = cgfs::mkdirOk(d); !r.ok()) {
                undo();
                return r.error();
            }
            made.insert(d);
        }
        auto set = [&]() -> Result<void> {
            if (limits.memory_bytes) {
                HERD_TRY(cgfs::write(dirs["memory"] + "/memory.limit_in_bytes",
                                     std::to_string(limits.memory_bytes)));
                // Without this, the excess goes to swap instead of the OOM killer.
                std::string memsw = dirs["memory"] + "/memory.memsw.limit_in_bytes";
                if (cgfs::exists(memsw)) {
                    HERD_TRY(cgfs::write(memsw, std::to_string(limits.memory_bytes)));
                }
            }
            if (limits.vcpus) {
                HERD_TRY(cgfs::write(dirs["cpu"] + "/cpu.cfs_period_us", "100000"));
                HERD_TRY(cgfs::write(dirs["cpu"] + "/cpu.cfs_quota_us",
                                     std::to_string(limits.vcpus * 100000)));
            }
            if (limits.pids_max) {
                HERD_TRY(cgfs::write(dirs["pids"] + "/pids.max", std::to_string(limits.pids_max)));
            }
            return Ok();
        };
        if (auto r = set(); !r.ok()) {
            undo();
            return r.error();
        }
        return std::unique_ptr<Cgroup>(std::move(cg));
    }

    Result<std::unique_ptr<Cgroup>> open(const std::string& name) override {
        std::map<std::string, std::string> dirs;
        for (const auto& [ctrl, root] : mounts_) dirs[ctrl] = root + "/" + prefix_ + "/" + name;
        for (const auto& [ctrl, d] : dirs)
            if (!cgfs::exists(d)) return Error::sys(ENOENT, "open cgroup", d);
        return std::unique_ptr<Cgroup>(std::make_unique<CgroupV1>(name, dirs));
    }

    Result<void> removeExcept(const std::set<std::string>& keep) override {
        Result<void> first = Ok();
        const std::string freezer = mounts_["freezer"] + "/" + prefix_;
        // Kill through the freezer hierarchy first: every task of every
        // container is there.
        for (const auto& child : cgfs::subdirs(freezer)) {
            if (keep.count(child)) continue;
            std::map<std::string, std::string> dirs;
            for (const auto& [ctrl, root] : mounts_)
                dirs[ctrl] = root + "/" + prefix_ + "/" + child;
            CgroupV1 cg(child, dirs);
            (void)cg.kill();
            for (int i = 0; i < 400 && !cg.procs().empty(); ++i) {
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
            }
        }
        for (const auto& d : distinctDirs()) {
            const std::string mine = d + "/" + prefix_;
            for (const auto& child : cgfs::subdirs(mine)) {
                if (keep.count(child)) continue;
                auto r = cgfs::rmdirRetry(mine + "/" + child, 2000);
                if (!r.ok() && first.ok()) first = r;
            }
        }
        return first;
    }

    Result<void> nuke() override {
        ready_ = false;
        Result<void> first = removeExcept({});
        for (const auto& d : distinctDirs()) {
            const std::string mine = d + "/" + prefix_;
            if (cgfs::exists(mine)) {
                auto r = cgfs::rmdirRetry(mine, 2000);
                if (!r.ok() && first.ok()) first = r;
            }
        }
        return first;
    }

  private:
    std::set<std::string> distinctDirs() {
        std::set<std::string> s;
        for (const auto& [ctrl, d] : mounts_) s.insert(d);
        return s;
    }
    std::map<std::string, std::string> mounts_;
    std::string prefix_;
    bool ready_ = false;
};

}  // namespace

std::unique_ptr<CgroupDriver> makeCgroupV1(std::vector<std::pair<std::string, std::string>> mounts,
                                           const std::string& prefix) {
    return std::make_unique<DriverV1>(std::move(mounts), prefix);
}

}  // namespace herd::runtime
