// runtime/qdisc: the rtnetlink messages for netem and tbf (built, then read
// back by the parser the dump uses), the tbf sizing, and, as root, the real
// kernel: a root qdisc set, changed in place, swapped for the other kind and
// removed on a veth made for the test.
#include <gtest/gtest.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>

#include <cstring>
#include <map>
#include <random>

#include "runtime/netlink.h"
#include "runtime/qdisc.h"

using namespace herd::runtime;

namespace {

const tcmsg* tcmOf(const nlmsghdr* nlh) {
    return static_cast<const tcmsg*>(mnl_nlmsg_get_payload(nlh));
}

// Attributes by type (the last of each type wins).
using AttrMap = std::map<uint16_t, const nlattr*>;

int collect(const nlattr* a, void* data) {
    (*static_cast<AttrMap*>(data))[mnl_attr_get_type(a)] = a;
    return MNL_CB_OK;
}

// The top-level attribute `type` of a qdisc message, or null.
const nlattr* attrOf(const nlmsghdr* nlh, uint16_t type) {
    AttrMap m;
    mnl_attr_parse(nlh, sizeof(tcmsg), collect, &m);
    return m.count(type) ? m[type] : nullptr;
}

// The attributes nested in `nest`.
AttrMap nested(const nlattr* nest) {
    AttrMap m;
    mnl_attr_parse_nested(nest, collect, &m);
    return m;
}

TEST(Qdisc, NetemMessage) {
    char buf[kQdiscMsgSize];
    NetemSpec n;
    n.delay_ns = 100'000'000;  // 100 ms
    n.loss_percent = 25;
    nlmsghdr* nlh = buildReplaceRoot(buf, 42, n);
    EXPECT_EQ(nlh->nlmsg_type, RTM_NEWQDISC);
    EXPECT_EQ(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE);
    EXPECT_EQ(tcmOf(nlh)->tcm_ifindex, 42);
    EXPECT_EQ(tcmOf(nlh)->tcm_parent, TC_H_ROOT);
    EXPECT_EQ(tcmOf(nlh)->tcm_handle, 0u);
    const nlattr* kind = attrOf(nlh, TCA_KIND);
    ASSERT_NE(kind, nullptr);
    EXPECT_STREQ(mnl_attr_get_str(kind), "netem");
    // The options start with netem's fixed struct: delay in 64 ns ticks,
    // loss as a fraction of 2^32 - 1, then the exact delay as an attribute.
    const nlattr* opts = attrOf(nlh, TCA_OPTIONS);
    ASSERT_NE(opts, nullptr);
    ASSERT_GE(mnl_attr_get_payload_len(opts), sizeof(tc_netem_qopt) + 12);
    tc_netem_qopt q{};
    std::memcpy(&q, mnl_attr_get_payload(opts), sizeof q);
    EXPECT_EQ(q.latency, 100'000'000u / 64);
    EXPECT_EQ(q.limit, 1000u);
    EXPECT_EQ(q.loss, 1073741824u);  // 25 % of 0xffffffff, rounded
    EXPECT_EQ(q.duplicate, 0u);
    EXPECT_EQ(q.jitter, 0u);
    const auto* lat = reinterpret_cast<const nlattr*>(
        static_cast<const char*>(mnl_attr_get_payload(opts)) + MNL_ALIGN(sizeof q));
    EXPECT_EQ(mnl_attr_get_type(lat), TCA_NETEM_LATENCY64);
    EXPECT_EQ(mnl_attr_get_u64(lat), 100'000'000u);

    auto back = parseQdisc(nlh);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->kind, "netem");
    EXPECT_EQ(back->ifindex, 42);
    ASSERT_TRUE(back->netem);
    EXPECT_EQ(back->netem->delay_ns, 100'000'000u);
    EXPECT_NEAR(back->netem->loss_percent, 25, 1e-6);
    EXPECT_FALSE(back->tbf);
}

TEST(Qdisc, NetemLossBounds) {
    char buf[kQdiscMsgSize];
    auto lossOf = [&](double percent) {
        NetemSpec n;
        n.loss_percent = percent;
        const nlattr* opts = attrOf(buildReplaceRoot(buf, 1, n), TCA_OPTIONS);
        tc_netem_qopt q{};
        std::memcpy(&q, mnl_attr_get_payload(opts), sizeof q);
        return q.loss;
    };
    EXPECT_EQ(lossOf(0), 0u);
    EXPECT_EQ(lossOf(100), 0xffffffffu);
    EXPECT_EQ(lossOf(50), 0x80000000u);
    EXPECT_EQ(lossOf(0.5), 21474836u);
}

