// A small rtnetlink (NETLINK_ROUTE) client on libmnl: the link operations
// container networking needs, each one request and its acknowledgement.
// Never forks `ip`: `ip link add ... netns` creates then moves the peer (two
// steps, 25x the cost); here a veth pair is made with its peer already inside
// the container's network namespace, named and addressed, in ONE message.
//
// A Netlink object owns one socket and is used by one thread at a time (the
// launch workers each open their own).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"

struct mnl_socket;
struct nlmsghdr;

namespace herd::runtime {

// Linux interface names are at most 15 bytes (IFNAMSIZ - 1).
inline constexpr size_t kMaxIfName = 15;

struct VethSpec {
    std::string host_name;  // the end left in the caller's namespace
    std::string peer_name;  // the end created inside the target namespace (veth<i>)
    std::string peer_mac;   // "aa:bb:cc:dd:ee:ff"; empty = kernel's random MAC
    int netns_pid = 0;      // peer's namespace: that of this process (0 = the caller's)
    int master = 0;         // host end's bridge ifindex; 0 = none
    bool host_up = true;    // host end administratively up on creation
};

struct LinkInfo {
    int index = 0;
    std::string name;
    std::string kind;             // "veth", "bridge", ... ("" when the kernel gives none)
    int link = 0;                 // IFLA_LINK: a veth's peer ifindex (0 = none)
    bool link_elsewhere = false;  // IFLA_LINK_NETNSID: `link` is in another namespace
    uint32_t mtu = 0;             // IFLA_MTU
    int master = 0;               // IFLA_MASTER: the bridge it is a port of (0 = none)
    unsigned flags = 0;           // ifi_flags (IFF_UP, IFF_LOOPBACK, ...)
};

// Parses "aa:bb:cc:dd:ee:ff" (either case); false when malformed.
bool parseMac(const std::string& text, uint8_t out[6]);

// An IPv4 or IPv6 address with a prefix length ("10.0.0.1/24", "fd00::1/64").
struct IpPrefix {
    int family = 0;  // AF_INET or AF_INET6
    uint8_t addr[16] = {};
    int len = 0;
    size_t bytes() const { return family == AF_INET ? 4 : 16; }
};

// Parses `addr/len` strictly (both parts required, len within the family's
// width); false when malformed.
bool parseCidr(const std::string& text, IpPrefix& out);
// Parses a bare address of either family; false when malformed.
bool parseIp(const std::string& text, IpPrefix& out);
std::string ipText(const IpPrefix& p);  // the address alone, canonical form

struct AddrInfo {
    int index = 0;  // ifindex of the interface holding it
    IpPrefix prefix;
};

class Netlink {
  public:
    static Result<Netlink> open();
    Netlink(Netlink&&) noexcept;
    Netlink& operator=(Netlink&&) noexcept;
    Netlink(const Netlink&) = delete;
    Netlink& operator=(const Netlink&) = delete;
    ~Netlink();

    // Both ends at once, the peer directly in the target namespace, the host
    // end optionally enslaved to `master` and up, all in one message. The
    // kernel creates both or neither. Error: `create veth <host>: ...`.
    Result<void> createVeth(const VethSpec& spec);
    // A kernel bridge, up. Error `create bridge <name>: File exists (EEXIST)`
    // when it exists already (callers decide whether that is fine).
    Result<void> createBridge(const std::string& name);
    // A vxlan link (`ip link add <name> type vxlan id <vni> remote <ip>
    // dstport 4789`, the IANA port Open vSwitch uses too), up.
    Result<void> createVxlan(const std::string& name, uint32_t vni, const IpPrefix& remote);
    Result<void> setUp(const std::string& name, bool up = true);
    // Enslaves `port` to the bridge `master` (ifindex; 0 = release).
    Result<void> setMaster(const std::string& port, int master);
    Result<void> deleteLink(const std::string& name);
    // The ifindex of `name` in the caller's namespace.
    Result<int> ifindex(const std::string& name);
    // The link `name` of the caller's namespace (ENODEV when there is none).
    Result<LinkInfo> link(const std::string& name);
    // Every link of the caller's namespace (one dump).
    Result<std::vector<LinkInfo>> links();
    // Adds an address to `ifname` (RTM_NEWADDR; IPv4 gets the subnet's
    // broadcast address, as `ip addr add ... brd +`). Error: `add address
    // <ifname>: ...` (EEXIST when the interface has it already).
    Result<void> addAddress(const std::string& ifname, const IpPrefix& p);
    // Every address of the caller's namespace, both families (one dump).
    Result<std::vector<AddrInfo>> addresses();

    // For the other rtnetlink modules (runtime/qdisc): sends one request
    // built in `nlh` (NLM_F_ACK is added) and waits for its ack; a failure
    // reads `<op> <object>: <strerror> (<ERRNO>)`.
    Result<void> request(nlmsghdr* nlh, const std::string& op, const std::string& object);
    // Sends a GET request (NLM_F_DUMP when the caller set it) and calls `each`
    // on every message of the answer, until the kernel's NLMSG_DONE (or the
    // single answer of a non-dump GET, when `each` returns MNL_CB_STOP).
    using Each = int (*)(const nlmsghdr* nlh, void* data);
    Result<void> dump(nlmsghdr* nlh, Each each, void* data, const std::string& op,
                      const std::string& object);

  private:
    explicit Netlink(mnl_socket* s);
    mnl_socket* sock_ = nullptr;
    uint32_t portid_ = 0;
    uint32_t seq_ = 0;
};

}  // namespace herd::runtime
