#include "daemon/daemon.h"

#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "base/log.h"
#include "daemon/command_thread.h"
#include "daemon/prompt.h"
#include "daemon/runtime_setup.h"
#include "daemon/server.h"
#include "runtime/hostcheck.h"
#include "service/cc.h"
#include "service/executor.h"
#include "service/guest_mounts.h"
#include "service/herd.h"
#include "service/hostnet.h"
#include "service/vm_ops.h"
#include "web/http_util.h"
#include "web/secret_file.h"
#include "web/web_server.h"

namespace herd::daemon {

namespace asio = boost::asio;

namespace {

// Whether something accepts connections on the unix socket at `path`.
bool socketAnswers(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) return false;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 ||
              errno == EAGAIN;  // backlog full: alive, just busy
    ::close(fd);
    return ok;
}

std::string selfExe() {
    char buf[4096];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

// Startup failures are shown whatever -level says.
void reportError(const std::string& msg) {
    logWrite(LogLevel::error, nullptr, 0, msg);
}

// Set once, from any thread; the main thread waits for it.
class ShutdownLatch {
  public:
    void request(const std::string& reason) {
        {
            std::lock_guard lock(mu_);
            if (stopping_.load()) return;
            reason_ = reason;
            stopping_.store(true);
        }
        cv_.notify_all();
    }
    std::string wait() {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return stopping_.load(); });
        return reason_;
    }
    const std::atomic<bool>& flag() const { return stopping_; }

  private:
    std::mutex mu_;
    std::condition_variable cv_;
    std::atomic<bool> stopping_{false};
    std::string reason_;
};

}  // namespace

Result<BaseLock> BaseLock::acquire(const std::string& base, bool force) {
    auto opened = openPrivateDir(base, 0700, /*create=*/true, "base directory");
    if (!opened.ok()) return opened.error();
    auto dir = std::make_shared<const Dir>(std::move(*opened));
    auto fd = dir->openFile("minimega.pid", O_RDWR | O_CREAT, 0644);
    if (!fd.ok()) return fd.error();
    const std::string pid_path = dir->pathOf("minimega.pid");
    const std::string sock_path = dir->pathOf("minimega");

    bool held = false;
    if (::flock(fd->get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK) return Error::sysNow("flock", pid_path);
        held = true;
    }
    BaseLock lock(dir, std::move(*fd));
    bool sock_exists = dir->exists("minimega");
    // minimega itself takes no lock: a live socket is a daemon too.
    bool live = sock_exists && socketAnswers(dir->viaFd("minimega"));
    if (held || live) {
        if (!force) {
            return Error::msg(fmt::format(
                "herd appears to already be running on {}, override with -force", base));
        }
        HERD_LOG(warn, "herd may already be running on {}, proceed with caution", base);
    }
    if (sock_exists) {
        if (!live) HERD_LOG(warn, "removing stale socket {}", sock_path);
        HERD_TRY(dir->unlink("minimega"));
    }
    return lock;
}

