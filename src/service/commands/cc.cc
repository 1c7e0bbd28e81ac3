// cc and clear cc: command and control of the agents.
#include <fmt/format.h>
#include <glob.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "service/cc.h"
#include "service/commands/cc_tunnel.h"
#include "service/commands/commands.h"
#include "service/commands/vm_internal.h"
#include "service/gostr.h"
#include "service/guest_mounts.h"
#include "service/names.h"
#include "service/plumber.h"
#include "service/vmconfig.h"

namespace herd {

namespace {

using cli::Command;
namespace fs = std::filesystem;

// Go's %v of a []string.
std::string goList(const std::vector<std::string>& v) {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); ++i) out += (i ? " " : "") + v[i];
    return out + "]";
}

std::string joinSpace(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
    return out;
}

bool isInt(const std::string& s) {
    return !s.empty() && s.size() < 10 && std::all_of(s.begin(), s.end(), ::isdigit);
}

std::string readAll(const std::string& path, bool& ok) {
    std::ifstream f(path, std::ios::binary);
    ok = static_cast<bool>(f);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

void replyWithId(CommandContext& ctx, int id) {
    auto r = ctx.response();
    r.data = id;
    ctx.emit({std::move(r)});
}

void ccStatus(Command&, CommandContext& ctx) {
    auto n = ctx.herd().cc().active(ctx.ns()).size();
    emitTable(ctx, {"clients"}, {{std::to_string(n)}}, "");
}

void ccClients(Command&, CommandContext& ctx) {
    std::vector<std::vector<std::string>> rows;
    for (CcClient* c : ctx.herd().cc().active(ctx.ns()))
        rows.push_back({c->uuid, c->hostname, c->arch, c->os, goList(c->ip), goList(c->mac)});
    emitTable(ctx, {"uuid", "hostname", "arch", "os", "ip", "mac"}, std::move(rows), "");
}

void ccPrefix(Command& c, CommandContext& ctx) {
    auto& n = ctx.herd().cc().ns(ctx.ns());
    // The literal `prefix` is a bool of the same key: look at the strings.
    if (!c.strings.count("prefix")) return ctx.reply(n.prefix);
    n.prefix = c.str("prefix");
    ctx.ok();
}

// `cc budget [size]`: what one VM may store for one command.
void ccBudget(Command& c, CommandContext& ctx) {
    auto& n = ctx.herd().cc().ns(ctx.ns());
    if (!c.strings.count("size")) return ctx.reply(std::to_string(n.budget));
    auto v = parseByteSize(c.str("size"));
    if (!v)
        return ctx.fail("invalid size `" + c.str("size") +
                        "`: want a number of bytes, optionally with a K, M, G or T suffix "
                        "(e.g. 512M)");
    n.budget = *v;
    ctx.ok();
}

void ccExec(Command& c, CommandContext& ctx) {
    CcCommand cmd;
    cmd.argv = c.list("command");
    cmd.background = c.flag("background") || c.flag("background-once");
    cmd.once = c.flag("exec-once") || c.flag("background-once");
    // Up to three leading stdin=P, stdout=P, stderr=P bind the process's
    // stdio to named pipes (the agent streams them, service/cc_tunnel.h);
    // the first other word starts the command.
    size_t used = 0;
    while (used < cmd.argv.size() && used < 3) {
        const std::string& a = cmd.argv[used];
        auto eq = a.find('=');
        std::string k = eq == std::string::npos ? "" : a.substr(0, eq);
        if (k != "stdin" && k != "stdout" && k != "stderr") break;
        std::string pipe = a.substr(eq + 1);
        if (auto ok = Plumber::checkName(Plumber::qualify(ctx.ns(), pipe)); !ok.ok())
            return ctx.fail(k + "=: " + ok.error().text());
        if (pipe.find("//") != std::string::npos)
            return ctx.fail(k + "=" + pipe +
                            ": a guest's pipe is always of its VM's namespace; "
                            "give the name without `<namespace>//`");
        cmd.extra[k] = pipe;
        ++used;
    }
    cmd.argv.erase(cmd.argv.begin(), cmd.argv.begin() + static_cast<long>(used));
    if (cmd.argv.empty()) return ctx.fail("cc: no command after the stdio pipes");
    replyWithId(ctx, ctx.herd().cc().post(ctx.ns(), std::move(cmd)));
}

void ccSend(Command& c, CommandContext& ctx) {
    CcService& cc = ctx.herd().cc();
    const std::string root = cc.fileRoot();
    CcCommand cmd;
    for (const auto& arg : c.list("file")) {
        // The file root first, then the namespace's own directory under it.
        std::vector<std::string> found;
        std::string base;
        for (const std::string& b : {root, root + "/" + ctx.ns()}) {
            glob_t g{};
            std::string pat = b + "/" + arg;
            if (::glob(pat.c_str(), 0, nullptr, &g) == 0) {
                for (size_t i = 0; i < g.gl_pathc; ++i) found.emplace_back(g.gl_pathv[i]);
            }
            globfree(&g);
            if (!found.empty()) {
                base = b;
                break;
            }
        }
        if (found.empty())
            return ctx.fail(fmt::format("unable to get file {} via the mesh: file not found", arg));
        for (const auto& f : found) {
            std::error_code ec;
            std::vector<std::string> files;
            if (fs::is_directory(f, ec)) {
                for (auto& e : fs::recursive_directory_iterator(f, ec))
                    if (e.is_regular_file(ec)) files.push_back(e.path().string());
                std::sort(files.begin(), files.end());
            } else {
                files.push_back(f);
            }
            for (const auto& file : files) {
                cmd.send_host.push_back(file);
                cmd.send.push_back(fs::relative(file, base, ec).string());
            }
        }
    }
    replyWithId(ctx, cc.post(ctx.ns(), std::move(cmd)));
}

void ccRecv(Command& c, CommandContext& ctx) {
    CcCommand cmd;
    cmd.recv = c.list("file");
    replyWithId(ctx, ctx.herd().cc().post(ctx.ns(), std::move(cmd)));
}

void ccCommands(Command&, CommandContext& ctx) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& [id, cmd] : ctx.herd().cc().ns(ctx.ns()).commands) {
        rows.push_back({std::to_string(id), cmd.prefix, goList(cmd.argv),
                        std::to_string(cmd.checked_in.size()), cmd.background ? "true" : "false",
                        cmd.once ? "true" : "false", goList(cmd.send), goList(cmd.recv), "", "",
                        cmd.filter ? cmd.filter->str() : ""});
    }
    emitTable(ctx,
              {"id", "prefix", "command", "responses", "background", "once", "sent", "received",
               "connectivity", "level", "filter"},
              std::move(rows), "");
}

