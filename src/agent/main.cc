// herd-cc: the command-and-control agent inside a guest (herd's counterpart
// of minimega's miniccc; the daemon side is service/cc.h).
//
// Connects to the daemon's unix socket (/cc by default), says who it is (the
// VM UUID from the DMI product_uuid file) and carries out what the daemon
// sends: commands (argv exec'd directly, no shell), background commands,
// files in both directions, background process list/kill. The protocol is
// described in src/proto/ccproto.h. It reconnects by itself (backoff up to
// 1 s) and keeps responses it could not deliver for the next connection.
//
//   herd-cc [-parent /cc] [-v]
//
// A static binary: it runs in any image.
#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "agent/tunnel.h"
#include "proto/ccproto.h"

namespace proto = herd::ccproto;
using nlohmann::json;

namespace {

std::atomic<bool> g_verbose{false};

void logf(const char* fmt, const std::string& a = "") {
    if (g_verbose) std::fprintf(stderr, "herd-cc: %s\n", (std::string(fmt) + a).c_str());
}

std::string readUuid() {
    std::ifstream f("/sys/devices/virtual/dmi/id/product_uuid");
    std::string s;
    std::getline(f, s);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

// Go's GOARCH names, as minimega's clients report them.
std::string goArch() {
    utsname u{};
    if (uname(&u) != 0) return "unknown";
    std::string m = u.machine;
    if (m == "x86_64") return "amd64";
    if (m == "aarch64") return "arm64";
    if (m.size() == 4 && m[0] == 'i' && m.substr(2) == "86") return "386";
    if (m.rfind("arm", 0) == 0) return "arm";
    return m;
}

json identity(const std::string& type, const std::string& uuid) {
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    std::vector<std::string> ips, macs;
    ifaddrs* ifa = nullptr;
    if (getifaddrs(&ifa) == 0) {
        for (ifaddrs* i = ifa; i; i = i->ifa_next) {
            if (!i->ifa_addr || (i->ifa_flags & IFF_LOOPBACK)) continue;
            char buf[INET6_ADDRSTRLEN] = {};
            int fam = i->ifa_addr->sa_family;
            if (fam == AF_INET) {
                inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, buf,
                          sizeof buf);
                ips.emplace_back(buf);
            } else if (fam == AF_INET6) {
                inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(i->ifa_addr)->sin6_addr, buf,
                          sizeof buf);
                ips.emplace_back(buf);
            } else if (fam == AF_PACKET) {
                auto* ll = reinterpret_cast<sockaddr_ll*>(i->ifa_addr);
                if (ll->sll_halen != 6) continue;
                char mac[18];
                std::snprintf(mac, sizeof mac, "%02x:%02x:%02x:%02x:%02x:%02x", ll->sll_addr[0],
                              ll->sll_addr[1], ll->sll_addr[2], ll->sll_addr[3], ll->sll_addr[4],
                              ll->sll_addr[5]);
                if (std::string(mac) != "00:00:00:00:00:00") macs.emplace_back(mac);
            }
        }
        freeifaddrs(ifa);
    }
    // The daemon reads a hello of bounded size (ccproto.h).
    if (ips.size() > proto::kMaxAddrs) ips.resize(proto::kMaxAddrs);
    if (macs.size() > proto::kMaxAddrs) macs.resize(proto::kMaxAddrs);
    return {{"type", type},  {"version", proto::kVersion}, {"uuid", uuid}, {"hostname", host},
            {"os", "linux"}, {"arch", goArch()},           {"ip", ips},    {"mac", macs}};
}

bool writeAll(int fd, const char* p, size_t n) {
    while (n > 0) {
        ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= static_cast<size_t>(w);
    }
    return true;
}

