#include "runtime/keeper.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "base/fdpass.h"
#include "base/log.h"
#include "runtime/disk_vault.h"
#include "runtime/isolation.h"

extern char** environ;

namespace herd::runtime {

namespace {

using json = nlohmann::json;

constexpr size_t kMaxMessage = 256 * 1024;
// The first of the two descriptors a launching child gets (sharedTableParent).
constexpr int kFirstSlot = 3;

json specToJson(const LaunchSpec& s) {
    json binds = json::array();
    for (const auto& b : s.binds) {
        binds.push_back({{"source", b.source},
                         {"target", b.target},
                         {"file", b.file},
                         {"readonly", b.readonly},
                         {"allow_suid", b.allow_suid},
                         {"allow_dev", b.allow_dev}});
    }
    return {{"disk", s.disk_key},
            {"hostname", s.hostname},
            {"root", s.root},
            {"lowerdir", s.lowerdir},
            {"upperdir", s.upperdir},
            {"workdir", s.workdir},
            {"layers", s.layers_fd >= 0},
            {"binds", binds},
            {"uuid_file", s.uuid_file},
            {"console", s.console},
            {"preinit", s.preinit},
            {"init", s.init},
            {"env", s.env},
            {"cgroup_ns", s.cgroup_ns},
            {"net_admin", s.net_admin},
            {"host_storage", s.host_storage}};
}

// The spec a request carries; layers_fd is the descriptor that came with it.
Result<LaunchSpec> specFromJson(const json& j, int layers_fd) {
    try {
        LaunchSpec s;
        s.disk_key = j.value("disk", std::string());
        s.hostname = j.at("hostname").get<std::string>();
        s.root = j.at("root").get<std::string>();
        s.lowerdir = j.at("lowerdir").get<std::string>();
        s.upperdir = j.at("upperdir").get<std::string>();
        s.workdir = j.at("workdir").get<std::string>();
        if (j.at("layers").get<bool>()) {
            if (layers_fd < 0) return Error::msg("launch: the layers' directory did not come");
            s.layers_fd = layers_fd;
        }
        for (const auto& b : j.at("binds")) {
            s.binds.push_back({b.at("source").get<std::string>(), b.at("target").get<std::string>(),
                               b.at("file").get<bool>(), b.at("readonly").get<bool>(),
                               b.at("allow_suid").get<bool>(), b.at("allow_dev").get<bool>()});
        }
        s.uuid_file = j.at("uuid_file").get<std::string>();
        s.console = j.at("console").get<std::string>();
        s.preinit = j.at("preinit").get<std::string>();
        s.init = j.at("init").get<std::vector<std::string>>();
        s.env = j.at("env").get<std::vector<std::string>>();
        s.cgroup_ns = j.at("cgroup_ns").get<bool>();
        s.net_admin = j.at("net_admin").get<bool>();
        s.host_storage = j.at("host_storage").get<bool>();
        return s;
    } catch (const json::exception& e) {
        return Error::msg(std::string("launch request: ") + e.what());
    }
}

void logLine(const std::string& text) {
    char stamp[32];
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    std::fprintf(stderr, "%s keeper[%d]: %s\n", stamp, getpid(), text.c_str());
}

Result<json> parseMessage(const std::string& bytes) {
    json j = json::parse(bytes, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object() || !j.contains("op") || !j["op"].is_string()) {
        return Error::msg("keeper: not a request: " + bytes.substr(0, 80));
    }
    return j;
}

// The keeper process's state: its connections and children.
class KeeperServer {
  public:
    KeeperServer(int listen_fd, std::shared_ptr<ContainerParent> parent)
        : listen_(listen_fd), parent_(std::move(parent)) {}

    Result<void> setUp() {
        sigset_t chld;
        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        sigprocmask(SIG_BLOCK, &chld, nullptr);
        sigchld_.reset(signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK));
        if (!sigchld_) return Error::sysNow("signalfd", "SIGCHLD");
        epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
        if (!epoll_) return Error::sysNow("epoll_create1");
        HERD_TRY(watch(listen_.get()));
        auto v = DiskVault::create();
        if (v.ok()) {
            vault_.emplace(std::move(*v));
        } else {
            // The daemon then keeps each disk's descriptor itself.
            logLine("no disk vault: " + v.error().text());
        }
        return watch(sigchld_.get());
    }

