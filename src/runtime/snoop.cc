#include "runtime/snoop.h"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/log.h"

namespace herd::runtime {

namespace {

uint16_t be16(const uint8_t* p) {
    return static_cast<uint16_t>((p[0] << 8) | p[1]);
}

std::string macText(const uint8_t* m) {
    static const char hex[] = "0123456789abcdef";
    std::string s;
    s.reserve(17);
    for (int i = 0; i < 6; ++i) {
        if (i) s += ':';
        s += hex[m[i] >> 4];
        s += hex[m[i] & 15];
    }
    return s;
}

// A station's own MAC: unicast and not all zeros.
bool stationMac(const uint8_t* m) {
    if (m[0] & 1) return false;
    for (int i = 0; i < 6; ++i)
        if (m[i]) return true;
    return false;
}

// An IPv4 address that can be a host's own (see parseFrame).
bool usable4(const uint8_t* a) {
    if (a[0] == 0) return false;                   // 0.0.0.0/8, the ARP probe's sender
    if (a[0] == 127) return false;                 // loopback
    if (a[0] == 169 && a[1] == 254) return false;  // link-local
    if (a[0] >= 224) return false;                 // multicast, reserved, broadcast
    return true;
}

bool usable6(const uint8_t* a) {
    static const uint8_t zero[16] = {};
    if (std::memcmp(a, zero, 15) == 0 && (a[15] == 0 || a[15] == 1)) return false;  // ::, ::1
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) return false;                        // fe80::/10
    if (a[0] == 0xff) return false;                                                 // multicast
    return true;
}

std::string ipText(int family, const uint8_t* a) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (!inet_ntop(family, a, buf, sizeof buf)) return {};
    return buf;
}

constexpr uint16_t kArp = 0x0806, kIp4 = 0x0800, kIp6 = 0x86dd, kVlan = 0x8100;

std::optional<Sighting> parseArp(const uint8_t* eth_src, const uint8_t* p, size_t n) {
    if (n < 28) return std::nullopt;
    if (be16(p) != 1 || be16(p + 2) != kIp4 || p[4] != 6 || p[5] != 4) return std::nullopt;
    uint16_t op = be16(p + 6);
    if (op != 1 && op != 2) return std::nullopt;
    const uint8_t* spa = p + 14;
    if (!usable4(spa)) return std::nullopt;
    return Sighting{Sighting::Arp, macText(eth_src), ipText(AF_INET, spa), false};
}

std::optional<Sighting> parseNd(const uint8_t* eth_src, const uint8_t* p, size_t n) {
    if (n < 40 + 4 || (p[0] >> 4) != 6) return std::nullopt;
    if (p[6] != 58) return std::nullopt;   // ICMPv6 right after the header
    if (p[7] != 255) return std::nullopt;  // ND is never forwarded (RFC 4861)
    uint8_t type = p[40];
    if (type < 133 || type > 136) return std::nullopt;
    const uint8_t* src = p + 8;
    if (!usable6(src)) return std::nullopt;
    return Sighting{Sighting::Nd, macText(eth_src), ipText(AF_INET6, src), true};
}

