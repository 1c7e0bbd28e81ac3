// The address snooper's frame parsing and BPF filter, on hand-built frames.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/if_packet.h>

#include <atomic>
#include <cstring>
#include <vector>

#include "runtime/snoop.h"
#include "service/agent_addresses.h"

namespace herd::runtime {
namespace {

using Bytes = std::vector<uint8_t>;

const uint8_t kGuestMac[6] = {0x00, 0x16, 0x3e, 0xaa, 0xbb, 0xcc};
const uint8_t kBcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

void put(Bytes& b, const uint8_t* p, size_t n) {
    b.insert(b.end(), p, p + n);
}
void put16(Bytes& b, uint16_t v) {
    b.push_back(static_cast<uint8_t>(v >> 8));
    b.push_back(static_cast<uint8_t>(v));
}
void put4(Bytes& b, const char* ip) {
    uint8_t a[4];
    ASSERT_EQ(inet_pton(AF_INET, ip, a), 1);
    put(b, a, 4);
}
void put6(Bytes& b, const char* ip) {
    uint8_t a[16];
    ASSERT_EQ(inet_pton(AF_INET6, ip, a), 1);
    put(b, a, 16);
}

Bytes eth(const uint8_t* dst, const uint8_t* src, uint16_t type) {
    Bytes b;
    put(b, dst, 6);
    put(b, src, 6);
    put16(b, type);
    return b;
}

Bytes arp(uint16_t op, const char* sender, const char* target, const uint8_t* src = kGuestMac) {
    Bytes b = eth(kBcast, src, 0x0806);
    put16(b, 1);
    put16(b, 0x0800);
    b.push_back(6);
    b.push_back(4);
    put16(b, op);
    put(b, src, 6);
    put4(b, sender);
    const uint8_t zero[6] = {};
    put(b, zero, 6);
    put4(b, target);
    return b;
}

Bytes icmp6(uint8_t type, const char* src, const char* dst, uint8_t hops = 255) {
    const uint8_t mcast[6] = {0x33, 0x33, 0xff, 0, 0, 1};
    Bytes b = eth(mcast, kGuestMac, 0x86dd);
    b.push_back(0x60);
    b.push_back(0);
    put16(b, 0);
    put16(b, 24);  // payload length
    b.push_back(58);
    b.push_back(hops);
    put6(b, src);
    put6(b, dst);
    b.push_back(type);
    b.push_back(0);
    put16(b, 0);  // checksum (not checked)
    put16(b, 0);
    put16(b, 0);
    put6(b, dst);  // target
    return b;
}

const uint8_t kServerMac[6] = {0x02, 0, 0, 0, 0, 1};
const uint8_t kOtherMac[6] = {0x00, 0x16, 0x3e, 0x11, 0x22, 0x33};

struct DhcpMsg {
    uint8_t op = 2;    // BOOTREPLY
    uint8_t type = 5;  // option 53: ACK
    const char* yiaddr = "10.9.0.50";
    uint32_t xid = 0x12345678;
    const uint8_t* chaddr = kGuestMac;
    const uint8_t* src = kServerMac;  // the frame's source MAC
    uint16_t sport = 67, dport = 68;
    uint16_t frag = 0;
};

Bytes dhcp(const DhcpMsg& m) {
    Bytes b = eth(kBcast, m.src, 0x0800);
    Bytes bootp(240, 0);
    bootp[0] = m.op;
    bootp[1] = 1;
    bootp[2] = 6;
    for (int i = 0; i < 4; ++i) bootp[4 + i] = static_cast<uint8_t>(m.xid >> (24 - 8 * i));
    uint8_t y[4];
    inet_pton(AF_INET, m.yiaddr, y);
    std::memcpy(&bootp[16], y, 4);
    std::memcpy(&bootp[28], m.chaddr, 6);
    const uint8_t cookie[4] = {99, 130, 83, 99};
    std::memcpy(&bootp[236], cookie, 4);
    const uint8_t opts[] = {53, 1, m.type, 1, 4, 255, 255, 255, 0, 255};
    bootp.insert(bootp.end(), opts, opts + sizeof opts);
    // IPv4 header
    b.push_back(0x45);
    b.push_back(0);
    put16(b, static_cast<uint16_t>(20 + 8 + bootp.size()));
    put16(b, 0);
    put16(b, m.frag);
    b.push_back(64);
    b.push_back(17);
    put16(b, 0);
    put4(b, m.op == 2 ? "10.9.0.1" : "0.0.0.0");
    put4(b, "255.255.255.255");
    put16(b, m.sport);
    put16(b, m.dport);
    put16(b, static_cast<uint16_t>(8 + bootp.size()));
    put16(b, 0);
    b.insert(b.end(), bootp.begin(), bootp.end());
    return b;
}

// A server's reply (ACK by default).
Bytes dhcp(uint8_t msgtype, const char* yiaddr, uint16_t sport = 67, uint16_t frag = 0) {
    DhcpMsg m;
    m.type = msgtype;
    m.yiaddr = yiaddr;
    m.sport = sport;
    m.frag = frag;
    return dhcp(m);
}

// A client's DHCPREQUEST (from its own MAC unless `src` says otherwise).
Bytes dhcpRequest(uint32_t xid, const uint8_t* chaddr = kGuestMac, const uint8_t* src = nullptr,
                  uint8_t type = 3) {
    DhcpMsg m;
    m.op = 1;
    m.type = type;
    m.yiaddr = "0.0.0.0";
    m.xid = xid;
    m.chaddr = chaddr;
    m.src = src ? src : chaddr;
    m.sport = 68;
    m.dport = 67;
    return dhcp(m);
}

Bytes dhcpAck(uint32_t xid, const char* yiaddr, const uint8_t* chaddr = kGuestMac,
              uint8_t type = 5) {
    DhcpMsg m;
    m.type = type;
    m.yiaddr = yiaddr;
    m.xid = xid;
    m.chaddr = chaddr;
    return dhcp(m);
}

std::optional<Sighting> parse(const Bytes& b) {
    return parseFrame(b.data(), b.size());
}

TEST(SnoopParse, ArpRequestAndReplyGiveSenderAndSourceMac) {
    for (uint16_t op : {1, 2}) {
        auto s = parse(arp(op, "10.55.0.7", "10.55.0.1"));
        ASSERT_TRUE(s);
        EXPECT_EQ(s->kind, Sighting::Arp);
        EXPECT_EQ(s->mac, "00:16:3e:aa:bb:cc");
        EXPECT_EQ(s->ip, "10.55.0.7");
        EXPECT_FALSE(s->v6);
    }
    // Gratuitous: sender = target.
    auto g = parse(arp(1, "192.0.2.9", "192.0.2.9"));
    ASSERT_TRUE(g);
    EXPECT_EQ(g->ip, "192.0.2.9");
}

TEST(SnoopParse, ArpProbesLinkLocalAndOddOpsRevealNothing) {
    EXPECT_FALSE(parse(arp(1, "0.0.0.0", "10.55.0.7")));      // DHCP/ACD probe
    EXPECT_FALSE(parse(arp(1, "169.254.3.4", "10.55.0.7")));  // link-local
    EXPECT_FALSE(parse(arp(3, "10.55.0.7", "10.55.0.1")));    // RARP request
    const uint8_t mcast[6] = {0x01, 0, 0x5e, 0, 0, 1};
    EXPECT_FALSE(parse(arp(1, "10.55.0.7", "10.55.0.1", mcast)));  // not a station
    Bytes b = arp(1, "10.55.0.7", "10.55.0.1");
    for (size_t n = 0; n < b.size(); ++n) EXPECT_FALSE(parseFrame(b.data(), n)) << n;
}

TEST(SnoopParse, VlanTaggedArp) {
    Bytes b = arp(2, "10.1.2.3", "10.1.2.4");
    const uint8_t tag[4] = {0x81, 0x00, 0x00, 0x05};
    b.insert(b.begin() + 12, tag, tag + 4);
    auto s = parse(b);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->ip, "10.1.2.3");
}

TEST(SnoopParse, NeighbourDiscoveryGivesGlobalSource) {
    for (uint8_t type : {133, 134, 135, 136}) {
        auto s = parse(icmp6(type, "2001:db8::7", "ff02::1:ff00:1"));
        ASSERT_TRUE(s) << int(type);
        EXPECT_EQ(s->kind, Sighting::Nd);
        EXPECT_TRUE(s->v6);
        EXPECT_EQ(s->ip, "2001:db8::7");
        EXPECT_EQ(s->mac, "00:16:3e:aa:bb:cc");
    }
    EXPECT_FALSE(parse(icmp6(135, "::", "ff02::1:ff00:7")));  // DAD
    EXPECT_FALSE(parse(icmp6(135, "fe80::216:3eff:feaa:bbcc", "ff02::1:ff00:1")));
    EXPECT_FALSE(parse(icmp6(128, "2001:db8::7", "2001:db8::1")));         // echo request
    EXPECT_FALSE(parse(icmp6(143, "2001:db8::7", "ff02::16")));            // MLD report
    EXPECT_FALSE(parse(icmp6(135, "2001:db8::7", "ff02::1:ff00:1", 64)));  // routed
    Bytes b = icmp6(136, "2001:db8::7", "2001:db8::1");
    for (size_t n = 0; n < 14 + 40 + 4; ++n) EXPECT_FALSE(parseFrame(b.data(), n)) << n;
}

TEST(SnoopParse, DhcpAckGivesClientTransactionAndAddress) {
    auto s = parse(dhcpAck(0xdeadbeef, "10.9.0.50"));
    ASSERT_TRUE(s);
    EXPECT_EQ(s->kind, Sighting::DhcpAck);
    EXPECT_EQ(s->mac, "00:16:3e:aa:bb:cc");  // chaddr, not the server's source MAC
    EXPECT_EQ(s->ip, "10.9.0.50");
    EXPECT_EQ(s->xid, 0xdeadbeefu);
    auto nak = parse(dhcpAck(7, "0.0.0.0", kGuestMac, 6));
    ASSERT_TRUE(nak);
    EXPECT_EQ(nak->kind, Sighting::DhcpNak);
    EXPECT_EQ(nak->xid, 7u);
    EXPECT_FALSE(parse(dhcp(2, "10.9.0.50")));              // OFFER
    EXPECT_FALSE(parse(dhcp(5, "0.0.0.0")));                // no address
    EXPECT_FALSE(parse(dhcp(5, "10.9.0.50", 53)));          // not from bootps
    EXPECT_FALSE(parse(dhcp(5, "10.9.0.50", 67, 0x2000)));  // a fragment
    DhcpMsg to_server;                                      // a BOOTREPLY sent to the server port
    to_server.sport = 68;
    to_server.dport = 67;
    EXPECT_FALSE(parse(dhcp(to_server)));
    Bytes b = dhcp(5, "10.9.0.50");
    for (size_t n = 0; n + 1 < b.size() - 9; n += 7) EXPECT_FALSE(parseFrame(b.data(), n)) << n;
}

TEST(SnoopParse, DhcpRequestOnlyFromTheClientItself) {
    auto s = parse(dhcpRequest(42));
    ASSERT_TRUE(s);
    EXPECT_EQ(s->kind, Sighting::DhcpRequest);
    EXPECT_EQ(s->mac, "00:16:3e:aa:bb:cc");
    EXPECT_EQ(s->xid, 42u);
    EXPECT_EQ(s->ip, "");
    // Asking on another MAC's behalf (or a relay) is no evidence.
    EXPECT_FALSE(parse(dhcpRequest(42, kGuestMac, kOtherMac)));
    EXPECT_FALSE(parse(dhcpRequest(42, kGuestMac, nullptr, 1)));  // DISCOVER
    EXPECT_FALSE(parse(dhcpRequest(42, kGuestMac, nullptr, 8)));  // INFORM
    const uint8_t zero[6] = {};
    EXPECT_FALSE(parse(dhcpRequest(42, zero, kGuestMac)));
}

uint32_t filter(const Bytes& b, int pkttype = PACKET_HOST) {
    static const auto prog = snoopFilter();
    return runFilter(prog, b.data(), b.size(), pkttype);
}

TEST(SnoopFilter, AcceptsWhatTheParserWantsAndDropsTheRest) {
    EXPECT_GT(filter(arp(1, "10.55.0.7", "10.55.0.1"), PACKET_BROADCAST), 0u);
    EXPECT_GT(filter(icmp6(135, "2001:db8::7", "ff02::1:ff00:1"), PACKET_MULTICAST), 0u);
    EXPECT_GT(filter(icmp6(136, "2001:db8::7", "2001:db8::1")), 0u);
    EXPECT_GT(filter(dhcpRequest(1), PACKET_BROADCAST), 0u);
    // Snapshot long enough for a whole DHCP message.
    EXPECT_GE(filter(dhcpRequest(1)), dhcpRequest(1).size());

    EXPECT_EQ(filter(arp(1, "10.55.0.7", "10.55.0.1"), PACKET_OUTGOING), 0u);
    EXPECT_EQ(filter(icmp6(128, "2001:db8::7", "2001:db8::1")), 0u);
    EXPECT_EQ(filter(icmp6(137, "2001:db8::7", "2001:db8::1")), 0u);  // redirect
    // Server replies never count on this socket, whoever sent them.
    EXPECT_EQ(filter(dhcp(5, "10.9.0.50")), 0u);
    Bytes frag = dhcpRequest(1);
    frag[14 + 6] = 0x20;  // more fragments
    EXPECT_EQ(filter(frag), 0u);
    // A TCP segment.
    Bytes tcp = dhcpRequest(1);
    tcp[14 + 9] = 6;
    EXPECT_EQ(filter(tcp), 0u);
    // Truncated frames are dropped, not read past.
    Bytes short_ip6 = icmp6(135, "2001:db8::7", "ff02::1:ff00:1");
    short_ip6.resize(40);
    EXPECT_EQ(filter(short_ip6), 0u);
}

TEST(SnoopFilter, ServerSocketSeesOnlyWhatTheServerTransmits) {
    static const auto prog = serverFilter();
    auto run = [](const Bytes& b, int pkttype) {
        return runFilter(prog, b.data(), b.size(), pkttype);
    };
    Bytes ack = dhcpAck(1, "10.9.0.50");
    EXPECT_GE(run(ack, PACKET_OUTGOING), ack.size());
    // The same ACK coming in (a guest sent it towards the host) is dropped.
    for (int t : {PACKET_HOST, PACKET_BROADCAST, PACKET_OTHERHOST, PACKET_MULTICAST})
        EXPECT_EQ(run(ack, t), 0u) << t;
    EXPECT_EQ(run(dhcpRequest(1), PACKET_OUTGOING), 0u);
    EXPECT_EQ(run(arp(1, "10.55.0.7", "10.55.0.1"), PACKET_OUTGOING), 0u);
    EXPECT_EQ(run(dhcp(5, "10.9.0.50", 67, 0x2000), PACKET_OUTGOING), 0u);
    Bytes cut = ack;
    cut.resize(30);
    EXPECT_EQ(run(cut, PACKET_OUTGOING), 0u);
}

TEST(SnoopNames, ParsesHostEndNamesOfItsPrefixOnly) {
    EXPECT_EQ(parseVethHostName("herd", "herdv12n0"), std::make_pair(12, 0));
    EXPECT_EQ(parseVethHostName("herd", "herdv0n3"), std::make_pair(0, 3));
    EXPECT_EQ(parseVethHostName("abcdefgh", "abcdefghxZZn1"), std::make_pair(36 * 35 + 35, 1));
    EXPECT_FALSE(parseVethHostName("herd", "herdb5"));     // a bridge
    EXPECT_FALSE(parseVethHostName("herd", "herdt0"));     // a host tap
    EXPECT_FALSE(parseVethHostName("herd", "herd2v1n0"));  // another daemon's
    EXPECT_FALSE(parseVethHostName("herd", "herdv1n"));
    EXPECT_FALSE(parseVethHostName("herd", "herdvn1"));
    EXPECT_FALSE(parseVethHostName("herd", "herdv1x0"));
    EXPECT_FALSE(parseVethHostName("herd", "eth0"));
    EXPECT_FALSE(parseVethHostName("", "v1n0"));
}

TEST(SnoopBatch, KeepsTheLatestPerInterfaceAndWakesOncePerBatch) {
    std::atomic<int> wakes{0};
    auto s = Snooper::start("hx", [&] { ++wakes; });
    if (!s.ok()) GTEST_SKIP() << "no AF_PACKET socket: " << s.error().text();
    Snooper& sn = **s;
    auto a1 = arp(1, "10.55.0.7", "10.55.0.1");
    auto a2 = arp(1, "10.55.0.8", "10.55.0.1");
    auto nd = icmp6(135, "2001:db8::7", "ff02::1:ff00:1");
    sn.feed(a1.data(), a1.size(), "hxv3n0");
    sn.feed(a2.data(), a2.size(), "hxv3n0");
    sn.feed(nd.data(), nd.size(), "hxv3n0");
    sn.feed(a1.data(), a1.size(), "hxb5");  // the bridge: not from behind a host end
    sn.feed(a1.data(), a1.size(), "hxp0");  // a host tap's peer
    sn.feed(a1.data(), a1.size(), "otherv3n0");
    EXPECT_EQ(wakes.load(), 1);
    auto got = sn.drain();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].ifname, "hxv3n0");
    EXPECT_EQ(got[0].mac, "00:16:3e:aa:bb:cc");
    EXPECT_EQ(got[0].ip4, "10.55.0.8");
    EXPECT_EQ(got[0].ip4_server, "");
    EXPECT_EQ(got[0].ip6, "2001:db8::7");
    EXPECT_TRUE(sn.drain().empty());
    // One entry per host end: a guest sending with other MACs only replaces
    // what its own port said.
    auto spoof = arp(1, "10.55.0.9", "10.55.0.1", kOtherMac);
    sn.feed(a1.data(), a1.size(), "hxv3n0");
    sn.feed(spoof.data(), spoof.size(), "hxv3n0");
    got = sn.drain();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].mac, "00:16:3e:11:22:33");
    EXPECT_EQ(got[0].ip4, "10.55.0.9");
    // Bounded: at most kMaxPending host ends.
    for (size_t i = 0; i < Snooper::kMaxPending + 100; ++i) {
        std::string name = "hxv" + std::to_string(i) + "n0";
        sn.feed(a1.data(), a1.size(), name);
    }
    EXPECT_EQ(sn.drain().size(), Snooper::kMaxPending);
}