    int run() {
        while (!quit_) {
            epoll_event evs[16];
            int n = epoll_wait(epoll_.get(), evs, 16, -1);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                logLine("epoll_wait: " + std::string(strerror(errno)));
                return 1;
            }
            for (int i = 0; i < n && !quit_; ++i) {
                int fd = evs[i].data.fd;
                if (fd == listen_.get()) {
                    accept();
                } else if (fd == sigchld_.get()) {
                    reapAll();
                } else {
                    serve(fd);
                }
            }
            if (conns_.empty() && children_.empty() && held_.empty() &&
                (!vault_ || vault_->keys().empty()) && had_conn_) {
                break;
            }
        }
        return 0;
    }

  private:
    struct Conn {
        unique_fd fd;
        std::string role;  // "" until hello
    };

    Result<void> watch(int fd) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
            return Error::sysNow("epoll_ctl", "keeper");
        }
        return Ok();
    }

    void accept() {
        unique_fd c(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (!c) return;
        ucred cred{};
        socklen_t len = sizeof cred;
        if (getsockopt(c.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
            cred.uid != geteuid()) {
            logLine("refused a connection from uid " + std::to_string(cred.uid));
            return;
        }
        if (!watch(c.get()).ok()) return;
        int fd = c.get();
        conns_[fd].fd = std::move(c);
        had_conn_ = true;
    }

    void close(int fd) {
        epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
        conns_.erase(fd);
    }

    void reply(int fd, const json& j, const std::vector<int>& fds = {}) {
        if (auto r = sendWithFds(fd, j.dump(), fds); !r.ok()) logLine(r.error().text());
    }

    void serve(int fd) {
        auto it = conns_.find(fd);
        if (it == conns_.end()) return;
        auto m = recvWithFds(fd, kMaxMessage);
        if (!m.ok() || m->eof) {
            if (!m.ok()) logLine(m.error().text());
            close(fd);
            return;
        }
        auto j = parseMessage(m->bytes);
        if (!j.ok()) {
            logLine(j.error().text());
            close(fd);
            return;
        }
        const std::string op = (*j)["op"];
        Conn& c = it->second;
        if (op == "hello") {
            c.role = j->value("role", "");
            if (c.role == "events") sendPending(fd);
            if (c.role == "control") reply(fd, {{"ok", true}, {"pid", getpid()}});
        } else if (c.role != "control") {
            logLine("a request before hello: " + op);
            close(fd);
        } else if (op == "launch") {
            launch(fd, *j, m->fds);
        } else if (op == "start") {
            start(fd, *j);
        } else if (op == "kill") {
            auto child = childOf(*j);
            if (child) parent_->kill(*child, j->value("sig", SIGKILL));
        } else if (op == "pidfd") {
            auto child = childOf(*j);
            auto p =
                child ? parent_->pidfd(*child)
                      : Result<unique_fd>(Error::sys(ESRCH, "pidfd", "not a child of the keeper"));
            if (p.ok()) {
                reply(fd, {{"ok", true}}, {p->get()});
            } else {
                reply(fd,
                      {{"ok", false}, {"error", p.error().text()}, {"errno", p.error().errnum()}});
            }
        } else if (op == "hold") {
            held_[j->value("key", "")] = std::move(m->fds);
        } else if (op == "keepdisk") {
            auto r = !vault_          ? Result<void>(Error::msg("keeper: no disk vault"))
                     : m->fds.empty() ? Result<void>(Error::msg("keeper: keepdisk: no disk"))
                                      : vault_->put(j->value("key", ""), m->fds[0].get());
            if (r.ok()) {
                reply(fd, {{"ok", true}});
            } else {
                reply(fd, {{"ok", false}, {"error", r.error().text()}});
            }
        } else if (op == "drop") {
            held_.erase(j->value("key", ""));
            if (vault_) vault_->drop(j->value("key", ""));
        } else if (op == "fetch") {
            for (const auto& [key, fds] : held_) {
                std::vector<int> raw;
                for (const auto& f : fds) raw.push_back(f.get());
                reply(fd, {{"op", "held"}, {"key", key}}, raw);
            }
            if (vault_) {
                for (const auto& key : vault_->keys()) {
                    reply(fd, {{"op", "held"}, {"key", key}, {"disk", true}});
                }
            }
            reply(fd, {{"ok", true}, {"done", true}});
        } else if (op == "exits") {
            json got = json::array();
            if (j->contains("pids") && (*j)["pids"].is_array()) {
                for (const auto& p : (*j)["pids"]) {
                    if (!p.is_number_integer()) continue;
                    auto e = exited_.find(p.get<int>());
                    if (e != exited_.end()) got.push_back({e->first, e->second});
                }
            }
            reply(fd, {{"ok", true}, {"exits", got}});
        } else if (op == "children") {
            json kids = json::array();
            for (const auto& [pid, serial] : children_) {
                kids.push_back({pid, serial, parent_->waiting(pid)});
            }
            reply(fd, {{"ok", true}, {"children", kids}});
        } else if (op == "killall") {
            killAll();
            held_.clear();
            if (vault_) vault_->dropAll();
            reply(fd, {{"ok", true}});
        } else if (op == "quit") {
            killAll();
            held_.clear();
            if (vault_) vault_->dropAll();
            reply(fd, {{"ok", true}});
            quit_ = true;
        } else {
            reply(fd, {{"ok", false}, {"error", "keeper: unknown request " + op}});
        }
    }

    void launch(int fd, const json& j, std::vector<unique_fd>& fds) {
        auto fail = [&](const Error& e) {
            reply(fd, {{"ok", false}, {"error", e.text()}, {"errno", e.errnum()}});
        };
        if (fds.empty() || !j.contains("spec")) return fail(Error::msg("launch: no sync socket"));
        auto spec = specFromJson(j["spec"], fds.size() > 1 ? fds[1].get() : -1);
        if (!spec.ok()) return fail(spec.error());
        unique_fd disk;  // open until the child has its copy
        if (!spec->disk_key.empty()) {
            auto d = vault_ ? vault_->get(spec->disk_key)
                            : Result<unique_fd>(Error::msg("keeper: no disk vault"));
            if (!d.ok()) return fail(d.error().wrap("disk-limit"));
            disk = std::move(*d);
            spec->layers_fd = disk.get();
        }
        auto cloned = parent_->clone(*spec, fds[0].get());
        if (!cloned.ok()) return fail(cloned.error());
        const uint64_t serial = ++serial_;
        children_[cloned->pid] = serial;
        exited_.erase(cloned->pid);  // an earlier child's, with the same pid
        reply(fd, {{"ok", true}, {"pid", cloned->pid}, {"serial", serial}});
        // The received descriptors close here: the child has its copies.
    }

    // The child a request names by "pid" and "serial", if it is one of
    // ours: a pid alone may be a newer child's.
    std::optional<ChildRef> childOf(const json& j) const {
        auto it = children_.find(j.value("pid", 0));
        if (it == children_.end() || it->second != j.value("serial", uint64_t{0})) {
            return std::nullopt;
        }
        return ChildRef{it->first, it->second};
    }

    // Lets BUILDING children exec (ContainerParent::start) and answers with
    // how each did: [[pid, "" or the error, errno], ...], in order.
    void start(int fd, const json& j) {
        std::vector<ChildRef> asked, ours;
        std::set<uint64_t> seen;
        if (j.contains("children") && j["children"].is_array()) {
            for (const auto& c : j["children"]) {
                ChildRef r;
                if (c.is_array() && c.size() == 2 && c[0].is_number_integer() &&
                    c[1].is_number_unsigned()) {
                    r = {c[0].get<int>(), c[1].get<uint64_t>()};
                }
                asked.push_back(r);
                auto it = children_.find(r.pid);
                if (it != children_.end() && it->second == r.serial && seen.insert(r.serial).second)
                    ours.push_back(r);
            }
        }
        int timeout = std::clamp(j.value("timeout_ms", 10000), 0, 600000);
        auto rs = parent_->start(ours, timeout);
        json out = json::array();
        size_t k = 0;
        for (const auto& r : asked) {
            if (k < ours.size() && ours[k].serial == r.serial && ours[k].pid == r.pid) {
                const auto& res = rs[k++];
                out.push_back({r.pid, res.ok() ? "" : res.error().text(),
                               res.ok() ? 0 : res.error().errnum()});
            } else {
                out.push_back({r.pid, "start: not a child of the keeper", ESRCH});
            }
        }
        reply(fd, {{"ok", true}, {"results", out}});
    }

    // Reaps every child that exited and tells the events connections.
    void reapAll() {
        signalfd_siginfo si;
        while (read(sigchld_.get(), &si, sizeof si) == sizeof si) {
        }
        for (;;) {
            siginfo_t info{};
            if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid == 0) {
                break;
            }
            const int pid = info.si_pid;
            auto it = children_.find(pid);
            auto status = parent_->tryReap({pid, it == children_.end() ? 0 : it->second});
            if (!status) {
                // Not one the parent launched: reap it here all the same.
                siginfo_t done{};
                waitid(P_PID, static_cast<id_t>(pid), &done, WEXITED | WNOHANG);
                continue;
            }
            exited(pid, *status);
        }
        broadcast();
    }

    void broadcast() {
        for (auto& [fd, c] : conns_)
            if (c.role == "events") sendPending(fd);
    }

    // Exit reports go to the events connections; with none (no daemon), they
    // wait for the next one, as many as there were children.
    void sendPending(int fd) {
        for (const auto& e : pending_) {
            reply(fd, {{"op", "exit"}, {"pid", e.pid}, {"serial", e.serial}, {"status", e.status}});
        }
        pending_.clear();
    }

    // A child ended: to tell the daemon, and to remember.
    void exited(int pid, int status) {
        auto it = children_.find(pid);
        uint64_t serial = it == children_.end() ? 0 : it->second;
        if (it != children_.end()) children_.erase(it);
        pending_.push_back({pid, serial, status});
        remember(pid, status);
    }

    // How children ended, kept for a daemon that was not there to hear it
    // (adoption asks with `exits`): the last kRemembered, until the pid is
    // a new child's.
    void remember(int pid, int status) {
        static constexpr size_t kRemembered = 65536;
        if (exited_.insert_or_assign(pid, status).second) exit_order_.push_back(pid);
        while (exit_order_.size() > kRemembered) {
            exited_.erase(exit_order_.front());
            exit_order_.pop_front();
        }
    }

    void killAll() {
        std::vector<ChildRef> all;
        for (const auto& [pid, serial] : children_) all.push_back({pid, serial});
        for (const auto& c : all) parent_->kill(c, SIGKILL);
        for (const auto& c : all) exited(c.pid, parent_->reap(c));
        broadcast();
    }

    unique_fd listen_;
    unique_fd sigchld_;
    unique_fd epoll_;
    std::shared_ptr<ContainerParent> parent_;
    std::map<int, Conn> conns_;
    struct Exit {
        int pid;
        uint64_t serial;
        int status;
    };
    // Living children: pid -> which launch of this keeper it is (a pid is
    // reused; exit reports carry the serial so that the daemon can tell).
    std::map<int, uint64_t> children_;
    uint64_t serial_ = 0;
    std::vector<Exit> pending_;
    std::map<int, int> exited_;   // pid -> wait status (remember())
    std::deque<int> exit_order_;  // exited_'s pids, oldest first
    std::map<std::string, std::vector<unique_fd>> held_;
    std::optional<DiskVault> vault_;  // the disks (keepdisk), when it could be made
    bool had_conn_ = false;
    bool quit_ = false;
};

