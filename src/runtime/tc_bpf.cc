#include "runtime/tc_bpf.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstring>

#include "runtime/tc_mirror.h"

namespace herd::runtime {

namespace {

// The instruction encodings (as the kernel's filter.h macros make them).
constexpr bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
    bpf_insn i{};
    i.code = code;
    i.dst_reg = dst & 0xf;
    i.src_reg = src & 0xf;
    i.off = off;
    i.imm = imm;
    return i;
}
constexpr bpf_insn movReg(uint8_t dst, uint8_t src) {
    return insn(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0);
}
constexpr bpf_insn movImm(uint8_t dst, int32_t imm) {
    return insn(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm);
}
constexpr bpf_insn addImm(uint8_t dst, int32_t imm) {
    return insn(BPF_ALU64 | BPF_ADD, dst, 0, 0, imm);  // (BPF_K is 0)
}
constexpr bpf_insn andImm(uint8_t dst, int32_t imm) {
    return insn(BPF_ALU64 | BPF_AND | BPF_K, dst, 0, 0, imm);
}
constexpr bpf_insn loadW(uint8_t dst, uint8_t src, int16_t off) {
    return insn(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0);
}
constexpr bpf_insn storeW(uint8_t dst, uint8_t src, int16_t off) {
    return insn(BPF_STX | BPF_MEM | BPF_W, dst, src, off, 0);
}
// if dst <op> imm: skip `off` instructions.
constexpr bpf_insn jumpImm(uint8_t op, uint8_t dst, int32_t imm, int16_t off) {
    return insn(BPF_JMP | op | BPF_K, dst, 0, off, imm);
}
// 32-bit compare: `imm` is taken as an unsigned 32-bit number.
constexpr bpf_insn jump32Imm(uint8_t op, uint8_t dst, uint32_t imm, int16_t off) {
    return insn(BPF_JMP32 | op | BPF_K, dst, 0, off, static_cast<int32_t>(imm));
}
constexpr bpf_insn call(int32_t helper) {
    return insn(BPF_JMP | BPF_CALL, 0, 0, 0, helper);
}
constexpr bpf_insn exitInsn() {
    return insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
}

constexpr int16_t ctxOffset(size_t off) {
    return static_cast<int16_t>(off);
}

long bpfCall(int cmd, bpf_attr* attr) {
    return ::syscall(SYS_bpf, cmd, attr, sizeof *attr);
}

uint32_t hookParent(bool ingress_hook) {
    return TC_H_MAKE(TC_H_CLSACT, ingress_hook ? TC_H_MIN_INGRESS : TC_H_MIN_EGRESS);
}

uint32_t filterInfo(uint16_t prio) {
    return TC_H_MAKE(static_cast<uint32_t>(prio) << 16, htons(ETH_P_ALL));
}

}  // namespace

std::vector<bpf_insn> tagProgram(int vlan, int trunk_ifindex) {
    // r1 holds the packet (struct __sk_buff *) on entry.
    return {
        // bpf_skb_vlan_push(skb, htons(ETH_P_8021Q), vlan)
        movImm(BPF_REG_2, htons(ETH_P_8021Q)),
        movImm(BPF_REG_3, vlan),
        call(BPF_FUNC_skb_vlan_push),
        jumpImm(BPF_JNE, BPF_REG_0, 0, 4),  // push failed: drop
        // return bpf_redirect(trunk, 0): out of the trunk interface
        movImm(BPF_REG_1, trunk_ifindex),
        movImm(BPF_REG_2, 0),
        call(BPF_FUNC_redirect),
        exitInsn(),
        movImm(BPF_REG_0, TC_ACT_SHOT),
        exitInsn(),
    };
}

