#include "runtime/tc_mirror.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <linux/tc_act/tc_mirred.h>

#include <cstring>

namespace herd::runtime {

namespace {

uint32_t hookParent(bool ingress_hook) {
    return TC_H_MAKE(TC_H_CLSACT, ingress_hook ? TC_H_MIN_INGRESS : TC_H_MIN_EGRESS);
}

uint32_t filterInfo(uint16_t prio) {
    return TC_H_MAKE(static_cast<uint32_t>(prio) << 16, htons(ETH_P_ALL));
}

}  // namespace

nlmsghdr* buildAddClsact(char* buf, int ifindex) {
    nlmsghdr* nlh = startTcMessage(buf, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, ifindex,
                                   TC_H_CLSACT, TC_H_MAKE(TC_H_CLSACT, 0), 0);
    mnl_attr_put_strz(nlh, TCA_KIND, "clsact");
    return nlh;
}

nlmsghdr* buildMirrorFilter(char* buf, int ifindex, bool ingress_hook, uint16_t prio,
                            int to_ifindex, bool to_ingress) {
    nlmsghdr* nlh = startTcMessage(buf, RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL, ifindex,
                                   hookParent(ingress_hook), 0, filterInfo(prio));
    mnl_attr_put_strz(nlh, TCA_KIND, "u32");
    nlattr* opts = mnl_attr_nest_start(nlh, TCA_OPTIONS);
    // One key with an empty mask: every frame matches.
    // (tc_u32_sel ends in a flexible array of keys: built in bytes.)
    char sel[sizeof(tc_u32_sel) + sizeof(tc_u32_key)] = {};
    tc_u32_sel head{};
    head.flags = TC_U32_TERMINAL;
    head.nkeys = 1;
    std::memcpy(sel, &head, sizeof head);
    mnl_attr_put(nlh, TCA_U32_SEL, sizeof sel, sel);
    nlattr* acts = mnl_attr_nest_start(nlh, TCA_U32_ACT);
    nlattr* act = mnl_attr_nest_start(nlh, 1);
    mnl_attr_put_strz(nlh, TCA_ACT_KIND, "mirred");
    nlattr* aopts = mnl_attr_nest_start(nlh, TCA_ACT_OPTIONS);
    tc_mirred m{};
    m.action = TC_ACT_PIPE;  // the original frame goes on as if not mirrored
    m.eaction = to_ingress ? TCA_INGRESS_MIRROR : TCA_EGRESS_MIRROR;
    m.ifindex = static_cast<uint32_t>(to_ifindex);
    mnl_attr_put(nlh, TCA_MIRRED_PARMS, sizeof m, &m);
    mnl_attr_nest_end(nlh, aopts);
    mnl_attr_nest_end(nlh, act);
    mnl_attr_nest_end(nlh, acts);
    mnl_attr_nest_end(nlh, opts);
    return nlh;
}

nlmsghdr* buildDeleteFilter(char* buf, int ifindex, bool ingress_hook, uint16_t prio) {
    nlmsghdr* nlh = startTcMessage(buf, RTM_DELTFILTER, 0, ifindex, hookParent(ingress_hook), 0,
                                   filterInfo(prio));
    return nlh;
}

Result<void> addTcMirror(Netlink& nl, const std::string& src, const std::string& dst, uint16_t prio,
                         bool to_ingress) {
    const std::string object = src + " to " + dst;
    auto from = nl.ifindex(src);
    if (!from.ok()) return Error::sys(from.error().errnum(), "mirror", object);
    auto to = nl.ifindex(dst);
    if (!to.ok()) return Error::sys(to.error().errnum(), "mirror", object);
    char buf[kTcMirrorMsgSize];
    auto q = nl.request(buildAddClsact(buf, *from), "add clsact qdisc to", src);
    if (!q.ok() && q.error().errnum() != EEXIST) return q.error().wrap("mirror " + object);
    for (bool ingress : {true, false}) {
        auto r = nl.request(
            buildMirrorFilter(buf, *from, ingress, prio, *to, to_ingress),
            std::string("add ") + (ingress ? "ingress" : "egress") + " mirror filter to", src);
        if (!r.ok()) {
            (void)removeTcMirror(nl, src, prio);
            return r.error().wrap("mirror " + object);
        }
    }
    return Ok();
}

Result<void> removeTcMirror(Netlink& nl, const std::string& src, uint16_t prio) {
    auto from = nl.ifindex(src);
    if (!from.ok()) return from.error().errnum() == ENODEV ? Ok() : Result<void>(from.error());
    char buf[kTcMirrorMsgSize];
    for (bool ingress : {true, false}) {
        auto r = nl.request(buildDeleteFilter(buf, *from, ingress, prio), "remove mirror filter of",
                            src);
        if (!r.ok() && r.error().errnum() != ENOENT && r.error().errnum() != ENODEV &&
            r.error().errnum() != EINVAL)
            return r;
    }
    return Ok();
}

}  // namespace herd::runtime
