// minirouter: applies a router configuration inside a router guest (the
// image of `scripts/herd-image router`). `router <vm> commit` on the host
// sends the file over cc and runs
//
//   minirouter -u /tmp/miniccc/files/minirouter-<vm>
//
// which, unlike minimega's minirouter, applies it at once and exits (no
// daemon of its own): addresses on the interfaces, the default route,
// dnsmasq (DHCP, DNS, router advertisements), bird 2 (static, OSPF and
// BGP routes), each (re)started or reconfigured, and the firewall rules on
// forwarded traffic (nftables). What it could not do goes
// to stderr (the cc response) and to /tmp/minirouter/minirouter.log; the exit
// status is 1 when anything failed.
//
// State between runs lives in /tmp/minirouter: the addresses it added (an
// `ip flush` removes those only), the pid files of the dnsmasq and bird it
// started, and a lock so that two runs never overlap.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/router_conf.h"

namespace mr = herd::minirouter;

namespace {

const std::string kState = "/tmp/minirouter";
std::vector<std::string> g_errors;
std::ofstream g_log;
int g_level = 1;  // 0 debug, 1 info... as `log level` sets it; errors always

int levelOf(const std::string& l) {
    if (l == "debug") return 0;
    if (l == "info") return 1;
    if (l == "warn") return 2;
    if (l == "error") return 3;
    return 4;
}

void logLine(int level, const std::string& s) {
    if (level < g_level) return;
    if (g_log) g_log << s << std::endl;
}

void fail(const std::string& s) {
    g_errors.push_back(s);
    std::fprintf(stderr, "minirouter: %s\n", s.c_str());
    logLine(4, "error: " + s);
}

std::string readFile(const std::string& path, bool& ok) {
    std::ifstream f(path);
    ok = static_cast<bool>(f);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

bool writeFile(const std::string& path, const std::string& data) {
    std::string tmp = path + ".tmp";
    {
        std::ofstream f(tmp, std::ios::trunc);
        if (!(f << data)) return false;
    }
    return ::rename(tmp.c_str(), path.c_str()) == 0;
}

// Runs argv with stdio on /dev/null (a daemon it starts must not hold the
// agent's pipes open; stderr to `errfile` if given) and waits; its exit
// status, or -1.
int run(const std::vector<std::string>& argv, const std::string& errfile = "") {
    std::string line;
    for (const auto& a : argv) line += (line.empty() ? "" : " ") + a;
    logLine(0, "run: " + line);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = fork();
    if (pid == 0) {
        setsid();
        int nul = open("/dev/null", O_RDWR);
        if (nul >= 0) {
            dup2(nul, 0);
            dup2(nul, 1);
            dup2(nul, 2);
        }
        if (!errfile.empty()) {
            int e = open(errfile.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            if (e >= 0) dup2(e, 2);
        }
        execvp(args[0], args.data());
        _exit(127);
    }
    if (pid < 0) return -1;
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void mustRun(const std::vector<std::string>& argv) {
    int rc = run(argv);
    if (rc != 0) {
        std::string line;
        for (const auto& a : argv) line += (line.empty() ? "" : " ") + a;
        fail(line + ": exit status " + std::to_string(rc));
    }
}

// The pid in a pid file, if that process still runs.
pid_t livePid(const std::string& pidfile) {
    bool ok = false;
    std::string s = readFile(pidfile, ok);
    if (!ok) return 0;
    pid_t pid = static_cast<pid_t>(std::atol(s.c_str()));
    if (pid <= 1 || ::kill(pid, 0) != 0) return 0;
    return pid;
}

void stop(const std::string& pidfile) {
    pid_t pid = livePid(pidfile);
    if (pid) {
        ::kill(pid, SIGTERM);
        for (int i = 0; i < 100 && ::kill(pid, 0) == 0; ++i) {
            waitpid(pid, nullptr, WNOHANG);
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        if (::kill(pid, 0) == 0) ::kill(pid, SIGKILL);
    }
    ::unlink(pidfile.c_str());
}

std::vector<std::string> interfaces() {
    std::vector<std::string> names;
    if (DIR* d = opendir("/sys/class/net")) {
        while (dirent* e = readdir(d)) {
            std::string n = e->d_name;
            if (n != "." && n != "..") names.push_back(n);
        }
        closedir(d);
    }
    return mr::orderInterfaces(names);
}

void applyAddresses(const mr::RouterConf& c) {
    const std::string added = kState + "/addresses";
    if (!c.ip_flush) return;
    // Remove, newest first, what an earlier run added; nothing else.
    bool ok = false;
    std::string old = readFile(added, ok);
    std::vector<std::string> lines;
    std::istringstream in(old);
    for (std::string l; std::getline(in, l);)
        if (!l.empty()) lines.push_back(l);
    for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
        auto w = mr::words(*it);
        if (w.size() == 2) run({"ip", "addr", "del", w[1], "dev", w[0]});
    }
    std::string now;
    for (const auto& ip : c.ips) {
        mustRun({"ip", "link", "set", ip.ifname, "up"});
        if (ip.value == "dhcp") {
            // Busybox's client in the background; it applies the lease with
            // the image's script.
            mustRun({"busybox", "udhcpc", "-i", ip.ifname, "-b", "-q", "-t", "1", "-T", "4", "-A",
                     "1", "-s", "/usr/share/herd/udhcpc.script"});
            continue;
        }
        if (run({"ip", "addr", "add", ip.value, "dev", ip.ifname}) != 0) {
            fail("ip addr add " + ip.value + " dev " + ip.ifname + ": failed");
            continue;
        }
        now += ip.ifname + " " + ip.value + "\n";
    }
    if (!writeFile(added, now)) fail("write " + added + ": " + std::strerror(errno));
}

void applyRoute(const mr::RouterConf& c) {
    if (c.gw.empty()) {
        run({"ip", "route", "del", "default"});  // none is fine
        return;
    }
    mustRun({"ip", "route", "replace", "default", "via", c.gw});
}

void applyDnsmasq(const mr::RouterConf& c) {
    const std::string conf = "/etc/dnsmasq.conf", pid = kState + "/dnsmasq.pid";
    if (!writeFile(conf, mr::dnsmasqConf(c, kState + "/dnsmasq.leases"))) {
        fail("write " + conf + ": " + std::strerror(errno));
        return;
    }
    stop(pid);
    mustRun({"dnsmasq", "-u", "root", "-C", conf, "--pid-file=" + pid,
             "--log-facility=" + kState + "/dnsmasq.log"});
}

void applyBird(const mr::RouterConf& c) {
    const std::string conf = "/etc/bird/bird.conf", pid = kState + "/bird.pid",
                      sock = kState + "/bird.ctl";
    ::mkdir("/etc/bird", 0755);
    if (!writeFile(conf, mr::birdConf(c))) {
        fail("write " + conf + ": " + std::strerror(errno));
        return;
    }
    if (livePid(pid)) {
        // A running bird takes the new file without dropping its sessions.
        if (run({"birdc", "-s", sock, "configure"}) == 0) return;
        stop(pid);
    }
    mustRun({"bird", "-c", conf, "-s", sock, "-P", pid});
}

// The firewall: one `nft -f` with the whole table (or its removal). A
// router that never had rules runs nothing; the ruleset last applied is
// kept in /tmp/minirouter/fw.nft (its presence means the table may exist).
void applyFw(const mr::RouterConf& c) {
    const std::string file = kState + "/fw.nft";
    if (!c.fw) return;  // a file from a host without firewall support
    struct stat st {};
    bool had = ::stat(file.c_str(), &st) == 0;
    if (!mr::fwActive(c) && !had) return;
    const std::string next = file + ".next";
    if (!writeFile(next, mr::nftConf(c))) {
        fail("write " + next + ": " + std::strerror(errno));
        return;
    }
    const std::string err = kState + "/nft.err";
    if (run({"nft", "-f", next}, err) != 0) {
        bool ok = false;
        std::string why = readFile(err, ok).substr(0, 2000);
        fail("nft -f " + next + " refused the firewall rules (the previous ones stay): " + why);
        return;
    }
    if (mr::fwActive(c))
        ::rename(next.c_str(), file.c_str());
    else {
        ::unlink(next.c_str());
        ::unlink(file.c_str());
    }
}

int usage() {
    std::fprintf(stderr, "usage: minirouter -u <config file>\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3 || std::string(argv[1]) != "-u") return usage();
    ::mkdir(kState.c_str(), 0700);
    int lock = open((kState + "/lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock < 0 || flock(lock, LOCK_EX) != 0) {
        std::fprintf(stderr, "minirouter: lock %s/lock: %s\n", kState.c_str(),
                     std::strerror(errno));
        return 1;
    }
    g_log.open(kState + "/minirouter.log", std::ios::app);
    bool ok = false;
    std::string text = readFile(argv[2], ok);
    if (!ok) {
        fail(std::string("read ") + argv[2] + ": " + std::strerror(errno));
        return 1;
    }
    mr::RouterConf c = mr::parse(text, interfaces());
    g_level = levelOf(c.log_level);
    for (const auto& e : c.errors) fail(e);
    applyAddresses(c);
    applyRoute(c);
    applyDnsmasq(c);
    applyBird(c);
    applyFw(c);
    logLine(1, "applied " + std::string(argv[2]));
    return g_errors.empty() ? 0 : 1;
}