void ccFilter(Command& c, CommandContext& ctx) {
    auto& n = ctx.herd().cc().ns(ctx.ns());
    const auto& args = c.list("filter");
    if (args.empty()) {
        if (!n.filter) return ctx.ok();
        const CcFilter& f = *n.filter;
        return emitTable(ctx, {"uuid", "hostname", "arch", "os", "ip", "mac", "tags"},
                         {{f.uuid, f.hostname, f.arch, f.os, joinSpace(f.ip), joinSpace(f.mac),
                           go::jsonMap(f.tags)}},
                         "");
    }
    CcFilter f;
    for (const auto& a : args) {
        auto eq = a.find('=');
        if (eq == std::string::npos) return ctx.fail("malformed id=value pair: " + a);
        std::string k = a.substr(0, eq), v = a.substr(eq + 1);
        std::string lk = k;
        std::transform(lk.begin(), lk.end(), lk.begin(), ::tolower);
        if (lk == "uuid") {
            std::transform(v.begin(), v.end(), v.begin(), ::tolower);
            f.uuid = v;
        } else if (lk == "hostname") {
            f.hostname = v;
        } else if (lk == "arch") {
            f.arch = v;
        } else if (lk == "os") {
            f.os = v;
        } else if (lk == "ip") {
            f.ip.push_back(v);
        } else if (lk == "mac") {
            f.mac.push_back(v);
        } else if (lk == "tag") {
            auto sep = v.find_first_of("=:");
            if (sep == std::string::npos)
                f.tags[v] = "";
            else
                f.tags[v.substr(0, sep)] = v.substr(sep + 1);
        } else {
            f.tags[k] = v;
        }
    }
    n.filter = std::move(f);
    ctx.ok();
}

