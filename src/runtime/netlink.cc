#include "runtime/netlink.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "base/strings.h"

namespace herd::runtime {

namespace {

// Requests are small; a dump answer needs room for several links per read.
constexpr size_t kReqSize = 1024;
constexpr size_t kRecvSize = 32768;

nlmsghdr* startLink(char* buf, uint16_t type, uint16_t flags) {
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = NLM_F_REQUEST | flags;
    auto* ifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
    ifm->ifi_family = AF_UNSPEC;
    return nlh;
}

ifinfomsg* ifmOf(nlmsghdr* nlh) {
    return static_cast<ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
}

Result<void> checkName(const std::string& name, const std::string& op) {
    if (name.empty() || name.size() > kMaxIfName || name.find('/') != std::string::npos) {
        return Error::sys(EINVAL, op, name.empty() ? std::string("\"\"") : name);
    }
    return Ok();
}

// An answer to an earlier request that was abandoned (its caller saw an
// error before reading everything): skipped. Requests are never pipelined,
// so a read holds answers to one request only.
bool stale(const char* buf, ssize_t n, uint32_t seq) {
    auto* nlh = reinterpret_cast<const nlmsghdr*>(buf);
    return n >= static_cast<ssize_t>(sizeof(nlmsghdr)) && nlh->nlmsg_seq != seq;
}

// Whether `buf` holds the message that ends a dump (NLMSG_DONE, or an
// NLMSG_ERROR that cuts it short).
bool endsDump(const char* buf, ssize_t n) {
    int len = static_cast<int>(n);
    for (auto* nlh = reinterpret_cast<const nlmsghdr*>(buf); mnl_nlmsg_ok(nlh, len);
         nlh = mnl_nlmsg_next(nlh, &len)) {
        if (nlh->nlmsg_type == NLMSG_DONE || nlh->nlmsg_type == NLMSG_ERROR) return true;
    }
    return false;
}

int hexDigit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

bool parseMac(const std::string& text, uint8_t out[6]) {
    if (text.size() != 17) return false;
    for (int i = 0; i < 6; ++i) {
        int hi = hexDigit(text[i * 3]), lo = hexDigit(text[i * 3 + 1]);
        if (hi < 0 || lo < 0 || (i < 5 && text[i * 3 + 2] != ':')) return false;
        out[i] = static_cast<uint8_t>(hi << 4 | lo);
    }
    return true;
}

bool parseIp(const std::string& text, IpPrefix& out) {
    IpPrefix p;
    if (text.find(':') != std::string::npos) {
        p.family = AF_INET6;
    } else {
        p.family = AF_INET;
    }
    if (inet_pton(p.family, text.c_str(), p.addr) != 1) return false;
    p.len = p.family == AF_INET ? 32 : 128;
    out = p;
    return true;
}

bool parseCidr(const std::string& text, IpPrefix& out) {
    size_t slash = text.find('/');
    if (slash == std::string::npos || slash + 1 >= text.size()) return false;
    IpPrefix p;
    if (!parseIp(text.substr(0, slash), p)) return false;
    auto n = parseUint(std::string_view(text).substr(slash + 1), 0, p.family == AF_INET ? 32 : 128,
                       "prefix length");
    if (!n.ok()) return false;
    p.len = static_cast<int>(*n);
    out = p;
    return true;
}

std::string ipText(const IpPrefix& p) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (!inet_ntop(p.family, p.addr, buf, sizeof buf)) return "";
    return buf;
}

Netlink::Netlink(mnl_socket* s) : sock_(s), portid_(mnl_socket_get_portid(s)) {}

Netlink::Netlink(Netlink&& o) noexcept
    : sock_(std::exchange(o.sock_, nullptr)), portid_(o.portid_), seq_(o.seq_) {}

Netlink& Netlink::operator=(Netlink&& o) noexcept {
    if (this != &o) {
        if (sock_) mnl_socket_close(sock_);
        sock_ = std::exchange(o.sock_, nullptr);
        portid_ = o.portid_;
        seq_ = o.seq_;
    }
    return *this;
}

Netlink::~Netlink() {
    if (sock_) mnl_socket_close(sock_);
}

Result<Netlink> Netlink::open() {
    mnl_socket* s = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
    if (!s) return Error::sysNow("open", "netlink socket");
    if (mnl_socket_bind(s, 0, MNL_SOCKET_AUTOPID) < 0) {
        int e = errno;
        mnl_socket_close(s);
        return Error::sys(e, "bind", "netlink socket");
    }
    // Extended acks would only add text we do not show; strict checking makes
    // the kernel reject attributes it does not know instead of ignoring them.
    int one = 1;
    (void)mnl_socket_setsockopt(s, NETLINK_GET_STRICT_CHK, &one, sizeof one);
    // The kernel always answers; a lost answer must become an error, not a
    // daemon stuck in recv().
    timeval tv{5, 0};
    (void)setsockopt(mnl_socket_get_fd(s), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return Netlink(s);
}

Result<void> Netlink::request(nlmsghdr* nlh, const std::string& op, const std::string& object) {
    nlh->nlmsg_flags |= NLM_F_ACK;
    nlh->nlmsg_seq = ++seq_;
    if (mnl_socket_sendto(sock_, nlh, nlh->nlmsg_len) < 0) return Error::sysNow(op, object);
    char buf[8192];
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(sock_, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            return Error::sysNow(op, object);
        }
        if (stale(buf, n, seq_)) continue;
        // mnl_cb_run turns an NLMSG_ERROR with a code into -1 and errno;
        // the ack (code 0) ends the exchange with MNL_CB_STOP.
        int r = mnl_cb_run(buf, static_cast<size_t>(n), seq_, portid_, nullptr, nullptr);
        if (r < 0) return Error::sysNow(op, object);
        if (r == MNL_CB_STOP) return Ok();
    }
}

Result<void> Netlink::dump(nlmsghdr* nlh, Each each, void* data, const std::string& op,
                           const std::string& object) {
    nlh->nlmsg_seq = ++seq_;
    if (mnl_socket_sendto(sock_, nlh, nlh->nlmsg_len) < 0) return Error::sysNow(op, object);
    std::vector<char> rbuf(kRecvSize);
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(sock_, rbuf.data(), rbuf.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return Error::sysNow(op, object);
        }
        if (stale(rbuf.data(), n, seq_)) continue;
        int r = mnl_cb_run(rbuf.data(), static_cast<size_t>(n), seq_, portid_, each, data);
        if (r < 0) {
            // The rest of the dump is read and dropped: the kernel runs one
            // dump per socket at a time, so one left unread would make every
            // later dump on this socket fail with EBUSY. EINTR here means the
            // set changed while it was dumped (NLM_F_DUMP_INTR): the caller
            // may ask again.
            const int err = errno;
            while (!endsDump(rbuf.data(), n)) {
                n = mnl_socket_recvfrom(sock_, rbuf.data(), rbuf.size());
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0) break;
                if (stale(rbuf.data(), n, seq_)) n = 0;  // an older exchange's
            }
            return Error::sys(err, op, object);
        }
        if (r == MNL_CB_STOP) return Ok();
    }
}