TEST(SnoopDhcp, AServersAckAnswersTheRequestOfItsOwnPort) {
    std::atomic<int> wakes{0};
    auto s = Snooper::start("hx", [&] { ++wakes; });
    if (!s.ok()) GTEST_SKIP() << "no AF_PACKET socket: " << s.error().text();
    Snooper& sn = **s;
    auto t0 = Snooper::Clock::now();
    auto ack = dhcpAck(0x1111, "10.9.0.50");
    // An ACK with nothing asked: nothing, wherever it is seen.
    sn.feedServer(ack.data(), ack.size(), "hxt0", t0);
    // An ACK a guest sends (received on its host end, or anywhere): never.
    auto req = dhcpRequest(0x1111);
    sn.feed(req.data(), req.size(), "hxv3n0", t0);
    for (const char* where : {"hxv3n0", "hxv4n0", "hxp0", "hxt0", "eth0"})
        sn.feed(ack.data(), ack.size(), where, t0);
    EXPECT_TRUE(sn.drain().empty());
    EXPECT_EQ(wakes.load(), 0);
    // The server's answer to it: learnt for that port, naming the server.
    sn.feedServer(ack.data(), ack.size(), "hxt0", t0);
    auto got = sn.drain();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].ifname, "hxv3n0");
    EXPECT_EQ(got[0].mac, "00:16:3e:aa:bb:cc");
    EXPECT_EQ(got[0].ip4, "10.9.0.50");
    EXPECT_EQ(got[0].ip4_server, "hxt0");
    EXPECT_EQ(wakes.load(), 1);
    // Consumed: a second ACK of the same transaction (a guest that saw the
    // first one and got the server to answer it again) finds nothing.
    auto ack2 = dhcpAck(0x1111, "10.9.0.66");
    sn.feedServer(ack2.data(), ack2.size(), "hxt0", t0);
    EXPECT_TRUE(sn.drain().empty());
    // Another transaction or another client: nothing.
    sn.feed(req.data(), req.size(), "hxv3n0", t0);
    auto other_xid = dhcpAck(0x2222, "10.9.0.51");
    auto other_mac = dhcpAck(0x1111, "10.9.0.52", kOtherMac);
    sn.feedServer(other_xid.data(), other_xid.size(), "hxt0", t0);
    sn.feedServer(other_mac.data(), other_mac.size(), "hxt0", t0);
    EXPECT_TRUE(sn.drain().empty());
    // A NAK consumes the request too.
    auto nak = dhcpAck(0x1111, "0.0.0.0", kGuestMac, 6);
    sn.feedServer(nak.data(), nak.size(), "hxt0", t0);
    sn.feedServer(ack.data(), ack.size(), "hxt0", t0);
    EXPECT_TRUE(sn.drain().empty());
    // Too late: the request expired.
    sn.feed(req.data(), req.size(), "hxv3n0", t0);
    sn.feedServer(ack.data(), ack.size(), "hxt0",
                  t0 + Snooper::kRequestTtl + std::chrono::seconds(1));
    EXPECT_TRUE(sn.drain().empty());
    // A retransmission refreshes it.
    sn.feed(req.data(), req.size(), "hxv3n0", t0);
    sn.feed(req.data(), req.size(), "hxv3n0", t0 + std::chrono::seconds(8));
    sn.feedServer(ack.data(), ack.size(), "hxt0", t0 + std::chrono::seconds(12));
    EXPECT_EQ(sn.drain().size(), 1u);
}