// Command ids named by `cc responses/delete`: an id, a prefix or all.
std::vector<int> prefixIds(CcService& cc, const std::string& ns, const std::string& prefix) {
    std::vector<int> ids;
    for (const auto& [id, cmd] : cc.ns(ns).commands)
        if (!prefix.empty() && cmd.prefix == prefix) ids.push_back(id);
    return ids;
}

void ccResponses(Command& c, CommandContext& ctx) {
    CcService& cc = ctx.herd().cc();
    const std::string base = cc.responsesDir(ctx.ns());
    const std::string& id = c.str("id");
    std::vector<std::string> roots;
    std::error_code ec;
    if (id == kWildcard) {
        roots.push_back(base);
    } else if (isInt(id)) {
        if (!fs::is_directory(base + "/" + id, ec)) return ctx.fail("no responses for " + id);
        roots.push_back(base + "/" + id);
    } else {
        auto ids = prefixIds(cc, ctx.ns(), id);
        if (ids.empty()) return ctx.fail("no such prefix: `" + id + "`");
        for (int i : ids) roots.push_back(base + "/" + std::to_string(i));
    }
    std::vector<fs::path> files;
    for (const auto& r : roots) {
        if (!fs::is_directory(r, ec)) continue;
        std::vector<fs::path> here;
        for (auto it = fs::recursive_directory_iterator(r, ec); !ec && it != fs::end(it);
             it.increment(ec)) {
            if (it->is_regular_file(ec) && it->path().filename() != "exitcode")
                here.push_back(it->path().lexically_relative(base));
        }
        std::sort(here.begin(), here.end());  // element-wise, as Go's Walk
        files.insert(files.end(), here.begin(), here.end());
    }
    std::string out;
    for (const auto& f : files) {
        bool ok = false;
        std::string data = readAll(base + "/" + f.string(), ok);
        if (!ok) return ctx.fail(fmt::format("open {}/{}: no such file", base, f.string()));
        if (!c.flag("raw")) out += f.string() + ":\n";
        out += data + "\n";
    }
    ctx.reply(out);
}

void ccExitcode(Command& c, CommandContext& ctx) {
    const std::string& id = c.str("id");
    if (!isInt(id)) return ctx.fail("invalid command id: " + id);
    Vm* vm = ctx.herd().vms().find(ctx.ns(), c.str("vm"));
    if (!vm) return ctx.fail(fmt::format("vm not found: {}", c.str("vm")));
    std::string uuid = vm->uuid();
    std::transform(uuid.begin(), uuid.end(), uuid.begin(), ::tolower);
    // A path is built from it.
    if (!isUuid(uuid))
        return ctx.fail(fmt::format("no exit code for command {} on {}", id, vm->name));
    bool ok = false;
    std::string code =
        readAll(ctx.herd().cc().responsesDir(ctx.ns()) + "/" + id + "/" + uuid + "/exitcode", ok);
    if (!ok) return ctx.fail(fmt::format("no exit code for command {} on {}", id, vm->name));
    ctx.reply(code);
}