Result<void> Netlink::createVeth(const VethSpec& spec) {
    const std::string op = "create veth";
    HERD_TRY(checkName(spec.host_name, op));
    HERD_TRY(checkName(spec.peer_name, op));
    uint8_t mac[6];
    if (!spec.peer_mac.empty() && !parseMac(spec.peer_mac, mac)) {
        return Error::sys(EINVAL, op, spec.host_name + " (mac " + spec.peer_mac + ")");
    }
    char buf[kReqSize];
    nlmsghdr* nlh = startLink(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    if (spec.host_up) {
        ifmOf(nlh)->ifi_flags = IFF_UP;
        ifmOf(nlh)->ifi_change = IFF_UP;
    }
    mnl_attr_put_strz(nlh, IFLA_IFNAME, spec.host_name.c_str());
    if (spec.master > 0) mnl_attr_put_u32(nlh, IFLA_MASTER, static_cast<uint32_t>(spec.master));
    nlattr* linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
    mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
    nlattr* data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
    nlattr* peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
    // The peer's attributes follow its own ifinfomsg (left down: bringing it
    // up is the guest's business, as on a real NIC).
    auto* pifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
    pifm->ifi_family = AF_UNSPEC;
    mnl_attr_put_strz(nlh, IFLA_IFNAME, spec.peer_name.c_str());
    if (!spec.peer_mac.empty()) mnl_attr_put(nlh, IFLA_ADDRESS, sizeof mac, mac);
    if (spec.netns_pid > 0) {
        mnl_attr_put_u32(nlh, IFLA_NET_NS_PID, static_cast<uint32_t>(spec.netns_pid));
    }
    mnl_attr_nest_end(nlh, peer);
    mnl_attr_nest_end(nlh, data);
    mnl_attr_nest_end(nlh, linkinfo);
    return request(nlh, op, spec.host_name);
}

Result<void> Netlink::createBridge(const std::string& name) {
    const std::string op = "create bridge";
    HERD_TRY(checkName(name, op));
    char buf[kReqSize];
    nlmsghdr* nlh = startLink(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    ifmOf(nlh)->ifi_flags = IFF_UP;
    ifmOf(nlh)->ifi_change = IFF_UP;
    mnl_attr_put_strz(nlh, IFLA_IFNAME, name.c_str());
    nlattr* linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
    mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "bridge");
    mnl_attr_nest_end(nlh, linkinfo);
    return request(nlh, op, name);
}

Result<void> Netlink::createVxlan(const std::string& name, uint32_t vni, const IpPrefix& remote) {
    const std::string op = "create vxlan";
    HERD_TRY(checkName(name, op));
    char buf[kReqSize];
    nlmsghdr* nlh = startLink(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    ifmOf(nlh)->ifi_flags = IFF_UP;
    ifmOf(nlh)->ifi_change = IFF_UP;
    mnl_attr_put_strz(nlh, IFLA_IFNAME, name.c_str());
    nlattr* linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
    mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "vxlan");
    nlattr* data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
    mnl_attr_put_u32(nlh, IFLA_VXLAN_ID, vni);
    if (remote.family == AF_INET) {
        mnl_attr_put(nlh, IFLA_VXLAN_GROUP, 4, remote.addr);
    } else {
        mnl_attr_put(nlh, IFLA_VXLAN_GROUP6, 16, remote.addr);
    }
    mnl_attr_put_u16(nlh, IFLA_VXLAN_PORT, htons(4789));
    mnl_attr_nest_end(nlh, data);
    mnl_attr_nest_end(nlh, linkinfo);
    return request(nlh, op, name);
}

Result<void> Netlink::setUp(const std::string& name, bool up) {
    const std::string op = up ? "set up" : "set down";
    HERD_TRY(checkName(name, op));
    char buf[kReqSize];
    nlmsghdr* nlh = startLink(buf, RTM_NEWLINK, 0);
    ifmOf(nlh)->ifi_flags = up ? IFF_UP : 0;
    ifmOf(nlh)->ifi_change = IFF_UP;
    mnl_attr_put_strz(nlh, IFLA_IFNAME, name.c_str());
    return request(nlh, op, name);
}

Result<void> Netlink::setMaster(const std::string& port, int master) {
    const std::string op = "set master of";
    HERD_TRY(checkName(port, op));
    char buf[kReqSize];
    nlmsghdr* nlh = startLink(buf, RTM_NEWLINK, 0);
    mnl_attr_put_strz(nlh, IFLA_IFNAME, port.c_str());
    mnl_attr_put_u32(nlh, IFLA_MASTER, static_cast<uint32_t>(master));
    return request(nlh, op, port);
}

Result<void> Netlink::deleteLink(const std::string& name) {
    const std::string op = "delete link";
    HERD_TRY(checkName(name, op));
    char buf[kReqSize];
    nlmsghdr* nlh = startLink(buf, RTM_DELLINK, 0);
    mnl_attr_put_strz(nlh, IFLA_IFNAME, name.c_str());
    return request(nlh, op, name);
}

namespace {

struct LinkParse {
    LinkInfo info;
    const nlattr* tb[IFLA_MAX + 1] = {};
};

int linkAttr(const nlattr* attr, void* data) {
    auto* tb = static_cast<const nlattr**>(data);
    int type = mnl_attr_get_type(attr);
    if (mnl_attr_type_valid(attr, IFLA_MAX) < 0) return MNL_CB_OK;
    tb[type] = attr;
    return MNL_CB_OK;
}

int infoAttr(const nlattr* attr, void* data) {
    if (mnl_attr_get_type(attr) == IFLA_INFO_KIND && mnl_attr_validate(attr, MNL_TYPE_STRING) >= 0)
        *static_cast<std::string*>(data) = mnl_attr_get_str(attr);
    return MNL_CB_OK;
}

LinkInfo parseLink(const nlmsghdr* nlh) {
    LinkInfo li;
    auto* ifm = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
    li.index = ifm->ifi_index;
    li.flags = ifm->ifi_flags;
    const nlattr* tb[IFLA_MAX + 1] = {};
    mnl_attr_parse(nlh, sizeof(ifinfomsg), linkAttr, tb);
    if (tb[IFLA_IFNAME] && mnl_attr_validate(tb[IFLA_IFNAME], MNL_TYPE_STRING) >= 0)
        li.name = mnl_attr_get_str(tb[IFLA_IFNAME]);
    if (tb[IFLA_LINKINFO]) mnl_attr_parse_nested(tb[IFLA_LINKINFO], infoAttr, &li.kind);
    if (tb[IFLA_LINK] && mnl_attr_validate(tb[IFLA_LINK], MNL_TYPE_U32) >= 0)
        li.link = static_cast<int>(mnl_attr_get_u32(tb[IFLA_LINK]));
    li.link_elsewhere = tb[IFLA_LINK_NETNSID] != nullptr;
    if (tb[IFLA_MTU] && mnl_attr_validate(tb[IFLA_MTU], MNL_TYPE_U32) >= 0)
        li.mtu = mnl_attr_get_u32(tb[IFLA_MTU]);
    if (tb[IFLA_MASTER] && mnl_attr_validate(tb[IFLA_MASTER], MNL_TYPE_U32) >= 0)
        li.master = static_cast<int>(mnl_attr_get_u32(tb[IFLA_MASTER]));
    return li;
}

int collectLink(const nlmsghdr* nlh, void* data) {
    if (nlh->nlmsg_type == RTM_NEWLINK)
        static_cast<std::vector<LinkInfo>*>(data)->push_back(parseLink(nlh));
    return MNL_CB_OK;
}

}  // namespace

Result<int> Netlink::ifindex(const std::string& name) {
    auto l = link(name);
    if (!l.ok()) return l.error();
    return l->index;
}

Result<LinkInfo> Netlink::link(const std::string& name) {
    const std::string op = "look up";
    HERD_TRY(checkName(name, op));
    char buf[kReqSize];
    nlmsghdr* nlh = startLink(buf, RTM_GETLINK, 0);
    mnl_attr_put_strz(nlh, IFLA_IFNAME, name.c_str());
    std::vector<LinkInfo> found;
    // A GETLINK by name answers with one RTM_NEWLINK and no ack.
    auto one = [](const nlmsghdr* m, void* data) {
        collectLink(m, data);
        return MNL_CB_STOP;
    };
    HERD_TRY(dump(nlh, one, &found, op, name));
    if (found.empty()) return Error::sys(ENODEV, op, name);
    return found.front();
}

Result<std::vector<LinkInfo>> Netlink::links() {
    char buf[kReqSize];
    nlmsghdr* nlh = startLink(buf, RTM_GETLINK, NLM_F_DUMP);
    // Links come and go while they are listed (network namespaces dying):
    // an interrupted dump is asked again.
    std::vector<LinkInfo> out;
    Result<void> r;
    for (int attempt = 0; attempt < 10; ++attempt) {
        out.clear();
        nlh = startLink(buf, RTM_GETLINK, NLM_F_DUMP);
        r = dump(nlh, collectLink, &out, "list", "links");
        if (r.ok() || r.error().errnum() != EINTR) break;
    }
    if (!r.ok()) return r.error();
    return out;
}

Result<void> Netlink::addAddress(const std::string& ifname, const IpPrefix& p) {
    const std::string op = "add address";
    auto idx = ifindex(ifname);
    if (!idx.ok()) return idx.error();
    char buf[kReqSize];
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_NEWADDR;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL;
    auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
    ifa->ifa_family = static_cast<uint8_t>(p.family);
    ifa->ifa_prefixlen = static_cast<uint8_t>(p.len);
    ifa->ifa_index = static_cast<uint32_t>(*idx);
    const auto n = static_cast<uint16_t>(p.bytes());
    mnl_attr_put(nlh, IFA_LOCAL, n, p.addr);
    mnl_attr_put(nlh, IFA_ADDRESS, n, p.addr);
    if (p.family == AF_INET && p.len < 31) {
        uint8_t brd[4];
        uint32_t host_mask = p.len == 0 ? ~0u : (1u << (32 - p.len)) - 1;
        uint32_t a =
            static_cast<uint32_t>(p.addr[0]) << 24 | p.addr[1] << 16 | p.addr[2] << 8 | p.addr[3];
        a |= host_mask;
        for (int i = 0; i < 4; ++i) brd[i] = static_cast<uint8_t>(a >> (24 - 8 * i));
        mnl_attr_put(nlh, IFA_BROADCAST, sizeof brd, brd);
    }
    return request(nlh, op, ifname + " " + ipText(p) + "/" + std::to_string(p.len));
}

namespace {

int addrAttr(const nlattr* attr, void* data) {
    auto* tb = static_cast<const nlattr**>(data);
    if (mnl_attr_type_valid(attr, IFA_MAX) < 0) return MNL_CB_OK;
    tb[mnl_attr_get_type(attr)] = attr;
    return MNL_CB_OK;
}

int collectAddr(const nlmsghdr* nlh, void* data) {
    if (nlh->nlmsg_type != RTM_NEWADDR) return MNL_CB_OK;
    auto* ifa = static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(nlh));
    if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6) return MNL_CB_OK;
    const nlattr* tb[IFA_MAX + 1] = {};
    mnl_attr_parse(nlh, sizeof(ifaddrmsg), addrAttr, tb);
    // IFA_LOCAL is the interface's own address on point-to-point links;
    // IPv6 only sends IFA_ADDRESS.
    const nlattr* a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
    if (!a) return MNL_CB_OK;
    AddrInfo info;
    info.index = static_cast<int>(ifa->ifa_index);
    info.prefix.family = ifa->ifa_family;
    info.prefix.len = ifa->ifa_prefixlen;
    if (mnl_attr_get_payload_len(a) != info.prefix.bytes()) return MNL_CB_OK;
    std::memcpy(info.prefix.addr, mnl_attr_get_payload(a), info.prefix.bytes());
    static_cast<std::vector<AddrInfo>*>(data)->push_back(info);
    return MNL_CB_OK;
}

}  // namespace

Result<std::vector<AddrInfo>> Netlink::addresses() {
    char buf[kReqSize];
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_GETADDR;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
    ifa->ifa_family = AF_UNSPEC;
    std::vector<AddrInfo> out;
    HERD_TRY(dump(nlh, collectAddr, &out, "list", "addresses"));
    return out;
}

}  // namespace herd::runtime
