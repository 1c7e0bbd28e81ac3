#include "runtime/qdisc.h"

#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>

#include "runtime/tc_bpf.h"

namespace herd::runtime {

namespace {

// The kernel's scheduler clock ("psched ticks") counts 64 ns units
// (PSCHED_SHIFT); the older fixed-size fields are in ticks.
constexpr int kPschedShift = 6;
constexpr uint64_t kNsPerSec = 1000000000ULL;
constexpr uint32_t kU32Max = std::numeric_limits<uint32_t>::max();
// What a frame adds to the MTU on the wire as a qdisc counts it (Ethernet
// header, VLAN tag), with room to spare.
constexpr uint32_t kFrameOverhead = 64;

uint32_t clampU32(uint64_t v) {
    return static_cast<uint32_t>(std::min<uint64_t>(v, kU32Max));
}

uint32_t nsToTicks(uint64_t ns) {
    return clampU32(ns >> kPschedShift);
}

nlmsghdr* startQdisc(char* buf, uint16_t type, uint16_t flags, int ifindex) {
    return startTcMessage(buf, type, flags, ifindex, TC_H_ROOT, 0);  // handle 0: the kernel's pick
}

// `tc qdisc replace`: create if absent, change in place when the kind is the
// same, otherwise make a new one and swap it in.
nlmsghdr* startReplace(char* buf, int ifindex, const char* kind) {
    nlmsghdr* nlh = startQdisc(buf, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_REPLACE, ifindex);
    mnl_attr_put_strz(nlh, TCA_KIND, kind);
    return nlh;
}

uint32_t lossToU32(double percent) {
    if (!(percent > 0)) return 0;  // NaN too
    if (percent >= 100) return kU32Max;
    return static_cast<uint32_t>(std::llround(percent / 100.0 * kU32Max));
}

// The attributes of one nesting level, by type (types above Max ignored).
template <int Max>
struct AttrTable {
    const nlattr* tb[Max + 1] = {};
};

template <int Max>
int collectAttr(const nlattr* attr, void* data) {
    if (mnl_attr_type_valid(attr, Max) < 0) return MNL_CB_OK;
    static_cast<AttrTable<Max>*>(data)->tb[mnl_attr_get_type(attr)] = attr;
    return MNL_CB_OK;
}

// netem's options are its fixed struct, then attributes (the kernel kept the
// struct for compatibility and appended the 64-bit fields as attributes).
NetemSpec parseNetem(const nlattr* opts) {
    NetemSpec n;
    const auto len = mnl_attr_get_payload_len(opts);
    if (len < sizeof(tc_netem_qopt)) return n;
    tc_netem_qopt q{};
    std::memcpy(&q, mnl_attr_get_payload(opts), sizeof q);
    n.delay_ns = static_cast<uint64_t>(q.latency) << kPschedShift;
    n.loss_percent = static_cast<double>(q.loss) / kU32Max * 100.0;
    n.limit_packets = q.limit;
    const size_t skip = MNL_ALIGN(sizeof(tc_netem_qopt));
    if (len > skip) {
        AttrTable<TCA_NETEM_MAX> a;
        const auto* rest = static_cast<const char*>(mnl_attr_get_payload(opts)) + skip;
        mnl_attr_parse_payload(rest, len - skip, collectAttr<TCA_NETEM_MAX>, &a);
        if (a.tb[TCA_NETEM_LATENCY64] &&
            mnl_attr_get_payload_len(a.tb[TCA_NETEM_LATENCY64]) == sizeof(int64_t)) {
            int64_t ns = 0;
            std::memcpy(&ns, mnl_attr_get_payload(a.tb[TCA_NETEM_LATENCY64]), sizeof ns);
            n.delay_ns = ns < 0 ? 0 : static_cast<uint64_t>(ns);
        }
    }
    return n;
}

TbfSpec parseTbf(const nlattr* opts) {
    TbfSpec t;
    AttrTable<TCA_TBF_MAX> a;
    mnl_attr_parse_nested(opts, collectAttr<TCA_TBF_MAX>, &a);
    const nlattr* parms = a.tb[TCA_TBF_PARMS];
    if (!parms || mnl_attr_get_payload_len(parms) < sizeof(tc_tbf_qopt)) return t;
    tc_tbf_qopt q{};
    std::memcpy(&q, mnl_attr_get_payload(parms), sizeof q);
    t.rate_bytes = q.rate.rate;
    if (a.tb[TCA_TBF_RATE64] && mnl_attr_get_payload_len(a.tb[TCA_TBF_RATE64]) == 8) {
        uint64_t r = 0;
        std::memcpy(&r, mnl_attr_get_payload(a.tb[TCA_TBF_RATE64]), sizeof r);
        t.rate_bytes = std::max(t.rate_bytes, r);
    }
    t.limit_bytes = q.limit;
    if (a.tb[TCA_TBF_BURST] && mnl_attr_validate(a.tb[TCA_TBF_BURST], MNL_TYPE_U32) >= 0) {
        t.burst_bytes = mnl_attr_get_u32(a.tb[TCA_TBF_BURST]);
    } else {
        // The kernel reports the bucket as the time it takes to fill.
        const long double ns = static_cast<long double>(q.buffer) * (1U << kPschedShift);
        t.burst_bytes = clampU32(static_cast<uint64_t>(
            std::llround(ns * static_cast<long double>(t.rate_bytes) / kNsPerSec)));
    }
    return t;
}

const char* kindOf(const QdiscSpec& spec) {
    return std::holds_alternative<NetemSpec>(spec) ? "netem" : "tbf";
}

}  // namespace

Result<TbfSpec> tbfForRate(uint64_t bits_per_second, uint32_t mtu) {
    TbfSpec t;
    t.rate_bytes = bits_per_second / 8;
    if (t.rate_bytes == 0) {
        return Error::sys(EINVAL, "rate limit",
                          std::to_string(bits_per_second) + " bit/s (at least 8 bit/s)");
    }
    const uint64_t frame = static_cast<uint64_t>(mtu ? mtu : 1500) + kFrameOverhead;
    const uint64_t burst = std::max<uint64_t>(t.rate_bytes / 100, frame);     // 10 ms
    const uint64_t queue = std::max<uint64_t>(t.rate_bytes / 20, 3 * frame);  // 50 ms
    t.burst_bytes = clampU32(burst);
    t.limit_bytes = clampU32(burst + queue);
    return t;
}

nlmsghdr* startTcMessage(char* buf, uint16_t type, uint16_t flags, int ifindex, uint32_t parent,
                         uint32_t handle, uint32_t info) {
    std::memset(buf, 0, kQdiscMsgSize);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = NLM_F_REQUEST | flags;
    auto* tcm = static_cast<tcmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(tcmsg)));
    tcm->tcm_family = AF_UNSPEC;
    tcm->tcm_ifindex = ifindex;
    tcm->tcm_parent = parent;
    tcm->tcm_handle = handle;
    tcm->tcm_info = info;
    return nlh;
}

