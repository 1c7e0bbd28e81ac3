// qos add, clear qos (service/qos.h has the rules; `vm info` shows the
// result in its qos column).
#include "service/qos.h"
#include "service/commands/commands.h"
#include "service/commands/vm_internal.h"

namespace herd {

namespace {

using cli::Command;

void cliQosAdd(Command& c, CommandContext& ctx) {
    // minimega's order: the interface, then the value, then the VMs.
    auto nic = parseQosInterface(c.str("interface"));
    if (!nic.ok()) return ctx.fail(nic.error().text());
    Result<QosChange> change = Error::msg("");
    if (c.flag("loss")) {
        change = parseLoss(c.str("percent"));
    } else if (c.flag("delay")) {
        change = parseDelay(c.str("duration"));
    } else {
        std::string unit = c.flag("kbit") ? "kbit" : c.flag("mbit") ? "mbit" : "gbit";
        change = parseRate(c.str("bw"), unit);
    }
    if (!change.ok()) return ctx.fail(change.error().text());
    okOrFail(ctx, addQos(ctx.herd(), ctx.ns(), c.str("vm"), *nic, *change));
}

void cliQosClear(Command& c, CommandContext& ctx) {
    auto nic = parseClearIndex(c.has("tap") ? c.str("tap") : std::string());
    if (!nic.ok()) return ctx.fail(nic.error().text());
    okOrFail(ctx, clearQos(ctx.herd(), ctx.ns(), c.str("vm"), *nic));
}

}  // namespace

void registerQosCommands(Herd& herd) {
    addHandler(
        herd,
        makeHandler(
            "add qos constraints to an interface",
            "Add quality-of-service (qos) constraints to a VM's interface to emulate real\n"
            "networks. The interface is the NIC's index in `vm info` (zero indexed); VMs are\n"
            "targets as for \"vm start\", within the active namespace. Constraints:\n\n"
            "- loss\t: drop packets at random with the given probability, in percent\n"
            "\t  (0 to less than 100)\n"
            "- delay\t: delay every packet by a duration (100ms, 1.5s, 250us; a bare\n"
            "\t  number is milliseconds)\n"
            "- rate\t: limit the bandwidth to a whole number of kbit, mbit or gbit\n"
            "\t  per second\n\n"
            "Loss and delay add up (\"loss 5\" then \"delay 100ms\" keeps both); a later value\n"
            "of the same kind replaces the earlier. Rate excludes loss and delay: adding\n"
            "one drops the other.\n\n"
            "Only traffic the VM receives is shaped: the constraint is the queueing\n"
            "discipline of the host end of the NIC (netem for loss and delay, a token\n"
            "bucket for rate), whose egress is the VM's ingress. What the VM sends is not.\n"
            "Without netem in the kernel, loss alone is a BPF filter; delay is refused.\n"
            "Constraints last while the container has its interfaces: \"vm kill\" drops\n"
            "them, and a restarted VM has none.\n\n"
            "Examples:\n\n"
            "\tqos add foo[0-2] 0 loss 25\n"
            "\tqos add foo,bar 0 delay 100ms\n"
            "\tqos add all 0 rate 1 mbit\n\n"
            "Remove them with \"clear qos <vm> <interface|all>\". The qos column of \"vm info\"\n"
            "shows them, per interface: [0: loss 25 delay 100ms].",
            {"qos <add,> <vm target> <interface> <loss,> <percent>",
             "qos <add,> <vm target> <interface> <delay,> <duration>",
             "qos <add,> <vm target> <interface> <rate,> <bw> <kbit,mbit,gbit>"},
            cliQosAdd, vmSuggest(true)));
    addHandler(herd,
               makeHandler("clear qos constraints on an interface",
                           "Remove the qos constraints of a VM's interface, or of all its "
                           "interfaces\nwith the wildcard:\n\n"
                           "\tclear qos foo 0\n"
                           "\tclear qos foo all\n\n"
                           "See \"vm start\" for the targets.",
                           {"clear qos <vm target> [tap index]"}, cliQosClear, vmSuggest(true)));
}

}  // namespace herd