TEST(SnoopDhcp, AGuestCannotMakeAnAckCountForAnotherPort) {
    auto s = Snooper::start("hx", nullptr);
    if (!s.ok()) GTEST_SKIP() << "no AF_PACKET socket: " << s.error().text();
    Snooper& sn = **s;
    auto t0 = Snooper::Clock::now();
    // The attacker on hxv4n0 asks in the victim's name, from the victim's
    // MAC: whatever the server answers is reported for the attacker's port
    // (where the service finds another MAC and drops it), never the victim's.
    auto req = dhcpRequest(0x3333, kGuestMac, kGuestMac);
    sn.feed(req.data(), req.size(), "hxv4n0", t0);
    auto ack = dhcpAck(0x3333, "10.9.0.77");
    sn.feedServer(ack.data(), ack.size(), "hxt0", t0);
    auto got = sn.drain();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].ifname, "hxv4n0");
    // From its own MAC naming the victim: not even recorded.
    auto req2 = dhcpRequest(0x4444, kGuestMac, kOtherMac);
    sn.feed(req2.data(), req2.size(), "hxv4n0", t0);
    auto ack2 = dhcpAck(0x4444, "10.9.0.78");
    sn.feedServer(ack2.data(), ack2.size(), "hxt0", t0);
    EXPECT_TRUE(sn.drain().empty());
    // A flood of requests crowds out only the flooder's own: at most
    // kMaxRequestsPerPort per port, the first ones kept.
    for (uint32_t x = 1; x <= Snooper::kMaxRequestsPerPort + 10; ++x) {
        auto r = dhcpRequest(0x5000 + x, kOtherMac);
        sn.feed(r.data(), r.size(), "hxv4n0", t0);
    }
    auto victim = dhcpRequest(0x6000);
    sn.feed(victim.data(), victim.size(), "hxv3n0", t0);
    auto late = dhcpAck(0x5000 + Snooper::kMaxRequestsPerPort + 1, "10.9.0.79", kOtherMac);
    sn.feedServer(late.data(), late.size(), "hxt0", t0);
    EXPECT_TRUE(sn.drain().empty());
    auto first = dhcpAck(0x5001, "10.9.0.80", kOtherMac);
    auto mine = dhcpAck(0x6000, "10.9.0.81");
    sn.feedServer(first.data(), first.size(), "hxt0", t0);
    sn.feedServer(mine.data(), mine.size(), "hxt0", t0);
    got = sn.drain();
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].ifname, "hxv3n0");
    EXPECT_EQ(got[0].ip4, "10.9.0.81");
    EXPECT_EQ(got[1].ifname, "hxv4n0");
    EXPECT_EQ(got[1].ip4, "10.9.0.80");
    // Requests count only from behind our host ends.
    for (const char* where : {"hxp0", "hxt0", "hxb5", "eth0", "hyv3n0"}) {
        auto r = dhcpRequest(0x7000);
        sn.feed(r.data(), r.size(), where, t0);
    }
    auto a7 = dhcpAck(0x7000, "10.9.0.82");
    sn.feedServer(a7.data(), a7.size(), "hxt0", t0);
    EXPECT_TRUE(sn.drain().empty());
}

