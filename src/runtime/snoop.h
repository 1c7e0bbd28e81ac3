// Learns the guests' addresses from what they say on the wire, for the
// `vm info` ip and ip6 columns (reference §4.7; minimega snoops ARP and
// ICMPv6 on each bridge with pcap).
//
// One AF_PACKET socket for the whole host (no libpcap): a classic BPF filter
// lets through only ARP, ICMPv6 router/neighbour discovery (types 133-136)
// and DHCP replies (UDP from port 67), received frames only
// (PACKET_IGNORE_OUTGOING: transmitted frames are not even cloned for us), so
// bulk traffic costs one filter run per frame and nothing else. ARP and ND
// frames count only when they come IN on a host end this daemon named
// (vethHostName): the sender is then the guest behind that veth, whatever
// bridge or VLAN it is on. DHCP ACKs name their client by MAC (chaddr) and
// count only when they come in on a link named in this daemon's grammar.
//
// What is learnt is batched by interface (bounded by the number of NICs)
// and handed over through `drain`; `wake` is called from the snooper's
// thread when a batch becomes non-empty, so a flood of ARP costs the command
// thread one job per batch, not one per frame.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"

namespace herd::runtime {

// One address a frame reveals.
struct Sighting {
    enum Kind { Arp, Nd, Dhcp } kind = Arp;
    std::string mac;  // the address's owner, "aa:bb:cc:dd:ee:ff" lower case
    std::string ip;   // text form (inet_ntop)
    bool v6 = false;
};

// Parses an Ethernet frame (from the destination MAC; one 802.1Q tag allowed)
// and returns the address it reveals, as minimega's snooper would, or
// nothing:
//   ARP request/reply (gratuitous included): the frame's source MAC and the
//     sender protocol address;
//   ICMPv6 RS/RA/NS/NA: the frame's source MAC and the IPv6 source address;
//   DHCPv4 ACK (BOOTREPLY, option 53 = 5): chaddr and yiaddr.
// Unspecified (0.0.0.0, ::, as in ARP probes and DAD), link-local
// (169.254/16, fe80::/10), multicast and broadcast addresses reveal nothing:
// minimega skips link-local ones, and the others are no one's address.
std::optional<Sighting> parseFrame(const uint8_t* frame, size_t len);

// (VM id, NIC index) of a host end named by vethHostName with `prefix`.
std::optional<std::pair<int, int>> parseVethHostName(std::string_view prefix,
                                                     std::string_view ifname);

// The classic BPF program the socket uses (exposed for tests).
struct BpfInsn {
    uint16_t code;
    uint8_t jt, jf;
    uint32_t k;
};
std::vector<BpfInsn> snoopFilter();
// Runs `prog` on a frame as the kernel would for the loads it uses (absolute
// and indexed loads, ldxb msh, pkttype); returns the accepted length (0 =
// dropped). For tests of the filter without a socket.
uint32_t runFilter(const std::vector<BpfInsn>& prog, const uint8_t* frame, size_t len, int pkttype);

// What the snooper learnt about one NIC since the last drain.
struct Learned {
    std::string ifname;  // the host end it came in on; "" for DHCP (match by mac)
    std::string mac;
    std::string ip4, ip6;  // the latest seen of each ("" = none seen)
};

class Snooper {
  public:
    // Opens the socket and starts the thread. `prefix`: whose host ends count.
    static Result<std::unique_ptr<Snooper>> start(std::string prefix, std::function<void()> wake);
    ~Snooper();  // stops the thread
    Snooper(const Snooper&) = delete;
    Snooper& operator=(const Snooper&) = delete;

    // Everything learnt since the last call (any thread).
    std::vector<Learned> drain();

    // Feeds one received frame as the thread does (for tests).
    void feed(const uint8_t* frame, size_t len, const std::string& ifname);

    // At most this many NICs are remembered between drains; more are dropped
    // until the next drain (a guest cannot make the daemon grow).
    static constexpr size_t kMaxPending = 4096;

  private:
    Snooper(std::string prefix, std::function<void()> wake);
    void loop();

    std::string prefix_;
    std::function<void()> wake_;
    unique_fd sock_;
    unique_fd stop_;  // eventfd
    std::mutex mu_;
    std::map<std::pair<std::string, std::string>, Learned> pending_;  // by (ifname, mac)
    std::thread thread_;
};

}  // namespace herd::runtime
