// cgroup v2: one unified hierarchy. Device rules are an eBPF program attached
// to the daemon's group (v2 has no devices files).
#include <fcntl.h>
#include <linux/bpf.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <sstream>
#include <thread>

#include "base/unique_fd.h"
#include "runtime/cgroup.h"
#include "runtime/cgroup_fs.h"

namespace herd::runtime {

namespace {

// ---- the device program ----------------------------------------------------

bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
    bpf_insn i{};
    i.code = code;
    i.dst_reg = dst;
    i.src_reg = src;
    i.off = off;
    i.imm = imm;
    return i;
}

// For each allowed device: if type, major (and minor unless any) match,
// return 1 (allow); else fall through; finally return 0 (deny).
// ctx (r1) is struct bpf_cgroup_dev_ctx {u32 access_type; u32 major; u32 minor;}
// with the device type in the low 16 bits of access_type.
std::vector<bpf_insn> deviceProgram(const std::vector<DeviceRule>& rules) {
    std::vector<bpf_insn> p;
    p.push_back(insn(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_2, BPF_REG_1, 0, 0));
    p.push_back(insn(BPF_ALU64 | BPF_AND | BPF_K, BPF_REG_2, 0, 0, 0xffff));
    p.push_back(insn(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_4, BPF_REG_1, 4, 0));
    p.push_back(insn(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_5, BPF_REG_1, 8, 0));
    for (const auto& r : rules) {
        const int type = r.type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR;
        const bool any_minor = r.minor < 0;
        // Instructions after each compare up to the end of this rule.
        const int16_t skip_after_type = any_minor ? 3 : 4;
        p.push_back(insn(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_2, 0, skip_after_type, type));
        p.push_back(insn(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_4, 0, any_minor ? 2 : 3, r.major));
        if (!any_minor) p.push_back(insn(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_5, 0, 2, r.minor));
        p.push_back(insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 1));
        p.push_back(insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
    }
    p.push_back(insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0));
    p.push_back(insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
    return p;
}

Result<void> attachDeviceProgram(const std::string& dir) {
    // A previous daemon of this prefix attached one (the subtree outlives
    // it when it dies or quits with `quit keep`): programs attached with
    // ALLOW_MULTI pile up, and the kernel refuses the 65th.
    {
        unique_fd cg(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!cg) return Error::sysNow("open", dir);
        bpf_attr q{};
        q.query.target_fd = static_cast<uint32_t>(cg.get());
        q.query.attach_type = BPF_CGROUP_DEVICE;
        if (syscall(SYS_bpf, BPF_PROG_QUERY, &q, sizeof q) == 0 && q.query.prog_cnt > 0)
            return Ok();
    }
    auto prog = deviceProgram(defaultDeviceRules());
    char log[4096] = {};
    bpf_attr load{};
    load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    load.insns = reinterpret_cast<uint64_t>(prog.data());
    load.insn_cnt = static_cast<uint32_t>(prog.size());
    load.license = reinterpret_cast<uint64_t>("GPL");
    load.log_buf = reinterpret_cast<uint64_t>(log);
    load.log_size = sizeof log;
    load.log_level = 1;
    unique_fd pfd(static_cast<int>(syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof load)));
    if (!pfd) return Error::sysNow("load device program for", dir);
    unique_fd cg(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!cg) return Error::sysNow("open", dir);
    bpf_attr at{};
    at.target_fd = static_cast<uint32_t>(cg.get());
    at.attach_bpf_fd = static_cast<uint32_t>(pfd.get());
    at.attach_type = BPF_CGROUP_DEVICE;
    at.attach_flags = BPF_F_ALLOW_MULTI;
    if (syscall(SYS_bpf, BPF_PROG_ATTACH, &at, sizeof at) != 0) {
        return Error::sysNow("attach device program to", dir);
    }
    return Ok();  // the program stays attached after its fd closes
}

// ---- groups ----------------------------------------------------------------

class CgroupV2 : public Cgroup {
  public:
    CgroupV2(std::string name, std::string dir) : name_(std::move(name)), dir_(std::move(dir)) {}

    const std::string& name() const override { return name_; }
    Result<void> attach(int pid) override {
        return cgfs::write(dir_ + "/cgroup.procs", std::to_string(pid));
    }

    Result<void> freeze() override {
        HERD_TRY(cgfs::write(dir_ + "/cgroup.freeze", "1"));
        for (int i = 0; i < 2000; ++i) {
            auto ev = cgfs::read(dir_ + "/cgroup.events");
            if (!ev.ok()) return ev.error();
            if (ev->find("frozen 1") != std::string::npos) return Ok();
            std::this_thread::sleep_for(std::chrono::microseconds(500));
        }
        return Error::msg("freeze " + name_ + ": not frozen after 1 s");
    }

    Result<void> thaw() override { return cgfs::write(dir_ + "/cgroup.freeze", "0"); }

    Result<void> kill() override {
        // cgroup.kill (Linux 5.14) kills frozen tasks too, without a race
        // against forks. Fall back to signalling each task.
        if (cgfs::exists(dir_ + "/cgroup.kill")) return cgfs::write(dir_ + "/cgroup.kill", "1");
        auto fr = freeze();
        // cgroup.procs shows 0 for a process outside the reader's PID
        // namespace; kill(0) would signal the daemon's own process group.
        for (int pid : procs())
            if (pid > 0) ::kill(pid, SIGKILL);
        auto th = thaw();
        return fr.ok() ? th : fr;
    }

