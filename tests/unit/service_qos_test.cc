// service/qos: minimega's input checks and texts, how changes combine, the
// qdisc each state asks for, the `vm info` column, Go's duration and float
// parsing, and the commands' rules over VMs of the dry runtime.
#include <gtest/gtest.h>

#include "service/gostr.h"
#include "service/herd.h"
#include "service/qos.h"
#include "service/vm_ops.h"

namespace herd {
namespace {

std::string err(const Result<void>& r) {
    return r.ok() ? "" : r.error().text();
}

template <typename T>
std::string err(const Result<T>& r) {
    return r.ok() ? "" : r.error().text();
}

TEST(GoDuration, Parses) {
    EXPECT_EQ(*go::parseDuration("100ms"), 100'000'000);
    EXPECT_EQ(*go::parseDuration("1.5s"), 1'500'000'000);
    EXPECT_EQ(*go::parseDuration("10us"), 10'000);
    EXPECT_EQ(*go::parseDuration("10\xc2\xb5s"), 10'000);  // µs
    EXPECT_EQ(*go::parseDuration("1h2m3s"), 3'723'000'000'000);
    EXPECT_EQ(*go::parseDuration("-5ms"), -5'000'000);
    EXPECT_EQ(*go::parseDuration("+.5s"), 500'000'000);
    EXPECT_EQ(*go::parseDuration("5.s"), 5'000'000'000);
    EXPECT_EQ(*go::parseDuration("0"), 0);
    EXPECT_EQ(*go::parseDuration("-0"), 0);
    EXPECT_EQ(*go::parseDuration("0.1s"), 100'000'000);
    EXPECT_EQ(*go::parseDuration("1.0000000001s"), 1'000'000'000);
    EXPECT_EQ(*go::parseDuration("2562047h47m16.854775807s"), INT64_MAX);
    EXPECT_EQ(*go::parseDuration("-2562047h47m16.854775808s"), INT64_MIN);
}

TEST(GoDuration, Refuses) {
    for (const char* s : {"", "5", "1.5", "ms", ".s", "-", "5x", "5 ms", "1e3ms", "5ms5",
                          "2562047h47m16.854775808s", "99999999999999999999ns"}) {
        auto r = go::parseDuration(s);
        EXPECT_FALSE(r.ok()) << s;
    }
    EXPECT_EQ(err(go::parseDuration("5")), "time: invalid duration \"5\"");
}

TEST(GoDecimal, Parses) {
    double v = -1;
    EXPECT_TRUE(go::parseDecimal("0.50", v));
    EXPECT_EQ(v, 0.5);
    EXPECT_TRUE(go::parseDecimal("+5", v));
    EXPECT_EQ(v, 5);
    EXPECT_TRUE(go::parseDecimal(".5", v));
    EXPECT_TRUE(go::parseDecimal("5.", v));
    EXPECT_TRUE(go::parseDecimal("1e1", v));
    EXPECT_EQ(v, 10);
    for (const char* s : {"", ".", "e1", "1e", "5%", " 5", "0x10", "inf", "nan", "1e400", "1_0"})
        EXPECT_FALSE(go::parseDecimal(s, v)) << s;
}

TEST(QosParse, Interface) {
    EXPECT_EQ(*parseQosInterface("0"), 0u);
    EXPECT_EQ(*parseQosInterface("4294967295"), 4294967295u);
    EXPECT_EQ(err(parseQosInterface("all")),
              "wildcard qos not implemented: want a NIC index (0, 1, ...) as `vm info` lists "
              "them");
    EXPECT_EQ(err(parseQosInterface("x")),
              "invalid tap index x: want a NIC index (0, 1, ...) as `vm info` lists them");
    EXPECT_FALSE(parseQosInterface("-1").ok());
    EXPECT_FALSE(parseQosInterface("4294967296").ok());
    EXPECT_FALSE(parseClearIndex("all")->has_value());
    EXPECT_EQ(parseClearIndex("2")->value(), 2u);
    EXPECT_EQ(err(parseClearIndex("")), "invalid tap index : want a NIC index (0, 1, ...) or all");
}

TEST(QosParse, Values) {
    EXPECT_EQ(parseLoss("0.50")->value, "0.50");  // as typed
    EXPECT_EQ(parseLoss("0")->value, "0");
    EXPECT_EQ(parseLoss("99.99")->value, "99.99");
    for (const char* s : {"100", "-1", "150", "x", "nan", "5%"})
        EXPECT_FALSE(parseLoss(s).ok()) << s;
    EXPECT_EQ(err(parseLoss("150")),
              "invalid loss: `150`: want a percentage from 0 to less than 100 (5, 0.5)");

    EXPECT_EQ(parseDelay("100ms")->value, "100ms");
    EXPECT_EQ(parseDelay("1.5s")->value, "1.5s");
    EXPECT_EQ(parseDelay("20")->value, "20ms");  // a bare number is milliseconds
    EXPECT_EQ(parseDelay("2.5")->value, "2.5ms");
    EXPECT_EQ(parseDelay("0")->value, "0");
    EXPECT_EQ(err(parseDelay("-5")), "delay cannot be negative: `-5`");
    EXPECT_EQ(err(parseDelay("-5ms")), "delay cannot be negative: `-5ms`");
    EXPECT_EQ(err(parseDelay("100xbit")),
              "invalid duration: `100xbit`: want a duration (100ms, 1.5s, 250us, 1m) or a number "
              "of milliseconds");

    EXPECT_EQ(parseRate("1", "mbit")->value, "1mbit");
    EXPECT_EQ(parseRate("18446744073", "gbit")->value, "18446744073gbit");
    EXPECT_EQ(err(parseRate("2x", "mbit")),
              "invalid rate: `2x`: want a whole number from 1 to 18446744073709 followed by "
              "kbit, mbit or gbit");
    EXPECT_FALSE(parseRate("0", "kbit").ok());
    EXPECT_FALSE(parseRate("18446744074", "gbit").ok());
    EXPECT_FALSE(parseRate("-1", "kbit").ok());
}

TEST(QosRules, ChangesCombine) {
    NicQos q;
    q = withChange(q, *parseLoss("5"));
    EXPECT_EQ(qosText(q), "loss 5");
    q = withChange(q, *parseDelay("100ms"));
    EXPECT_EQ(qosText(q), "loss 5 delay 100ms");
    q = withChange(q, *parseLoss("0.50"));
    EXPECT_EQ(qosText(q), "loss 0.50 delay 100ms");
    q = withChange(q, *parseRate("1", "mbit"));  // rate drops loss and delay
    EXPECT_EQ(qosText(q), "rate 1mbit");
    q = withChange(q, *parseRate("2", "gbit"));
    EXPECT_EQ(qosText(q), "rate 2gbit");
    q = withChange(q, *parseDelay("7"));  // and the reverse
    EXPECT_EQ(qosText(q), "delay 7ms");
}

TEST(QosRules, QdiscOf) {
    NicQos q;
    q.loss = "0.50";
    q.delay = "1.5s";
    auto n = std::get<runtime::NetemSpec>(qdiscOf(q));
    EXPECT_DOUBLE_EQ(n.loss_percent, 0.5);
    EXPECT_EQ(n.delay_ns, 1'500'000'000u);
    q = {};
    q.delay = "0";
    n = std::get<runtime::NetemSpec>(qdiscOf(q));
    EXPECT_EQ(n.delay_ns, 0u);
    q = {};
    q.rate = "3kbit";
    EXPECT_EQ(std::get<runtime::RateSpec>(qdiscOf(q)).bits_per_second, 3000u);
    q.rate = "2mbit";
    EXPECT_EQ(std::get<runtime::RateSpec>(qdiscOf(q)).bits_per_second, 2'000'000u);
    q.rate = "18446744073gbit";
    EXPECT_EQ(std::get<runtime::RateSpec>(qdiscOf(q)).bits_per_second, 18'446'744'073'000'000'000u);
}

TEST(QosRules, Column) {
    std::vector<NetConfig> nets(3);
    EXPECT_EQ(qosColumn(nets), "[]");
    nets[0].qos.loss = "5";
    nets[2].qos.rate = "1mbit";
    EXPECT_EQ(qosColumn(nets), "[0: loss 5, 2: rate 1mbit]");
}

class QosCommands : public ::testing::Test {
  protected:
    QosCommands() : h(opts()) {}
    static Options opts() {
        Options o;
        o.base = "/tmp/herd-unit";
        o.hostname = "h1";
        return o;
    }
    void SetUp() override {
        Namespace& ns = h.namespaces().active();
        ns.vm_config.networks.resize(2);
        ASSERT_EQ(err(queueVms(h, ns, "a,b", VmType::Container, ns.vm_config)), "");
        ns.vm_config.networks.resize(1);
        ASSERT_EQ(err(queueVms(h, ns, "c", VmType::Container, ns.vm_config)), "");
        ASSERT_EQ(err(scheduleQueue(h, ns)), "");
    }
    std::string column(const std::string& name) {
        return *h.vms().find(ns(), name)->info("qos", h.vlans());
    }
    std::string ns() { return h.namespaces().active().name; }
    Herd h;
};

TEST_F(QosCommands, AddClearAndKill) {
    ASSERT_EQ(err(addQos(h, ns(), "a", 1, *parseLoss("5"))), "");
    ASSERT_EQ(err(addQos(h, ns(), "a", 1, *parseDelay("100ms"))), "");
    ASSERT_EQ(err(addQos(h, ns(), "all", 0, *parseRate("1", "mbit"))), "");
    EXPECT_EQ(column("a"), "[0: rate 1mbit, 1: loss 5 delay 100ms]");
    EXPECT_EQ(column("b"), "[0: rate 1mbit]");
    EXPECT_EQ(column("c"), "[0: rate 1mbit]");
    ASSERT_EQ(err(clearQos(h, ns(), "a", 0)), "");
    EXPECT_EQ(column("a"), "[1: loss 5 delay 100ms]");
    ASSERT_EQ(err(clearQos(h, ns(), "a,b", std::nullopt)), "");
    EXPECT_EQ(column("a"), "[]");
    EXPECT_EQ(column("b"), "[]");
    // Killing a VM drops its qos with its interfaces.
    ASSERT_EQ(err(killVms(h, ns(), "c")), "");
    EXPECT_EQ(column("c"), "[]");
}

TEST_F(QosCommands, BadTargetsChangeNothing) {
    // Index 1 exists on a and b, not on c: nothing changes anywhere.
    EXPECT_EQ(err(addQos(h, ns(), "all", 1, *parseLoss("5"))),
              "invalid tap index specified: 1 (vm c has 1 NIC)");
    EXPECT_EQ(column("a"), "[]");
    EXPECT_EQ(err(addQos(h, ns(), "nosuch", 0, *parseLoss("5"))), "vm not found: nosuch");
    EXPECT_EQ(err(clearQos(h, ns(), "c", 3)), "invalid tap index specified: 3 (vm c has 1 NIC)");
    // A VM without interfaces: an error when named, skipped under `all`.
    ASSERT_EQ(err(killVms(h, ns(), "c")), "");
    EXPECT_EQ(err(addQos(h, ns(), "a,c", 0, *parseLoss("5"))),
              "tap 0 of vm c not found: vm c is QUIT; qos needs a building, running or paused "
              "VM");
    EXPECT_EQ(column("a"), "[]");
    ASSERT_EQ(err(addQos(h, ns(), "all", 0, *parseLoss("5"))), "");
    EXPECT_EQ(column("a"), "[0: loss 5]");
    EXPECT_EQ(column("c"), "[]");
    // Clearing what has none is a no-op, in any state.
    EXPECT_EQ(err(clearQos(h, ns(), "c", std::nullopt)), "");
}

}  // namespace
}  // namespace herd
