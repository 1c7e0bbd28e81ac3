// Host-side interface names and the (bridge, VLAN) -> kernel bridge mapping;
// as root, the netlink client against the real kernel (a veth made straight
// into a child's network namespace, a bridge, errors).
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>
#include <set>

#include "runtime/bridge.h"
#include "runtime/netlink.h"

using namespace herd::runtime;

namespace {

TEST(NetNames, VethDecimal) {
    EXPECT_EQ(*vethHostName("herd", 12, 0), "herdv12n0");
    EXPECT_EQ(*vethHostName("h", 0, 3), "hv0n3");
    // 8-character prefix: 5 digits of id + nic fit in decimal.
    EXPECT_EQ(*vethHostName("abcdefgh", 9999, 1), "abcdefghv9999n1");
}

TEST(NetNames, VethFallsBackToBase36) {
    auto n = vethHostName("abcdefgh", 123456, 2);
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(*n, "abcdefghx2N9Cn2");  // 123456 = 2N9C in base 36
    EXPECT_LE(n->size(), kMaxIfName);
    EXPECT_FALSE(vethHostName("abcdefgh", 2000000000, 99).ok());
}

TEST(NetNames, VethUnique) {
    std::set<std::string> seen;
    // With an 8-byte prefix, ids of 4 base-36 digits leave room for 10 NICs.
    for (int vm = 0; vm < 3000; vm += 7)
        for (int nic = 0; nic < 10; ++nic) {
            auto n = vethHostName("abcdefgh", vm * 97, nic);
            ASSERT_TRUE(n.ok());
            EXPECT_LE(n->size(), kMaxIfName);
            EXPECT_TRUE(seen.insert(*n).second) << *n;
            EXPECT_TRUE(isOwnedLink("abcdefgh", *n)) << *n;
        }
}

TEST(NetNames, BridgeMapping) {
    BridgeNames b("herd");
    EXPECT_EQ(*b.name("mega_bridge", 5), "herdb5");
    EXPECT_EQ(*b.name("mega_bridge", 4095), "herdb4095");
    EXPECT_EQ(*b.name("br1", 5), "herdb5x1");
    EXPECT_EQ(*b.name("br2", 5), "herdb5x2");
    EXPECT_EQ(*b.name("br1", 6), "herdb6x1");
    EXPECT_EQ(*b.name("br1", 5), "herdb5x1");  // kept
    auto back = b.lookup("herdb5x2");
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(back->first, "br2");
    EXPECT_EQ(back->second, 5);
    EXPECT_FALSE(b.lookup("herdb7").has_value());
    EXPECT_FALSE(b.name("mega_bridge", 4096).ok());
    EXPECT_FALSE(b.name("mega_bridge", -1).ok());
}

TEST(NetNames, BridgeFallbackWhenLong) {
    BridgeNames b("abcdefgh");
    EXPECT_EQ(*b.name("mega_bridge", 4095), "abcdefghb4095");
    EXPECT_EQ(*b.name("x", 4095), "abcdefghb4095x1");
    for (int i = 2; i < 36; ++i) (void)b.name("br" + std::to_string(i), 1);
    EXPECT_EQ(*b.name("br35", 1), "abcdefghb1xZ");
    EXPECT_EQ(*b.name("y", 12), "abcdefghb12x10");
    EXPECT_EQ(*b.name("y", 4000), "abcdefghk0");  // b4000x10 would be 16 bytes
    EXPECT_EQ(*b.name("y", 4001), "abcdefghk1");
    std::set<std::string> seen;
    for (const char* br : {"mega_bridge", "x", "y", "z"})
        for (int v : {0, 1, 99, 100, 4000, 4095}) {
            auto n = b.name(br, v);
            ASSERT_TRUE(n.ok());
            EXPECT_LE(n->size(), kMaxIfName);
            EXPECT_TRUE(isOwnedLink("abcdefgh", *n)) << *n;
            EXPECT_TRUE(seen.insert(*n).second) << *n;
        }
}

TEST(NetNames, Ownership) {
    EXPECT_TRUE(isOwnedLink("t", "tv1n0"));
    EXPECT_TRUE(isOwnedLink("t", "tb5"));
    EXPECT_TRUE(isOwnedLink("t", "tb5x1"));
    EXPECT_TRUE(isOwnedLink("t", "tk3"));
    EXPECT_TRUE(isOwnedLink("t", "txA1n0"));
    EXPECT_FALSE(isOwnedLink("t", "t"));
    EXPECT_FALSE(isOwnedLink("t", "eth0"));
    EXPECT_FALSE(isOwnedLink("t", "tv1"));
    EXPECT_FALSE(isOwnedLink("t", "tv1n"));
    EXPECT_FALSE(isOwnedLink("t", "tb"));
    EXPECT_FALSE(isOwnedLink("t", "tb5x"));
    EXPECT_FALSE(isOwnedLink("", "v1n0"));
    // Host taps and their bridge-side peers.
    EXPECT_TRUE(isOwnedLink("t", "tt0"));
    EXPECT_TRUE(isOwnedLink("t", "tt12"));
    EXPECT_TRUE(isOwnedLink("t", "tp3"));
    EXPECT_EQ(*hostTapName("t", 7), "tt7");
    EXPECT_FALSE(hostTapName("abcdefgh", 1234567).ok());
    EXPECT_FALSE(isOwnedLink("t", "tt"));
    EXPECT_FALSE(isOwnedLink("t", "tp"));
    EXPECT_FALSE(isOwnedLink("t", "tt1x"));
    EXPECT_FALSE(isOwnedLink("t", "tp1n0"));
    // Another daemon's names whose prefix starts with ours are not ours.
    for (const char* other :
         {"tv1", "tb5", "tk1", "tx1", "tv", "tb", "tk", "tx", "tn", "tt", "tp", "tt1", "tp2"}) {
        for (int n : {0, 9, 123}) EXPECT_FALSE(isOwnedLink("t", *hostTapName(other, n))) << other;
        BridgeNames b(other);
        for (int v : {0, 5, 4095}) {
            EXPECT_FALSE(isOwnedLink("t", *b.name("mega_bridge", v))) << other;
            EXPECT_FALSE(isOwnedLink("t", *b.name("o", v))) << other;
        }
        for (int vm : {0, 7, 123456})
            EXPECT_FALSE(isOwnedLink("t", *vethHostName(other, vm, 0))) << other;
    }
}

TEST(NetNames, OverflowBridges) {
    EXPECT_EQ(*overflowBridgeName("herd", 0), "herdo0");
    auto ends = overflowUplinkNames("herd", 12);
    ASSERT_TRUE(ends.ok());
    EXPECT_EQ(ends->first, "herdd12");
    EXPECT_EQ(ends->second, "herde12");
    // The longest prefix leaves 6 digits.
    EXPECT_EQ(*overflowBridgeName("abcdefgh", 999999), "abcdefgho999999");
    EXPECT_FALSE(overflowBridgeName("abcdefgh", 1000000).ok());
    EXPECT_FALSE(overflowUplinkNames("abcdefgh", 1000000).ok());
    for (int n : {0, 7, 999999}) {
        auto b = overflowBridgeName("abcdefgh", n);
        auto u = overflowUplinkNames("abcdefgh", n);
        ASSERT_TRUE(b.ok() && u.ok());
        // nuke finds all three.
        EXPECT_TRUE(isOwnedLink("abcdefgh", *b)) << *b;
        EXPECT_TRUE(isOwnedLink("abcdefgh", u->first)) << u->first;
        EXPECT_TRUE(isOwnedLink("abcdefgh", u->second)) << u->second;
        // Not another daemon's whose prefix starts with ours.
        EXPECT_FALSE(isOwnedLink("abcdefg", *b)) << *b;
        EXPECT_FALSE(isOwnedLink("abcdefg", u->first)) << u->first;
    }
    EXPECT_FALSE(isOwnedLink("t", "to"));
    EXPECT_FALSE(isOwnedLink("t", "td"));
    EXPECT_FALSE(isOwnedLink("t", "te1x"));
    EXPECT_FALSE(isOwnedLink("t", "toA"));
    for (const char* other : {"to", "td", "te", "to1", "td2", "te3"}) {
        for (int n : {0, 9, 123}) {
            EXPECT_FALSE(isOwnedLink("t", *overflowBridgeName(other, n))) << other;
            EXPECT_FALSE(isOwnedLink("t", overflowUplinkNames(other, n)->first)) << other;
            EXPECT_FALSE(isOwnedLink("t", overflowUplinkNames(other, n)->second)) << other;
        }
    }
}

TEST(NetNames, PickBridge) {
    const int first_cap = kBridgePortSlots - kFirstBridgeReserve;
    EXPECT_EQ(pickBridge({0}), 0);
    EXPECT_EQ(pickBridge({first_cap - 1}), 0);
    EXPECT_EQ(pickBridge({first_cap}), -1);  // full: add an overflow bridge
    EXPECT_EQ(pickBridge({first_cap, 0}), 1);
    // An overflow bridge's uplink takes one of its slots.
    EXPECT_EQ(pickBridge({first_cap, kBridgePortSlots - 2}), 1);
    EXPECT_EQ(pickBridge({first_cap, kBridgePortSlots - 1}), -1);
    EXPECT_EQ(pickBridge({first_cap, kBridgePortSlots - 1, 5}), 2);
    // Room freed on the first bridge is used first.
    EXPECT_EQ(pickBridge({10, 500, 5}), 0);
    EXPECT_EQ(pickBridge({first_cap, 500, 5}), 1);
    // The first bridge's reserve covers its uplinks for over 30,000 ports.
    EXPECT_GE(kFirstBridgeReserve * (kBridgePortSlots - 1), 30000);
}

TEST(NetNames, ParseMac) {
    uint8_t m[6];
    ASSERT_TRUE(parseMac("00:16:3E:0a:ff:01", m));
    EXPECT_EQ(m[2], 0x3e);
    EXPECT_EQ(m[5], 0x01);
    EXPECT_FALSE(parseMac("00:16:3e:0a:ff", m));
    EXPECT_FALSE(parseMac("00-16-3e-0a-ff-01", m));
    EXPECT_FALSE(parseMac("00:16:3e:0a:ff:0g", m));
}

// A child in its own network namespace, killed and reaped on destruction.
struct NetnsChild {
    pid_t pid = -1;
    NetnsChild() {
        int p[2];
        if (pipe(p) != 0) return;
        pid = fork();
        if (pid == 0) {
            if (unshare(CLONE_NEWNET) != 0) _exit(1);
            char c = 1;
            (void)!write(p[1], &c, 1);
            pause();
            _exit(0);
        }
        close(p[1]);
        char c = 0;
        if (read(p[0], &c, 1) != 1) pid = -1;
        close(p[0]);
    }
    ~NetnsChild() {
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, nullptr, 0);
        }
    }
};