std::vector<bpf_insn> untagProgram(int map_fd) {
    const int16_t present = ctxOffset(offsetof(__sk_buff, vlan_present));
    const int16_t tci = ctxOffset(offsetof(__sk_buff, vlan_tci));
    // The two halves of a 64-bit immediate load; src_reg marks the
    // immediate as a map descriptor the kernel swaps for the map.
    bpf_insn map_lo =
        insn(BPF_LD | BPF_DW, BPF_REG_1, BPF_PSEUDO_MAP_FD, 0, map_fd);  // (BPF_IMM is 0)
    bpf_insn map_hi = insn(0, 0, 0, 0, 0);
    return {
        movReg(BPF_REG_6, BPF_REG_1),  // r6 = skb (kept across calls)
        // No tag: not ours.
        loadW(BPF_REG_2, BPF_REG_6, present),
        jumpImm(BPF_JEQ, BPF_REG_2, 0, 17),  // -> pass
        // key = skb->vlan_tci & 0xfff, on the stack
        loadW(BPF_REG_2, BPF_REG_6, tci),
        andImm(BPF_REG_2, 0xfff),
        storeW(BPF_REG_10, BPF_REG_2, -4),
        // r0 = bpf_map_lookup_elem(map, &key)
        map_lo,
        map_hi,
        movReg(BPF_REG_2, BPF_REG_10),
        addImm(BPF_REG_2, -4),
        call(BPF_FUNC_map_lookup_elem),
        jumpImm(BPF_JEQ, BPF_REG_0, 0, 8),  // -> pass
        loadW(BPF_REG_7, BPF_REG_0, 0),     // r7 = target ifindex
        jumpImm(BPF_JEQ, BPF_REG_7, 0, 6),  // VLAN not carried -> pass
        // bpf_skb_vlan_pop(skb); then return bpf_redirect(target, 0)
        movReg(BPF_REG_1, BPF_REG_6),
        call(BPF_FUNC_skb_vlan_pop),
        movReg(BPF_REG_1, BPF_REG_7),
        movImm(BPF_REG_2, 0),
        call(BPF_FUNC_redirect),
        exitInsn(),
        // pass: on to the host's stack, as without a filter
        movImm(BPF_REG_0, TC_ACT_OK),
        exitInsn(),
    };
}

std::vector<bpf_insn> lossProgram(double percent) {
    // Drop when a random u32 is below threshold = percent% of 2^32.
    uint32_t threshold = 0;
    if (percent >= 100) {
        threshold = 0xffffffffu;
    } else if (percent > 0) {
        threshold = static_cast<uint32_t>(std::llround(percent / 100.0 * 4294967296.0));
    }
    return {
        call(BPF_FUNC_get_prandom_u32),
        jump32Imm(BPF_JGE, BPF_REG_0, threshold, 2),  // -> pass
        movImm(BPF_REG_0, TC_ACT_SHOT),
        exitInsn(),
        // pass: unclassified (not TC_ACT_OK, which in a classful qdisc
        // would pick a class from the packet's metadata)
        movImm(BPF_REG_0, TC_ACT_UNSPEC),
        exitInsn(),
    };
}

nlmsghdr* buildLossFilter(char* buf, int ifindex, uint32_t parent, int prog_fd) {
    nlmsghdr* nlh = startTcMessage(buf, RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL, ifindex, parent,
                                   0, filterInfo(1));
    mnl_attr_put_strz(nlh, TCA_KIND, "bpf");
    nlattr* opts = mnl_attr_nest_start(nlh, TCA_OPTIONS);
    mnl_attr_put_u32(nlh, TCA_BPF_FD, static_cast<uint32_t>(prog_fd));
    mnl_attr_put_strz(nlh, TCA_BPF_NAME, kLossFilterName);
    mnl_attr_put_u32(nlh, TCA_BPF_FLAGS, TCA_BPF_FLAG_ACT_DIRECT);
    mnl_attr_nest_end(nlh, opts);
    return nlh;
}

Result<unique_fd> createVlanMap() {
    bpf_attr a{};
    a.map_type = BPF_MAP_TYPE_ARRAY;
    a.key_size = 4;
    a.value_size = 4;
    a.max_entries = 4096;
    std::strncpy(a.map_name, "herd_vlans", sizeof a.map_name - 1);
    long fd = bpfCall(BPF_MAP_CREATE, &a);
    if (fd < 0) return Error::sysNow("bpf map create", "herd_vlans");
    return unique_fd(static_cast<int>(fd));
}

