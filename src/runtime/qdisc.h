// Traffic control (rtnetlink RTM_*QDISC) on libmnl: the root queueing
// discipline of a host interface, which shapes everything the interface
// sends. On a NIC's host end (the veth whose peer is the guest's veth<i>)
// that is the traffic the guest receives; what the guest sends is not shaped.
//
// Two disciplines, as `qos` uses them:
//   netem  a fixed delay and/or random loss of each packet;
//   tbf    a token bucket: a rate limit with a small burst and queue.
// On a kernel without netem, loss alone is done another way: a root htb
// qdisc with no classes (it sends everything on, unshaped) whose one filter
// is tc_bpf's loss program, which drops each packet with the asked
// probability. Delay has no such way here (it needs netem).
// A root qdisc belongs to its interface and goes with it: deleting the veth
// (or its network namespace dying) removes it, so nothing here needs an undo
// beyond deleteRootQdisc.
//
// The message builders and the parser are pure (unit tested without a
// kernel); the operations go through a runtime::Netlink socket.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "base/result.h"
#include "runtime/netlink.h"

struct nlmsghdr;

namespace herd::runtime {

struct NetemSpec {
    uint64_t delay_ns = 0;
    double loss_percent = 0;        // 0 to 100
    uint32_t limit_packets = 1000;  // packets held (delayed) at once, as tc's default
    bool operator==(const NetemSpec&) const = default;
};

// A rate limit as asked; made into a tbf (tbfForRate) for the interface's MTU.
struct RateSpec {
    uint64_t bits_per_second = 0;
    bool operator==(const RateSpec&) const = default;
};

using QdiscSpec = std::variant<NetemSpec, RateSpec>;

// A token bucket filter's parameters as the kernel takes them.
struct TbfSpec {
    uint64_t rate_bytes = 0;   // bytes per second
    uint32_t burst_bytes = 0;  // bucket size: the largest packet must fit
    uint32_t limit_bytes = 0;  // queue behind the bucket
    bool operator==(const TbfSpec&) const = default;
};

// The tbf for `bits_per_second` on an interface of MTU `mtu`: a bucket of
// 10 ms at the rate (what one 100 Hz clock tick allows, as minimega's
// `tc ... burst` computes it) but never less than one full frame, and a
// queue of 50 ms at the rate on top of the bucket, never less than four
// frames. An error (EINVAL) when the rate is below 8 bit/s (0 bytes/s).
Result<TbfSpec> tbfForRate(uint64_t bits_per_second, uint32_t mtu);

// The root qdisc of an interface, as the kernel reports it.
struct QdiscInfo {
    int ifindex = 0;
    uint32_t handle = 0;
    uint32_t parent = 0;
    std::string kind;  // "netem", "tbf", "noqueue" (a veth's default), ...
    std::optional<NetemSpec> netem;
    std::optional<TbfSpec> tbf;
};

// Message builders, into `buf` (at least kQdiscMsgSize bytes); they return
// the message (nlmsg_seq and NLM_F_ACK are the socket's to set).
inline constexpr size_t kQdiscMsgSize = 512;
// The header of any tc message (qdisc, filter) for `ifindex`, zeroing `buf`.
nlmsghdr* startTcMessage(char* buf, uint16_t type, uint16_t flags, int ifindex, uint32_t parent,
                         uint32_t handle, uint32_t info = 0);
// `tc qdisc replace dev <ifindex> root netem|tbf ...`: creates the root
// qdisc, or changes it in place when it has that kind already, or swaps it
// atomically for one of the other kind. A failure leaves the old one.
nlmsghdr* buildReplaceRoot(char* buf, int ifindex, const NetemSpec& spec);
nlmsghdr* buildReplaceRoot(char* buf, int ifindex, const TbfSpec& spec);
// `tc qdisc add dev <ifindex> root handle 1: htb` (no default class).
inline constexpr uint32_t kLossQdiscHandle = 0x10000;
nlmsghdr* buildHtbRoot(char* buf, int ifindex);
// `tc qdisc del dev <ifindex> root`: back to the interface's default.
nlmsghdr* buildDeleteRoot(char* buf, int ifindex);
// `tc qdisc show dev <ifindex>` (a dump the kernel filters by ifindex).
nlmsghdr* buildGetQdiscs(char* buf, int ifindex);
// Parses one RTM_NEWQDISC message; nullopt when it is something else.
std::optional<QdiscInfo> parseQdisc(const nlmsghdr* nlh);

// The operations, on interface `ifname` of the caller's network namespace.
// Errors read `set qdisc netem on <ifname>: <strerror> (<ERRNO>)`; an
// interface that does not exist is ENODEV. A RateSpec becomes the tbf of
// tbfForRate for the interface's MTU. A NetemSpec without delay becomes the
// htb + BPF loss filter when the kernel has no netem.
Result<void> replaceRootQdisc(Netlink& nl, const std::string& ifname, const QdiscSpec& spec);
// Removes the root qdisc; Ok when the interface has only its default one.
Result<void> deleteRootQdisc(Netlink& nl, const std::string& ifname);
// The interface's root qdisc.
Result<QdiscInfo> rootQdisc(Netlink& nl, const std::string& ifname);

}  // namespace herd::runtime
