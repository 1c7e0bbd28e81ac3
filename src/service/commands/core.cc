// Core commands: help, read, shell, background, echo, history, write, version,
// quit, clear all, check.
#include <fcntl.h>
#include <sys/wait.h>

#include <cctype>
#include <chrono>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <thread>

#include "base/fs.h"
#include "base/subprocess.h"
#include "service/command_context.h"
#include "service/commands/commands.h"
#include "service/executor.h"

namespace herd {

namespace {

using cli::Command;

std::string joinArgs(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : " ") + x;
    return s;
}

// Go's text for a failed open/create: `open <path>: no such file or directory`
// (Go spells errno descriptions in lower case).
std::string goPathError(const char* op, const std::string& path, int err) {
    std::string d = std::strerror(err);
    if (!d.empty()) d[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(d[0])));
    return std::string(op) + " " + path + ": " + d;
}

std::string baseName(const std::string& p) {
    auto i = p.find_last_of('/');
    return i == std::string::npos ? p : p.substr(i + 1);
}

bool mentionsRead(const Command& c) {
    for (const Command* p = &c; p; p = p->sub.get()) {
        if (p->pattern.rfind("read ", 0) == 0) return true;
    }
    return false;
}

std::string pathEnv(const Herd& herd) {
    auto it = herd.environ().find("PATH");
    return it == herd.environ().end()
               ? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
               : it->second;
}

// Background jobs started by `background`: a waiter thread per job records
// its end; the table is read by `background-status` on the command thread.
struct BackgroundJob {
    int id = 0;
    int pid = 0;
    bool running = true;
    std::string error;
    std::string command;
    std::chrono::system_clock::time_point start, end;
};

struct BackgroundJobs {
    std::mutex mu;
    std::vector<BackgroundJob> jobs;
};

BackgroundJobs& backgroundJobs() {
    static BackgroundJobs jobs;
    return jobs;
}