TEST(AgentAddresses, OnlyAnUnambiguousSingleNic) {
    bool v6 = false;
    EXPECT_TRUE(usableAgentAddress("10.0.0.1", v6));
    EXPECT_FALSE(v6);
    EXPECT_TRUE(usableAgentAddress("2001:db8::1", v6));
    EXPECT_TRUE(v6);
    EXPECT_FALSE(usableAgentAddress("127.0.0.1", v6));
    EXPECT_FALSE(usableAgentAddress("fe80::1", v6));
    EXPECT_FALSE(usableAgentAddress("169.254.1.1", v6));
    EXPECT_FALSE(usableAgentAddress("junk", v6));

    Vm vm;
    NetConfig n;
    n.vlan = 5;
    n.mac = "00:16:3e:aa:bb:cc";
    vm.config.networks = {n};
    applyAgentAddresses(vm, {"fe80::1", "10.0.0.5", "2001:db8::5", "10.0.0.6"},
                        {"00:16:3E:AA:BB:CC"});
    EXPECT_EQ(vm.config.networks[0].ip4, "10.0.0.5");
    EXPECT_EQ(vm.config.networks[0].ip6, "2001:db8::5");
    vm.config.networks[0].ip4.clear();
    applyAgentAddresses(vm, {"10.0.0.5"}, {"00:16:3e:00:00:01"});  // not its MAC
    EXPECT_EQ(vm.config.networks[0].ip4, "");
    vm.config.networks.push_back(n);
    applyAgentAddresses(vm, {"10.0.0.5"}, {"00:16:3e:aa:bb:cc"});  // two NICs: ambiguous
    EXPECT_EQ(vm.config.networks[0].ip4, "");
}

}  // namespace
}  // namespace herd::runtime
