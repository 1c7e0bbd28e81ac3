#include "runtime/tc_mirror.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <libmnl/libmnl.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <linux/tc_act/tc_mirred.h>

#include <cstring>

namespace herd::runtime {
namespace {

const tcmsg* tcOf(const nlmsghdr* nlh) {
    return static_cast<const tcmsg*>(mnl_nlmsg_get_payload(nlh));
}

TEST(TcMirror, ClsactQdisc) {
    char buf[kTcMirrorMsgSize];
    nlmsghdr* nlh = buildAddClsact(buf, 7);
    EXPECT_EQ(nlh->nlmsg_type, RTM_NEWQDISC);
    EXPECT_EQ(tcOf(nlh)->tcm_ifindex, 7);
    EXPECT_EQ(tcOf(nlh)->tcm_parent, TC_H_CLSACT);
}

// The filter sits on the hook asked, under the priority asked, for every
// protocol, and its mirred action names the destination and the direction.
TEST(TcMirror, FilterCarriesHookPriorityAndDestination) {
    char buf[kTcMirrorMsgSize];
    nlmsghdr* nlh = buildMirrorFilter(buf, 7, false, 42, 9, true);
    EXPECT_EQ(nlh->nlmsg_type, RTM_NEWTFILTER);
    EXPECT_EQ(tcOf(nlh)->tcm_parent, TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS));
    EXPECT_EQ(TC_H_MAJ(tcOf(nlh)->tcm_info) >> 16, 42u);
    EXPECT_EQ(TC_H_MIN(tcOf(nlh)->tcm_info), htons(ETH_P_ALL));
    // The tc_mirred struct is somewhere in the message: find it by its fields.
    const char* p = static_cast<const char*>(static_cast<const void*>(nlh));
    bool found = false;
    for (size_t off = 0; off + sizeof(tc_mirred) <= nlh->nlmsg_len && !found; off += 4) {
        tc_mirred m;
        std::memcpy(&m, p + off, sizeof m);
        found = m.ifindex == 9 && m.eaction == TCA_INGRESS_MIRROR && m.action == TC_ACT_PIPE;
    }
    EXPECT_TRUE(found);
    nlmsghdr* del = buildDeleteFilter(buf, 7, true, 42);
    EXPECT_EQ(del->nlmsg_type, RTM_DELTFILTER);
    EXPECT_EQ(tcOf(del)->tcm_parent, TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS));
    EXPECT_EQ(TC_H_MAJ(tcOf(del)->tcm_info) >> 16, 42u);
}

}  // namespace
}  // namespace herd::runtime