// The address of the unix socket at `path`.
Result<sockaddr_un> unixAddress(const std::string& path) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (path.size() >= sizeof a.sun_path) return Error::msg("keeper socket path too long: " + path);
    std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
    return a;
}

// Connects to the keeper's socket at `path`.
Result<unique_fd> dial(const std::string& path) {
    auto a = unixAddress(path);
    if (!a.ok()) return a.error();
    unique_fd s(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    if (!s) return Error::sysNow("socket", "keeper");
    if (::connect(s.get(), reinterpret_cast<sockaddr*>(&*a), sizeof *a) != 0) {
        return Error::sysNow("connect to", path);
    }
    return s;
}

Result<void> hello(int fd, const char* role) {
    return sendWithFds(fd, json{{"op", "hello"}, {"role", role}}.dump(), {});
}

// Starts the keeper on a new listening socket at `path`.
Result<void> spawnKeeper(const std::string& base_path, const std::string& exe) {
    const std::string path = base_path + "/" + kKeeperSocket;
    auto a = unixAddress(path);
    if (!a.ok()) return a.error();
    unique_fd l(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    if (!l) return Error::sysNow("socket", "keeper");
    if (unlink(path.c_str()) != 0 && errno != ENOENT) return Error::sysNow("unlink", path);
    if (bind(l.get(), reinterpret_cast<sockaddr*>(&*a), sizeof *a) != 0) {
        return Error::sysNow("bind", path);
    }
    if (chmod(path.c_str(), 0600) != 0) return Error::sysNow("chmod", path);
    if (listen(l.get(), 16) != 0) return Error::sysNow("listen", path);

    const std::string log = base_path + "/" + kKeeperLog;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, log.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW, 0600);
    posix_spawn_file_actions_adddup2(&fa, l.get(), 3);
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setflags(&at,
                             POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    std::string arg0 = exe, arg1 = "-keeper";
    char* argv[] = {arg0.data(), arg1.data(), nullptr};
    pid_t pid = 0;
    int rc = posix_spawn(&pid, exe.c_str(), &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (rc != 0) {
        ::unlink(path.c_str());  // nobody will answer on it
        return Error::sys(rc, "start keeper", exe);
    }
    // The keeper is this process's child until this process ends; quit()
    // reaps it.
    return Ok();
}

}  // namespace

int keeperMain(int listen_fd) {
    // Only the listening socket and stdio: nothing of whoever started us.
    ::close_range(static_cast<unsigned>(listen_fd) + 1, ~0U, 0);
    ::signal(SIGPIPE, SIG_IGN);
    ::signal(SIGHUP, SIG_IGN);
    ::signal(SIGINT, SIG_IGN);
    // Descriptors 3 and 4 are a launching child's (sharedTableParent):
    // /dev/null holds them between launches, everything else goes above.
    int placeholder = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    int moved = fcntl(listen_fd, F_DUPFD_CLOEXEC, kFirstSlot + 8);
    int high = placeholder < 0 ? -1 : fcntl(placeholder, F_DUPFD_CLOEXEC, kFirstSlot + 8);
    if (placeholder < 0 || moved < 0 || high < 0 || dup3(high, kFirstSlot, O_CLOEXEC) < 0 ||
        dup3(high, kFirstSlot + 1, O_CLOEXEC) < 0) {
        logLine(std::string("set up descriptors: ") + strerror(errno));
        return 1;
    }
    if (placeholder != kFirstSlot && placeholder != kFirstSlot + 1) ::close(placeholder);
    auto iso = makeIsolation();
    if (!iso.ok()) {
        logLine(iso.error().text());
        return 1;
    }
    KeeperServer server(moved, sharedTableParent(*iso, kFirstSlot, high));
    if (auto r = server.setUp(); !r.ok()) {
        logLine(r.error().text());
        return 1;
    }
    return server.run();
}

Result<std::shared_ptr<Keeper>> Keeper::connect(const std::string& base_path) {
    const std::string path = base_path + "/" + kKeeperSocket;
    auto control = dial(path);
    if (!control.ok()) return control.error();
    auto events = dial(path);
    if (!events.ok()) return events.error();
    HERD_TRY(hello(events->get(), "events"));
    HERD_TRY(hello(control->get(), "control"));
    // A keeper that stopped answering (stopped, or wedged) must not hang the
    // daemon or `herd -nuke` forever: killing every container of a big
    // experiment takes the longest, well under this.
    timeval tv{120, 0};
    setsockopt(control->get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::shared_ptr<Keeper> k(new Keeper());
    // The listening socket's credentials are its maker's (the daemon that
    // started the keeper): the keeper says its own pid.
    auto m = recvWithFds(control->get(), 4096);
    if (!m.ok()) return m.error().wrap("keeper");
    json r = json::parse(m->bytes, nullptr, false);
    if (m->eof || r.is_discarded() || !r.is_object() || !r.value("ok", false)) {
        return Error::msg("keeper: no answer to hello (see " + base_path + "/" + kKeeperLog + ")");
    }
    k->pid_ = r.value("pid", 0);
    k->control_ = std::move(*control);
    k->events_ = std::move(*events);
    k->thread_ = std::thread([raw = k.get()] { raw->eventLoop(); });
    return k;
}

Result<std::shared_ptr<Keeper>> Keeper::open(const std::string& base_path, const std::string& exe,
                                             bool* started) {
    if (started) *started = false;
    auto k = connect(base_path);
    if (k.ok()) return k;
    const int e = k.error().errnum();
    if (e != ENOENT && e != ECONNREFUSED) return k.error();
    HERD_TRY(spawnKeeper(base_path, exe));
    if (started) *started = true;
    return connect(base_path);
}

Keeper::~Keeper() {
    // Closing both connections lets a keeper with no children exit.
    if (events_) ::shutdown(events_.get(), SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
}

void Keeper::eventLoop() {
    for (;;) {
        auto m = recvWithFds(events_.get(), 4096);
        if (!m.ok() || m->eof) break;
        auto j = parseMessage(m->bytes);
        if (!j.ok() || (*j)["op"] != "exit") continue;
        exitOf(j->value("serial", uint64_t{0}), j->value("status", 0));
    }
    std::lock_guard<std::mutex> lock(mu_);
    // The keeper died. Its children went to init and go on running; how
    // they end can no longer be learnt here, so no exit is reported (the
    // VMs keep their state, and `vm kill` kills through the cgroup).
    gone_ = true;
    if (!quitting_) {
        HERD_LOG(error, "keeper: the keeper is gone: containers run on, unsupervised (see {})",
                 kKeeperLog);
    }
    cv_.notify_all();
}

void Keeper::exitOf(uint64_t serial, int status) {
    std::function<void()> cb;
    {
        std::lock_guard<std::mutex> lock(mu_);
        // Exits nobody asks for (a previous daemon's children) are kept,
        // within bounds: the oldest go first.
        if (statuses_.size() >= 65536) statuses_.erase(statuses_.begin());
        statuses_[serial] = status;
        auto w = watchers_.find(serial);
        if (w != watchers_.end()) {
            cb = std::move(w->second);
            watchers_.erase(w);
        }
        cv_.notify_all();
    }
    if (cb) cb();
}

void Keeper::watch(const ChildRef& child, std::function<void()> on_exit) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (!statuses_.count(child.serial)) {
            watchers_[child.serial] = std::move(on_exit);
            return;
        }
    }
    on_exit();
}

bool Keeper::unusable() const {
    return gone_ || broken_;
}

Result<std::string> Keeper::request(const std::string& text, const std::vector<int>& fds,
                                    unique_fd* got_fd) {
    std::lock_guard<std::mutex> lock(control_mu_);
    HERD_TRY(sendWithFds(control_.get(), text, fds));
    auto m = recvWithFds(control_.get(), kMaxMessage);
    if (!m.ok() || m->eof) {
        // A late answer would be taken for the next request's: the
        // connection is done for, and so is waiting for exits through it.
        ::shutdown(control_.get(), SHUT_RDWR);
        markBroken();
        if (!m.ok()) return m.error().wrap("keeper");
        return Error::msg("keeper: the keeper closed the connection (see its log)");
    }
    if (got_fd && !m->fds.empty()) *got_fd = std::move(m->fds.front());
    return std::move(m->bytes);
}

Result<ContainerParent::Cloned> Keeper::clone(const LaunchSpec& spec, int child_sync) {
    std::vector<int> fds{child_sync};
    if (spec.layers_fd >= 0) fds.push_back(spec.layers_fd);
    auto text = request(json{{"op", "launch"}, {"spec", specToJson(spec)}}.dump(), fds, nullptr);
    if (!text.ok()) return text.error();
    json r = json::parse(*text, nullptr, false);
    if (r.is_discarded() || !r.is_object()) return Error::msg("keeper: a garbled answer");
    if (!r.value("ok", false)) {
        int e = r.value("errno", 0);
        std::string msg = r.value("error", std::string("launch failed"));
        return Error::withErrno(e, msg);
    }
    Cloned c;
    c.pid = r.value("pid", -1);
    c.serial = r.value("serial", uint64_t{0});
    return c;
}

std::vector<Result<void>> Keeper::start(const std::vector<ChildRef>& pids, int timeout_ms) {
    using namespace std::chrono;
    const auto deadline = steady_clock::now() + milliseconds(timeout_ms);
    std::vector<Result<void>> out;
    constexpr size_t kChunk = 2000;  // answers stay far below a message's limit
    for (size_t at = 0; at < pids.size(); at += kChunk) {
        json some = json::array();
        for (size_t k = at; k < std::min(pids.size(), at + kChunk); ++k)
            some.push_back({pids[k].pid, pids[k].serial});
        auto left = duration_cast<milliseconds>(deadline - steady_clock::now()).count();
        auto text = request(
            // (Below the connection's 120 s receive timeout.)
            json{{"op", "start"},
                 {"children", some},
                 {"timeout_ms", std::clamp<int64_t>(left, 100, 100000)}}
                .dump(),
            {}, nullptr);
        json r = text.ok() ? json::parse(*text, nullptr, false) : json();
        if (!text.ok() || r.is_discarded() || !r.value("ok", false) || !r.contains("results") ||
            r["results"].size() != some.size()) {
            Error e = text.ok() ? Error::msg("keeper: start: " + *text) : text.error();
            for (size_t k = 0; k < some.size(); ++k) out.push_back(e);
            continue;
        }
        for (const auto& res : r["results"]) {
            std::string err = "keeper: start: a garbled answer";
            int e = EPROTO;
            if (res.is_array() && res.size() == 3 && res[1].is_string() &&
                res[2].is_number_integer()) {
                err = res[1].get<std::string>();
                e = res[2].get<int>();
            }
            out.push_back(err.empty() ? Result<void>(Ok()) : Error::withErrno(e, err));
        }
    }
    return out;
}

void Keeper::kill(const ChildRef& child, int sig) {
    std::lock_guard<std::mutex> lock(control_mu_);
    auto r = sendWithFds(
        control_.get(),
        json{{"op", "kill"}, {"pid", child.pid}, {"serial", child.serial}, {"sig", sig}}.dump(),
        {});
    if (!r.ok()) {
        HERD_LOG(warn, "keeper: kill {}: {}", child.pid, r.error().text());
        markBroken();
    }
}

Result<unique_fd> Keeper::pidfd(const ChildRef& child) {
    unique_fd fd;
    auto text = request(json{{"op", "pidfd"}, {"pid", child.pid}, {"serial", child.serial}}.dump(),
                        {}, &fd);
    if (!text.ok()) return text.error();
    json r = json::parse(*text, nullptr, false);
    if (r.is_discarded() || !r.value("ok", false) || !fd) {
        return Error::withErrno(r.is_object() ? r.value("errno", ESRCH) : ESRCH,
                                r.is_object() ? r.value("error", std::string("keeper: pidfd"))
                                              : std::string("keeper: pidfd"));
    }
    return fd;
}

void Keeper::hold(const std::string& key, const std::vector<int>& fds) {
    std::lock_guard<std::mutex> lock(control_mu_);
    if (auto r = sendWithFds(control_.get(), json{{"op", "hold"}, {"key", key}}.dump(), fds);
        !r.ok()) {
        HERD_LOG(warn, "keeper: hold {}: {}", key, r.error().text());
    }
}

bool Keeper::keepDisk(const std::string& key, int mount_fd) {
    auto text = request(json{{"op", "keepdisk"}, {"key", key}}.dump(), {mount_fd}, nullptr);
    if (!text.ok()) {
        HERD_LOG(warn, "keeper: keepdisk {}: {}", key, text.error().text());
        return false;
    }
    json r = json::parse(*text, nullptr, false);
    if (r.is_discarded() || !r.value("ok", false)) {
        HERD_LOG(warn, "keeper: keepdisk {}: {}", key, *text);
        return false;
    }
    return true;
}

void Keeper::drop(const std::string& key) {
    std::lock_guard<std::mutex> lock(control_mu_);
    (void)sendWithFds(control_.get(), json{{"op", "drop"}, {"key", key}}.dump(), {});
}

Result<std::map<std::string, std::vector<unique_fd>>> Keeper::fetch() {
    std::lock_guard<std::mutex> lock(control_mu_);
    HERD_TRY(sendWithFds(control_.get(), json{{"op", "fetch"}}.dump(), {}));
    std::map<std::string, std::vector<unique_fd>> out;
    for (;;) {
        auto m = recvWithFds(control_.get(), kMaxMessage);
        if (!m.ok()) return m.error().wrap("keeper: fetch");
        if (m->eof) return Error::msg("keeper: the keeper closed the connection (see its log)");
        json r = json::parse(m->bytes, nullptr, false);
        if (r.is_discarded() || !r.is_object()) return Error::msg("keeper: a garbled answer");
        if (r.value("done", false)) return out;
        out[r.value("key", "")] = std::move(m->fds);
    }
}

bool Keeper::waitStatus(uint64_t serial, std::chrono::milliseconds timeout, int& status) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return statuses_.count(serial) || unusable(); });
    auto it = statuses_.find(serial);
    if (it == statuses_.end()) return false;
    status = it->second;
    statuses_.erase(it);
    return true;
}