void ccProcess(Command& c, CommandContext& ctx) {
    CcService& cc = ctx.herd().cc();
    if (c.flag("list")) {
        const std::string& target = c.str("vm");
        Vm* only = nullptr;
        if (target != kWildcard) {
            only = ctx.herd().vms().find(ctx.ns(), target);
            if (!only) return ctx.fail(fmt::format("vm not found: {}", target));
        }
        std::vector<std::vector<std::string>> rows;
        for (CcClient* cl : cc.active(ctx.ns())) {
            if (only && only->id != cl->vm_id) continue;
            Vm* vm = ctx.herd().vms().find(ctx.ns(), std::to_string(cl->vm_id));
            for (const auto& p : cl->procs)
                rows.push_back(
                    {vm ? vm->name : "", cl->uuid, std::to_string(p.pid), goList(p.argv)});
        }
        return emitTable(ctx, {"name", "uuid", "pid", "command"}, std::move(rows), "");
    }
    if (c.flag("kill")) {
        const std::string& pid = c.str("pid");
        if (pid != kWildcard && !isInt(pid)) return ctx.fail("invalid pid: " + pid);
        cc.signal(ctx.ns(), {{"type", "kill"}, {"pid", pid == kWildcard ? -1 : std::stoi(pid)}});
        return ctx.ok();
    }
    cc.signal(ctx.ns(), {{"type", "killall"}, {"name", c.str("name")}});
    ctx.ok();
}

void clearCommands(CcService& cc, const std::string& ns) {
    cc.clearCommands(ns);
}

void clearResponses(CcService& cc, const std::string& ns) {
    std::error_code ec;
    fs::remove_all(cc.responsesDir(ns), ec);
}

void ccDelete(Command& c, CommandContext& ctx) {
    CcService& cc = ctx.herd().cc();
    const std::string& id = c.str("id");
    bool commands = c.flag("command");
    if (id == kWildcard) {
        commands ? clearCommands(cc, ctx.ns()) : clearResponses(cc, ctx.ns());
        return ctx.ok();
    }
    std::vector<int> ids = prefixIds(cc, ctx.ns(), id);
    if (ids.empty()) {
        if (!isInt(id)) return ctx.fail("no such id or prefix " + id);
        ids.push_back(std::stoi(id));
        if (commands && !cc.ns(ctx.ns()).commands.count(ids[0]))
            return ctx.fail(fmt::format("cc delete command {} : command {} not found", id, id));
    }
    for (int i : ids) {
        if (commands) {
            cc.deleteCommand(ctx.ns(), i);
        } else {
            std::error_code ec;
            fs::remove_all(cc.responsesDir(ctx.ns()) + "/" + std::to_string(i), ec);
        }
    }
    ctx.ok();
}

void ccCommand(Command& c, CommandContext& ctx) {
    if (c.flag("clients")) return ccClients(c, ctx);
    if (c.flag("prefix")) return ccPrefix(c, ctx);
    if (c.flag("budget")) return ccBudget(c, ctx);
    if (c.flag("send")) return ccSend(c, ctx);
    if (c.flag("recv")) return ccRecv(c, ctx);
    if (c.flag("exec") || c.flag("exec-once") || c.flag("background") || c.flag("background-once"))
        return ccExec(c, ctx);
    if (c.flag("commands")) return ccCommands(c, ctx);
    if (c.flag("filter")) return ccFilter(c, ctx);
    if (c.flag("responses")) return ccResponses(c, ctx);
    if (c.flag("exitcode")) return ccExitcode(c, ctx);
    if (c.flag("process")) return ccProcess(c, ctx);
    if (c.flag("delete")) return ccDelete(c, ctx);
    if (c.flag("tunnel")) return ccTunnel(c, ctx);
    if (c.flag("rtunnel")) return ccRtunnel(c, ctx);
    if (c.flag("test-conn")) return ccTestConn(c, ctx);
    if (c.flag("log")) return ccLogLevel(c, ctx);
    if (c.flag("listen")) return ccListen(c, ctx);
    if (c.flag("mount")) return ccMount(c, ctx);
    ccStatus(c, ctx);
}