nlmsghdr* buildReplaceRoot(char* buf, int ifindex, const NetemSpec& spec) {
    nlmsghdr* nlh = startReplace(buf, ifindex, "netem");
    tc_netem_qopt q{};
    q.latency = nsToTicks(spec.delay_ns);
    q.limit = spec.limit_packets;
    q.loss = lossToU32(spec.loss_percent);
    nlattr* opts = mnl_attr_nest_start(nlh, TCA_OPTIONS);
    std::memcpy(mnl_nlmsg_put_extra_header(nlh, sizeof q), &q, sizeof q);
    // The exact delay: the struct's ticks lose precision and stop at ~4.6 min.
    const int64_t ns = static_cast<int64_t>(
        std::min<uint64_t>(spec.delay_ns, std::numeric_limits<int64_t>::max()));
    mnl_attr_put(nlh, TCA_NETEM_LATENCY64, sizeof ns, &ns);
    mnl_attr_nest_end(nlh, opts);
    return nlh;
}

nlmsghdr* buildReplaceRoot(char* buf, int ifindex, const TbfSpec& spec) {
    nlmsghdr* nlh = startReplace(buf, ifindex, "tbf");
    tc_tbf_qopt q{};
    // Rates in bytes of whole frames, without the table of per-size transmit
    // times older kernels wanted (TC_LINKLAYER_UNAWARE).
    q.rate.linklayer = TC_LINKLAYER_ETHERNET;
    q.rate.rate = clampU32(spec.rate_bytes);
    q.limit = spec.limit_bytes;
    if (spec.rate_bytes > 0) {
        const long double ns =
            static_cast<long double>(spec.burst_bytes) * kNsPerSec / spec.rate_bytes;
        q.buffer = nsToTicks(static_cast<uint64_t>(std::min<long double>(ns, 1e18L)));
    }
    nlattr* opts = mnl_attr_nest_start(nlh, TCA_OPTIONS);
    mnl_attr_put(nlh, TCA_TBF_PARMS, sizeof q, &q);
    if (spec.rate_bytes > kU32Max) mnl_attr_put_u64(nlh, TCA_TBF_RATE64, spec.rate_bytes);
    mnl_attr_put_u32(nlh, TCA_TBF_BURST, spec.burst_bytes);
    mnl_attr_nest_end(nlh, opts);
    return nlh;
}

