// Commands that only make sense with the container runtime: `vm top` and
// `nuke`.
#include <fmt/format.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <fstream>
#include <thread>

#include "runtime/cgroup.h"
#include "service/bridges.h"
#include "service/commands/commands.h"
#include "service/commands/vm_internal.h"
#include "service/gostr.h"
#include "service/hostnet.h"
#include "service/vm_ops.h"

namespace herd {

namespace {

using cli::Command;

struct TopSample {
    int id;  // looked up again after the window: the VM may be gone by then
    uint64_t cpu0 = 0;
};

// Sums statm (pages) over processes: virtual, resident, shared, in MiB.
std::array<uint64_t, 3> memoryOf(const std::vector<int>& pids) {
    static const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    std::array<uint64_t, 3> sum{};
    for (int pid : pids) {
        std::ifstream f("/proc/" + std::to_string(pid) + "/statm");
        uint64_t size = 0, res = 0, shr = 0;
        if (f >> size >> res >> shr) {
            sum[0] += size;
            sum[1] += res;
            sum[2] += shr;
        }
    }
    for (auto& s : sum) s = s * page >> 20;
    return sum;
}

void topCommand(Command& c, CommandContext& ctx) {
    // Held: other commands run during the window.
    std::shared_ptr<Runtime> rt = ctx.herd().runtimeShared();
    if (!rt || !rt->runsContainers()) return ctx.fail("vm top needs the container runtime");
    double window = 1;
    if (c.has("seconds")) {
        auto v = go::atoi(c.str("seconds"));
        if (!v.ok()) return ctx.fail(v.error().text());
        if (*v <= 0) return ctx.fail("seconds must be > 0");
        window = static_cast<double>(*v);
    }
    std::vector<TopSample> samples;
    for (Vm* vm : ctx.herd().vms().inNamespace(ctx.ns())) {
        if (!inStates(vm->state, kKillable)) continue;  // no cgroup: omitted
        auto st = rt->stats(*vm);
        if (!st.ok()) continue;
        samples.push_back({vm->id, st->cpu_ns});
    }
    // Other commands run during the window.
    ctx.herd().waitUnlocked(
        [window] { std::this_thread::sleep_for(std::chrono::duration<double>(window)); });
    std::vector<std::vector<std::string>> rows;
    for (auto& s : samples) {
        Vm* vm = ctx.herd().vms().find(ctx.ns(), std::to_string(s.id));
        if (!vm || !inStates(vm->state, kKillable)) continue;
        auto st = rt->stats(*vm);
        if (!st.ok()) continue;
        auto procs = rt->procs(*vm);
        if (procs.size() > 100) procs.resize(100);
        auto mem = memoryOf(procs);
        double cpu =
            100.0 * static_cast<double>(st->cpu_ns - std::min(st->cpu_ns, s.cpu0)) / (window * 1e9);
        rows.push_back({vm->name, std::to_string(mem[0]), std::to_string(mem[1]),
                        std::to_string(mem[2]), fmt::format("{:.2f}", cpu), "0.00",
                        go::duration(static_cast<int64_t>(st->cpu_ns)), std::to_string(st->procs),
                        "0.00", "0.00"});
    }
    emitTable(ctx, {"name", "virt", "res", "shr", "cpu", "vcpu", "time", "procs", "rx", "tx"},
              std::move(rows), "");
}

void nukeCommand(Command&, CommandContext& ctx) {
    // Every namespace's VMs, then whatever else carries our prefix.
    (void)destroyNamespace(ctx.herd(), "all");
    hostnetShutdown(ctx.herd());
    if (ctx.herd().baseDir()) (void)nukeHostNet(*ctx.herd().baseDir(), ctx.herd().options().prefix);
    if (auto r = ctx.herd().runtime().nuke(); !r.ok()) return ctx.fail(r.error().text());
    if (Bridges* b = ctx.herd().bridgesIfAny()) b->forget();  // nothing left to configure
    ctx.ok();
}

}  // namespace

void registerContainerCommands(Herd& herd) {
    addHandler(herd, makeHandler("show resource usage of containers",
                                 "Show CPU and memory of each live container of the namespace, "
                                 "measured over\nthe given window (default 1 second) from its "
                                 "cgroup.",
                                 {"vm top [seconds]"}, topCommand));
    addHandler(
        herd,
        makeHandler(
            "kill every container and remove what herd made",
            "Kill every VM of every namespace and remove everything that "
            "carries this\ndaemon's prefix: cgroups, network interfaces, instance directories. "
            "Safe to run twice. To clean up\nafter a daemon that was killed, "
            "run `herd -base <base> -prefix <prefix> -nuke`.",
            {"nuke"}, nukeCommand));
}

}  // namespace herd
