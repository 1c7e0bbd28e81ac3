// A delay line: `qos ... delay` on a kernel built without the netem qdisc
// (which is what would delay packets in the kernel). What goes out of a
// NIC's host end towards the guest is held in the daemon for the delay and
// then sent on, so the guest receives it that much later, as with netem.
//
//   * A tc BPF filter on the egress hook of the host end (clsact, priority
//     kDelayFilterPrio, so before any tap mirror filter) redirects each
//     packet out of the delay line's own tap, after dropping the asked
//     share of them (qos loss and delay add up, as netem's do).
//   * The daemon reads the tap, keeps each frame until its time (now +
//     delay when read), and sends it out of the host end again through a
//     packet socket whose packets carry the mark kDelayMark. The filter lets
//     marked packets through (unmarked), so they reach the tap mirrors, the
//     captures and the guest once, after their delay.
//   * At most `limit` frames wait at once (netem's default, 1000); more are
//     dropped, so a flood towards a delayed guest costs bounded memory.
//
// The tap is not persistent: it disappears with the daemon (or soon after
// close()), and the filter with the host end. Each step of create() is undone when a
// later one fails. Frames are copied through user space: fine for the rates
// experiments delay (tens of thousands of packets a second), not a
// replacement for netem at line rate.
//
// create, change and close run on the caller's thread (netlink there); the
// reading and sending run on the io_context's thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "base/result.h"
#include "runtime/netlink.h"

namespace herd::runtime {

inline constexpr uint32_t kDelayMark = 0x68657264;  // "herd"
inline constexpr uint16_t kDelayFilterPrio = 1;     // tap mirrors use 2 and up
inline constexpr const char* kDelayFilterName = "herd_delay";

struct DelayLineSpec {
    std::string ifname;    // the NIC's host end
    std::string tap_name;  // the delay line's tap (at most 15 bytes)
    uint64_t delay_ns = 0;
    double loss_percent = 0;
    size_t limit = 1000;  // frames waiting at once
};

class DelayLine {
  public:
    static Result<std::shared_ptr<DelayLine>> create(boost::asio::io_context& io, Netlink& nl,
                                                     const DelayLineSpec& spec);
    virtual ~DelayLine() = default;

    // A new delay and loss share, in place (the filter is replaced in one
    // step; frames already waiting keep their time).
    virtual Result<void> change(Netlink& nl, uint64_t delay_ns, double loss_percent) = 0;
    // Removes the filter (when `nl` is given; the host end may be gone
    // already) and stops: the tap goes, waiting frames are dropped.
    virtual void close(Netlink* nl) = 0;
    // Frames sent on after their delay, and frames dropped because `limit`
    // were waiting or the host end would not take them.
    virtual uint64_t sent() const = 0;
    virtual uint64_t dropped() const = 0;
};

}  // namespace herd::runtime
