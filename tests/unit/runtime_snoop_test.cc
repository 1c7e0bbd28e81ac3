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

Bytes dhcp(uint8_t msgtype, const char* yiaddr, uint16_t sport = 67, uint16_t frag = 0) {
    const uint8_t server[6] = {0x02, 0, 0, 0, 0, 1};
    Bytes b = eth(kBcast, server, 0x0800);
    Bytes bootp(240, 0);
    bootp[0] = 2;
    bootp[1] = 1;
    bootp[2] = 6;
    uint8_t y[4];
    inet_pton(AF_INET, yiaddr, y);
    std::memcpy(&bootp[16], y, 4);
    std::memcpy(&bootp[28], kGuestMac, 6);
    const uint8_t cookie[4] = {99, 130, 83, 99};
    std::memcpy(&bootp[236], cookie, 4);
    const uint8_t opts[] = {53, 1, msgtype, 1, 4, 255, 255, 255, 0, 255};
    bootp.insert(bootp.end(), opts, opts + sizeof opts);
    // IPv4 header
    b.push_back(0x45);
    b.push_back(0);
    put16(b, static_cast<uint16_t>(20 + 8 + bootp.size()));
    put16(b, 0);
    put16(b, frag);
    b.push_back(64);
    b.push_back(17);
    put16(b, 0);
    put4(b, "10.9.0.1");
    put4(b, "255.255.255.255");
    put16(b, sport);
    put16(b, 68);
    put16(b, static_cast<uint16_t>(8 + bootp.size()));
    put16(b, 0);
    b.insert(b.end(), bootp.begin(), bootp.end());
    return b;
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

TEST(SnoopParse, DhcpAckGivesClientAndAddress) {
    auto s = parse(dhcp(5, "10.9.0.50"));
    ASSERT_TRUE(s);
    EXPECT_EQ(s->kind, Sighting::Dhcp);
    EXPECT_EQ(s->mac, "00:16:3e:aa:bb:cc");  // chaddr, not the server's source MAC
    EXPECT_EQ(s->ip, "10.9.0.50");
    EXPECT_FALSE(parse(dhcp(2, "10.9.0.50")));              // OFFER
    EXPECT_FALSE(parse(dhcp(5, "0.0.0.0")));                // no address
    EXPECT_FALSE(parse(dhcp(5, "10.9.0.50", 53)));          // not from bootps
    EXPECT_FALSE(parse(dhcp(5, "10.9.0.50", 67, 0x2000)));  // a fragment
    Bytes b = dhcp(5, "10.9.0.50");
    for (size_t n = 0; n + 1 < b.size() - 9; n += 7) EXPECT_FALSE(parseFrame(b.data(), n)) << n;
}

uint32_t filter(const Bytes& b, int pkttype = PACKET_HOST) {
    static const auto prog = snoopFilter();
    return runFilter(prog, b.data(), b.size(), pkttype);
}

TEST(SnoopFilter, AcceptsWhatTheParserWantsAndDropsTheRest) {
    EXPECT_GT(filter(arp(1, "10.55.0.7", "10.55.0.1"), PACKET_BROADCAST), 0u);
    EXPECT_GT(filter(icmp6(135, "2001:db8::7", "ff02::1:ff00:1"), PACKET_MULTICAST), 0u);
    EXPECT_GT(filter(icmp6(136, "2001:db8::7", "2001:db8::1")), 0u);
    EXPECT_GT(filter(dhcp(5, "10.9.0.50")), 0u);
    // Snapshot long enough for a whole DHCP reply.
    EXPECT_GE(filter(dhcp(5, "10.9.0.50")), dhcp(5, "10.9.0.50").size());

    EXPECT_EQ(filter(arp(1, "10.55.0.7", "10.55.0.1"), PACKET_OUTGOING), 0u);
    EXPECT_EQ(filter(icmp6(128, "2001:db8::7", "2001:db8::1")), 0u);
    EXPECT_EQ(filter(icmp6(137, "2001:db8::7", "2001:db8::1")), 0u);  // redirect
    EXPECT_EQ(filter(dhcp(5, "10.9.0.50", 53)), 0u);
    EXPECT_EQ(filter(dhcp(5, "10.9.0.50", 67, 0x0010)), 0u);
    // A TCP segment.
    Bytes tcp = dhcp(5, "10.9.0.50");
    tcp[14 + 9] = 6;
    EXPECT_EQ(filter(tcp), 0u);
    // Truncated frames are dropped, not read past.
    Bytes short_ip6 = icmp6(135, "2001:db8::7", "ff02::1:ff00:1");
    short_ip6.resize(40);
    EXPECT_EQ(filter(short_ip6), 0u);
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
    sn.feed(a1.data(), a1.size(), "otherv3n0");
    EXPECT_EQ(wakes.load(), 1);
    auto got = sn.drain();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].ifname, "hxv3n0");
    EXPECT_EQ(got[0].mac, "00:16:3e:aa:bb:cc");
    EXPECT_EQ(got[0].ip4, "10.55.0.8");
    EXPECT_EQ(got[0].ip6, "2001:db8::7");
    EXPECT_TRUE(sn.drain().empty());
    // DHCP ACKs only on our own links (a host tap's peer, a host end): not
    // on a physical NIC, another daemon's links or an unrelated name.
    auto d = dhcp(5, "10.9.0.50");
    for (const char* foreign : {"eth0", "hxyv3n0", "hyb5", "hxq0", "whatever"}) {
        sn.feed(d.data(), d.size(), foreign);
    }
    EXPECT_EQ(wakes.load(), 1);
    EXPECT_TRUE(sn.drain().empty());
    sn.feed(d.data(), d.size(), "hxp0");
    EXPECT_EQ(wakes.load(), 2);
    got = sn.drain();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].ifname, "");
    EXPECT_EQ(got[0].ip4, "10.9.0.50");
    // Bounded: one entry per (interface, MAC), at most kMaxPending.
    for (size_t i = 0; i < Snooper::kMaxPending + 100; ++i) {
        std::string name = "hxv" + std::to_string(i) + "n0";
        sn.feed(a1.data(), a1.size(), name);
    }
    EXPECT_EQ(sn.drain().size(), Snooper::kMaxPending);
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