nlmsghdr* buildHtbRoot(char* buf, int ifindex) {
    nlmsghdr* nlh = startTcMessage(buf, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, ifindex, TC_H_ROOT,
                                   kLossQdiscHandle);
    mnl_attr_put_strz(nlh, TCA_KIND, "htb");
    tc_htb_glob g{};
    g.version = 3;  // TC_HTB_PROTOVER
    g.rate2quantum = 10;
    g.defcls = 0;  // no default class: unclassified packets go out directly
    nlattr* opts = mnl_attr_nest_start(nlh, TCA_OPTIONS);
    mnl_attr_put(nlh, TCA_HTB_INIT, sizeof g, &g);
    mnl_attr_nest_end(nlh, opts);
    return nlh;
}

nlmsghdr* buildDeleteRoot(char* buf, int ifindex) {
    return startQdisc(buf, RTM_DELQDISC, 0, ifindex);
}

nlmsghdr* buildGetQdiscs(char* buf, int ifindex) {
    nlmsghdr* nlh = startQdisc(buf, RTM_GETQDISC, NLM_F_DUMP, ifindex);
    auto* tcm = static_cast<tcmsg*>(mnl_nlmsg_get_payload(nlh));
    tcm->tcm_parent = 0;  // every qdisc of the interface; the caller picks
    return nlh;
}

std::optional<QdiscInfo> parseQdisc(const nlmsghdr* nlh) {
    if (nlh->nlmsg_type != RTM_NEWQDISC || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(tcmsg)))
        return std::nullopt;
    const auto* tcm = static_cast<const tcmsg*>(mnl_nlmsg_get_payload(nlh));
    QdiscInfo info;
    info.ifindex = tcm->tcm_ifindex;
    info.handle = tcm->tcm_handle;
    info.parent = tcm->tcm_parent;
    AttrTable<TCA_MAX> a;
    mnl_attr_parse(nlh, sizeof(tcmsg), collectAttr<TCA_MAX>, &a);
    if (a.tb[TCA_KIND] && mnl_attr_validate(a.tb[TCA_KIND], MNL_TYPE_STRING) >= 0)
        info.kind = mnl_attr_get_str(a.tb[TCA_KIND]);
    if (const nlattr* opts = a.tb[TCA_OPTIONS]) {
        if (info.kind == "netem") info.netem = parseNetem(opts);
        if (info.kind == "tbf") info.tbf = parseTbf(opts);
    }
    return info;
}

