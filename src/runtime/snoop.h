// Learns the guests' addresses from what they say on the wire, for the
// `vm info` ip and ip6 columns (minimega fills them by snooping ARP and
// ICMPv6 on each bridge with pcap).
//
// Every guest is an attacker, so what counts is evidence a guest cannot forge
// about another guest:
//
//  - ARP and ICMPv6 router/neighbour discovery count only when they come IN
//    on a host end this daemon named (vethHostName), and only for the MAC the
//    frame carries: the service then checks that this host end is the NIC
//    with that MAC. A guest's ARP is its claim about itself; a frame with
//    another VM's MAC comes in on the sender's port, not the owner's.
//  - A DHCP lease counts only when a trusted server (one the service names
//    with setServers: a DHCP server herd runs on a host interface)
//    TRANSMITS an ACK whose transaction id (xid) and client MAC (chaddr)
//    answer a DHCPREQUEST that came in on the NIC's own host end, from that
//    MAC, shortly before. A frame a host interface transmits comes from the
//    host (root), never from a guest, and a guest cannot send from another
//    guest's port; the request is consumed by its answer (ACK or NAK), so a
//    guest that sees the victim's xid only after the fact has nothing to
//    match. The service also checks that the server sits on the NIC's switch.
//
// Sockets (no libpcap): one AF_PACKET socket for the whole host whose classic
// BPF filter lets through only ARP, ICMPv6 types 133-136 and unfragmented
// UDP to port 67 (DHCP client messages), received frames only
// (PACKET_IGNORE_OUTGOING: transmitted frames are not even cloned for it), so
// bulk traffic costs one filter run per frame and nothing else; plus one
// socket per trusted server interface, bound to it, that sees only what that
// interface transmits from UDP port 67 (the kernel clones transmitted frames
// only for sockets bound to that interface).
//
// What is learnt is batched by host end (bounded by the number of NICs) and
// handed over through `drain`; `wake` is called from the snooper's thread
// when a batch becomes non-empty, so a flood of ARP costs the command thread
// one job per batch, not one per frame.
#pragma once

#include <atomic>
#include <chrono>
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

// What one frame says.
struct Sighting {
    enum Kind {
        Arp,          // mac claims ip
        Nd,           // mac claims ip (v6)
        DhcpRequest,  // client mac asks for a lease in transaction xid
        DhcpAck,      // a server leases ip to client mac in transaction xid
        DhcpNak,      // a server refuses client mac's transaction xid
    } kind = Arp;
    std::string mac;  // "aa:bb:cc:dd:ee:ff" lower case: the sender (ARP, ND) or client
    std::string ip;   // text form (inet_ntop); "" for DhcpRequest and DhcpNak
    bool v6 = false;
    uint32_t xid = 0;  // DHCP only
};

// Parses an Ethernet frame (from the destination MAC; one 802.1Q tag allowed)
// and returns what it says, or nothing:
//   ARP request/reply (gratuitous included): the frame's source MAC and the
//     sender protocol address;
//   ICMPv6 RS/RA/NS/NA: the frame's source MAC and the IPv6 source address;
//   DHCPREQUEST (BOOTREQUEST, UDP 68 -> 67, option 53 = 3) whose chaddr is the
//     frame's source MAC: chaddr and xid;
//   DHCPACK / DHCPNAK (BOOTREPLY, UDP 67 -> 68, option 53 = 5 / 6): chaddr,
//     xid and (ACK) yiaddr.
// Unspecified (0.0.0.0, ::, as in ARP probes and DAD), link-local
// (169.254/16, fe80::/10), multicast and broadcast addresses reveal nothing:
// minimega skips link-local ones, and the others are no one's address.
std::optional<Sighting> parseFrame(const uint8_t* frame, size_t len);

// (VM id, NIC index) of a host end named by vethHostName with `prefix`.
std::optional<std::pair<int, int>> parseVethHostName(std::string_view prefix,
                                                     std::string_view ifname);

// The classic BPF programs of the host-wide socket and of a trusted server's
// socket (exposed for tests).
struct BpfInsn {
    uint16_t code;
    uint8_t jt, jf;
    uint32_t k;
};
std::vector<BpfInsn> snoopFilter();
std::vector<BpfInsn> serverFilter();
// Runs `prog` on a frame as the kernel would for the loads it uses (absolute
// and indexed loads, ldxb msh, pkttype); returns the accepted length (0 =
// dropped). For tests of the filter without a socket.
uint32_t runFilter(const std::vector<BpfInsn>& prog, const uint8_t* frame, size_t len, int pkttype);

// What the snooper learnt about one NIC since the last drain.
struct Learned {
    std::string ifname;    // the host end the evidence came in on
    std::string mac;       // the MAC it is about (the service checks it is that NIC's)
    std::string ip4, ip6;  // the latest seen of each ("" = none seen)
    // Where ip4 comes from: "" = the guest's own ARP; else the trusted server
    // interface that acknowledged the guest's DHCP request.
    std::string ip4_server;
};

class Snooper {
  public:
    using Clock = std::chrono::steady_clock;

    // Opens the socket and starts the thread. `prefix`: whose host ends count.
    static Result<std::unique_ptr<Snooper>> start(std::string prefix, std::function<void()> wake);
    ~Snooper();  // stops the thread
    Snooper(const Snooper&) = delete;
    Snooper& operator=(const Snooper&) = delete;

    // The host interfaces whose transmitted DHCP ACKs count (any thread).
    // Replaces the previous set; the thread opens and closes their sockets.
    void setServers(std::vector<std::string> ifnames);

    // Everything learnt since the last call (any thread).
    std::vector<Learned> drain();

    // Feeds one frame received on `ifname` as the thread does (for tests).
    void feed(const uint8_t* frame, size_t len, const std::string& ifname,
              Clock::time_point now = Clock::now());
    // Feeds one frame that trusted server interface `server` transmitted.
    void feedServer(const uint8_t* frame, size_t len, const std::string& server,
                    Clock::time_point now = Clock::now());

    // At most this many NICs are remembered between drains; more are dropped
    // until the next drain (a guest cannot make the daemon grow).
    static constexpr size_t kMaxPending = 4096;
    // DHCP requests awaiting an answer: at most this many per host end (a
    // guest flooding requests only crowds out its own), for at most this long
    // (a server answers within milliseconds; clients retransmit with the same
    // xid).
    static constexpr size_t kMaxRequestsPerPort = 4;
    static constexpr std::chrono::seconds kRequestTtl{10};

  private:
    Snooper(std::string prefix, std::function<void()> wake);
    void loop();
    void syncServers();
    // Reads what the host-wide socket holds, at most `max` frames.
    void drainMain(int max);
    void learn(const std::string& ifname, const std::string& mac, const std::string& ip, bool v6,
               const std::string& server);

    struct Request {
        std::string mac;
        uint32_t xid = 0;
        Clock::time_point when;
    };
    struct ServerSocket {
        std::string name;
        int ifindex = 0;
        unique_fd fd;
    };

    std::string prefix_;
    std::function<void()> wake_;
    unique_fd sock_;
    unique_fd stop_;    // eventfd
    unique_fd resync_;  // eventfd: setServers changed the wanted set
    std::mutex mu_;
    std::map<std::string, Learned> pending_;                // by host end
    std::map<std::string, std::vector<Request>> requests_;  // by host end
    std::vector<std::string> wanted_servers_;
    std::vector<ServerSocket> servers_;  // the thread's alone
    std::thread thread_;
};

}  // namespace herd::runtime
