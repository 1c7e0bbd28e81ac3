// service/router: minimega's checks and texts for router settings, the
// summary, the commit file (router id choice, the IP dirty flag), and the
// guest side's model (agent/router_conf): parsing that file and the dnsmasq
// and bird configurations made from it.
#include <gtest/gtest.h>

#include "agent/router_conf.h"
#include "service/router.h"

namespace herd {
namespace {

std::string err(const Result<void>& r) {
    return r.ok() ? "" : r.error().text();
}

TEST(Router, InterfaceChecks) {
    Router r(2);
    EXPECT_EQ(err(r.addInterface(0, "1.2.3.4/24", false)), "");
    EXPECT_EQ(err(r.addInterface(0, "dhcp", false)), "");
    EXPECT_EQ(err(r.addInterface(0, "1.2.3.4/24", false)), "IP 1.2.3.4/24 already exists");
    EXPECT_EQ(err(r.addInterface(2, "1.2.3.4/24", false)), "no such network index: 2");
    EXPECT_EQ(err(r.addInterface(1, "1.2.3.4", false)), "invalid IP: 1.2.3.4");
    EXPECT_EQ(err(r.addInterface(1, "1.2.3.4/33", false)), "invalid IP: 1.2.3.4/33");
    EXPECT_EQ(err(r.addInterface(1, "2001:db8::1/64", false)), "");
    EXPECT_EQ(err(r.addInterface(9, "dhcp", true)), "Cannot put dhcp on loopback");
    EXPECT_EQ(err(r.addInterface(9, "10.0.0.1/32", true)), "");
    EXPECT_EQ(err(r.addInterface(8, "10.0.0.1/32", true)), "IP 10.0.0.1/32 already exists");
    EXPECT_EQ(err(r.clearInterface("0", "9.9.9.9/24", false)), "no such network: 9.9.9.9/24");
    EXPECT_EQ(err(r.clearInterface("0", "dhcp", false)), "");
    EXPECT_EQ(r.ips[0], std::vector<std::string>{"1.2.3.4/24"});
    EXPECT_EQ(err(r.clearInterface("x", "", false)), "strconv.Atoi: parsing \"x\": invalid syntax");
}

TEST(Router, SummaryAndCommit) {
    Router r(2);
    ASSERT_TRUE(r.addInterface(0, "1.2.3.4/24", false).ok());
    ASSERT_TRUE(r.addInterface(1, "5.6.7.8/24", false).ok());
    ASSERT_TRUE(r.addInterface(0, "10.0.0.1/32", true).ok());
    r.dhcp["1.2.3.0"].low = "1.2.3.10";
    r.dhcp["1.2.3.0"].high = "1.2.3.20";
    r.dhcp["1.2.3.0"].statics["00:11:22:33:44:55"] = "1.2.3.9";
    EXPECT_EQ(r.summary(""),
              "IPs:\nNetwork: 0: [1.2.3.4/24]\nNetwork: 1: [5.6.7.8/24]\nLoopback IPs:\n"
              "10.0.0.1/32\n\n"
              "Listen address: 1.2.3.0\nLow address:    1.2.3.10\nHigh address:   1.2.3.20\n"
              "Router:         \nDNS:            \nStatic IPs:     \n"
              "     00:11:22:33:44:55 1.2.3.9\n\nLog:\n\t\n");
    std::string text = r.commitText();
    EXPECT_NE(
        text.find("ip flush\nip add 0 1.2.3.4/24\nip add 1 5.6.7.8/24\nip add lo 10.0.0.1/32\n"),
        std::string::npos);
    EXPECT_NE(text.find("bird routerid 10.0.0.1\n"), std::string::npos);
    EXPECT_NE(text.find("route del default\n"), std::string::npos);
    // Committed: the addresses are not sent again until they change.
    EXPECT_EQ(r.commitText().find("ip flush"), std::string::npos);
    EXPECT_EQ(r.rid, "10.0.0.1");
}

TEST(Router, RouterIdFromInterfaces) {
    Router r(2);
    ASSERT_TRUE(r.addInterface(0, "9.0.0.1/24", false).ok());
    ASSERT_TRUE(r.addInterface(1, "10.0.0.2/24", false).ok());
    ASSERT_TRUE(r.addInterface(1, "dhcp", false).ok());
    EXPECT_NE(r.commitText().find("bird routerid 10.0.0.2\n"), std::string::npos);
    Router none(1);
    EXPECT_NE(none.commitText().find("bird routerid 0.0.0.0\n"), std::string::npos);
}

TEST(Router, StaticRoutes) {
    Router r(1);
    r.addStatic("0.0.0.0/0", "1.2.3.254", "");
    r.addStatic("11.0.0.0/24", "0", "bar");
    std::string text = r.commitText();
    EXPECT_NE(text.find("bird static 0.0.0.0/0 1.2.3.254 null\n"), std::string::npos);
    EXPECT_NE(text.find("bird static 11.0.0.0/24 null bar\n"), std::string::npos);
}

TEST(Router, FirewallChecksSummaryAndCommit) {
    Router r(2);
    EXPECT_EQ(err(r.addFwRule("2", true, "", "1.2.3.4", "tcp", "drop")),
              "no such network index: 2");
    EXPECT_EQ(err(r.addFwRule("x", true, "", "1.2.3.4", "tcp", "drop")),
              "converting fw interface index: strconv.Atoi: parsing \"x\": invalid syntax");
    EXPECT_EQ(err(r.addFwRule("0", true, "", "1.2.3.4:http", "tcp", "drop")),
              "validating fw destination port http: strconv.Atoi: parsing \"http\": invalid "
              "syntax");
    EXPECT_EQ(err(r.addFwRule("0", true, "1:2:3", "1.2.3.4", "tcp", "drop")),
              "malformed fw source 1:2:3: want an IPv4 address or network, optionally with :port");
    EXPECT_EQ(err(r.addFwRule("0", true, "", "1.2.3.4:0", "tcp", "drop")),
              "invalid fw destination port 0: want 1-65535");
    EXPECT_EQ(err(r.addFwRule("0", true, "", "1.2.3.4:80", "icmp", "drop")),
              "fw destination port 80 needs protocol tcp, udp or sctp, not icmp");
    EXPECT_EQ(err(r.addFwRule("0", true, "", "1.2.3.4", "gre", "drop")),
              "invalid fw protocol gre: want tcp, udp, sctp, icmp or all");
    EXPECT_EQ(err(r.addFwRule("0", true, "", "web", "tcp", "drop")),
              "invalid fw destination web: web is not an IPv4 address or network (a.b.c.d or "
              "a.b.c.d/len)");
    EXPECT_EQ(err(r.addFwChainRule("a b", "", "1.2.3.4", "tcp", "drop")),
              "invalid fw chain name a b: want 1-24 letters, digits, _ or -");
    EXPECT_EQ(err(r.applyFwChain("nope", true, "0")), "unknown chain nope");
    EXPECT_EQ(r.summary("").find("Firewall"), std::string::npos);  // refused: nothing set

    EXPECT_EQ(err(r.addFwRule("0", true, "", "10.0.2.20:7001", "tcp", "drop")), "");
    EXPECT_EQ(err(r.addFwChainRule("web", "10.0.1.0/24", ":80", "tcp", "accept")), "");
    EXPECT_EQ(err(r.applyFwChain("web", false, "1")), "");
    r.fw_default = "drop";
    EXPECT_NE(r.summary("").find("Firewall Rules:\n"
                                 "  (iface 0) incoming: <any> --> 10.0.2.20:7001 via tcp -> drop\n"
                                 "  (iface 1) outgoing: <any> --> <any> via <any> -> web\n"
                                 "  Default Action: drop\n"
                                 "Firewall Chains:\n"
                                 "  web: 10.0.1.0/24 --> :80 via tcp -> accept\n"
                                 "  Default Action (web): drop\nLog:"),
              std::string::npos);
    std::string text = r.commitText();
    EXPECT_NE(text.find("bird commit\nfw flush\nfw default drop\n"
                        "fw chain web action accept 10.0.1.0/24 :80 tcp\n"
                        "fw chain web default action drop\n"
                        "fw drop in 0 10.0.2.20:7001 tcp\nfw chain web apply out 1\n"),
              std::string::npos);
    r.clearFw();
    EXPECT_EQ(r.summary("").find("Firewall"), std::string::npos);
    EXPECT_NE(r.commitText().find("bird commit\nfw flush\nfw default accept\n"), std::string::npos);
}

namespace mr = minirouter;

TEST(Minirouter, Firewall) {
    std::string file =
        "fw flush\nfw default drop\nfw chain web action accept 10.0.1.0/24 :80 tcp\n"
        "fw chain web default action reject\nfw drop in 0 10.0.2.20:7001 tcp\n"
        "fw chain web apply out 1\nfw accept out 1 10.0.0.0/8 icmp\n"
        "fw chain nope apply in 0\nfw drop in 0 1.2.3.4:80 icmp\nfw drop in 0 1.2.3.4 gre\n";
    auto c = mr::parse(file, {"veth0", "veth1"});
    ASSERT_EQ(c.errors.size(), 3u);  // unknown chain, port with icmp, protocol gre
    EXPECT_TRUE(c.fw);
    EXPECT_TRUE(mr::fwActive(c));
    EXPECT_EQ(mr::nftConf(c),
              "table inet minirouter\ndelete table inet minirouter\n"
              "table inet minirouter {\n"
              "  chain u_web {\n"
              "    meta l4proto tcp ip saddr 10.0.1.0/24 th dport 80 accept\n"
              "    reject\n"
              "  }\n"
              "  chain forward {\n"
              "    type filter hook forward priority filter; policy drop;\n"
              "    ct state established,related accept\n"
              "    iifname \"veth0\" meta l4proto tcp ip daddr 10.0.2.20 th dport 7001 drop\n"
              "    oifname \"veth1\" jump u_web\n"
              "    oifname \"veth1\" meta l4proto icmp ip daddr 10.0.0.0/8 accept\n"
              "  }\n}\n");
    auto empty = mr::parse("fw flush\nfw default accept\n", {"veth0"});
    EXPECT_FALSE(mr::fwActive(empty));
    EXPECT_EQ(mr::nftConf(empty), "table inet minirouter\ndelete table inet minirouter\n");
}

TEST(Minirouter, OrdersInterfaces) {
    EXPECT_EQ(mr::orderInterfaces({"veth10", "lo", "veth2", "veth0"}),
              (std::vector<std::string>{"veth0", "veth2", "veth10"}));
}

TEST(Minirouter, ParsesAndRenders) {
    std::string file =
        "log level debug\nip flush\nip add 0 10.0.0.1/24\nip add 1 dhcp\nip add lo 1.1.1.1/32\n"
        "ip add 5 1.2.3.4/24\n"
        "dnsmasq flush\ndnsmasq dhcp range 10.0.0.1 10.0.0.10 10.0.0.50\n"
        "dnsmasq dhcp option router 10.0.0.1 10.0.0.1\n"
        "dnsmasq dhcp static 10.0.0.1 00:11:22:33:44:55 10.0.0.9\n"
        "dnsmasq dns 10.0.0.9 web\nroute add default gw 10.0.0.254\ndnsmasq commit\n"
        "bird flush\nbird static 10.9.0.0/16 10.1.0.2 null\nbird static 11.0.0.0/8 null out-set\n"
        "bird ospf 0 0\nbird ospf 0 1 \"cost\" \"10\"\nbird ospf 0 filter out-set\n"
        "bird ospf 0 filter 10.0.0.0/24\n"
        "bird ospf 0 1 \"cost\" \"1; } protocol\"\n"
        "bird bgp p local 10.0.0.1 100\nbird bgp p neighbor 10.0.0.2 200\nbird bgp p filter all\n"
        "bird routerid 10.0.0.1\nbird commit\nbogus line\n";
    auto c = mr::parse(file, {"veth0", "veth1"});
    EXPECT_EQ(c.log_level, "debug");
    EXPECT_TRUE(c.ip_flush);
    ASSERT_EQ(c.ips.size(), 3u);
    EXPECT_EQ(c.ips[1].ifname, "veth1");
    EXPECT_EQ(c.ips[2].ifname, "lo");
    ASSERT_EQ(c.errors.size(), 3u);  // index 5, the option with `;`, `bogus`
    EXPECT_NE(c.errors[0].find("no such interface"), std::string::npos);
    EXPECT_EQ(c.gw, "10.0.0.254");

    std::string d = mr::dnsmasqConf(c, "/tmp/l");
    EXPECT_NE(d.find("dhcp-range=set:10.0.0.1,10.0.0.10,10.0.0.50\n"), std::string::npos);
    EXPECT_NE(d.find("dhcp-host=set:10.0.0.1,00:11:22:33:44:55,10.0.0.9\n"), std::string::npos);
    EXPECT_NE(d.find("dhcp-option=tag:10.0.0.1,option:router,10.0.0.1\n"), std::string::npos);
    EXPECT_NE(d.find("host-record=web,10.0.0.9\n"), std::string::npos);

    std::string b = mr::birdConf(c);
    EXPECT_NE(b.find("router id 10.0.0.1;\n"), std::string::npos);
    EXPECT_NE(b.find("route 10.9.0.0/16 via 10.1.0.2;"), std::string::npos);
    EXPECT_NE(b.find("protocol static static_out_set {"), std::string::npos);
    EXPECT_NE(b.find("route 11.0.0.0/8 blackhole;"), std::string::npos);
    EXPECT_NE(b.find("if proto = \"static_out_set\" then accept;"), std::string::npos);
    EXPECT_NE(b.find("networks { 10.0.0.0/24; };"), std::string::npos);
    EXPECT_NE(b.find("interface \"veth1\" { cost 10; };"), std::string::npos);
    EXPECT_NE(b.find("local 10.0.0.1 as 100;"), std::string::npos);
    EXPECT_NE(b.find("if source = RTS_BGP then accept;"), std::string::npos);
}

TEST(Minirouter, Words) {
    EXPECT_EQ(mr::words("bird ospf 0 1 \"a b\" \"c\\\"d\""),
              (std::vector<std::string>{"bird", "ospf", "0", "1", "a b", "c\"d"}));
}

}  // namespace
}  // namespace herd