std::string testPrefix() {
    std::random_device rd;
    return "u" + std::to_string(rd() % 100000);
}

TEST(Netlink, VethIntoNamespaceAndBridge) {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    auto nl = Netlink::open();
    ASSERT_TRUE(nl.ok()) << nl.error().text();
    const std::string p = testPrefix();
    const std::string br = p + "b5", host = p + "v1n0";
    ASSERT_TRUE(nl->createBridge(br).ok());
    auto again = nl->createBridge(br);
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error().text(), "create bridge " + br + ": File exists (EEXIST)");
    auto bi = nl->ifindex(br);
    ASSERT_TRUE(bi.ok()) << bi.error().text();

    NetnsChild child;
    ASSERT_GT(child.pid, 0);
    VethSpec s;
    s.host_name = host;
    s.peer_name = "veth0";
    s.peer_mac = "00:16:3e:01:02:03";
    s.netns_pid = child.pid;
    s.master = *bi;
    auto r = nl->createVeth(s);
    ASSERT_TRUE(r.ok()) << r.error().text();
    auto dup = nl->createVeth(s);
    ASSERT_FALSE(dup.ok());
    EXPECT_EQ(dup.error().text(), "create veth " + host + ": File exists (EEXIST)");

    // The host end is up and on the bridge; the peer is not in our namespace.
    auto links = nl->links();
    ASSERT_TRUE(links.ok());
    bool found_host = false;
    for (const auto& l : *links) {
        if (l.name == host) {
            found_host = true;
            EXPECT_EQ(l.kind, "veth");
        }
    }
    EXPECT_TRUE(found_host);
    char path[128];
    snprintf(path, sizeof path, "/sys/class/net/%s/master", host.c_str());
    char target[128] = {};
    ASSERT_GT(readlink(path, target, sizeof target - 1), 0);
    EXPECT_NE(std::string(target).find(br), std::string::npos);
    snprintf(path, sizeof path, "/proc/%d/net/dev", child.pid);
    FILE* f = fopen(path, "r");
    ASSERT_NE(f, nullptr);
    std::string dev;
    char line[256];
    while (fgets(line, sizeof line, f)) dev += line;
    fclose(f);
    EXPECT_NE(dev.find("veth0:"), std::string::npos);

    ASSERT_TRUE(nl->setMaster(host, 0).ok());
    ASSERT_TRUE(nl->setUp(host, false).ok());
    ASSERT_TRUE(nukeLinks(p).ok());
    EXPECT_FALSE(nl->ifindex(br).ok());
    auto gone = nl->ifindex(host);
    ASSERT_FALSE(gone.ok());
    EXPECT_EQ(gone.error().errnum(), ENODEV);
}

TEST(Netlink, Errors) {
    auto nl = Netlink::open();
    ASSERT_TRUE(nl.ok());
    VethSpec s;
    s.host_name = "sixteen-chars-xx";
    s.peer_name = "veth0";
    auto r = nl->createVeth(s);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().errnum(), EINVAL);
    s.host_name = "ok0";
    s.peer_mac = "zz";
    EXPECT_FALSE(nl->createVeth(s).ok());
    if (geteuid() != 0) return;
    auto d = nl->deleteLink("nosuchlink0");
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.error().text(), "delete link nosuchlink0: No such device (ENODEV)");
    s.peer_mac.clear();
    s.netns_pid = 0x7ffffff0;  // no such process
    auto e = nl->createVeth(s);
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(e.error().text(), "create veth ok0: No such process (ESRCH)");
}

}  // namespace