Result<void> BaseLock::writePid() {
    std::string pid = std::to_string(::getpid());
    const std::string path = dir_->pathOf("minimega.pid");
    if (::ftruncate(fd_.get(), 0) != 0) return Error::sysNow("truncate", path);
    if (::pwrite(fd_.get(), pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
        return Error::sysNow("write", path);
    }
    return Ok();
}

void BaseLock::release() {
    if (!fd_) return;
    char buf[32] = {};
    ssize_t n = ::pread(fd_.get(), buf, sizeof buf - 1, 0);
    // Under -force another daemon may have rewritten it: leave theirs alone.
    if (n > 0 && std::string(buf, static_cast<size_t>(n)) == std::to_string(::getpid())) {
        if (auto r = dir_->unlink("minimega.pid"); !r.ok()) HERD_LOG(error, "{}", r.error().text());
    }
    fd_.reset();
}

Result<std::shared_ptr<const Dir>> openFileRoot(const Dir& base, const std::string& filepath) {
    namespace stdfs = std::filesystem;
    auto absolute = [](const std::string& p) {
        std::string a = p;
        if (a.empty() || a.front() != '/') {
            std::error_code ec;
            a = (stdfs::current_path(ec) / p).string();
        }
        a = stdfs::path(a).lexically_normal().string();
        while (a.size() > 1 && a.back() == '/') a.pop_back();
        return a;
    };
    const std::string root = absolute(filepath);
    const std::string b = absolute(base.path());
    if (root == b) return Error::msg("-filepath " + filepath + " must not be the base directory");
    if (root.compare(0, b.size() + 1, b + "/") == 0) {
        // Under the base: guests' files (cc responses) are written there.
        auto d = base.makeDirs(root.substr(b.size() + 1), 0700);
        if (!d.ok()) return d.error();
        HERD_TRY(checkPrivateDir(*d, "file root"));
        return std::make_shared<const Dir>(std::move(*d));
    }
    std::error_code ec;
    stdfs::create_directories(root, ec);
    if (ec) return Error::sys(ec.value(), "mkdir", root);
    auto d = Dir::open(root);
    if (!d.ok()) return d.error();
    return std::make_shared<const Dir>(std::move(*d));
}

namespace {

// Boost.Asio's epoll reactor keeps the state of every descriptor it has seen
// in a pool it never gives back to malloc. Allocated as containers come and
// go, those small blocks end up scattered over the heap and pin it after a
// flush. Allocating a batch of them now keeps them together, at the bottom
// of the heap; containers reuse them.
void warmReactor(asio::io_context& io) {
    constexpr int kDescriptors = 4096;  // 2 per container (pty, console socket)
    std::vector<asio::ip::tcp::socket> socks;
    socks.reserve(kDescriptors);
    boost::system::error_code ec;
    for (int i = 0; i < kDescriptors && !ec; ++i) {
        socks.emplace_back(io);
        socks.back().open(asio::ip::tcp::v4(), ec);
    }
}

// This daemon as the service layer sees it (service/daemon_link.h): jobs and
// unlocked waits go through the command thread, sockets to `io`; the web
// page and `quit` are wired in once they exist.
class DaemonHooks final : public DaemonLink {
  public:
    DaemonHooks(asio::io_context& io, CommandThread& cmd) : io_(io), cmd_(cmd) {}

    void setWeb(std::shared_ptr<WebControl> web, std::function<void()> changed) {
        web_ = std::move(web);
        changed_ = std::move(changed);
    }
    void setQuit(std::function<void(int)> quit) { quit_ = std::move(quit); }
    // Whether `quit keep` asked for the containers to be kept.
    bool keep() const { return keep_; }

    asio::io_context* io() override { return &io_; }
    void post(std::function<void()> job) override { cmd_.post(std::move(job)); }
    void runUnlocked(const std::function<void()>& wait,
                     const std::function<void()>& cancel) override {
        cmd_.unlocked(wait, cancel);
    }
    void changed() override {
        if (changed_) changed_();
    }
    void requestQuit(int delay_s, bool keep) override {
        keep_ = keep_ || keep;
        if (quit_) quit_(delay_s);
    }
    WebControl* web() override { return web_.get(); }

  private:
    asio::io_context& io_;
    CommandThread& cmd_;
    std::shared_ptr<WebControl> web_;
    std::function<void()> changed_;
    std::function<void(int)> quit_;
    std::atomic<bool> keep_{false};
};

// What stops the daemon, seen on the io thread: SIGTERM, SIGHUP, SIGINT
// (which at an interactive prompt only abandons the line, as minimega's
// prompt does) and the timer of `quit <delay>`. Each calls `stop` with the
// reason.
class StopTriggers {
  public:
    StopTriggers(asio::io_context& io, Prompt* prompt, std::function<void(std::string)> stop)
        : io_(io),
          signals_(io, SIGINT, SIGTERM, SIGHUP),
          quit_timer_(io),
          prompt_(prompt),
          stop_(std::move(stop)) {
        awaitSignal();
    }

    // `quit [n]`, called on the command thread while the command runs; its
    // reply is still delivered: shutdown waits for the command to finish and
    // then flushes every client's queued replies.
    void quit(int delay_s) {
        if (delay_s <= 0) return stop_("quit");
        asio::post(io_, [this, delay_s] {
            quit_timer_.expires_after(std::chrono::seconds(delay_s));
            quit_timer_.async_wait([this](const boost::system::error_code& ec) {
                if (!ec) stop_("quit");
            });
        });
    }

    // On the io thread, once stopping: nothing more fires.
    void cancel() {
        boost::system::error_code ec;
        signals_.cancel(ec);
        quit_timer_.cancel();
    }

  private:
    void awaitSignal() {
        signals_.async_wait([this](const boost::system::error_code& ec, int sig) {
            if (ec) return;
            if (sig == SIGINT && prompt_ && prompt_->interactive()) {
                prompt_->interrupt();
                return awaitSignal();
            }
            HERD_LOG(warn, "caught signal {}, shutting down", strsignal(sig));
            stop_(fmt::format("signal {}", strsignal(sig)));
        });
    }

    asio::io_context& io_;
    asio::signal_set signals_;
    asio::steady_timer quit_timer_;
    Prompt* prompt_;
    std::function<void(std::string)> stop_;
};

Options optionsOf(const Flags& flags) {
    Options opts;
    opts.base = flags.base;
    opts.filepath = flags.filepath.empty() ? flags.base + "/files" : flags.filepath;
    opts.prefix = flags.prefix;
    opts.cgroup = flags.cgroup;
    opts.self_exe = selfExe();
    return opts;
}

RuntimeFlags runtimeFlagsOf(const Flags& flags, const std::string& token,
                            std::shared_ptr<unique_fd> prefix_claim) {
    RuntimeFlags rf;
    rf.kind = flags.runtime;
    rf.image = flags.image;
    rf.console_address = flags.console_addr;
    rf.console_token = token;
    rf.net.kind = flags.switch_kind;
    rf.net.ovsdb = flags.ovsdb;
    rf.net.ovs_datapath = flags.ovs_datapath;
    rf.prefix_claim = std::move(prefix_claim);
    return rf;
}

// The web page's files: -webroot, or web/ beside the herd binary.
std::string webRootOf(const Flags& flags, const Options& opts) {
    if (!flags.web_root.empty()) return flags.web_root;
    auto slash = opts.self_exe.rfind('/');
    return (slash == std::string::npos ? std::string(".") : opts.self_exe.substr(0, slash)) +
           "/web";
}

// The pid file, the control socket (bound through the base's descriptor, not
// by its path looked up again), and the web page when -web asks for it; says
// where the web page and TCP consoles are. On an error nothing listens.
Result<void> startListening(const Flags& flags, const Options& opts, BaseLock& lock, Server& server,
                            web::WebServer& web, const std::string& token,
                            const std::string& token_file) {
    HERD_TRY(lock.writePid());
    HERD_TRY(server.listen(opts.base + "/minimega", lock.dir()->viaFd("minimega")));
    if (!flags.web.empty()) {
        if (auto r = web.listen(flags.web); !r.ok()) {
            server.removeSocketFile();
            return Error::msg("web: " + r.error().text());
        }
        std::printf("web: listening on %s?token=%s\n", web.url().c_str(), token.c_str());
        std::printf("web: token %s (also in %s/web.url)\n", token.c_str(), opts.base.c_str());
        std::fflush(stdout);
    }
    if (!flags.console_addr.empty()) {
        std::printf(
            "console: TCP consoles on %s (vm info's console_port); a viewer sends the "
            "token (%s) as its first line\n",
            flags.console_addr.c_str(), token_file.c_str());
        std::fflush(stdout);
    }
    return Ok();
}

// Containers die with the daemon (minimega's teardown): every namespace's
// VMs are killed and flushed on the command thread, while the io thread
// still runs their consoles.
void stopContainers(CommandThread& cmd, Herd& herd) {
    auto done = std::make_shared<std::promise<void>>();
    auto fut = done->get_future();
    if (cmd.post([&herd, done] {
            (void)destroyNamespace(herd, "all");
            hostnetShutdown(herd);  // dnsmasq, DHCP clients; before the switches go
            // Kills what still runs; whatever comes after is refused.
            herd.runtime().shutdown();
            herd.setRuntime(makeUnavailableRuntime("the daemon is shutting down"));
            forgetPrefix(*herd.baseDir());  // nothing with the prefix is left
            done->set_value();
        })) {
        fut.wait_for(std::chrono::seconds(60));
    }
}

// `quit keep`: the containers go on under the keeper with their records
// written; the next daemon on the base adopts them. Nothing that carries
// the prefix is removed, so the prefix stays recorded too.
void keepContainers(CommandThread& cmd, Herd& herd) {
    auto done = std::make_shared<std::promise<void>>();
    auto fut = done->get_future();
    if (cmd.post([&herd, done] {
            herd.runtime().keepAll();
            if (CcService* cc = herd.ccIfAny()) cc->keepSockets();
            hostnetShutdown(herd);  // dnsmasq and host taps are not kept
            herd.setRuntime(makeUnavailableRuntime("the daemon is shutting down"));
            done->set_value();
        })) {
        fut.wait_for(std::chrono::seconds(60));
    }
}

// The VMs a previous daemon on this base left (its records, and the
// containers its keeper kept running), registered as they were.
void adoptVms(Herd& herd) {
    for (auto& vm : herd.runtime().adoptLeftovers()) {
        herd.namespaces().getOrCreate(vm->ns);
        for (const auto& n : vm->config.networks) {
            if (!n.alias.empty() && n.alias.find_first_not_of("0123456789") != std::string::npos)
                (void)herd.vlans().add(vm->ns, n.alias, n.vlan);
        }
        const int id = vm->id;
        if (!herd.vms().adopt(std::move(vm))) HERD_LOG(warn, "adopt: vm id {} is taken", id);
    }
}

}  // namespace

int runDaemon(const Flags& flags) {
    // Few malloc arenas: the launch workers would otherwise each keep one,
    // and a flushed experiment's memory would stay scattered over them.
    mallopt(M_ARENA_MAX, 2);
    HERD_LOG(debug, "RLIMIT_NOFILE is {}", runtime::raiseFileLimit());
    if (::geteuid() != 0) HERD_LOG(warn, "not running as root");

    const Options opts = optionsOf(flags);

    auto lock = BaseLock::acquire(opts.base, flags.force);
    if (!lock.ok()) {
        reportError(lock.error().text());
        return 1;
    }
    auto files = openFileRoot(*lock->dir(), opts.filepath);
    if (!files.ok()) {
        reportError(files.error().text());
        lock->release();
        return 1;
    }

    // The prefix is this daemon's and the base's, or it stops here.
    auto claim =
        claimPrefixAtStart(*lock->dir(), opts.base, opts.prefix, flags.runtime == "container");
    if (!claim.ok()) {
        reportError(claim.error().text());
        lock->release();
        return 1;
    }

    Herd herd(opts);
    herd.setDirs(lock->dir(), *files);
    // `cc mount`s a killed daemon left on host directories.
    if (auto r = nukeGuestMounts(*lock->dir()); !r.ok())
        HERD_LOG(warn, "cc mount: leftovers: {}", r.error().text());
    registerAllCommands(herd);
    Executor exec(herd);

    // The daemon's access token: the web page and TCP consoles ask for it
    // (the control socket and the console sockets are root's alone). Root
    // finds it in <base>/token.
    const std::string token = flags.web_token.empty() ? web::randomToken() : flags.web_token;
    const std::string token_file = opts.base + "/token";
    if (auto r = web::writeSecretFile(token_file, token + "\n"); !r.ok()) {
        reportError(r.error().text());
        return 1;
    }
    struct RemoveFile {
        const std::string& path;
        ~RemoveFile() { ::unlink(path.c_str()); }
    } remove_token{token_file};

    asio::io_context io(1);
    warmReactor(io);
    CommandThread cmd;
    Server server(io, cmd, exec, herd.options().hostname);
    // What the service layer asks of this daemon (service/daemon_link.h).
    // Detached again before anything it points to goes.
    DaemonHooks hooks(io, cmd);
    herd.attachDaemon(&hooks);
    struct Detach {
        Herd& herd;
        ~Detach() { herd.attachDaemon(nullptr); }
    } detach{herd};
    herd.setRuntime(makeRuntime(runtimeFlagsOf(flags, token, *claim), herd, io,
                                [&cmd, &herd](std::function<void()> job) {
                                    // A runtime event (a container exited) changes VMs as a command
                                    // does.
                                    cmd.post([&herd, job = std::move(job)] {
                                        job();
                                        herd.daemon().changed();
                                    });
                                }));
    attachCc(herd);
    adoptVms(herd);

    // The web page: started by -web or the `web` command.
    web::WebServer web(
        io,
        web::Backend{herd, exec,
                     [&cmd](std::function<void()> job) { return cmd.post(std::move(job)); }},
        webRootOf(flags, opts), token, opts.base + "/web.url");
    hooks.setWeb(web.control(), [&web] { web.changed(); });

    ShutdownLatch latch;
    std::unique_ptr<Prompt> prompt;
    if (!flags.nostdin) prompt = std::make_unique<Prompt>(cmd, exec, latch.flag());
    auto requestShutdown = [&](const std::string& reason) {
        latch.request(reason);
        if (prompt) prompt->stop();
    };
    server.setStoppingProbe([&latch] { return latch.flag().load(); });
    // `quit`, ^D, SIGTERM or SIGHUP stop the daemon.
    StopTriggers triggers(io, prompt.get(), requestShutdown);
    hooks.setQuit([&triggers](int delay_s) { triggers.quit(delay_s); });

    // Signals are handled before the socket exists: a client that sees the
    // socket may signal us at once. The pid file is written first, too.
    if (auto r = startListening(flags, opts, *lock, server, web, token, token_file); !r.ok()) {
        reportError(r.error().text());
        lock->release();
        return 1;
    }

    auto work = asio::make_work_guard(io);
    cmd.start();
    server.start();
    std::thread io_thread([&io] {
        try {
            io.run();
        } catch (const std::exception& e) {
            HERD_LOG(error, "io thread: uncaught exception: {}", e.what());
            std::_Exit(1);
        }
    });
    HERD_LOG(info, "herd started on {} (pid {})", opts.base, ::getpid());

    if (prompt && prompt->run()) requestShutdown("stdin closed");
    std::string reason = latch.wait();
    HERD_LOG(info, "shutting down: {}", reason);

    if (hooks.keep()) {
        keepContainers(cmd, herd);
    } else {
        stopContainers(cmd, herd);
    }
    bool cmd_stopped = cmd.stop(std::chrono::seconds(5));
    asio::post(io, [&] {
        triggers.cancel();
        // Web connections first (their consoles are gone already), then
        // the control socket's clients.
        web.shutdown(std::chrono::seconds(1), [&] {
            server.shutdown(std::chrono::seconds(2), [&] {
                work.reset();
                io.stop();
            });
        });
    });
    io_thread.join();
    herd.dropCc();       // its sockets belong to `io`, which goes first
    herd.dropPlumber();  // so do the pipes' sockets (after cc: its streams use the pipes)
    server.removeSocketFile();
    lock->release();
    prompt.reset();
    if (!cmd_stopped) {
        // A handler is still running on the detached command thread: the
        // daemon state must not be destroyed under it.
        std::fflush(nullptr);
        std::_Exit(0);
    }
    return 0;
}

}  // namespace herd::daemon