// DHCP over UDP/IPv4 (RFC 2131): client messages go from port 68 to 67,
// server replies from 67 to 68.
std::optional<Sighting> parseDhcp(const uint8_t* eth_src, const uint8_t* p, size_t n) {
    if (n < 20 || (p[0] >> 4) != 4) return std::nullopt;
    size_t ihl = static_cast<size_t>(p[0] & 15) * 4;
    if (ihl < 20 || n < ihl + 8 || p[9] != 17) return std::nullopt;
    if (be16(p + 6) & 0x3fff) return std::nullopt;  // a fragment
    const uint8_t* udp = p + ihl;
    const uint16_t sport = be16(udp), dport = be16(udp + 2);
    const bool reply = sport == 67 && dport == 68;
    if (!reply && !(sport == 68 && dport == 67)) return std::nullopt;
    const uint8_t* b = udp + 8;
    size_t bn = n - ihl - 8;
    if (bn < 240) return std::nullopt;
    if (b[0] != (reply ? 2 : 1) || b[1] != 1 || b[2] != 6) return std::nullopt;  // Ethernet
    static const uint8_t cookie[4] = {99, 130, 83, 99};
    if (std::memcmp(b + 236, cookie, 4) != 0) return std::nullopt;
    int type = 0;
    for (size_t i = 240; i < bn;) {
        uint8_t code = b[i];
        if (code == 255) break;
        if (code == 0) {
            ++i;
            continue;
        }
        if (i + 1 >= bn || i + 2 + b[i + 1] > bn) break;
        if (code == 53 && b[i + 1] == 1) type = b[i + 2];
        i += 2 + b[i + 1];
    }
    const uint32_t xid = static_cast<uint32_t>(be16(b + 4)) << 16 | be16(b + 6);
    const uint8_t* yiaddr = b + 16;
    const uint8_t* chaddr = b + 28;
    if (!stationMac(chaddr)) return std::nullopt;
    Sighting s;
    s.mac = macText(chaddr);
    s.xid = xid;
    if (!reply) {
        // A client speaks for itself: a request naming another MAC than the
        // frame's sender (a relay, or a guest asking on another's behalf) is
        // no evidence about any NIC.
        if (type != 3 || std::memcmp(chaddr, eth_src, 6) != 0) return std::nullopt;
        s.kind = Sighting::DhcpRequest;
        return s;
    }
    if (type == 6) {
        s.kind = Sighting::DhcpNak;
        return s;
    }
    if (type != 5 || !usable4(yiaddr)) return std::nullopt;
    s.kind = Sighting::DhcpAck;
    s.ip = ipText(AF_INET, yiaddr);
    return s;
}

// Base-36 digits as vethHostName writes them (upper case).
std::optional<long> parseNumber(std::string_view s, int base) {
    if (s.empty() || s.size() > 9) return std::nullopt;
    long v = 0;
    for (char c : s) {
        int d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (base == 36 && c >= 'A' && c <= 'Z')
            d = c - 'A' + 10;
        else
            return std::nullopt;
        v = v * base + d;
    }
    return v;
}

}  // namespace

std::optional<Sighting> parseFrame(const uint8_t* f, size_t n) {
    if (n < 14) return std::nullopt;
    const uint8_t* src = f + 6;
    if (!stationMac(src)) return std::nullopt;
    size_t off = 12;
    uint16_t type = be16(f + off);
    if (type == kVlan) {
        if (n < 18) return std::nullopt;
        off += 4;
        type = be16(f + off);
    }
    const uint8_t* p = f + off + 2;
    size_t rest = n - off - 2;
    switch (type) {
        case kArp:
            return parseArp(src, p, rest);
        case kIp6:
            return parseNd(src, p, rest);
        case kIp4:
            return parseDhcp(src, p, rest);
        default:
            return std::nullopt;
    }
}

std::optional<std::pair<int, int>> parseVethHostName(std::string_view prefix,
                                                     std::string_view name) {
    if (prefix.empty() || name.substr(0, prefix.size()) != prefix) return std::nullopt;
    std::string_view s = name.substr(prefix.size());
    if (s.size() < 4 || (s[0] != 'v' && s[0] != 'x')) return std::nullopt;
    auto n = s.rfind('n');
    if (n == std::string_view::npos || n < 2) return std::nullopt;
    auto vm = parseNumber(s.substr(1, n - 1), s[0] == 'v' ? 10 : 36);
    auto nic = parseNumber(s.substr(n + 1), 10);
    if (!vm || !nic) return std::nullopt;
    return std::make_pair(static_cast<int>(*vm), static_cast<int>(*nic));
}