void Keeper::markBroken() {
    std::lock_guard<std::mutex> lock(mu_);
    broken_ = true;
    cv_.notify_all();
}

std::optional<int> Keeper::tryReap(const ChildRef& child) {
    int status = 0;
    if (waitStatus(child.serial, std::chrono::milliseconds(0), status)) return status;
    return std::nullopt;  // running, or nobody can tell (the keeper is gone)
}

int Keeper::reap(const ChildRef& child) {
    int status = 0;
    for (;;) {
        if (waitStatus(child.serial, std::chrono::seconds(1), status)) return status;
        std::lock_guard<std::mutex> lock(mu_);
        // The keeper is gone or cannot be told any more: how the child ends
        // cannot be learnt; the caller kills what is left through the cgroup.
        if (unusable()) return SIGKILL;
    }
}

Result<std::map<int, int>> Keeper::exits(const std::vector<int>& pids) {
    std::map<int, int> out;
    constexpr size_t kChunk = 1000;  // answers stay far below a message's limit
    for (size_t at = 0; at < pids.size(); at += kChunk) {
        std::vector<int> some(pids.begin() + static_cast<long>(at),
                              pids.begin() + static_cast<long>(std::min(pids.size(), at + kChunk)));
        auto text = request(json{{"op", "exits"}, {"pids", some}}.dump(), {}, nullptr);
        if (!text.ok()) return text.error();
        json r = json::parse(*text, nullptr, false);
        if (r.is_discarded() || !r.value("ok", false) || !r.contains("exits"))
            return Error::msg("keeper: exits: " + *text);
        for (const auto& e : r["exits"]) out[e.at(0).get<int>()] = e.at(1).get<int>();
    }
    return out;
}

