// `qos add` and `clear qos`: minimega's traffic shaping of a VM's NIC, as
// decisions. The input checks (minimega's, in its order and with its error
// texts, each followed by what is allowed), how a change combines with what
// the NIC has, the `qos` column of `vm info`, and the application to the VMs
// a target selects. The kernel side is runtime/qdisc, reached through
// Runtime::applyQos.
//
// Direction, as in minimega: the qdisc sits on the host end of the NIC's
// veth (minimega: the tap), whose egress is what the guest receives. Traffic
// the guest sends is not shaped.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "runtime/qdisc.h"
#include "service/vmconfig.h"

namespace herd {

class Herd;

struct QosChange {
    enum Kind { Loss, Delay, Rate } kind = Loss;
    std::string value;  // as stored and shown: `5`, `100ms`, `1mbit`
};

// The <interface> of `qos add`: a NIC index. `all` is refused (as in
// minimega: `wildcard qos not implemented`).
Result<size_t> parseQosInterface(const std::string& text);
// The [tap index] of `clear qos`: a NIC index, or nullopt for `all`.
Result<std::optional<size_t>> parseClearIndex(const std::string& text);
// `loss <percent>`: 0 <= percent < 100, kept as typed.
Result<QosChange> parseLoss(const std::string& percent);
// `delay <duration>`: a Go duration, or a bare number of milliseconds (kept
// with `ms` appended); not negative.
Result<QosChange> parseDelay(const std::string& duration);
// `rate <bw> <unit>`: bw a whole number, unit kbit|mbit|gbit (1000-based);
// kept as `<bw><unit>`. At least 1, and within 64 bits of bits per second.
Result<QosChange> parseRate(const std::string& bw, const std::string& unit);

// What the NIC has after `change`: a later value of a kind replaces the
// earlier; rate drops loss and delay, loss or delay drops rate.
NicQos withChange(const NicQos& current, const QosChange& change);

// The queueing discipline that shapes as `q` says (q not empty; its values
// passed the parse* checks): netem for loss and/or delay, tbf for rate.
runtime::QdiscSpec qdiscOf(const NicQos& q);

// `rate 1mbit`, `loss 5 delay 100ms`: the items in minimega's order.
std::string qosText(const NicQos& q);
// The `qos` column of `vm info`: `[0: loss 5, 1: rate 1mbit]`, `[]`.
std::string qosColumn(const std::vector<NetConfig>& nets);

// `qos add <target> <nic> ...`. Every VM the target selects is checked
// first (the NIC exists, the container has its veths); any failure changes
// nothing. With `all`, VMs without veths (QUIT, ERROR) are skipped. Then the
// qdisc of each is replaced; a VM whose kernel change fails keeps what it had.
Result<void> addQos(Herd& herd, const std::string& ns, const std::string& target, size_t nic,
                    const QosChange& change);
// `clear qos <target> <nic|all>`: removes the qdisc of NICs that have qos.
Result<void> clearQos(Herd& herd, const std::string& ns, const std::string& target,
                      std::optional<size_t> nic);

}  // namespace herd