Result<void> setVlanTarget(int map_fd, int vlan, int ifindex) {
    uint32_t key = static_cast<uint32_t>(vlan);
    uint32_t value = static_cast<uint32_t>(ifindex);
    bpf_attr a{};
    a.map_fd = static_cast<uint32_t>(map_fd);
    a.key = reinterpret_cast<uint64_t>(&key);
    a.value = reinterpret_cast<uint64_t>(&value);
    a.flags = BPF_ANY;
    if (bpfCall(BPF_MAP_UPDATE_ELEM, &a) != 0)
        return Error::sysNow("bpf map update", "vlan " + std::to_string(vlan));
    return Ok();
}

Result<unique_fd> loadTcProgram(const std::vector<bpf_insn>& insns, const std::string& name) {
    static const char license[] = "GPL";
    std::vector<char> log(16384);
    bpf_attr a{};
    a.prog_type = BPF_PROG_TYPE_SCHED_CLS;
    a.insns = reinterpret_cast<uint64_t>(insns.data());
    a.insn_cnt = static_cast<uint32_t>(insns.size());
    a.license = reinterpret_cast<uint64_t>(license);
    a.log_buf = reinterpret_cast<uint64_t>(log.data());
    a.log_size = static_cast<uint32_t>(log.size());
    a.log_level = 1;
    std::strncpy(a.prog_name, name.c_str(), sizeof a.prog_name - 1);
    long fd = bpfCall(BPF_PROG_LOAD, &a);
    if (fd < 0) {
        int err = errno;
        std::string why(log.data());
        while (!why.empty() && why.back() == '\n') why.pop_back();
        Error e = Error::sys(err, "bpf load program", name);
        return why.empty() ? e : e.wrap("verifier: " + why);
    }
    return unique_fd(static_cast<int>(fd));
}

std::string trunkFilterName(std::string_view prefix) {
    return "herd-trunk-" + std::string(prefix);
}

nlmsghdr* buildBpfFilter(char* buf, int ifindex, bool ingress_hook, uint16_t prio, int prog_fd,
                         const std::string& name) {
    nlmsghdr* nlh = startTcMessage(buf, RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL, ifindex,
                                   hookParent(ingress_hook), 0, filterInfo(prio));
    mnl_attr_put_strz(nlh, TCA_KIND, "bpf");
    nlattr* opts = mnl_attr_nest_start(nlh, TCA_OPTIONS);
    mnl_attr_put_u32(nlh, TCA_BPF_FD, static_cast<uint32_t>(prog_fd));
    mnl_attr_put_strz(nlh, TCA_BPF_NAME, name.c_str());
    mnl_attr_put_u32(nlh, TCA_BPF_FLAGS, TCA_BPF_FLAG_ACT_DIRECT);
    mnl_attr_nest_end(nlh, opts);
    return nlh;
}

Result<bool> attachTrunkFilter(Netlink& nl, const std::string& ifname, bool ingress_hook,
                               int prog_fd, const std::string& name) {
    auto idx = nl.ifindex(ifname);
    if (!idx.ok()) return idx.error().wrap("attach trunk filter");
    char buf[kTcMirrorMsgSize];
    auto q = nl.request(buildAddClsact(buf, *idx), "add clsact qdisc to", ifname);
    if (!q.ok() && q.error().errnum() != EEXIST) return q.error().wrap("attach trunk filter");
    const bool made = q.ok();
    auto r = nl.request(
        buildBpfFilter(buf, *idx, ingress_hook, kTrunkFilterPrio, prog_fd, name),
        std::string("attach trunk filter (") + (ingress_hook ? "ingress" : "egress") + ") to",
        ifname);
    if (!r.ok()) {
        if (made) (void)removeClsact(nl, ifname);
        return r.error();
    }
    return made;
}