std::vector<BpfInsn> snoopFilter() {
    const uint32_t pkttype = static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_PKTTYPE);
    // Jump offsets count from the next instruction; ACCEPT is 18, DROP 19.
    return {
        {BPF_LD | BPF_W | BPF_ABS, 0, 0, pkttype},            // 0
        {BPF_JMP | BPF_JEQ | BPF_K, 17, 0, PACKET_OUTGOING},  // 1 -> DROP
        {BPF_LD | BPF_H | BPF_ABS, 0, 0, 12},                 // 2 ethertype
        {BPF_JMP | BPF_JEQ | BPF_K, 14, 0, kArp},             // 3 -> ACCEPT
        {BPF_JMP | BPF_JEQ | BPF_K, 1, 0, kIp6},              // 4 -> 6
        {BPF_JMP | BPF_JEQ | BPF_K, 5, 13, kIp4},             // 5 -> 11 / DROP
        {BPF_LD | BPF_B | BPF_ABS, 0, 0, 20},                 // 6 next header
        {BPF_JMP | BPF_JEQ | BPF_K, 0, 11, 58},               // 7 ICMPv6, else DROP
        {BPF_LD | BPF_B | BPF_ABS, 0, 0, 54},                 // 8 ICMPv6 type
        {BPF_JMP | BPF_JGE | BPF_K, 0, 9, 133},               // 9 < 133 -> DROP
        {BPF_JMP | BPF_JGT | BPF_K, 8, 7, 136},               // 10 > 136 -> DROP, else ACCEPT
        {BPF_LD | BPF_B | BPF_ABS, 0, 0, 23},                 // 11 IPv4 protocol
        {BPF_JMP | BPF_JEQ | BPF_K, 0, 6, 17},                // 12 UDP, else DROP
        {BPF_LD | BPF_H | BPF_ABS, 0, 0, 20},                 // 13 flags + fragment offset
        {BPF_JMP | BPF_JSET | BPF_K, 4, 0, 0x3fff},           // 14 fragment -> DROP
        {BPF_LDX | BPF_B | BPF_MSH, 0, 0, 14},                // 15 X = IPv4 header length
        {BPF_LD | BPF_H | BPF_IND, 0, 0, 16},                 // 16 UDP destination port
        {BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 67},                // 17 bootps -> ACCEPT, else DROP
        {BPF_RET | BPF_K, 0, 0, 1536},                        // 18 ACCEPT
        {BPF_RET | BPF_K, 0, 0, 0},                           // 19 DROP
    };
}

std::vector<BpfInsn> serverFilter() {
    const uint32_t pkttype = static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_PKTTYPE);
    // What the interface transmits from UDP port 67; ACCEPT is 11, DROP 12.
    return {
        {BPF_LD | BPF_W | BPF_ABS, 0, 0, pkttype},            // 0
        {BPF_JMP | BPF_JEQ | BPF_K, 0, 10, PACKET_OUTGOING},  // 1 else DROP
        {BPF_LD | BPF_H | BPF_ABS, 0, 0, 12},                 // 2 ethertype
        {BPF_JMP | BPF_JEQ | BPF_K, 0, 8, kIp4},              // 3 else DROP
        {BPF_LD | BPF_B | BPF_ABS, 0, 0, 23},                 // 4 IPv4 protocol
        {BPF_JMP | BPF_JEQ | BPF_K, 0, 6, 17},                // 5 UDP, else DROP
        {BPF_LD | BPF_H | BPF_ABS, 0, 0, 20},                 // 6 flags + fragment offset
        {BPF_JMP | BPF_JSET | BPF_K, 4, 0, 0x3fff},           // 7 fragment -> DROP
        {BPF_LDX | BPF_B | BPF_MSH, 0, 0, 14},                // 8 X = IPv4 header length
        {BPF_LD | BPF_H | BPF_IND, 0, 0, 14},                 // 9 UDP source port
        {BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 67},                // 10 bootps -> ACCEPT, else DROP
        {BPF_RET | BPF_K, 0, 0, 1536},                        // 11 ACCEPT
        {BPF_RET | BPF_K, 0, 0, 0},                           // 12 DROP
    };
}