TEST(Qdisc, TbfMessage) {
    char buf[kQdiscMsgSize];
    auto tbf = tbfForRate(10'000'000, 1500);  // 10 mbit
    ASSERT_TRUE(tbf.ok());
    EXPECT_EQ(tbf->rate_bytes, 1'250'000u);
    EXPECT_EQ(tbf->burst_bytes, 12'500u);            // 10 ms
    EXPECT_EQ(tbf->limit_bytes, 12'500u + 62'500u);  // + 50 ms
    nlmsghdr* nlh = buildReplaceRoot(buf, 7, *tbf);
    EXPECT_STREQ(mnl_attr_get_str(attrOf(nlh, TCA_KIND)), "tbf");
    const nlattr* opts = attrOf(nlh, TCA_OPTIONS);
    ASSERT_NE(opts, nullptr);
    AttrMap in = nested(opts);
    const nlattr* parms = in[TCA_TBF_PARMS];
    const nlattr* burst = in[TCA_TBF_BURST];
    const nlattr* rate64 = in.count(TCA_TBF_RATE64) ? in[TCA_TBF_RATE64] : nullptr;
    ASSERT_NE(parms, nullptr);
    ASSERT_NE(burst, nullptr);
    EXPECT_EQ(rate64, nullptr);  // fits the 32-bit field
    tc_tbf_qopt q{};
    ASSERT_EQ(mnl_attr_get_payload_len(parms), sizeof q);
    std::memcpy(&q, mnl_attr_get_payload(parms), sizeof q);
    EXPECT_EQ(q.rate.rate, 1'250'000u);
    EXPECT_EQ(q.rate.linklayer, TC_LINKLAYER_ETHERNET);
    EXPECT_EQ(q.peakrate.rate, 0u);
    EXPECT_EQ(q.limit, 75'000u);
    EXPECT_EQ(q.buffer, 10'000'000u / 64);  // 10 ms in ticks
    EXPECT_EQ(mnl_attr_get_u32(burst), 12'500u);

    auto back = parseQdisc(nlh);
    ASSERT_TRUE(back && back->tbf);
    EXPECT_EQ(*back->tbf, *tbf);
}

TEST(Qdisc, TbfFastRateAndSmallRate) {
    char buf[kQdiscMsgSize];
    // 40 gbit/s is 5e9 bytes/s: more than the 32-bit field holds.
    auto fast = tbfForRate(40'000'000'000ULL, 1500);
    ASSERT_TRUE(fast.ok());
    nlmsghdr* nlh = buildReplaceRoot(buf, 7, *fast);
    auto back = parseQdisc(nlh);
    ASSERT_TRUE(back && back->tbf);
    EXPECT_EQ(back->tbf->rate_bytes, 5'000'000'000ULL);
    // A slow rate still lets a full frame through the bucket, and queues a few.
    auto slow = tbfForRate(8'000, 1500);  // 1000 bytes/s
    ASSERT_TRUE(slow.ok());
    EXPECT_EQ(slow->burst_bytes, 1564u);
    EXPECT_EQ(slow->limit_bytes, 1564u + 3 * 1564u);
    EXPECT_FALSE(tbfForRate(7, 1500).ok());
    EXPECT_FALSE(tbfForRate(0, 1500).ok());
}

TEST(Qdisc, DeleteAndDumpMessages) {
    char buf[kQdiscMsgSize];
    nlmsghdr* del = buildDeleteRoot(buf, 9);
    EXPECT_EQ(del->nlmsg_type, RTM_DELQDISC);
    EXPECT_EQ(del->nlmsg_flags, NLM_F_REQUEST);
    EXPECT_EQ(tcmOf(del)->tcm_parent, TC_H_ROOT);
    EXPECT_EQ(tcmOf(del)->tcm_ifindex, 9);
    EXPECT_EQ(attrOf(del, TCA_KIND), nullptr);
    nlmsghdr* get = buildGetQdiscs(buf, 9);
    EXPECT_EQ(get->nlmsg_type, RTM_GETQDISC);
    EXPECT_EQ(get->nlmsg_flags, NLM_F_REQUEST | NLM_F_DUMP);
    EXPECT_FALSE(parseQdisc(get));  // not an RTM_NEWQDISC
}

// As root: a veth pair of the test's own, shaped through the kernel.
class QdiscKernel : public ::testing::Test {
  protected:
    void SetUp() override {
        if (geteuid() != 0) GTEST_SKIP() << "needs root";
        auto nl = Netlink::open();
        ASSERT_TRUE(nl.ok()) << nl.error().text();
        nl_.emplace(std::move(*nl));
        std::random_device rd;
        name_ = "uq" + std::to_string(rd() % 1000000) + "a";
        VethSpec s;
        s.host_name = name_;
        s.peer_name = name_.substr(0, name_.size() - 1) + "b";
        ASSERT_TRUE(nl_->createVeth(s).ok());
        made_ = true;
    }
    void TearDown() override {
        if (made_) (void)nl_->deleteLink(name_);
    }
    std::optional<Netlink> nl_;
    std::string name_;
    bool made_ = false;
};

TEST_F(QdiscKernel, TbfReplaceChangeDelete) {
    auto before = rootQdisc(*nl_, name_);
    ASSERT_TRUE(before.ok()) << before.error().text();
    EXPECT_EQ(before->kind, "noqueue");  // a veth's default
    // Nothing to delete is fine.
    ASSERT_TRUE(deleteRootQdisc(*nl_, name_).ok());

    auto r = replaceRootQdisc(*nl_, name_, RateSpec{1'000'000});
    ASSERT_TRUE(r.ok()) << r.error().text();
    auto q = rootQdisc(*nl_, name_);
    ASSERT_TRUE(q.ok() && q->tbf) << (q.ok() ? q->kind : q.error().text());
    EXPECT_EQ(q->tbf->rate_bytes, 125'000u);
    EXPECT_EQ(q->tbf->limit_bytes, 1564u + 6250u);
    // The kernel reports the bucket as a time: back in bytes, within a byte.
    EXPECT_NEAR(static_cast<double>(q->tbf->burst_bytes), 1564, 1);
    const uint32_t handle = q->handle;

    // The same kind again: changed in place (same handle).
    ASSERT_TRUE(replaceRootQdisc(*nl_, name_, RateSpec{40'000'000'000ULL}).ok());
    q = rootQdisc(*nl_, name_);
    ASSERT_TRUE(q.ok() && q->tbf);
    EXPECT_EQ(q->handle, handle);
    EXPECT_EQ(q->tbf->rate_bytes, 5'000'000'000ULL);  // beyond 32 bits

    ASSERT_TRUE(deleteRootQdisc(*nl_, name_).ok());
    q = rootQdisc(*nl_, name_);
    ASSERT_TRUE(q.ok());
    EXPECT_EQ(q->kind, "noqueue");
}

// netem, when the kernel has it (CONFIG_NET_SCH_NETEM); without it, the
// error says so and the tbf in place stays.
TEST_F(QdiscKernel, NetemOrItsAbsence) {
    ASSERT_TRUE(replaceRootQdisc(*nl_, name_, RateSpec{1'000'000}).ok());
    NetemSpec n;
    n.loss_percent = 5;
    {
        auto r = replaceRootQdisc(*nl_, name_, n);
        ASSERT_TRUE(r.ok()) << r.error().text();
    }
    auto first = rootQdisc(*nl_, name_);
    ASSERT_TRUE(first.ok());
    if (first->kind == "htb") {
        // No netem: loss alone is the htb + BPF filter; delay is refused and
        // changes nothing.
        n.delay_ns = 250'000'000;
        auto r = replaceRootQdisc(*nl_, name_, n);
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.error().text(), "set qdisc netem on " + name_ +
                                        " (this kernel has no netem qdisc for delay: "
                                        "CONFIG_NET_SCH_NETEM is off): No such file or "
                                        "directory (ENOENT)");
        auto q = rootQdisc(*nl_, name_);
        ASSERT_TRUE(q.ok());
        EXPECT_EQ(q->kind, "htb");
        ASSERT_TRUE(replaceRootQdisc(*nl_, name_, RateSpec{1'000'000}).ok());
        q = rootQdisc(*nl_, name_);
        ASSERT_TRUE(q.ok());
        EXPECT_EQ(q->kind, "tbf");
        ASSERT_TRUE(deleteRootQdisc(*nl_, name_).ok());
        GTEST_SKIP() << "this kernel has no netem (loss through BPF checked)";
    }
    // Swapped for the other kind in one step.
    auto q = rootQdisc(*nl_, name_);
    ASSERT_TRUE(q.ok() && q->netem) << (q.ok() ? q->kind : q.error().text());
    EXPECT_NEAR(q->netem->loss_percent, 5, 1e-6);
    EXPECT_EQ(q->netem->delay_ns, 0u);
    const uint32_t handle = q->handle;
    n.delay_ns = 250'000'000;
    ASSERT_TRUE(replaceRootQdisc(*nl_, name_, n).ok());
    q = rootQdisc(*nl_, name_);
    ASSERT_TRUE(q.ok() && q->netem);
    EXPECT_EQ(q->handle, handle);
    EXPECT_EQ(q->netem->delay_ns, 250'000'000u);
    EXPECT_NEAR(q->netem->loss_percent, 5, 1e-6);
    ASSERT_TRUE(deleteRootQdisc(*nl_, name_).ok());
}

TEST_F(QdiscKernel, Errors) {
    auto r = replaceRootQdisc(*nl_, "uqnosuchlink0", NetemSpec{});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().text(), "set qdisc netem on uqnosuchlink0: No such device (ENODEV)");
    auto d = deleteRootQdisc(*nl_, "uqnosuchlink0");
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.error().errnum(), ENODEV);
    // A tbf of 0 bytes/s is refused before the kernel is asked.
    auto t = replaceRootQdisc(*nl_, name_, RateSpec{0});
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(t.error().errnum(), EINVAL);
    auto q = rootQdisc(*nl_, name_);
    ASSERT_TRUE(q.ok());
    EXPECT_EQ(q->kind, "noqueue");  // nothing changed
}

}  // namespace