Result<void> removeClsact(Netlink& nl, const std::string& ifname) {
    auto idx = nl.ifindex(ifname);
    if (!idx.ok()) return idx.error().errnum() == ENODEV ? Ok() : Result<void>(idx.error());
    char buf[kTcMirrorMsgSize];
    nlmsghdr* nlh =
        startTcMessage(buf, RTM_DELQDISC, 0, *idx, TC_H_CLSACT, TC_H_MAKE(TC_H_CLSACT, 0));
    mnl_attr_put_strz(nlh, TCA_KIND, "clsact");
    auto r = nl.request(nlh, "remove clsact qdisc of", ifname);
    if (!r.ok() && r.error().errnum() != ENOENT && r.error().errnum() != ENODEV &&
        r.error().errnum() != EINVAL)
        return r;
    return Ok();
}

Result<void> removeTrunkFilter(Netlink& nl, const std::string& ifname, bool ingress_hook) {
    auto idx = nl.ifindex(ifname);
    if (!idx.ok()) return idx.error().errnum() == ENODEV ? Ok() : Result<void>(idx.error());
    char buf[kTcMirrorMsgSize];
    auto r = nl.request(buildDeleteFilter(buf, *idx, ingress_hook, kTrunkFilterPrio),
                        "remove trunk filter of", ifname);
    if (!r.ok() && r.error().errnum() != ENOENT && r.error().errnum() != ENODEV &&
        r.error().errnum() != EINVAL)
        return r;
    return Ok();
}

namespace {

struct FoundFilter {
    uint32_t handle = 0;
    uint32_t info = 0;
};

struct FilterScan {
    std::string name;
    std::vector<FoundFilter> found;
};

int scanAttr(const nlattr* a, void* data) {
    auto** tb = static_cast<const nlattr**>(data);
    int type = mnl_attr_get_type(a);
    if (type <= TCA_MAX) tb[type] = a;
    return MNL_CB_OK;
}

int scanBpfAttr(const nlattr* a, void* data) {
    auto** tb = static_cast<const nlattr**>(data);
    int type = mnl_attr_get_type(a);
    if (type <= TCA_BPF_MAX) tb[type] = a;
    return MNL_CB_OK;
}

int scanFilter(const nlmsghdr* nlh, void* data) {
    auto* scan = static_cast<FilterScan*>(data);
    if (nlh->nlmsg_type != RTM_NEWTFILTER) return MNL_CB_OK;
    const auto* t = static_cast<const tcmsg*>(mnl_nlmsg_get_payload(nlh));
    const nlattr* tb[TCA_MAX + 1] = {};
    mnl_attr_parse(nlh, sizeof(tcmsg), scanAttr, tb);
    if (!tb[TCA_KIND] || std::strcmp(mnl_attr_get_str(tb[TCA_KIND]), "bpf") != 0 ||
        !tb[TCA_OPTIONS])
        return MNL_CB_OK;
    const nlattr* bt[TCA_BPF_MAX + 1] = {};
    mnl_attr_parse_nested(tb[TCA_OPTIONS], scanBpfAttr, bt);
    if (bt[TCA_BPF_NAME] && scan->name == mnl_attr_get_str(bt[TCA_BPF_NAME]))
        scan->found.push_back({t->tcm_handle, t->tcm_info});
    return MNL_CB_OK;
}

}  // namespace

Result<void> nukeTrunkFilters(Netlink& nl, std::string_view prefix) {
    auto all = nl.links();
    if (!all.ok()) return all.error();
    Result<void> first;
    for (const auto& l : *all) {
        FilterScan scan{trunkFilterName(prefix), {}};
        char buf[kTcMirrorMsgSize];
        nlmsghdr* get =
            startTcMessage(buf, RTM_GETTFILTER, NLM_F_DUMP, l.index, hookParent(true), 0, 0);
        // An interface gone meanwhile, or one without a clsact qdisc: nothing.
        if (!nl.dump(get, scanFilter, &scan, "list filters of", l.name).ok()) continue;
        for (const auto& f : scan.found) {
            nlmsghdr* del =
                startTcMessage(buf, RTM_DELTFILTER, 0, l.index, hookParent(true), f.handle, f.info);
            mnl_attr_put_strz(del, TCA_KIND, "bpf");
            auto r = nl.request(del, "remove trunk filter of", l.name);
            if (!r.ok() && r.error().errnum() != ENOENT && first.ok()) first = r;
        }
    }
    return first;
}

}  // namespace herd::runtime