uint32_t runFilter(const std::vector<BpfInsn>& prog, const uint8_t* f, size_t n, int pkttype) {
    uint32_t a = 0, x = 0;
    auto load = [&](uint32_t off, int size, bool& ok) -> uint32_t {
        if (off == static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_PKTTYPE)) return pkttype;
        if (off + size > n) {
            ok = false;
            return 0;
        }
        uint32_t v = 0;
        for (int i = 0; i < size; ++i) v = (v << 8) | f[off + i];
        return v;
    };
    for (size_t pc = 0; pc < prog.size(); ++pc) {
        const BpfInsn& in = prog[pc];
        bool ok = true;
        int size = BPF_SIZE(in.code) == BPF_W ? 4 : BPF_SIZE(in.code) == BPF_H ? 2 : 1;
        switch (BPF_CLASS(in.code)) {
            case BPF_LD:
                a = load(BPF_MODE(in.code) == BPF_IND ? x + in.k : in.k, size, ok);
                if (!ok) return 0;  // the kernel drops on an out-of-bounds load
                break;
            case BPF_LDX:
                x = (load(in.k, 1, ok) & 15) * 4;
                if (!ok) return 0;
                break;
            case BPF_JMP: {
                bool t = false;
                switch (BPF_OP(in.code)) {
                    case BPF_JEQ:
                        t = a == in.k;
                        break;
                    case BPF_JGT:
                        t = a > in.k;
                        break;
                    case BPF_JGE:
                        t = a >= in.k;
                        break;
                    case BPF_JSET:
                        t = (a & in.k) != 0;
                        break;
                }
                pc += t ? in.jt : in.jf;
                break;
            }
            case BPF_RET:
                return in.k;
        }
    }
    return 0;
}

namespace {

// An AF_PACKET socket that sees what `prog` accepts, on every interface
// (ifindex 0) or on one.
Result<unique_fd> packetSocket(const std::vector<BpfInsn>& prog, int ifindex, bool ignore_outgoing,
                               const std::string& what) {
    // Protocol 0 first: no frame is queued before the filter is attached.
    unique_fd fd(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) return Error::sysNow("socket AF_PACKET", what);
    std::vector<sock_filter> code;
    for (const auto& i : prog) code.push_back({i.code, i.jt, i.jf, i.k});
    sock_fprog fprog{static_cast<unsigned short>(code.size()), code.data()};
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof fprog) != 0)
        return Error::sysNow("attach filter", what);
    int one = 1;
    if (ignore_outgoing &&
        ::setsockopt(fd.get(), SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) != 0)
        return Error::sysNow("PACKET_IGNORE_OUTGOING", what);
    // A small queue: what overflows while we are busy is dropped by the
    // kernel (guests ARP again), never buffered by us.
    int rcvbuf = 256 << 10;
    (void)::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_ll ll{};
    ll.sll_family = AF_PACKET;
    ll.sll_protocol = htons(ETH_P_ALL);
    ll.sll_ifindex = ifindex;
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ll), sizeof ll) != 0)
        return Error::sysNow("bind AF_PACKET", what);
    return fd;
}

}  // namespace

Snooper::Snooper(std::string prefix, std::function<void()> wake)
    : prefix_(std::move(prefix)), wake_(std::move(wake)) {}

Result<std::unique_ptr<Snooper>> Snooper::start(std::string prefix, std::function<void()> wake) {
    std::unique_ptr<Snooper> s(new Snooper(std::move(prefix), std::move(wake)));
    auto sock = packetSocket(snoopFilter(), 0, true, "address snooper");
    if (!sock.ok()) return sock.error();
    s->sock_ = std::move(*sock);
    s->stop_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!s->stop_) return Error::sysNow("eventfd", "snooper");
    s->resync_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!s->resync_) return Error::sysNow("eventfd", "snooper");
    s->thread_ = std::thread([p = s.get()] { p->loop(); });
    return s;
}