// The connection to the daemon, shared by the reader, the worker and the
// background waiters. Frames that cannot be sent wait in an outbox (bounded)
// for the next connection.
class Link {
  public:
    void attach(int fd) {
        std::lock_guard l(mu_);
        fd_ = fd;
        while (!outbox_.empty() && fd_ >= 0) {
            if (!writeAll(fd_, outbox_.front().data(), outbox_.front().size())) break;
            outbox_bytes_ -= outbox_.front().size();
            outbox_.pop_front();
        }
    }
    void detach() {
        std::lock_guard l(mu_);
        fd_ = -1;
    }
    void send(const json& h, std::string_view body = {}, bool keep = true) {
        std::string f = proto::encode(h, body);
        std::lock_guard l(mu_);
        if (fd_ >= 0 && writeAll(fd_, f.data(), f.size())) return;
        if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);  // the reader notices and reconnects
        if (keep && outbox_bytes_ + f.size() <= kOutboxMax) {
            outbox_bytes_ += f.size();
            outbox_.push_back(std::move(f));
        }
    }

  private:
    static constexpr size_t kOutboxMax = 64u << 20;
    std::mutex mu_;
    int fd_ = -1;
    std::deque<std::string> outbox_;
    size_t outbox_bytes_ = 0;
};

Link g_link;

// Background processes started by `cc background`.
std::mutex g_procs_mu;
std::map<int, std::vector<std::string>> g_procs;

void sendProcs() {
    json list = json::array();
    {
        std::lock_guard l(g_procs_mu);
        for (const auto& [pid, argv] : g_procs) list.push_back({{"pid", pid}, {"argv", argv}});
    }
    g_link.send({{"type", "procs"}, {"procs", list}});
}

struct Spawned {
    pid_t pid = -1;
    int out = -1, err = -1;
};

// The current connection's streams (null while disconnected), for binding
// a process's stdio to the daemon's named pipes.
std::mutex g_tunnels_mu;
herd::agent::Tunnels* g_tunnels = nullptr;

// `cc exec stdin=P stdout=Q stderr=R`: for each bound stream, a socketpair;
// the process gets one end as that descriptor, the agent streams the other
// to the daemon (Tunnels::openPipe). A socket rather than a pipe: the
// stream code reads, writes and shuts down sockets.
struct Stdio {
    int child[3] = {-1, -1, -1};  // the process's ends (0, 1, 2), or -1
    int mine[3] = {-1, -1, -1};
    std::string pipe[3];
    explicit Stdio(const json& c) {
        const char* keys[3] = {"stdin", "stdout", "stderr"};
        for (int i = 0; i < 3; ++i) {
            pipe[i] = proto::jstr(c, keys[i]);
            int sp[2];
            if (pipe[i].empty() || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0)
                continue;
            child[i] = sp[0];
            mine[i] = sp[1];
        }
    }
    // After the fork: the process has its ends; the agent's go to the
    // daemon (or are closed while disconnected: the process reads EOF).
    void start() {
        const char* keys[3] = {"stdin", "stdout", "stderr"};
        std::lock_guard l(g_tunnels_mu);
        for (int i = 0; i < 3; ++i) {
            if (child[i] >= 0) close(child[i]);
            child[i] = -1;
            if (mine[i] < 0) continue;
            if (g_tunnels)
                g_tunnels->openPipe(mine[i], pipe[i], keys[i]);
            else
                close(mine[i]);
            mine[i] = -1;
        }
    }
    ~Stdio() {
        for (int i = 0; i < 3; ++i) {
            if (child[i] >= 0) close(child[i]);
            if (mine[i] >= 0) close(mine[i]);
        }
    }
};

