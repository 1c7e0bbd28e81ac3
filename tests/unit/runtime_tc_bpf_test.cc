// runtime/tc_bpf: the trunk programs' bytecode (every jump lands inside the
// program, on the instruction it means), the filter message, the names of
// trunk and tunnel ports, and, as root, that the kernel's verifier accepts
// both programs.
#include <gtest/gtest.h>
#include <libmnl/libmnl.h>
#include <linux/pkt_cls.h>
#include <linux/rtnetlink.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "runtime/bridge.h"
#include "runtime/tc_bpf.h"
#include "runtime/tc_mirror.h"

namespace herd::runtime {
namespace {

bool isJump(const bpf_insn& i) {
    const uint8_t cls = i.code & 0x07, op = i.code & 0xf0;
    return cls == BPF_JMP && op != BPF_CALL && op != BPF_EXIT;
}

// The index a conditional jump at `at` goes to.
size_t target(const std::vector<bpf_insn>& p, size_t at) {
    return static_cast<size_t>(static_cast<long>(at) + 1 + p[at].off);
}

TEST(TcBpf, TagProgramPushesThenRedirectsOrDrops) {
    auto p = tagProgram(101, 7);
    ASSERT_EQ(p.size(), 10u);
    EXPECT_EQ(p[1].imm, 101);  // the VLAN
    EXPECT_EQ(p[2].imm, BPF_FUNC_skb_vlan_push);
    EXPECT_EQ(p[4].imm, 7);  // the trunk's ifindex
    EXPECT_EQ(p[6].imm, BPF_FUNC_redirect);
    ASSERT_TRUE(isJump(p[3]));
    size_t drop = target(p, 3);
    ASSERT_LT(drop + 1, p.size());
    EXPECT_EQ(p[drop].imm, TC_ACT_SHOT);
    EXPECT_EQ(p[drop + 1].code, BPF_JMP | BPF_EXIT);
}

TEST(TcBpf, UntagProgramJumpsLandOnPass) {
    auto p = untagProgram(42);
    size_t pass = p.size() - 2;
    EXPECT_EQ(p[pass].code, BPF_ALU64 | BPF_MOV | BPF_K);
    EXPECT_EQ(p[pass].imm, TC_ACT_OK);
    EXPECT_EQ(p.back().code, BPF_JMP | BPF_EXIT);
    int jumps = 0;
    for (size_t i = 0; i < p.size(); ++i) {
        if (!isJump(p[i])) continue;
        ++jumps;
        EXPECT_EQ(target(p, i), pass) << "jump at " << i;
    }
    EXPECT_EQ(jumps, 3);
    int maps = 0;
    for (const auto& i : p)
        if (i.code == (BPF_LD | BPF_DW | BPF_IMM)) {
            ++maps;
            EXPECT_EQ(i.src_reg, BPF_PSEUDO_MAP_FD);
            EXPECT_EQ(i.imm, 42);
        }
    EXPECT_EQ(maps, 1);
}

struct Found {
    bool kind = false, fd = false, name = false, da = false;
};

int optAttr(const nlattr* o, void* data) {
    auto* f = static_cast<Found*>(data);
    switch (mnl_attr_get_type(o)) {
        case TCA_BPF_FD:
            f->fd = mnl_attr_get_u32(o) == 9;
            break;
        case TCA_BPF_NAME:
            f->name = std::string(mnl_attr_get_str(o)) == "herd-trunk-p1";
            break;
        case TCA_BPF_FLAGS:
            f->da = mnl_attr_get_u32(o) == TCA_BPF_FLAG_ACT_DIRECT;
            break;
    }
    return MNL_CB_OK;
}

int topAttr(const nlattr* a, void* data) {
    auto* f = static_cast<Found*>(data);
    if (mnl_attr_get_type(a) == TCA_KIND) f->kind = std::strcmp(mnl_attr_get_str(a), "bpf") == 0;
    if (mnl_attr_get_type(a) == TCA_OPTIONS) mnl_attr_parse_nested(a, optAttr, data);
    return MNL_CB_OK;
}

TEST(TcBpf, FilterMessageIsDirectActionBpf) {
    char buf[kTcMirrorMsgSize];
    nlmsghdr* nlh = buildBpfFilter(buf, 3, true, kTrunkFilterPrio, 9, trunkFilterName("p1"));
    EXPECT_EQ(nlh->nlmsg_type, RTM_NEWTFILTER);
    const auto* t = static_cast<const tcmsg*>(mnl_nlmsg_get_payload(nlh));
    EXPECT_EQ(t->tcm_ifindex, 3);
    EXPECT_EQ(t->tcm_parent, TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS));
    EXPECT_EQ(TC_H_MAJ(t->tcm_info) >> 16, kTrunkFilterPrio);
    Found f;
    mnl_attr_parse(nlh, sizeof(tcmsg), topAttr, &f);
    EXPECT_TRUE(f.kind && f.fd && f.name && f.da);
}

TEST(TcBpf, TrunkAndTunnelNamesAreOwned) {
    auto u = tunnelPortName("abc", 3);
    ASSERT_TRUE(u.ok());
    EXPECT_EQ(*u, "abcu3");
    EXPECT_TRUE(isOwnedLink("abc", "abcu3"));
    EXPECT_TRUE(isOwnedLink("abc", "abcq12"));
    EXPECT_TRUE(isOwnedLink("abc", "abcr0"));
    EXPECT_FALSE(isOwnedLink("abc", "abcq"));
    EXPECT_FALSE(isOwnedLink("abc", "abcux"));
    EXPECT_FALSE(tunnelPortName("abcdefgh", 1234567).ok());
}

TEST(TcBpf, KernelAcceptsBothPrograms) {
    if (::geteuid() != 0) GTEST_SKIP() << "loading BPF programs needs root";
    auto map = createVlanMap();
    ASSERT_TRUE(map.ok()) << map.error().text();
    auto untag = loadTcProgram(untagProgram(map->get()), "herd_untag");
    ASSERT_TRUE(untag.ok()) << untag.error().text();
    auto tag = loadTcProgram(tagProgram(4095, 1), "herd_tag");
    ASSERT_TRUE(tag.ok()) << tag.error().text();
    EXPECT_TRUE(setVlanTarget(map->get(), 5, 1).ok());
}

TEST(TcBpf, LossProgramThresholds) {
    auto at = [](double percent) { return static_cast<uint32_t>(lossProgram(percent)[1].imm); };
    EXPECT_EQ(at(0), 0u);  // never below 0: nothing dropped
    EXPECT_EQ(at(50), 0x80000000u);
    EXPECT_EQ(at(100), 0xffffffffu);
    auto p = lossProgram(20);
    ASSERT_EQ(p.size(), 6u);
    EXPECT_EQ(p[0].imm, BPF_FUNC_get_prandom_u32);
    EXPECT_EQ(p[2].imm, TC_ACT_SHOT);
    EXPECT_EQ(static_cast<size_t>(1 + 1 + p[1].off), 4u);  // the jump lands on pass
    EXPECT_EQ(p[4].imm, TC_ACT_UNSPEC);
}

// The kernel runs the loss program on a test frame: about the asked share
// of runs answers TC_ACT_SHOT.
TEST(TcBpf, KernelDropsTheAskedShare) {
    if (::geteuid() != 0) GTEST_SKIP() << "loading BPF programs needs root";
    auto prog = loadTcProgram(lossProgram(20), "herd_loss");
    ASSERT_TRUE(prog.ok()) << prog.error().text();
    unsigned char frame[64] = {};
    frame[12] = 0x08;  // an IPv4 EtherType
    constexpr int kRuns = 4000;
    int shot = 0;
    for (int i = 0; i < kRuns; ++i) {
        bpf_attr a{};
        a.test.prog_fd = static_cast<uint32_t>(prog->get());
        a.test.data_in = reinterpret_cast<uint64_t>(frame);
        a.test.data_size_in = sizeof frame;
        a.test.repeat = 1;
        ASSERT_EQ(::syscall(SYS_bpf, BPF_PROG_TEST_RUN, &a, sizeof a), 0) << std::strerror(errno);
        if (static_cast<int32_t>(a.test.retval) == TC_ACT_SHOT) ++shot;
    }
    // 20% of 4000: 800 +- 25 (one sd); 120 is over 4 sd.
    EXPECT_NEAR(shot, 800, 120);
}

// The kernel runs the delay program: a frame with the delay line's mark is
// let through (TC_ACT_UNSPEC) with the mark gone; any other is redirected
// (to the tap), or dropped with loss 100.
TEST(TcBpf, KernelRunsTheDelayProgram) {
    if (::geteuid() != 0) GTEST_SKIP() << "loading BPF programs needs root";
    constexpr uint32_t kMark = 0x68657264;
    auto run = [](const std::vector<bpf_insn>& insns, uint32_t mark, uint32_t* mark_out) {
        auto prog = loadTcProgram(insns, "herd_delay");
        EXPECT_TRUE(prog.ok()) << prog.error().text();
        if (!prog.ok()) return -100;
        unsigned char frame[64] = {};
        frame[12] = 0x08;
        __sk_buff in{}, out{};
        in.mark = mark;
        bpf_attr a{};
        a.test.prog_fd = static_cast<uint32_t>(prog->get());
        a.test.data_in = reinterpret_cast<uint64_t>(frame);
        a.test.data_size_in = sizeof frame;
        a.test.ctx_in = reinterpret_cast<uint64_t>(&in);
        a.test.ctx_size_in = sizeof in;
        a.test.ctx_out = reinterpret_cast<uint64_t>(&out);
        a.test.ctx_size_out = sizeof out;
        a.test.repeat = 1;
        EXPECT_EQ(::syscall(SYS_bpf, BPF_PROG_TEST_RUN, &a, sizeof a), 0) << std::strerror(errno);
        *mark_out = out.mark;
        return static_cast<int>(static_cast<int32_t>(a.test.retval));
    };
    uint32_t mark = 1;
    EXPECT_EQ(run(delayProgram(0, 1, kMark), kMark, &mark), TC_ACT_UNSPEC);
    EXPECT_EQ(mark, 0u);
    EXPECT_EQ(run(delayProgram(0, 1, kMark), 0, &mark), TC_ACT_REDIRECT);
    EXPECT_EQ(run(delayProgram(0, 1, kMark), 7, &mark), TC_ACT_REDIRECT);
    EXPECT_EQ(mark, 7u);  // others' marks stay
    EXPECT_EQ(run(delayProgram(100, 1, kMark), 0, &mark), TC_ACT_SHOT);
    EXPECT_EQ(run(delayProgram(100, 1, kMark), kMark, &mark),
              TC_ACT_UNSPEC);  // sent, not lost twice
}

TEST(TcBpf, DelayTapNamesAreOwned) {
    for (int i : {0, 7, 4321}) {
        auto n = delayTapName("t", i);
        ASSERT_TRUE(n.ok());
        EXPECT_EQ(*n, "tw" + std::to_string(i));
        EXPECT_TRUE(isOwnedLink("t", *n));
    }
    EXPECT_FALSE(isOwnedLink("t", "tw"));
    EXPECT_FALSE(delayTapName("abcdefghijkl", 12345).ok());  // over 15 bytes
}

}  // namespace
}  // namespace herd::runtime
