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

#include <cerrno>
#include <cstring>

#include "base/log.h"
#include "runtime/bridge.h"

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

std::optional<Sighting> parseDhcpAck(const uint8_t* p, size_t n) {
    if (n < 20 || (p[0] >> 4) != 4) return std::nullopt;
    size_t ihl = static_cast<size_t>(p[0] & 15) * 4;
    if (ihl < 20 || n < ihl + 8 || p[9] != 17) return std::nullopt;
    if (be16(p + 6) & 0x3fff) return std::nullopt;  // a fragment
    const uint8_t* udp = p + ihl;
    if (be16(udp) != 67 || be16(udp + 2) != 68) return std::nullopt;
    const uint8_t* b = udp + 8;
    size_t bn = n - ihl - 8;
    if (bn < 240) return std::nullopt;
    if (b[0] != 2 || b[1] != 1 || b[2] != 6) return std::nullopt;  // BOOTREPLY, Ethernet
    static const uint8_t cookie[4] = {99, 130, 83, 99};
    if (std::memcmp(b + 236, cookie, 4) != 0) return std::nullopt;
    bool ack = false;
    for (size_t i = 240; i < bn;) {
        uint8_t code = b[i];
        if (code == 255) break;
        if (code == 0) {
            ++i;
            continue;
        }
        if (i + 1 >= bn || i + 2 + b[i + 1] > bn) break;
        if (code == 53 && b[i + 1] == 1) ack = b[i + 2] == 5;
        i += 2 + b[i + 1];
    }
    const uint8_t* yiaddr = b + 16;
    const uint8_t* chaddr = b + 28;
    if (!ack || !usable4(yiaddr) || !stationMac(chaddr)) return std::nullopt;
    return Sighting{Sighting::Dhcp, macText(chaddr), ipText(AF_INET, yiaddr), false};
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
            return parseDhcpAck(p, rest);
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
        {BPF_JMP | BPF_JSET | BPF_K, 4, 0, 0x1fff},           // 14 fragment -> DROP
        {BPF_LDX | BPF_B | BPF_MSH, 0, 0, 14},                // 15 X = IPv4 header length
        {BPF_LD | BPF_H | BPF_IND, 0, 0, 14},                 // 16 UDP source port
        {BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 67},                // 17 bootps -> ACCEPT, else DROP
        {BPF_RET | BPF_K, 0, 0, 1536},                        // 18 ACCEPT
        {BPF_RET | BPF_K, 0, 0, 0},                           // 19 DROP
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

Snooper::Snooper(std::string prefix, std::function<void()> wake)
    : prefix_(std::move(prefix)), wake_(std::move(wake)) {}

Result<std::unique_ptr<Snooper>> Snooper::start(std::string prefix, std::function<void()> wake) {
    std::unique_ptr<Snooper> s(new Snooper(std::move(prefix), std::move(wake)));
    // Protocol 0 first: no frame is queued before the filter is attached.
    s->sock_.reset(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!s->sock_) return Error::sysNow("socket", "AF_PACKET");
    auto prog = snoopFilter();
    std::vector<sock_filter> code;
    for (const auto& i : prog) code.push_back({i.code, i.jt, i.jf, i.k});
    sock_fprog fprog{static_cast<unsigned short>(code.size()), code.data()};
    if (::setsockopt(s->sock_.get(), SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof fprog) != 0)
        return Error::sysNow("attach filter", "AF_PACKET");
    int one = 1;
    if (::setsockopt(s->sock_.get(), SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) != 0)
        return Error::sysNow("PACKET_IGNORE_OUTGOING", "AF_PACKET");
    // A small queue: what overflows while we are busy is dropped by the
    // kernel (guests ARP again), never buffered by us.
    int rcvbuf = 256 << 10;
    (void)::setsockopt(s->sock_.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_ll ll{};
    ll.sll_family = AF_PACKET;
    ll.sll_protocol = htons(ETH_P_ALL);
    if (::bind(s->sock_.get(), reinterpret_cast<sockaddr*>(&ll), sizeof ll) != 0)
        return Error::sysNow("bind", "AF_PACKET");
    s->stop_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!s->stop_) return Error::sysNow("eventfd", "snooper");
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

std::vector<Learned> Snooper::drain() {
    std::map<std::pair<std::string, std::string>, Learned> got;
    {
        std::lock_guard lock(mu_);
        got.swap(pending_);
    }
    std::vector<Learned> out;
    out.reserve(got.size());
    for (auto& [_, l] : got) out.push_back(std::move(l));
    return out;
}

void Snooper::feed(const uint8_t* frame, size_t len, const std::string& ifname) {
    auto s = parseFrame(frame, len);
    if (!s) return;
    std::string where;
    if (s->kind == Sighting::Dhcp) {
        // The ACK comes from the server's port (a host tap's peer P p<n>, a
        // guest server's host end); its client is named inside. Only on our
        // own links: one seen on a physical NIC or another daemon's bridge
        // is about someone else's network, whatever MAC it names.
        if (!isOwnedLink(prefix_, ifname)) return;
    } else if (parseVethHostName(prefix_, ifname)) {
        where = ifname;
    } else {
        return;  // not from behind one of our host ends
    }
    bool first = false;  // the batch was empty: the command thread must be told
    {
        std::lock_guard lock(mu_);
        auto key = std::make_pair(where, s->mac);
        auto it = pending_.find(key);
        if (it == pending_.end()) {
            if (pending_.size() >= kMaxPending) return;
            it = pending_.emplace(key, Learned{where, s->mac, {}, {}}).first;
            first = pending_.size() == 1;
        }
        (s->v6 ? it->second.ip6 : it->second.ip4) = s->ip;
    }
    if (first && wake_) wake_();
}

void Snooper::loop() {
    uint8_t buf[1536];
    pollfd fds[2] = {{sock_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    for (;;) {
        int r = ::poll(fds, 2, -1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            HERD_LOG(error, "address snooper: poll: {}", std::strerror(errno));
            return;
        }
        if (fds[1].revents) return;
        for (int burst = 0; burst < 256; ++burst) {
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
}

}  // namespace herd::runtime