Result<std::vector<Keeper::KeptChild>> Keeper::children() {
    auto text = request(json{{"op", "children"}}.dump(), {}, nullptr);
    if (!text.ok()) return text.error();
    json r = json::parse(*text, nullptr, false);
    if (r.is_discarded() || !r.value("ok", false) || !r.contains("children")) {
        return Error::msg("keeper: children: " + *text);
    }
    std::vector<KeptChild> out;
    try {
        for (const auto& c : r["children"]) {
            KeptChild k{c.at(0).get<int>(), c.at(1).get<uint64_t>(), c.at(2).get<bool>()};
            out.push_back(k);
        }
    } catch (const json::exception& e) {
        return Error::msg(std::string("keeper: children: ") + e.what());
    }
    return out;
}

Result<void> Keeper::killAll() {
    auto text = request(json{{"op", "killall"}}.dump(), {}, nullptr);
    if (!text.ok()) return text.error();
    return Ok();
}

Result<void> Keeper::quit() {
    quitting_ = true;  // its end is no news (eventLoop)
    auto text = request(json{{"op", "quit"}}.dump(), {}, nullptr);
    if (!text.ok()) return text.error();
    // A keeper this process started is its child: reap it (it exits right
    // after answering). Another's is not, and waitpid says so.
    if (pid_ > 0) {
        while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
        }
    }
    return Ok();
}

}  // namespace herd::runtime
