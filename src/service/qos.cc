#include "service/qos.h"

#include <fmt/format.h>

#include <functional>
#include <limits>

#include "service/gostr.h"
#include "service/herd.h"
#include "service/vm_ops.h"

namespace herd {

namespace {

// What a NIC index may be, for the error texts.
constexpr const char* kIndexAllowed = "want a NIC index (0, 1, ...) as `vm info` lists them";

Result<size_t> parseIndex(const std::string& text, const char* allowed) {
    auto v = go::parseUint(text);
    if (!v.ok() || *v > std::numeric_limits<uint32_t>::max())
        return Error::msg(fmt::format("invalid tap index {}: {}", text, allowed));
    return static_cast<size_t>(*v);
}

struct Unit {
    const char* name;
    uint64_t bits;  // bits per second of one
};
constexpr Unit kUnits[] = {{"kbit", 1000}, {"mbit", 1000000}, {"gbit", 1000000000}};

// The rate of a stored `<bw><unit>` in bits per second (0 when malformed,
// which parseRate never stores).
uint64_t rateBits(const std::string& rate) {
    for (const auto& u : kUnits) {
        const std::string_view name = u.name;
        if (rate.size() <= name.size() ||
            rate.compare(rate.size() - name.size(), name.size(), name) != 0)
            continue;
        auto bw = go::parseUint(std::string_view(rate).substr(0, rate.size() - name.size()));
        if (!bw.ok() || *bw > std::numeric_limits<uint64_t>::max() / u.bits) return 0;
        return *bw * u.bits;
    }
    return 0;
}

// A NIC whose host end can be shaped: the container has its veths.
bool hasVeths(const Vm& vm) {
    return inStates(vm.state, kKillable);
}

std::string tapOf(const Vm& vm, size_t nic) {
    const std::string& tap = vm.config.networks[nic].tap;
    return tap.empty() ? fmt::format("{} of vm {}", nic, vm.name) : tap;
}

// Selects the NICs of `target` to change (checking them all first), asks the
// runtime to shape them, and records what succeeded.
using Plan = std::function<std::optional<NicQos>(const Vm& vm, size_t nic)>;

Result<void> applyToTarget(Herd& herd, const std::string& ns, const std::string& target,
                           std::optional<size_t> only_nic, bool need_veths, const Plan& plan) {
    std::vector<QosRequest> reqs;
    std::vector<std::string> errors;
    auto sel = applyTarget(herd, ns, target, [&](Vm& vm, bool wild, std::vector<std::string>&) {
        const auto& nets = vm.config.networks;
        if (only_nic && *only_nic >= nets.size()) {
            errors.push_back(fmt::format("invalid tap index specified: {} (vm {} has {} NIC{})",
                                         *only_nic, vm.name, nets.size(),
                                         nets.size() == 1 ? "" : "s"));
            return true;
        }
        if (need_veths && !hasVeths(vm)) {
            if (wild) return true;  // nothing to shape until it runs again
            errors.push_back(
                fmt::format("tap {} not found: vm {} is {}; qos needs a building, running or "
                            "paused VM",
                            tapOf(vm, only_nic.value_or(0)), vm.name, stateString(vm.state)));
            return true;
        }
        for (size_t i = 0; i < nets.size(); ++i) {
            if (only_nic && i != *only_nic) continue;
            if (auto q = plan(vm, i)) reqs.push_back({&vm, i, std::move(*q)});
        }
        return true;
    });
    if (!sel.ok()) errors.push_back(sel.error().text());
    if (!errors.empty()) return joinErrors(errors);
    if (reqs.empty()) return Ok();
    auto results = herd.runtime().applyQos(reqs);
    for (size_t k = 0; k < reqs.size(); ++k) {
        if (k < results.size() && !results[k].ok()) {
            errors.push_back(results[k].error().text());
            continue;
        }
        reqs[k].vm->config.networks[reqs[k].nic].qos = reqs[k].qos;
        herd.runtime().saveRecords({reqs[k].vm});
    }
    return joinErrors(errors);
}

}  // namespace

Result<size_t> parseQosInterface(const std::string& text) {
    if (text == "all")
        return Error::msg("wildcard qos not implemented: " + std::string(kIndexAllowed));
    return parseIndex(text, kIndexAllowed);
}

Result<std::optional<size_t>> parseClearIndex(const std::string& text) {
    if (text == "all") return std::optional<size_t>();
    auto i = parseIndex(text, "want a NIC index (0, 1, ...) or all");
    if (!i.ok()) return i.error();
    return std::optional<size_t>(*i);
}

Result<QosChange> parseLoss(const std::string& percent) {
    double v = 0;
    if (!go::parseDecimal(percent, v) || !(v >= 0 && v < 100)) {
        return Error::msg(fmt::format(
            "invalid loss: `{}`: want a percentage from 0 to less than 100 (5, 0.5)", percent));
    }
    return QosChange{QosChange::Loss, percent};
}

Result<QosChange> parseDelay(const std::string& duration) {
    std::string stored = duration;
    auto v = go::parseDuration(duration);
    if (!v.ok()) {
        stored = duration + "ms";
        v = go::parseDuration(stored);
    }
    if (!v.ok()) {
        return Error::msg(fmt::format(
            "invalid duration: `{}`: want a duration (100ms, 1.5s, 250us, 1m) or a number of "
            "milliseconds",
            duration));
    }
    if (*v < 0) return Error::msg(fmt::format("delay cannot be negative: `{}`", duration));
    return QosChange{QosChange::Delay, stored};
}

Result<QosChange> parseRate(const std::string& bw, const std::string& unit) {
    uint64_t per = 0;
    for (const auto& u : kUnits)
        if (unit == u.name) per = u.bits;
    auto v = go::parseUint(bw);
    const uint64_t most = per ? std::numeric_limits<uint64_t>::max() / per : 0;
    if (per == 0 || !v.ok() || *v == 0 || *v > most) {
        return Error::msg(fmt::format(
            "invalid rate: `{}`: want a whole number from 1 to {} followed by kbit, mbit or gbit",
            bw, per ? most : std::numeric_limits<uint64_t>::max() / 1000));
    }
    return QosChange{QosChange::Rate, bw + unit};
}

NicQos withChange(const NicQos& current, const QosChange& change) {
    NicQos q = current;
    switch (change.kind) {
        case QosChange::Rate:
            q = NicQos{};
            q.rate = change.value;
            break;
        case QosChange::Loss:
            q.rate.clear();
            q.loss = change.value;
            break;
        case QosChange::Delay:
            q.rate.clear();
            q.delay = change.value;
            break;
    }
    return q;
}

runtime::QdiscSpec qdiscOf(const NicQos& q) {
    if (!q.rate.empty()) return runtime::RateSpec{rateBits(q.rate)};
    runtime::NetemSpec n;
    if (!q.loss.empty()) (void)go::parseDecimal(q.loss, n.loss_percent);
    if (!q.delay.empty()) {
        auto d = go::parseDuration(q.delay);
        if (d.ok() && *d > 0) n.delay_ns = static_cast<uint64_t>(*d);
    }
    return n;
}

std::string qosText(const NicQos& q) {
    std::vector<std::string> items;
    if (!q.rate.empty()) items.push_back("rate " + q.rate);
    if (!q.loss.empty()) items.push_back("loss " + q.loss);
    if (!q.delay.empty()) items.push_back("delay " + q.delay);
    return fmt::format("{}", fmt::join(items, " "));
}

std::string qosColumn(const std::vector<NetConfig>& nets) {
    std::vector<std::string> entries;
    for (size_t i = 0; i < nets.size(); ++i)
        if (!nets[i].qos.empty()) entries.push_back(fmt::format("{}: {}", i, qosText(nets[i].qos)));
    return fmt::format("[{}]", fmt::join(entries, ", "));
}

Result<void> addQos(Herd& herd, const std::string& ns, const std::string& target, size_t nic,
                    const QosChange& change) {
    return applyToTarget(herd, ns, target, nic, /*need_veths=*/true,
                         [&](const Vm& vm, size_t i) -> std::optional<NicQos> {
                             return withChange(vm.config.networks[i].qos, change);
                         });
}

Result<void> clearQos(Herd& herd, const std::string& ns, const std::string& target,
                      std::optional<size_t> nic) {
    // As minimega: only NICs that have qos are touched; a VM without veths
    // has none (it went with them).
    return applyToTarget(herd, ns, target, nic, /*need_veths=*/false,
                         [](const Vm& vm, size_t i) -> std::optional<NicQos> {
                             if (vm.config.networks[i].qos.empty()) return std::nullopt;
                             return NicQos{};
                         });
}

}  // namespace herd