std::string timeText(std::chrono::system_clock::time_point t) {
    std::time_t tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    localtime_r(&tt, &tm);
    char buf[64];
    strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

void helpCommand(Command& c, CommandContext& ctx) {
    ctx.reply(ctx.herd().commands().help(joinArgs(c.list("command"))));
}

void readCommand(Command& c, CommandContext& ctx) {
    c.record = false;  // `read` itself is not recorded; the lines it runs are
    const std::string& file = c.str("file");
    std::ifstream in(file);
    if (!in) return ctx.fail(goPathError("open", file, errno));
    if (ctx.inRead()) return ctx.fail("cannot run nested `read` commands");

    CommandContext file_ctx = ctx.forReadFile();
    std::string line;
    int lineno = 0;
    while (std::getline(in, line)) {
        ++lineno;
        auto compiled = ctx.herd().commands().compile(line);
        if (!compiled.ok()) {
            return ctx.fail(baseName(file) + ":" + std::to_string(lineno) + " " +
                            compiled.error().text());
        }
        Command& cmd = *compiled;
        if (cmd.empty()) continue;
        if (mentionsRead(cmd)) return ctx.fail("cannot run nested `read` commands");
        if (c.flag("check")) continue;

        // Lines run in the namespace active when `read` started, following any
        // namespace switch the file itself makes.
        const std::string before = ctx.herd().namespaces().activeName();
        const bool recording = ctx.session().flags.record;
        if (!cmd.comment) file_ctx.run(cmd);
        if (recording && ctx.session().flags.record && cmd.record) {
            ctx.herd().history().push_back(cmd.original);
        }
        if (ctx.herd().namespaces().activeName() != before) {
            file_ctx.switchNamespace(ctx.herd().namespaces().activeName());
        }
    }
    if (c.flag("check")) ctx.ok();
}

void shellCommand(Command& c, CommandContext& ctx) {
    const auto& args = c.list("command");
    auto path = lookPath(args[0], pathEnv(ctx.herd()));
    if (!path.ok()) return ctx.fail(path.error().text());
    // The child runs without the command lock (other clients, cc and the
    // web page go on meanwhile), so it gets copies of what it reads.
    const std::vector<std::string> argv = args;
    const std::map<std::string, std::string> vars = ctx.herd().environ();
    auto canceller = std::make_shared<ProcessCanceller>();
    std::optional<Result<ProcessOutput>> ran;
    ctx.herd().waitUnlocked([&] { ran.emplace(runProcess(*path, argv, vars, canceller.get())); },
                            [canceller] { canceller->cancel(); });
    if (!ran) return ctx.fail("shell: not run");
    auto& out = *ran;
    if (!out.ok()) return ctx.fail(out.error().text());
    auto r = ctx.response();
    if (out->status != 0) {
        r.error = waitStatusText(out->status);
    } else {
        r.response = out->out;
        r.error = out->err;
    }
    ctx.emit({std::move(r)});
}

void backgroundCommand(Command& c, CommandContext& ctx) {
    const auto& args = c.list("command");
    auto path = lookPath(args[0], pathEnv(ctx.herd()));
    if (!path.ok()) return ctx.fail(path.error().text());
    // Beneath the base's descriptor: never through a link planted there.
    auto log =
        ctx.herd().baseDir()
            ? ctx.herd().baseDir()->openFile("background.log", O_WRONLY | O_CREAT | O_APPEND, 0640)
            : Result<unique_fd>(unique_fd(::open("/dev/null", O_WRONLY | O_CLOEXEC)));
    if (!log.ok()) return ctx.fail(log.error().text());
    auto pid = spawnBackground(*path, args, ctx.herd().environ(), log->get());
    if (!pid.ok()) return ctx.fail(pid.error().text());

    auto& jobs = backgroundJobs();
    std::lock_guard lock(jobs.mu);
    BackgroundJob job;
    job.id = static_cast<int>(jobs.jobs.size());
    job.pid = *pid;
    job.command = joinArgs(args);
    job.start = std::chrono::system_clock::now();
    jobs.jobs.push_back(job);
    std::thread([id = job.id, p = *pid] {
        int status = 0;
        while (waitpid(p, &status, 0) < 0 && errno == EINTR) {
        }
        auto& all = backgroundJobs();
        std::lock_guard l(all.mu);
        auto& j = all.jobs[id];
        j.running = false;
        j.end = std::chrono::system_clock::now();
        if (status != 0) j.error = waitStatusText(status);
    }).detach();
    ctx.ok();
}

void backgroundStatusCommand(Command& c, CommandContext& ctx) {
    auto& jobs = backgroundJobs();
    std::lock_guard lock(jobs.mu);
    std::vector<std::vector<std::string>> rows;
    for (const auto& j : jobs.jobs) {
        if (c.has("id") && c.str("id") != std::to_string(j.id)) continue;
        rows.push_back({std::to_string(j.id), std::to_string(j.pid), j.running ? "true" : "false",
                        j.error, timeText(j.start), j.running ? "" : timeText(j.end), j.command});
    }
    ctx.table({"ID", "PID", "RUNNING", "ERROR", "TIME_START", "TIME_END", "COMMAND"},
              std::move(rows));
}

void historyCommand(Command& c, CommandContext& ctx) {
    if (c.pattern.rfind("clear", 0) == 0) {
        // Not recorded itself: `history` right after it prints nothing.
        ctx.herd().history().clear();
        c.record = false;
        return ctx.ok();
    }
    std::string s;
    for (const auto& l : ctx.herd().history()) s += (s.empty() ? "" : "\n") + l;
    ctx.reply(s);
}

void writeCommand(Command& c, CommandContext& ctx) {
    const std::string& file = c.str("file");
    std::ofstream out(file, std::ios::trunc);
    if (!out) return ctx.fail(goPathError("open", file, errno));
    for (size_t i = 0; i < ctx.herd().history().size(); ++i) {
        out << (i ? "\n" : "") << ctx.herd().history()[i];
    }
    if (!out.flush()) return ctx.fail(goPathError("write", file, errno));
    ctx.ok();
}

void quitCommand(Command& c, CommandContext& ctx) {
    if (!c.has("delay")) {
        // As minimega: no reply; the client sees the connection close.
        ctx.herd().daemon().requestQuit(0, false);
        return;
    }
    const std::string& d = c.str("delay");
    if (d == "keep") {
        // No reply either: the containers stay for the next daemon.
        ctx.herd().daemon().requestQuit(0, true);
        return;
    }
    char* end = nullptr;
    errno = 0;
    long v = std::strtol(d.c_str(), &end, 10);
    if (d.empty() || *end || errno == ERANGE || v < 0 || v > 86400 * 365) {
        return ctx.fail("strconv.Atoi: parsing \"" + d + "\": invalid syntax");
    }
    ctx.reply("quitting after " + std::to_string(v) + " seconds");
    ctx.herd().daemon().requestQuit(static_cast<int>(v), false);
}

// `clear all` resets every subsystem, in minimega's order; subsystems that a
// later issue adds register their clear command and are picked up here. As in
// minimega the sub-commands are recorded, but `clear history` empties the
// history and is not recorded itself, so it ends up holding `clear all`.
void clearAllCommand(Command&, CommandContext& ctx) {
    for (const char* line : {"clear deploy flags", "dnsmasq kill all", "clear namespace all",
                             "clear vlans all", "clear plumb", "clear pipe", "clear history"}) {
        auto compiled = ctx.herd().commands().compile(line);
        if (!compiled.ok() || compiled->empty()) continue;
        ctx.run(*compiled);
        if (ctx.session().flags.record && compiled->record) {
            ctx.herd().history().push_back(compiled->original);
        }
    }
}

void add(Herd& herd, cli::Handler h) {
    auto r = herd.commands().add(std::move(h));
    if (!r.ok()) throw std::logic_error(r.error().text());
}

}  // namespace