Snooper::~Snooper() {
    if (thread_.joinable()) {
        uint64_t one = 1;
        (void)!::write(stop_.get(), &one, sizeof one);
        thread_.join();
    }
}

void Snooper::setServers(std::vector<std::string> ifnames) {
    {
        std::lock_guard lock(mu_);
        wanted_servers_ = std::move(ifnames);
    }
    uint64_t one = 1;
    if (resync_) (void)!::write(resync_.get(), &one, sizeof one);
}

std::vector<Learned> Snooper::drain() {
    std::map<std::string, Learned> got;
    {
        std::lock_guard lock(mu_);
        got.swap(pending_);
    }
    std::vector<Learned> out;
    out.reserve(got.size());
    for (auto& [_, l] : got) out.push_back(std::move(l));
    return out;
}

// Called with mu_ held. One entry per host end: a guest that sends frames
// with other MACs only overwrites what was learnt on its own port.
void Snooper::learn(const std::string& ifname, const std::string& mac, const std::string& ip,
                    bool v6, const std::string& server) {
    auto it = pending_.find(ifname);
    if (it == pending_.end()) {
        if (pending_.size() >= kMaxPending) return;
        it = pending_.emplace(ifname, Learned{ifname, mac, {}, {}, {}}).first;
    } else if (it->second.mac != mac) {
        it->second = Learned{ifname, mac, {}, {}, {}};
    }
    if (v6) {
        it->second.ip6 = ip;
    } else {
        it->second.ip4 = ip;
        it->second.ip4_server = server;
    }
}

void Snooper::feed(const uint8_t* frame, size_t len, const std::string& ifname,
                   Clock::time_point now) {
    auto s = parseFrame(frame, len);
    // Only what comes in from behind one of our host ends: its sender is the
    // guest on that port (and says nothing about anyone else's).
    if (!s || !parseVethHostName(prefix_, ifname)) return;
    if (s->kind == Sighting::DhcpAck || s->kind == Sighting::DhcpNak) return;  // a guest's
    bool first = false;  // the batch was empty: the command thread must be told
    {
        std::lock_guard lock(mu_);
        if (s->kind == Sighting::DhcpRequest) {
            auto it = requests_.find(ifname);
            if (it == requests_.end()) {
                if (requests_.size() >= kMaxPending) return;
                it = requests_.emplace(ifname, std::vector<Request>{}).first;
            }
            auto& reqs = it->second;
            std::erase_if(reqs, [&](const Request& r) { return now - r.when > kRequestTtl; });
            for (auto& r : reqs) {
                if (r.xid == s->xid && r.mac == s->mac) {
                    r.when = now;  // a retransmission
                    return;
                }
            }
            if (reqs.size() < kMaxRequestsPerPort) reqs.push_back({s->mac, s->xid, now});
            return;
        }
        first = pending_.empty();
        learn(ifname, s->mac, s->ip, s->v6, {});
        first = first && !pending_.empty();
    }
    if (first && wake_) wake_();
}

void Snooper::feedServer(const uint8_t* frame, size_t len, const std::string& server,
                         Clock::time_point now) {
    auto s = parseFrame(frame, len);
    if (!s || (s->kind != Sighting::DhcpAck && s->kind != Sighting::DhcpNak)) return;
    bool first = false;
    {
        std::lock_guard lock(mu_);
        // The request(s) this answers: same xid and client, not expired. Each
        // is consumed: one answer per request. Expired entries go on the way.
        std::vector<std::string> ports;
        for (auto it = requests_.begin(); it != requests_.end();) {
            std::erase_if(it->second, [&](const Request& r) {
                if (now - r.when > kRequestTtl) return true;
                if (r.xid != s->xid || r.mac != s->mac) return false;
                ports.push_back(it->first);
                return true;
            });
            it = it->second.empty() ? requests_.erase(it) : std::next(it);
        }
        if (s->kind == Sighting::DhcpNak) return;
        first = pending_.empty();
        for (const auto& port : ports) learn(port, s->mac, s->ip, false, server);
        first = first && !pending_.empty();
    }
    if (first && wake_) wake_();
}

