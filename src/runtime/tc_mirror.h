// Port mirroring with traffic control (rtnetlink, libmnl), for the
// kernel-bridge backend's `tap mirror`: a copy of every frame a source
// interface receives and sends goes out of a destination interface.
//
// The source gets a clsact qdisc (the ingress and egress hooks, which leave
// the root qdisc, and so `qos`, alone) and on each hook one u32 filter that
// matches every frame, with a mirred action mirroring it to the destination.
// Both filters of one mirror share a priority, which names them for removal,
// so one source may feed several destinations. Filters and qdisc belong to
// the source interface and go with it.
//
// The message builders are pure (unit tested without a kernel).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "base/result.h"
#include "runtime/netlink.h"
#include "runtime/qdisc.h"

struct nlmsghdr;

namespace herd::runtime {

inline constexpr size_t kTcMirrorMsgSize = kQdiscMsgSize;  // startTcMessage zeroes that much

// `tc qdisc add dev <ifindex> clsact`.
nlmsghdr* buildAddClsact(char* buf, int ifindex);
// `tc filter add dev <ifindex> ingress|egress pref <prio> protocol all u32
// match u32 0 0 action mirred egress|ingress mirror dev <to_ifindex>`.
// `to_ingress`: the copy is received by the destination (a host-side
// interface) rather than sent out of it (a veth whose peer is the reader).
nlmsghdr* buildMirrorFilter(char* buf, int ifindex, bool ingress_hook, uint16_t prio,
                            int to_ifindex, bool to_ingress);
// `tc filter del dev <ifindex> ingress|egress pref <prio>`.
nlmsghdr* buildDeleteFilter(char* buf, int ifindex, bool ingress_hook, uint16_t prio);

// Mirrors both directions of `src` onto `dst` under priority `prio` (1 to
// 65535, unique among the mirrors of `src`). All or nothing. Errors read
// `mirror <src> to <dst>: ...`.
Result<void> addTcMirror(Netlink& nl, const std::string& src, const std::string& dst, uint16_t prio,
                         bool to_ingress);
// Removes the mirror of priority `prio` from `src`; Ok when `src` or the
// filters are gone already.
Result<void> removeTcMirror(Netlink& nl, const std::string& src, uint16_t prio);

}  // namespace herd::runtime