void registerCoreCommands(Herd& herd) {
    add(herd, {"quit herd",
               "Quit herd. An optional integer argument X defers the quit by X seconds.\n\n"
               "quit does not reply: clients see the connection close.\n\n"
               "quit keep leaves every container running (consoles, cc sockets, fifos and\n"
               "networks included) and writes its record: the next herd started on the same\n"
               "-base and -prefix, a newer binary included, takes them over.",
               {"quit [delay]"},
               quitCommand,
               nullptr,
               {}});
    add(herd, {"show command help",
               "Show help on a command. If called with no arguments, show a summary of all\n"
               "commands.",
               {"help [command]..."},
               helpCommand,
               nullptr,
               {}});
    add(herd, {"read and execute a command file",
               "Read a command file and execute it, as if typed. The file stops at the first\n"
               "line that does not parse. With check, only parse the file.",
               {"read <file> [check,]"},
               readCommand,
               nullptr,
               {}});
    add(herd, {"display the herd version",
               "",
               {"version"},
               [](Command&, CommandContext& ctx) { ctx.reply(versionString()); },
               nullptr,
               {}});
    add(herd, {"display input text after comment removal",
               "",
               {"echo [args]..."},
               [](Command& c, CommandContext& ctx) { ctx.reply(joinArgs(c.list("args"))); },
               nullptr,
               {}});
    add(herd, {"execute a command",
               "Execute a command on the host (no shell: use `shell sh -c ...` for one). Its\n"
               "stdout is the response; any stderr output, or a non-zero exit, is an error.",
               {"shell <command>..."},
               shellCommand,
               nullptr,
               {}});
    add(herd, {"execute a command in the background",
               "Execute a command in the background; its output goes to <base>/background.log.\n"
               "See background-status.",
               {"background <command>..."},
               backgroundCommand,
               nullptr,
               {}});
    add(herd, {"show background commands",
               "",
               {"background-status [id]"},
               backgroundStatusCommand,
               nullptr,
               {}});
    add(herd,
        {"show command history", "", {"history", "clear history"}, historyCommand, nullptr, {}});
    add(herd, {"write the command history to a file",
               "Write the command history to file, e.g. to save a configuration typed at the\n"
               "prompt and read it later.",
               {"write <file>"},
               writeCommand,
               nullptr,
               {}});
    add(herd, {"reset all subsystems",
               "Reset every subsystem: namespaces (and their VMs), VLANs, history, ...",
               {"clear all"},
               clearAllCommand,
               nullptr,
               {}});
    add(herd, {"check for external dependencies",
               "",
               {"check"},
               [](Command&, CommandContext& ctx) { ctx.ok(); },
               nullptr,
               {}});
}

}  // namespace herd