// fork + execvp, stdout/stderr to pipes (or to `io`'s sockets), stdin from
// /dev/null (or `io`'s).
Spawned spawn(const std::vector<std::string>& argv, bool own_group, const Stdio* io = nullptr) {
    Spawned s;
    int o[2], e[2];
    if (pipe2(o, O_CLOEXEC) != 0) return s;
    if (pipe2(e, O_CLOEXEC) != 0) {
        close(o[0]);
        close(o[1]);
        return s;
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = fork();
    if (pid == 0) {
        if (own_group) setsid();
        int nul = open("/dev/null", O_RDONLY);
        if (io && io->child[0] >= 0)
            dup2(io->child[0], 0);
        else if (nul >= 0)
            dup2(nul, 0);
        dup2(io && io->child[1] >= 0 ? io->child[1] : o[1], 1);
        dup2(io && io->child[2] >= 0 ? io->child[2] : e[1], 2);
        if (chdir(proto::kGuestFiles) != 0 && chdir("/") != 0) _exit(127);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        signal(SIGPIPE, SIG_DFL);
        execvp(args[0], args.data());
        int err = errno;
        std::string msg = "exec: \"" + argv[0] + "\": " + std::strerror(err) + "\n";
        (void)!write(2, msg.data(), msg.size());
        _exit(err == ENOENT ? 127 : 126);
    }
    close(o[1]);
    close(e[1]);
    if (pid < 0) {
        close(o[0]);
        close(e[0]);
        return s;
    }
    s.pid = pid;
    s.out = o[0];
    s.err = e[0];
    return s;
}

void sendOutput(int64_t id, std::string& out, std::string& err) {
    json h = {{"type", "output"}, {"id", id}, {"stdout", out.size()}, {"stderr", err.size()}};
    g_link.send(h, out + err);
    out.clear();
    err.clear();
}

// Reads both pipes to EOF and reaps. Output is sent on as `output` frames of
// about kChunk bytes while it comes (nothing is cut, and the agent holds at
// most a chunk); what is left at the end is for the caller's response.
int collect(int64_t id, const Spawned& s, std::string& out, std::string& err) {
    pollfd p[2] = {{s.out, POLLIN, 0}, {s.err, POLLIN, 0}};
    std::string* dst[2] = {&out, &err};
    int open_n = 2;
    char buf[proto::kMaxOutputPiece - proto::kChunk];
    while (open_n > 0) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int i = 0; i < 2; ++i) {
            if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t n = read(p[i].fd, buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                close(p[i].fd);
                p[i].fd = -1;
                --open_n;
                continue;
            }
            dst[i]->append(buf, static_cast<size_t>(n));
            if (out.size() + err.size() >= proto::kChunk) sendOutput(id, out, err);
        }
    }
    for (auto& q : p)
        if (q.fd >= 0) close(q.fd);
    int status = 0;
    while (waitpid(s.pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

void respond(int64_t id, const std::string& out, const std::string& err, std::optional<int> code) {
    json h = {{"type", "response"}, {"id", id}, {"stdout", out.size()}, {"stderr", err.size()}};
    if (code) h["exitcode"] = *code;
    g_link.send(h, out + err);
}

void runBackground(int64_t id, std::vector<std::string> argv, Stdio& io) {
    Spawned s = spawn(argv, true, &io);
    io.start();
    if (s.pid < 0) {
        respond(id, "", std::string("spawn: ") + std::strerror(errno) + "\n", std::nullopt);
        return;
    }
    {
        std::lock_guard l(g_procs_mu);
        g_procs[s.pid] = argv;
    }
    respond(id, "", "", std::nullopt);
    sendProcs();
    std::thread([id, s] {
        std::string out, err;
        collect(id, s, out, err);
        {
            std::lock_guard l(g_procs_mu);
            g_procs.erase(s.pid);
        }
        if (!out.empty() || !err.empty()) respond(id, out, err, std::nullopt);
        sendProcs();
    }).detach();
}

// Sends guest files back (cc recv): file frames, then the response.
void sendFiles(int64_t id, const std::vector<std::string>& paths) {
    std::string errors;
    for (const auto& p : paths) {
        int fd = open(p.c_str(), O_RDONLY | O_CLOEXEC);
        struct stat st {};
        if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            std::string e = fd < 0 ? std::strerror(errno) : "not a regular file";
            if (fd >= 0) close(fd);
            errors += "recv " + p + ": " + e + "\n";
            g_link.send({{"type", "file"}, {"id", id}, {"path", p}, {"eof", true}, {"error", e}});
            continue;
        }
        std::string chunk(proto::kChunk, '\0');
        for (;;) {
            ssize_t n = read(fd, chunk.data(), chunk.size());
            if (n < 0 && errno == EINTR) continue;
            bool eof = n <= 0;
            json h = {{"type", "file"}, {"id", id}, {"path", p}, {"eof", eof}};
            if (n < 0) h["error"] = std::strerror(errno);
            g_link.send(h, std::string_view(chunk.data(), n > 0 ? static_cast<size_t>(n) : 0));
            if (eof) break;
        }
        close(fd);
    }
    respond(id, "", errors, std::nullopt);
}

// Commands run one at a time, in the order the daemon sent them.
class Worker {
  public:
    Worker() : t_([this] { loop(); }) {}
    void push(json cmd) {
        {
            std::lock_guard l(mu_);
            q_.push_back(std::move(cmd));
        }
        cv_.notify_one();
    }

  private:
    void loop() {
        for (;;) {
            json c;
            {
                std::unique_lock l(mu_);
                cv_.wait(l, [this] { return !q_.empty(); });
                c = std::move(q_.front());
                q_.pop_front();
            }
            run(c);
        }
    }
    void run(const json& c) {
        int64_t id = proto::jint(c, "id");
        auto argv = proto::jstrs(c, "argv");
        auto recv = proto::jstrs(c, "recv");
        if (c.contains("conntest")) return respond(id, herd::agent::connTest(c["conntest"]), "", 0);
        if (c.contains("loglevel")) {
            // herd-cc logs only at debug level (-v); the other levels quiet it.
            g_verbose = proto::jstr(c, "loglevel") == "debug";
            return respond(id, "", "", 0);
        }
        if (!recv.empty()) return sendFiles(id, recv);
        if (argv.empty()) return respond(id, "", pendingErrors(), std::nullopt);
        Stdio io(c);
        if (proto::jbool(c, "background")) return runBackground(id, argv, io);
        Spawned s = spawn(argv, false, &io);
        io.start();
        if (s.pid < 0) return respond(id, "", std::string("spawn: ") + std::strerror(errno), -1);
        std::string out, err;
        int code = collect(id, s, out, err);
        respond(id, out, err, code);
    }
    std::string pendingErrors();

    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<json> q_;
    std::thread t_;
};

// Files coming from the daemon (cc send), written by the reader thread.
std::mutex g_file_mu;
std::string g_file_errors;

std::string Worker::pendingErrors() {
    std::lock_guard l(g_file_mu);
    return std::exchange(g_file_errors, std::string());
}

class FileSink {
  public:
    void chunk(const json& h, const std::string& body) {
        std::string rel = proto::safeRelative(proto::jstr(h, "path"));
        if (rel.empty()) return;
        std::string path = std::string(proto::kGuestFiles) + "/" + rel;
        if (path != path_) {
            closeFile();
            path_ = path;
            mkdirs(path.substr(0, path.rfind('/')));
            mode_t mode = static_cast<mode_t>(proto::jint(h, "mode", 0644)) & 07777;
            fd_ = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
            if (fd_ < 0)
                error(path, std::strerror(errno));
            else
                fchmod(fd_, mode);
        }
        if (fd_ >= 0 && !body.empty() && !writeAll2(fd_, body)) {
            error(path, std::strerror(errno));
            close(fd_);
            fd_ = -1;
        }
        if (proto::jbool(h, "eof")) closeFile();
    }
    void closeFile() {
        if (fd_ >= 0) close(fd_);
        fd_ = -1;
        path_.clear();
    }

  private:
    static bool writeAll2(int fd, const std::string& b) {
        size_t off = 0;
        while (off < b.size()) {
            ssize_t w = write(fd, b.data() + off, b.size() - off);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) return false;
            off += static_cast<size_t>(w);
        }
        return true;
    }
    static void mkdirs(const std::string& dir) {
        for (size_t i = 1; i <= dir.size(); ++i)
            if (i == dir.size() || dir[i] == '/') mkdir(dir.substr(0, i).c_str(), 0755);
    }
    static void error(const std::string& path, const std::string& e) {
        std::lock_guard l(g_file_mu);
        g_file_errors += "send " + path + ": " + e + "\n";
    }
    int fd_ = -1;
    std::string path_;
};

