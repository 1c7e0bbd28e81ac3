#include "service/hostnet.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <sstream>
#include <thread>

#include "base/log.h"
#include "base/strings.h"
#include "base/unique_fd.h"
#include "cli/tabwriter.h"
#include "service/herd.h"
#include "service/vm_ops.h"

namespace herd {

namespace {

constexpr const char* kDnsmasq = "/usr/sbin/dnsmasq";
constexpr const char* kBusybox = "/bin/busybox";

// Records and pid files are a few bytes; anything bigger is not ours.
constexpr size_t kRecordLimit = 1 << 20;

// What a log line or a pid file holds, without its line ending.
std::string_view untilEol(std::string_view s) {
    return trimRight(s, " \r\n");
}

// The pid in a pid file's `text`; -1 when it holds anything else.
int pidIn(std::string_view text) {
    auto pid = parseUint(untilEol(text), 0, 999'999'999, "pid");
    return pid.ok() ? static_cast<int>(*pid) : -1;
}

std::string readRecord(const Dir& dir, const std::string& rel) {
    auto r = dir.readFile(rel, kRecordLimit);
    return r.ok() ? *r : std::string();
}

// The last non-empty line a helper wrote to its log (its error, usually):
// from the log's last 64 KiB, however long it grew.
std::string lastLine(const Dir& dir, const std::string& rel) {
    auto fd = dir.openFile(rel, O_RDONLY | O_NONBLOCK);
    struct stat st {};
    if (!fd.ok() || ::fstat(fd->get(), &st) != 0 || !S_ISREG(st.st_mode)) return "";
    const off_t from = std::max<off_t>(0, st.st_size - 65536);
    std::string text(static_cast<size_t>(st.st_size - from), '\0');
    ssize_t n = ::pread(fd->get(), text.data(), text.size(), from);
    text.resize(n > 0 ? static_cast<size_t>(n) : 0);
    std::istringstream in(text);
    std::string line, last;
    while (std::getline(in, line))
        if (auto l = untilEol(line); !l.empty()) last = l;
    return last;
}

// The pid in a pid file's `text`, when that process's command line
// mentions `mark` (so a pid recycled since the record was written is never
// signalled).
int recordedPid(const std::string& text, const std::string& mark) {
    int pid = pidIn(text);
    if (pid <= 1) return -1;
    auto cmd = readSmallFile("/proc/" + std::to_string(pid) + "/cmdline", 1 << 20);
    if (!cmd.ok()) return -1;
    std::string cmdline = *cmd;
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    return cmdline.find(mark) != std::string::npos ? pid : -1;
}

uint32_t v4(const runtime::IpPrefix& p) {
    return static_cast<uint32_t>(p.addr[0]) << 24 | p.addr[1] << 16 | p.addr[2] << 8 | p.addr[3];
}

}  // namespace

HostNet::HostNet(std::shared_ptr<const Dir> base, std::string prefix, Post post)
    : base_(std::move(base)), prefix_(std::move(prefix)), post_(std::move(post)) {}

HostNet::~HostNet() {
    servers_changed_ = nullptr;  // the daemon is going: nobody to tell
    shutdown(nullptr);
}

Result<runtime::Netlink*> HostNet::netlink() {
    if (!nl_) {
        auto o = runtime::Netlink::open();
        if (!o.ok()) return o.error();
        nl_.emplace(std::move(*o));
    }
    return &*nl_;
}

Result<bool> HostNet::linkExists(const std::string& name) {
    auto nl = netlink();
    if (!nl.ok()) return nl.error();
    auto idx = (*nl)->ifindex(name);
    if (idx.ok()) return true;
    if (idx.error().errnum() == ENODEV) return false;
    return idx.error();
}

HostTap* HostNet::findTap(const std::string& name) {
    for (auto& t : taps_)
        if (t->name == name) return t.get();
    return nullptr;
}

std::vector<const HostTap*> HostNet::taps() const {
    std::vector<const HostTap*> out;
    for (const auto& t : taps_) out.push_back(t.get());
    return out;
}

void HostNet::writeTapRecord() {
    if (taps_.empty()) {
        if (auto r = base_->unlink("taps"); !r.ok())
            HERD_LOG(warn, "host taps record: {}", r.error().text());
        return;
    }
    std::string table = "Bridge\tTap\tVLAN\n";
    for (const auto& t : taps_)
        table += t->bridge + "\t" + t->name + "\t" + std::to_string(t->vlan) + "\n";
    cli::TabwriterOptions o;
    o.minwidth = 5;
    o.tabwidth = 0;
    o.padding = 1;
    if (auto r = base_->writeFileAtomic("taps", cli::tabwrite(table, o), 0644); !r.ok())
        HERD_LOG(warn, "host taps record: {}", r.error().text());
}

Result<std::string> HostNet::dhcpScript() {
    // The lease's address only: a host tap never changes the host's routes
    // or resolver.
    static const char script[] =
        "#!/bin/busybox sh\n"
        "# herd: applies a host tap's DHCP lease (address only).\n"
        "case \"$1\" in\n"
        "deconfig) /bin/busybox ip -4 addr flush dev \"$interface\" ;;\n"
        "bound) /bin/busybox ip -4 addr flush dev \"$interface\"\n"
        "    /bin/busybox ip addr add \"$ip/${mask:-24}\" dev \"$interface\" ;;\n"
        "renew) /bin/busybox ip addr add \"$ip/${mask:-24}\" dev \"$interface\" 2>/dev/null ;;\n"
        "esac\n"
        "exit 0\n";
    HERD_TRY(base_->writeFileAtomic("udhcpc.script", script, 0700));
    return base_->pathOf("udhcpc.script");
}

Result<std::string> HostNet::createTap(runtime::SwitchBackend& sw, const TapRequest& req) {
    auto nlr = netlink();
    if (!nlr.ok()) return nlr.error();
    runtime::Netlink& nl = **nlr;
    std::string name = req.name;
    if (name.empty()) {
        for (;; ++next_tap_) {
            auto n = runtime::hostTapName(prefix_, next_tap_);
            if (!n.ok()) return n.error();
            auto exists = linkExists(*n);
            if (!exists.ok()) return exists.error();
            if (!*exists && !findTap(*n)) {
                name = *n;
                break;
            }
        }
        ++next_tap_;
    }
    if (req.dhcp && ::access(kBusybox, X_OK) != 0)
        return Error::msg(std::string("dhcp error: no DHCP client: ") + kBusybox +
                          " is missing (install busybox-static)");
    auto plan = sw.prepare(req.bridge, req.vlan);
    if (!plan.ok()) return plan.error();
    HERD_TRY(sw.createHostPort(nl, name, *plan));
    auto undo = [&] {
        if (auto r = sw.deleteHostPort(nl, name); !r.ok())
            HERD_LOG(error, "zombie host tap {}: {}", name, r.error().text());
    };
    auto tap = std::make_unique<HostTap>();
    tap->name = name;
    tap->bridge = req.bridge;
    tap->vlan = req.vlan;
    tap->ns = req.ns;
    if (req.ip) {
        if (auto r = nl.addAddress(name, *req.ip); !r.ok()) {
            undo();
            return Error::msg("ip error: " + r.error().text());
        }
    } else if (req.dhcp) {
        auto script = dhcpScript();
        if (!script.ok()) {
            undo();
            return Error::msg("dhcp error: " + script.error().text());
        }
        const std::string log = "udhcpc_" + name + ".log";
        auto log_fd = base_->openFile(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (!log_fd.ok()) {
            undo();
            return Error::msg("dhcp error: " + log_fd.error().text());
        }
        // Foreground, so it stays our child; it renews the lease and, while
        // nobody answers, retries in bursts of 3 discovers every ~16 s.
        auto child = OwnedChild::spawn(
            {kBusybox, "udhcpc", "-f", "-i", name, "-s", *script, "-t", "3", "-T", "2", "-A", "10"},
            std::move(*log_fd), [name](int status) {
                HERD_LOG(info, "host tap {}: dhcp client exited ({})", name, status);
            });
        if (!child.ok()) {
            undo();
            return Error::msg("dhcp error: " + child.error().text());
        }
        // A client that cannot run at all fails at once.
        if ((*child)->waitExit(200)) {
            std::string why = lastLine(*base_, log);
            undo();
            (void)base_->unlink(log);
            return Error::msg("dhcp error: udhcpc exited: " + why);
        }
        auto r = base_->writeFileAtomic("udhcpc_" + name + ".pid",
                                        std::to_string((*child)->pid()) + "\n", 0644);
        if (!r.ok()) HERD_LOG(warn, "dhcp client record: {}", r.error().text());
        tap->dhcp = std::move(*child);
    }
    taps_.push_back(std::move(tap));
    writeTapRecord();
    if (servers_changed_) servers_changed_();
    return name;
}

Result<void> HostNet::deleteTap(runtime::SwitchBackend* sw, const std::string& name) {
    auto it =
        std::find_if(taps_.begin(), taps_.end(), [&](const auto& t) { return t->name == name; });
    if (it == taps_.end()) return Error::msg("unknown tap");
    if ((*it)->dhcp) {
        (*it)->dhcp->stop();
        (void)base_->unlink("udhcpc_" + name + ".pid");
        (void)base_->unlink("udhcpc_" + name + ".log");
    }
    Result<void> r;
    auto nl = netlink();
    if (!nl.ok()) {
        r = nl.error();
    } else if (sw) {
        r = sw->deleteHostPort(**nl, name);
    } else {
        r = (*nl)->deleteLink(name);
        if (!r.ok() && r.error().errnum() == ENODEV) r = Ok();
    }
    taps_.erase(it);
    writeTapRecord();
    if (servers_changed_) servers_changed_();
    return r;
}

void HostNet::shutdown(runtime::SwitchBackend* sw) {
    while (!taps_.empty()) {
        const std::string name = taps_.back()->name;
        if (auto r = deleteTap(sw, name); !r.ok())
            HERD_LOG(warn, "delete host tap {}: {}", name, r.error().text());
    }
    while (!dnsmasq_.empty()) (void)killDnsmasq(dnsmasq_.begin()->first);
    (void)base_->unlink("udhcpc.script");
}

// ---- dnsmasq ---------------------------------------------------------------

Result<int> HostNet::startDnsmasq(const std::string& ip, const std::string& min,
                                  const std::string& max, const std::string& config) {
    if (::access(kDnsmasq, X_OK) != 0)
        return Error::msg(std::string("dnsmasq is not installed (") + kDnsmasq +
                          "; Debian package dnsmasq-base)");
    if (!config.empty() && ::access(config.c_str(), R_OK) != 0)
        return Error::sysNow("open", config);
    std::vector<std::string> argv = {kDnsmasq};
    std::string ifname;
    const int id = next_dnsmasq_;
    const std::string rel = "dnsmasq_" + std::to_string(id);
    const std::string dir = base_->pathOf(rel);
    argv.push_back("--conf-file=" + (config.empty() ? std::string("/dev/null") : config));
    argv.insert(argv.end(), {"--pid-file=" + dir + "/dnsmasq.pid", "-o", "-k", "--no-resolv",
                             "--log-facility=-"});
    if (!ip.empty()) {
        runtime::IpPrefix a, lo, hi;
        if (!runtime::parseIp(ip, a) || a.family != AF_INET)
            return Error::msg("invalid IPv4 address: " + ip);
        if (!runtime::parseIp(min, lo) || lo.family != AF_INET)
            return Error::msg("invalid IPv4 address: " + min);
        if (!runtime::parseIp(max, hi) || hi.family != AF_INET)
            return Error::msg("invalid IPv4 address: " + max);
        if (v4(lo) > v4(hi)) return Error::msg("invalid DHCP range: " + min + " is above " + max);
        // The interface holding <ip>: dnsmasq is bound to it alone.
        auto nlr = netlink();
        if (!nlr.ok()) return nlr.error();
        auto addrs = (*nlr)->addresses();
        if (!addrs.ok()) return addrs.error();
        const runtime::AddrInfo* found = nullptr;
        for (const auto& ai : *addrs)
            if (ai.prefix.family == AF_INET && v4(ai.prefix) == v4(a)) found = &ai;
        if (!found) return Error::msg("no interface has address " + ip);
        auto links = (*nlr)->links();
        if (!links.ok()) return links.error();
        for (const auto& l : *links)
            if (l.index == found->index) ifname = l.name;
        if (ifname.empty()) return Error::msg("no interface has address " + ip);
        const int len = found->prefix.len;
        const uint32_t mask = len == 0 ? 0 : ~0u << (32 - len);
        if ((v4(lo) & mask) != (v4(a) & mask) || (v4(hi) & mask) != (v4(a) & mask)) {
            return Error::msg("DHCP range " + min + "-" + max + " is outside " + ifname +
                              "'s network " + ip + "/" + std::to_string(len));
        }
        argv.insert(argv.end(),
                    {"--except-interface=lo", "--interface=" + ifname, "--listen-address=" + ip,
                     "--bind-interfaces", "--dhcp-range=" + min + "," + max,
                     "--dhcp-leasefile=" + dir + "/dnsmasq.leases",
                     "--dhcp-lease-max=" + std::to_string(v4(hi) - v4(lo) + 1),
                     // No ping of an address before offering it: dnsmasq
                     // waits 3 s for the echo and answers no one meanwhile,
                     // so guests booting together got leases 3 s apart each.
                     "--no-ping"});
    }
    HERD_TRY(base_->removeTree(rel));  // left by a killed daemon with the same base
    HERD_TRY(base_->mkdir(rel, 0700));
    auto log = base_->openFile(rel + "/dnsmasq.log", O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (!log.ok()) {
        (void)base_->removeTree(rel);
        return log.error();
    }
    std::weak_ptr<HostNet> self = weak_from_this();
    auto child = OwnedChild::spawn(argv, std::move(*log), [self, post = post_, id](int) {
        if (!post) return;
        post([self, id] {
            if (auto h = self.lock()) h->onDnsmasqExit(id);
        });
    });
    if (!child.ok()) {
        (void)base_->removeTree(rel);
        return child.error();
    }
    // Ready once it wrote its pid file (after binding its sockets); an exit
    // before that is a failure whose reason is its last log line.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (;;) {
        if (!(*child)->running() || (*child)->waitExit(0)) {
            std::string why = lastLine(*base_, rel + "/dnsmasq.log");
            (void)base_->removeTree(rel);
            return Error::msg("dnsmasq: " + (why.empty() ? std::string("exited") : why));
        }
        if (!untilEol(readRecord(*base_, rel + "/dnsmasq.pid")).empty()) break;
        if (std::chrono::steady_clock::now() > deadline) {
            (*child)->stop();
            (void)base_->removeTree(rel);
            return Error::msg("dnsmasq did not start within 5 s");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    auto s = std::make_unique<DnsmasqServer>();
    s->id = id;
    s->addr = ip;
    s->min = min;
    s->max = max;
    s->path = dir;
    s->ifname = ifname;
    s->proc = std::move(*child);
    dnsmasq_[id] = std::move(s);
    ++next_dnsmasq_;
    if (servers_changed_) servers_changed_();
    return id;
}

void HostNet::onDnsmasqExit(int id) {
    auto it = dnsmasq_.find(id);
    if (it == dnsmasq_.end() || it->second->proc->running()) return;
    HERD_LOG(info, "dnsmasq server {} quit: {}", id,
             lastLine(*base_, "dnsmasq_" + std::to_string(id) + "/dnsmasq.log"));
    (void)killDnsmasq(id);
}

Result<void> HostNet::killDnsmasq(int id) {
    auto it = dnsmasq_.find(id);
    if (it == dnsmasq_.end()) return Error::msg("invalid id");
    it->second->proc->stop();
    if (auto r = base_->removeTree("dnsmasq_" + std::to_string(id)); !r.ok())
        HERD_LOG(warn, "dnsmasq server {}: {}", id, r.error().text());
    dnsmasq_.erase(it);
    if (servers_changed_) servers_changed_();
    return Ok();
}

std::vector<const DnsmasqServer*> HostNet::dnsmasqs() const {
    std::vector<const DnsmasqServer*> out;
    for (const auto& [id, s] : dnsmasq_) out.push_back(s.get());
    return out;
}

int HostNet::dnsmasqPid(const DnsmasqServer& s) const {
    int pid = pidIn(readRecord(*base_, "dnsmasq_" + std::to_string(s.id) + "/dnsmasq.pid"));
    if (pid >= 0) return pid;
    return s.proc ? s.proc->pid() : -1;
}

// ---- glue and nuke ---------------------------------------------------------

namespace {

runtime::SwitchBackend* switchOf(Herd& herd) {
    return herd.runtime().switchBackend();
}

// The DHCP servers whose leases `vm info` shows: a dnsmasq herd started on
// one of its host taps. herd made that interface and knows its switch; a
// server on any other interface (or a dnsmasq from a config file alone)
// could be anywhere, so its leases show only once the guest ARPs.
void syncDhcpServers(Herd& herd, const HostNet& hn) {
    Runtime& rt = herd.runtime();
    if (!rt.runsContainers()) return;
    std::vector<DhcpServerPort> servers;
    for (const DnsmasqServer* s : hn.dnsmasqs()) {
        for (const HostTap* t : hn.taps()) {
            if (!s->ifname.empty() && t->name == s->ifname)
                servers.push_back(DhcpServerPort{t->name, t->bridge, t->vlan});
        }
    }
    rt.setDhcpServers(std::move(servers));
}

}  // namespace

std::shared_ptr<HostNet> makeHostNet(Herd& herd) {
    auto base = herd.baseDir();
    if (!base) {  // unit tests: no daemon opened it
        auto d = Dir::open(herd.options().base);
        base = std::make_shared<const Dir>(d.ok() ? std::move(*d) : Dir());
    }
    DaemonLink* daemon = &herd.daemon();
    auto hn = std::make_shared<HostNet>(
        base, herd.options().prefix,
        [daemon](std::function<void()> job) { daemon->post(std::move(job)); });
    hn->onServersChanged([&herd, raw = hn.get()] { syncDhcpServers(herd, *raw); });
    return hn;
}

void hostnetClearNamespace(Herd& herd, const std::string& ns) {
    HostNet* hn = herd.hostnetIfAny();
    if (!hn) return;
    std::vector<std::string> names;
    for (const HostTap* t : hn->taps())
        if (t->ns == ns) names.push_back(t->name);
    for (const auto& n : names) {
        if (auto r = hn->deleteTap(switchOf(herd), n); !r.ok())
            HERD_LOG(warn, "delete host tap {}: {}", n, r.error().text());
    }
}

void hostnetShutdown(Herd& herd) {
    HostNet* hn = herd.hostnetIfAny();
    if (!hn) return;
    hn->shutdown(switchOf(herd));
    herd.dropHostnet();
}

Result<void> nukeHostNet(const Dir& base, const std::string& prefix) {
    Result<void> first;
    std::vector<std::string> recorded;
    {
        std::istringstream in(readRecord(base, "taps"));
        std::string line;
        std::getline(in, line);  // header
        while (std::getline(in, line)) {
            std::istringstream f(line);
            std::string bridge, tap;
            if (f >> bridge >> tap) recorded.push_back(tap);
        }
    }
    auto names = base.list();
    if (!names.ok()) return names.error();
    for (const auto& name : *names) {
        auto st = base.lstat(name);
        if (!st.ok()) continue;
        if (name.rfind("dnsmasq_", 0) == 0 && S_ISDIR(st->st_mode)) {
            int pid = recordedPid(readRecord(base, name + "/dnsmasq.pid"),
                                  "--pid-file=" + base.pathOf(name) + "/dnsmasq.pid");
            if (pid > 0) ::kill(pid, SIGKILL);
            if (auto r = base.removeTree(name); !r.ok() && first.ok()) first = r;
        } else if (name.rfind("udhcpc_", 0) == 0 && name.size() > 4 &&
                   name.compare(name.size() - 4, 4, ".pid") == 0) {
            int pid = recordedPid(readRecord(base, name), base.pathOf("udhcpc.script"));
            if (pid > 0) ::kill(pid, SIGKILL);
            (void)base.unlink(name);
        } else if (name.rfind("udhcpc_", 0) == 0) {
            (void)base.removeTree(name);
        }
    }
    // Taps named by the user; default names (and every tap's bridge-side
    // peer) are removed with the prefix's other links by nukeLinks. A
    // recorded name is only a name: after a SIGKILL someone else may have
    // reused it. So a kernel-backend tap goes only if it still is a veth whose
    // peer is one of ours (P p<n>); an OVS tap (an internal port) only with
    // its Port row, which nukeOvs removes when it carries our herd-prefix.
    if (!recorded.empty()) {
        auto nl = runtime::Netlink::open();
        if (!nl.ok()) return nl.error();
        auto links = nl->links();
        if (!links.ok()) return links.error();
        std::map<int, std::string> names;
        for (const auto& l : *links) names[l.index] = l.name;
        for (const auto& l : *links) {
            bool recorded_tap =
                std::find(recorded.begin(), recorded.end(), l.name) != recorded.end();
            if (!recorded_tap || runtime::isOwnedLink(prefix, l.name)) continue;
            if (l.kind != "veth") continue;  // OVS internal ports: nukeOvs, by their row
            auto peer = names.find(l.link);
            bool ours = !l.link_elsewhere && peer != names.end() &&
                        runtime::isOwnedLink(prefix, peer->second) &&
                        peer->second.compare(0, prefix.size() + 1, prefix + "p") == 0;
            if (!ours) {
                HERD_LOG(warn, "nuke: host tap {} is not ours any more (its peer is {}): kept",
                         l.name,
                         peer == names.end() || l.link_elsewhere ? "elsewhere" : peer->second);
                continue;
            }
            auto r = nl->deleteLink(l.name);
            if (!r.ok() && r.error().errnum() != ENODEV && first.ok()) first = r;
        }
    }
    (void)base.unlink("taps");
    (void)base.unlink("udhcpc.script");
    return first;
}

}  // namespace herd