void clearCc(Command& c, CommandContext& ctx) {
    if (c.flag("mount")) return clearCcMount(c, ctx);
    CcService& cc = ctx.herd().cc();
    bool all = !c.flag("commands") && !c.flag("filter") && !c.flag("prefix") &&
               !c.flag("responses") && !c.flag("budget");
    auto& n = cc.ns(ctx.ns());
    if (all || c.flag("commands")) clearCommands(cc, ctx.ns());
    if (all || c.flag("filter")) n.filter.reset();
    if (all || c.flag("prefix")) n.prefix.clear();
    if (all || c.flag("responses")) clearResponses(cc, ctx.ns());
    if (all || c.flag("budget")) n.budget = cclimits::kDefaultBudget;
    if (all) cc.clearTunnels(ctx.ns());
    if (all) {
        if (GuestMounts* gm = ctx.herd().guestMountsIfAny()) {
            if (auto r = gm->remove(ctx.ns(), ""); !r.ok()) return ctx.fail(r.error().text());
        }
    }
    ctx.ok();
}

}  // namespace

void registerCcCommands(Herd& herd) {
    addHandler(
        herd,
        makeHandler(
            "command and control commands",
            "Command and control VMs running the herd-cc agent (the default image "
            "starts it).\nCommands run in creation order on every matching client, "
            "including clients\nthat connect later (except the -once variants). "
            "argv is executed directly,\nwithout a shell. For example, to send a "
            "file 'foo' and display it:\n\n\tcc send foo\n\tcc exec cat foo\n\n"
            "Files to send are taken from the file root (-filepath). Responses are "
            "stored\nunder <filepath>/miniccc_responses/<id>/<uuid>/ and shown by "
            "`cc responses`.\nFilters (`cc filter`) limit which clients get new "
            "commands.\n\n"
            "A guest may store at most `cc budget` bytes per command (received files "
            "and output;\ndefault 1G): a `cc recv` beyond it stops storing the file and "
            "says so in the\nresponse's stderr. Sizes are bytes or take a K, M, G or T "
            "suffix, e.g. `cc budget 4G`.",
            {"cc",
             "cc <clients,>",
             "cc <prefix,> [prefix]",
             "cc <budget,> [size]",
             "cc <send,> <file>...",
             "cc <recv,> <file>...",
             "cc <exec,> <command>...",
             "cc <exec-once,> <command>...",
             "cc <background,> <command>...",
             "cc <background-once,> <command>...",
             "cc <commands,>",
             "cc <filter,> [filter]...",
             "cc <responses,> <id or prefix or all> [raw,]",
             "cc <exitcode,> <id> <vm>",
             "cc <process,> <list,> <vm or all>",
             "cc <process,> <kill,> <pid or all>",
             "cc <process,> <killall,> <name>",
             "cc <delete,> <command,> <id or prefix or all>",
             "cc <delete,> <response,> <id or prefix or all>",
             "cc <tunnel,> <list,> <vm or all>",
             "cc <tunnel,> <close,> <vm> <id>",
             "cc <tunnel,> <vm name or uuid> <src port> <host> <dst port>",
             "cc <rtunnel,> <src port> <host> <dst port>",
             "cc <test-conn,> <tcp,udp> <ip or fqdn> <port> <wait,> <duration> [base64 udp packet]",
             "cc <log,> <level,> <debug,info,warn,error,fatal>",
             "cc <listen,> <port>",
             "cc <mount,>",
             "cc <mount,> <vm or uuid> [path]"},
            ccCommand));
    addHandler(herd, makeHandler("reset command and control state",
                                 "Resets the cc state of the namespace: commands, filter, prefix, "
                                 "responses, budget,\ntunnels and mounts, or only the part named. "
                                 "`clear cc mount` takes a VM's name or uuid,\nor a mount path.",
                                 {"clear cc", "clear cc <commands,>", "clear cc <filter,>",
                                  "clear cc <prefix,>", "clear cc <responses,>",
                                  "clear cc <budget,>", "clear cc <mount,> [uuid or name or path]"},
                                 clearCc));
}

}  // namespace herd