void killProcs(const json& h) {
    std::vector<int> victims;
    {
        std::lock_guard l(g_procs_mu);
        for (const auto& [pid, argv] : g_procs) {
            if (proto::jstr(h, "type") == "kill") {
                int64_t want = proto::jint(h, "pid", 0);
                if (want == -1 || want == pid) victims.push_back(pid);
            } else {
                std::string base = argv.empty() ? "" : argv[0].substr(argv[0].rfind('/') + 1);
                if (base == proto::jstr(h, "name")) victims.push_back(pid);
            }
        }
    }
    for (int pid : victims) kill(-pid, SIGKILL);  // the process group (setsid)
}

int connectTo(const std::string& path) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (path.size() >= sizeof a.sun_path) return -1;
    std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

// One connection: handshake, then frames until EOF or a protocol error.
void session(int fd, const std::string& uuid, Worker& worker) {
    std::string hello = proto::encode(identity("hello", uuid));
    if (!writeAll(fd, hello.data(), hello.size())) return;
    proto::Decoder dec;
    FileSink files;
    // Tunnel frames are never kept for a later connection: its streams
    // are gone with this one.
    herd::agent::Tunnels tunnels(
        [](const json& h, std::string_view body) { g_link.send(h, body, false); });
    struct Current {
        explicit Current(herd::agent::Tunnels* t) {
            std::lock_guard l(g_tunnels_mu);
            g_tunnels = t;
        }
        ~Current() {
            std::lock_guard l(g_tunnels_mu);
            g_tunnels = nullptr;
        }
    } current(&tunnels);
    bool welcomed = false;
    std::string last_info = identity("info", uuid).dump();
    auto last_check = std::chrono::steady_clock::now();
    char buf[65536];
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        int r = poll(&p, 1, 2000);
        if (r < 0 && errno != EINTR) break;
        if (welcomed && std::chrono::steady_clock::now() - last_check > std::chrono::seconds(2)) {
            last_check = std::chrono::steady_clock::now();
            json info = identity("info", uuid);
            if (info.dump() != last_info) {
                last_info = info.dump();
                g_link.send(info, {}, false);
            }
        }
        if (r <= 0) continue;
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        dec.feed(buf, static_cast<size_t>(n));
        std::string err;
        while (auto f = dec.next(err)) {
            std::string type = f->type();
            if (!welcomed) {
                if (type == "welcome") {
                    welcomed = true;
                    g_link.attach(fd);
                    sendProcs();
                } else if (type == "reject") {
                    logf("rejected: ", proto::jstr(f->header, "error"));
                    files.closeFile();
                    return;
                }
                continue;
            }
            if (type == "command")
                worker.push(std::move(f->header));
            else if (type == "file")
                files.chunk(f->header, f->body);
            else if (type == "kill" || type == "killall")
                killProcs(f->header);
            else if (herd::agent::Tunnels::handles(type))
                tunnels.onFrame(*f);
        }
        if (!err.empty()) {
            logf("protocol error: ", err);
            break;
        }
    }
    files.closeFile();
}

}  // namespace

int main(int argc, char** argv) {
    std::string parent = "/cc";
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if ((a == "-parent" || a == "--parent") && i + 1 < argc) {
            parent = argv[++i];
        } else if (a == "-v") {
            g_verbose = true;
        } else {
            std::fprintf(stderr, "usage: herd-cc [-parent /cc] [-v]\n");
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    mkdir("/tmp", 01777);
    mkdir("/tmp/miniccc", 0755);
    mkdir(proto::kGuestFiles, 0755);
    Worker worker;
    int backoff_ms = 20;
    for (;;) {
        std::string uuid = readUuid();
        int fd = connectTo(parent);
        if (fd >= 0) {
            logf("connected to ", parent);
            auto t0 = std::chrono::steady_clock::now();
            session(fd, uuid, worker);
            g_link.detach();
            close(fd);
            // A connection that lived a while resets the backoff.
            if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(2)) backoff_ms = 20;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
        backoff_ms = std::min(backoff_ms * 2, 1000);
    }
}
