#include "web/backend.h"

#include <fmt/format.h>

#include "base/log.h"
#include "base/strings.h"
#include "runtime/cgroup.h"
#include "runtime/console.h"
#include "service/gostr.h"
#include "service/vm_ops.h"

namespace herd::web {

namespace {

// minicli's error text of a batch, as `herd -e` prints it on stderr.
std::string errorLines(const cli::Batch& batch) {
    std::string out;
    for (const auto& r : batch) {
        if (r.error.empty()) continue;
        if (!out.empty()) out += '\n';
        out += fmt::format("Error ({}): {}", r.host, r.error);
    }
    return std::string(trim(out, " \t\r\n"));
}

// Runs `line` (one command, no alias expansion or history) in namespace `ns`
// and returns the responses it emitted.
cli::Batch runQuiet(Herd& herd, Executor& exec, Session& session, const std::string& line,
                    const std::string& ns) {
    cli::Batch all;
    auto compiled = herd.commands().compile(line);
    if (!compiled.ok()) {
        HERD_LOG(error, "web: `{}`: {}", line, compiled.error().text());
        return all;
    }
    CommandContext ctx{herd, session, exec,
                       [&all](cli::Batch b) {
                           for (auto& r : b) all.push_back(std::move(r));
                       },
                       ns};
    exec.run(*compiled, ctx);
    return all;
}

}  // namespace

ConsoleLookup findConsole(Herd& herd, const std::string& name, const std::string& ns,
                          bool need_console) {
    ConsoleLookup out;
    Vm* found = nullptr;
    auto consider = [&](const std::string& n) {
        for (Vm* vm : herd.vms().inNamespace(n)) {
            if (vm->name == name && (!found || vm->id < found->id)) found = vm;
        }
    };
    if (!ns.empty()) {
        consider(ns);
    } else {
        for (const auto& n : herd.namespaces().names()) consider(n);
    }
    if (!found) {
        out.status = 404;
        out.error = fmt::format("vm {} not found", name);
        return out;
    }
    out.console = herd.runtime().console(*found);
    if (need_console && !out.console) {
        out.status = 404;
        out.error = fmt::format("vm {} has no console", name);
    }
    return out;
}

CommandResult runClientCommand(Executor& exec, Session& session, const std::string& command,
                               const std::string& ns) {
    CommandResult res;
    std::string line = command;
    if (!ns.empty()) line = "namespace " + go::quote(ns) + " " + line;
    auto take = [&res](const cli::Batch& b, const std::string& rendered) {
        if (!rendered.empty()) res.text += rendered + "\n";
        std::string errs = errorLines(b);
        if (!errs.empty()) {
            res.text += errs + "\n";
            res.error = true;
        }
    };
    try {
        exec.runLine(line, session, take);
    } catch (const std::exception& e) {
        // A handler bug must cost one command, not the daemon.
        HERD_LOG(error, "{}: `{}`: uncaught exception: {}", session.name, line, e.what());
        res.error = true;
        res.text += std::string("internal error: ") + e.what() + "\n";
    }
    return res;
}

void TableBuilder::refreshCpu(Herd& herd, Executor&) {
    // The same cgroup counter `vm top` reads, but measured between two
    // refreshes instead of over a window spent sleeping on the command
    // thread: an open page must not make every CLI command wait.
    Runtime& rt = herd.runtime();
    std::map<std::pair<std::string, std::string>, std::string> cpu;
    std::map<int, CpuSample> samples;
    auto now = std::chrono::steady_clock::now();
    if (rt.runsContainers()) {
        for (const auto& ns : herd.namespaces().names()) {
            for (Vm* vm : herd.vms().inNamespace(ns)) {
                if (vm->state != VmState::Running) continue;
                auto st = rt.stats(*vm);
                if (!st.ok()) continue;
                CpuSample cur{st->cpu_ns, now};
                samples[vm->id] = cur;
                auto prev = samples_.find(vm->id);
                if (prev == samples_.end() || prev->second.cpu_ns > cur.cpu_ns) continue;
                double wall = std::chrono::duration<double>(now - prev->second.at).count();
                if (wall < 0.2) continue;
                double pct =
                    100.0 * static_cast<double>(cur.cpu_ns - prev->second.cpu_ns) / (wall * 1e9);
                cpu[{ns, vm->name}] = fmt::format("{:.2f}", pct);
            }
        }
    }
    samples_ = std::move(samples);
    cpu_ = std::move(cpu);
}

TableRows TableBuilder::build(Herd& herd, Executor& exec) {
    TableRows rows;
    // Only the columns the page shows are computed (`.columns` tells `vm
    // info` which): at 10,000 VMs this runs every refresh.
    static const std::string line =
        ".columns id,name,state,uptime,memory,vcpus,vlan,ip,ip6,tags vm info";
    for (const auto& ns : herd.namespaces().names()) {
        if (herd.vms().inNamespace(ns).empty()) continue;
        for (const auto& r : runQuiet(herd, exec, session_, line, ns)) {
            std::map<std::string, size_t> at;
            for (size_t i = 0; i < r.header.size(); ++i) at[r.header[i]] = i;
            rows.reserve(rows.size() + r.tabular.size());
            for (const auto& row : r.tabular) {
                auto cell = [&](const char* c) -> std::string {
                    auto it = at.find(c);
                    return it != at.end() && it->second < row.size() ? row[it->second] : "";
                };
                TableRow t;
                t.ns = ns;
                t.name = cell("name");
                t.state = cell("state");
                if (t.state == "RUNNING") {
                    auto it = cpu_.find({ns, t.name});
                    if (it != cpu_.end()) t.cpu = it->second;
                }
                if (auto v = go::atoi(cell("id")); v.ok()) t.id = *v;
                t.uptime = cell("uptime");
                t.memory = cell("memory");
                t.vcpus = cell("vcpus");
                t.vlan = cell("vlan");
                t.ip = cell("ip");
                t.ip6 = cell("ip6");
                t.tags = cell("tags");
                rows.push_back(std::move(t));
            }
        }
    }
    return rows;
}

}  // namespace herd::web