// The thread's own: opens a socket for each wanted server interface that has
// none (or whose interface was replaced by another of the same name), closes
// those no longer wanted.
void Snooper::syncServers() {
    std::vector<std::string> wanted;
    {
        std::lock_guard lock(mu_);
        wanted = wanted_servers_;
    }
    std::vector<ServerSocket> keep;
    for (const auto& name : wanted) {
        const int index = static_cast<int>(::if_nametoindex(name.c_str()));
        if (index == 0) {
            HERD_LOG(warn, "address snooper: DHCP server interface {}: {}", name,
                     std::strerror(errno));
            continue;
        }
        auto old = std::find_if(servers_.begin(), servers_.end(), [&](const ServerSocket& s) {
            return s.name == name && s.ifindex == index;
        });
        if (old != servers_.end()) {
            keep.push_back(std::move(*old));
            continue;
        }
        auto fd = packetSocket(serverFilter(), index, false, "DHCP server " + name);
        if (!fd.ok()) {
            HERD_LOG(warn, "address snooper: {}", fd.error().text());
            continue;
        }
        keep.push_back(ServerSocket{name, index, std::move(*fd)});
    }
    servers_ = std::move(keep);  // the others close here
}

void Snooper::drainMain(int max) {
    uint8_t buf[1536];
    for (int i = 0; i < max; ++i) {
        sockaddr_ll from{};
        socklen_t fl = sizeof from;
        ssize_t n = ::recvfrom(sock_.get(), buf, sizeof buf, MSG_DONTWAIT,
                               reinterpret_cast<sockaddr*>(&from), &fl);
        if (n < 0) break;
        if (from.sll_pkttype == PACKET_OUTGOING) continue;
        ifreq ifr{};
        ifr.ifr_ifindex = from.sll_ifindex;
        // The interface may be gone already (a container that just died).
        if (::ioctl(sock_.get(), SIOCGIFNAME, &ifr) != 0) continue;
        feed(buf, static_cast<size_t>(n), ifr.ifr_name);
    }
}

void Snooper::loop() {
    uint8_t buf[1536];
    std::vector<pollfd> fds;
    for (;;) {
        fds.assign(
            {{sock_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}, {resync_.get(), POLLIN, 0}});
        for (const auto& sv : servers_) fds.push_back({sv.fd.get(), POLLIN, 0});
        int r = ::poll(fds.data(), fds.size(), -1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            HERD_LOG(error, "address snooper: poll: {}", std::strerror(errno));
            return;
        }
        if (fds[1].revents) return;
        drainMain(256);
        std::vector<size_t> dead;
        for (size_t i = 0; i < servers_.size(); ++i) {
            if (!fds[3 + i].revents) continue;
            for (int burst = 0; burst < 64; ++burst) {
                sockaddr_ll from{};
                socklen_t fl = sizeof from;
                ssize_t n = ::recvfrom(servers_[i].fd.get(), buf, sizeof buf, MSG_DONTWAIT,
                                       reinterpret_cast<sockaddr*>(&from), &fl);
                if (n < 0) {
                    // ENETDOWN: the interface went away; a later setServers
                    // opens its successor.
                    if (errno != EAGAIN && errno != EINTR) dead.push_back(i);
                    break;
                }
                if (from.sll_pkttype != PACKET_OUTGOING) continue;
                // The request this may answer came in before the server saw
                // it, so it is queued on the host-wide socket already: read
                // that first (bounded by its small receive queue).
                drainMain(1024);
                feedServer(buf, static_cast<size_t>(n), servers_[i].name);
            }
        }
        for (auto i = dead.rbegin(); i != dead.rend(); ++i) servers_.erase(servers_.begin() + *i);
        if (fds[2].revents) {
            uint64_t v;
            (void)!::read(resync_.get(), &v, sizeof v);
            syncServers();
        }
    }
}

}  // namespace herd::runtime