    Result<void> remove() override {
        // As on v1: reclaim what is still charged so the group does not
        // linger as a dying memcg (memory.reclaim, Linux 5.19).
        if (cgfs::exists(dir_ + "/memory.reclaim")) {
            (void)cgfs::write(dir_ + "/memory.reclaim", "1G");
        }
        return cgfs::rmdirRetry(dir_);
    }

    Result<CgroupStats> stats() override {
        CgroupStats st;
        auto mem = cgfs::readCounter(dir_ + "/memory.current");
        if (!mem.ok()) return mem.error();
        st.memory_bytes = *mem;
        if (auto c = cgfs::read(dir_ + "/cpu.stat"); c.ok()) {
            std::istringstream in(*c);
            std::string key;
            uint64_t v;
            while (in >> key >> v) {
                if (key == "usage_usec") st.cpu_ns = v * 1000;
            }
        }
        st.procs = procs().size();
        return st;
    }

    std::vector<int> procs() override { return cgfs::readPids(dir_ + "/cgroup.procs"); }

  private:
    std::string name_;
    std::string dir_;
};

class DriverV2 : public CgroupDriver {
  public:
    DriverV2(std::string mount, std::string prefix)
        : mount_(std::move(mount)), prefix_(std::move(prefix)), mine_(mount_ + "/" + prefix_) {}

    const char* version() const override { return "v2"; }

    Result<void> setup() override {
        if (ready_) return Ok();
        HERD_TRY(cgfs::mkdirOk(mine_));
        // Enable what the host delegates to us; a missing controller only
        // means that limit is not applied (reported by `check`).
        auto have = cgfs::read(mount_ + "/cgroup.controllers");
        std::string enable;
        if (have.ok()) {
            for (const char* c : {"memory", "cpu", "pids"}) {
                if (have->find(c) != std::string::npos) {
                    enable += std::string(enable.empty() ? "" : " ") + "+" + c;
                    controllers_ += std::string(" ") + c;
                }
            }
        }
        if (!enable.empty()) {
            HERD_TRY(cgfs::write(mount_ + "/cgroup.subtree_control", enable));
            HERD_TRY(cgfs::write(mine_ + "/cgroup.subtree_control", enable));
        }
        if (!device_program_attached_) {
            HERD_TRY(attachDeviceProgram(mine_));
            device_program_attached_ = true;
        }
        ready_ = true;
        return Ok();
    }

    Result<std::unique_ptr<Cgroup>> create(const std::string& name,
                                           const CgroupLimits& limits) override {
        const std::string dir = mine_ + "/" + name;
        HERD_TRY(cgfs::mkdirOk(dir));
        auto set = [&]() -> Result<void> {
            if (limits.memory_bytes && has("memory")) {
                HERD_TRY(cgfs::write(dir + "/memory.max", std::to_string(limits.memory_bytes)));
                if (cgfs::exists(dir + "/memory.swap.max")) {
                    HERD_TRY(cgfs::write(dir + "/memory.swap.max", "0"));
                }
            }
            if (limits.vcpus && has("cpu")) {
                HERD_TRY(cgfs::write(dir + "/cpu.max",
                                     std::to_string(limits.vcpus * 100000) + " 100000"));
            }
            if (limits.pids_max && has("pids")) {
                HERD_TRY(cgfs::write(dir + "/pids.max", std::to_string(limits.pids_max)));
            }
            return Ok();
        };
        if (auto r = set(); !r.ok()) {
            (void)cgfs::rmdirRetry(dir, 0);
            return r.error();
        }
        return std::unique_ptr<Cgroup>(std::make_unique<CgroupV2>(name, dir));
    }

    Result<std::unique_ptr<Cgroup>> open(const std::string& name) override {
        const std::string dir = mine_ + "/" + name;
        if (!cgfs::exists(dir)) return Error::sys(ENOENT, "open cgroup", dir);
        return std::unique_ptr<Cgroup>(std::make_unique<CgroupV2>(name, dir));
    }

    Result<void> removeExcept(const std::set<std::string>& keep) override {
        Result<void> first = Ok();
        for (const auto& child : cgfs::subdirs(mine_)) {
            if (keep.count(child)) continue;
            CgroupV2 cg(child, mine_ + "/" + child);
            (void)cg.kill();
            for (int i = 0; i < 400 && !cg.procs().empty(); ++i) {
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
            }
            auto r = cg.remove();
            if (!r.ok() && first.ok()) first = r;
        }
        return first;
    }

    Result<void> nuke() override {
        ready_ = false;
        device_program_attached_ = skip_devices_;
        Result<void> first = removeExcept({});
        if (cgfs::exists(mine_)) {
            auto r = cgfs::rmdirRetry(mine_, 2000);
            if (!r.ok() && first.ok()) first = r;
        }
        return first;
    }

    // Tests on a fake tree skip the device program (it needs a real cgroup).
    void skipDeviceProgram() { device_program_attached_ = skip_devices_ = true; }

  private:
    bool has(const char* c) const { return controllers_.find(c) != std::string::npos; }
    std::string mount_, prefix_, mine_;
    std::string controllers_;
    bool device_program_attached_ = false;
    bool skip_devices_ = false;
    bool ready_ = false;
};

}  // namespace

std::unique_ptr<CgroupDriver> makeCgroupV2(const std::string& mount, const std::string& prefix,
                                           bool device_program) {
    auto d = std::make_unique<DriverV2>(mount, prefix);
    if (!device_program) d->skipDeviceProgram();
    return d;
}

}  // namespace herd::runtime