namespace {

// Loss without netem (see qdisc.h). Not atomic: the old root qdisc goes
// first, so for a moment the interface sends unshaped.
Result<void> replaceWithBpfLoss(Netlink& nl, const std::string& ifname, int ifindex,
                                double percent) {
    const std::string op = "set qdisc htb (loss without netem) on";
    auto prog = loadTcProgram(lossProgram(percent), kLossFilterName);
    if (!prog.ok()) return prog.error().wrap(op + " " + ifname);
    HERD_TRY(deleteRootQdisc(nl, ifname));
    char buf[kQdiscMsgSize];
    HERD_TRY(nl.request(buildHtbRoot(buf, ifindex), op, ifname));
    auto r = nl.request(buildLossFilter(buf, ifindex, kLossQdiscHandle, prog->get()),
                        "attach loss filter to", ifname);
    if (!r.ok()) (void)deleteRootQdisc(nl, ifname);
    return r;  // the filter holds the program; our descriptor may close
}

}  // namespace

Result<void> replaceRootQdisc(Netlink& nl, const std::string& ifname, const QdiscSpec& spec) {
    const std::string op = std::string("set qdisc ") + kindOf(spec) + " on";
    auto link = nl.link(ifname);
    if (!link.ok()) return Error::sys(link.error().errnum(), op, ifname);
    char buf[kQdiscMsgSize];
    nlmsghdr* nlh = nullptr;
    if (const auto* netem = std::get_if<NetemSpec>(&spec)) {
        nlh = buildReplaceRoot(buf, link->index, *netem);
    } else {
        auto tbf = tbfForRate(std::get<RateSpec>(spec).bits_per_second, link->mtu);
        if (!tbf.ok()) return tbf.error();
        nlh = buildReplaceRoot(buf, link->index, *tbf);
    }
    auto r = nl.request(nlh, op, ifname);
    // The kernel's answer to a qdisc kind it was built without.
    if (!r.ok() && r.error().errnum() == ENOENT) {
        const auto* netem = std::get_if<NetemSpec>(&spec);
        if (netem && netem->delay_ns == 0)
            return replaceWithBpfLoss(nl, ifname, link->index, netem->loss_percent);
        return Error::sys(ENOENT, op,
                          ifname + (netem ? " (this kernel has no netem qdisc for delay: "
                                            "CONFIG_NET_SCH_NETEM is off)"
                                          : " (this kernel has no tbf qdisc for rate limits: "
                                            "CONFIG_NET_SCH_TBF is off)"));
    }
    return r;
}

Result<void> deleteRootQdisc(Netlink& nl, const std::string& ifname) {
    const std::string op = "remove qdisc of";
    auto idx = nl.ifindex(ifname);
    if (!idx.ok()) return Error::sys(idx.error().errnum(), op, ifname);
    char buf[kQdiscMsgSize];
    auto r = nl.request(buildDeleteRoot(buf, *idx), op, ifname);
    // ENOENT: the interface has only its built-in default (handle 0).
    if (!r.ok() && r.error().errnum() == ENOENT) return Ok();
    return r;
}

Result<QdiscInfo> rootQdisc(Netlink& nl, const std::string& ifname) {
    const std::string op = "list qdiscs of";
    auto idx = nl.ifindex(ifname);
    if (!idx.ok()) return Error::sys(idx.error().errnum(), op, ifname);
    struct Found {
        int ifindex;
        std::optional<QdiscInfo> root;
    } found{*idx, std::nullopt};
    auto each = [](const nlmsghdr* m, void* data) {
        auto* f = static_cast<Found*>(data);
        auto q = parseQdisc(m);
        if (q && q->ifindex == f->ifindex && q->parent == TC_H_ROOT) f->root = std::move(q);
        return MNL_CB_OK;
    };
    char buf[kQdiscMsgSize];
    HERD_TRY(nl.dump(buildGetQdiscs(buf, *idx), each, &found, op, ifname));
    if (!found.root) return Error::sys(ENOENT, op, ifname);
    return *found.root;
}

}  // namespace herd::runtime
