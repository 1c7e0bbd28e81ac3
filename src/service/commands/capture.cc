// capture, clear capture: pcap files of VM NICs and bridges (service/capture.h).
#include <fmt/format.h>

#include "service/capture.h"
#include "service/commands/commands.h"
#include "service/commands/vm_internal.h"
#include "service/gostr.h"
#include "service/names.h"

namespace herd {

namespace {

using cli::Command;

// The argument `key` when the user typed it (`has` also answers for a
// same-named flag: `capture netflow bridge <bridge>`).
bool typed(const Command& c, const std::string& key) {
    return c.strings.count(key) != 0;
}

Result<int> parseInterface(const std::string& s) {
    auto v = go::atoi(s);
    if (!v.ok() || !go::isInt32(s)) return Error::msg("invalid interface: `" + s + "`");
    return static_cast<int>(*v);
}

// minimega's columns, then herd's: how many frames reached the file, how
// many the kernel dropped because the writer fell behind, and whether it
// still runs.
void listCaptures(Command&, CommandContext& ctx) {
    std::vector<std::vector<std::string>> rows;
    if (ctx.herd().capturesIfAny()) {
        for (const Capture* c : ctx.herd().captures().list(ctx.ns())) {
            runtime::CaptureStats st;
            if (c->pcap) st = c->pcap->stats();
            std::string state = st.running ? "running" : "stopped";
            if (!st.error.empty()) state += ": " + st.error;
            const bool vm = c->kind == Capture::Kind::PcapVm;
            rows.push_back({c->bridge, "pcap", vm ? fmt::format("{}:{}", c->vm_name, c->iface) : "",
                            "", "", c->path, std::to_string(st.packets), std::to_string(st.dropped),
                            state});
        }
    }
    ctx.table(
        {"bridge", "type", "interface", "mode", "compress", "path", "packets", "dropped", "state"},
        std::move(rows));
}

void captureConfig(Command& c, CommandContext& ctx) {
    CaptureSettings& s = ctx.herd().captures().settings(ctx.ns());
    if (c.flag("snaplen")) {
        if (!typed(c, "size")) return ctx.reply(std::to_string(s.snaplen));
        auto v = go::parseUint(c.str("size"), 32);
        if (!v.ok()) return ctx.fail(v.error().text());
        s.snaplen = static_cast<uint32_t>(*v);
        return ctx.ok();
    }
    if (c.flag("filter")) {
        if (!typed(c, "bpf")) return ctx.reply(s.filter);
        s.filter = c.str("bpf");
        return ctx.ok();
    }
    if (c.flag("mode")) {
        if (c.flag("raw") || c.flag("ascii")) {
            s.netflow_ascii = c.flag("ascii");
            return ctx.ok();
        }
        return ctx.reply(s.netflow_ascii ? "ascii" : "raw");
    }
    if (c.flag("gzip")) {
        if (c.flag("true") || c.flag("false")) {
            s.netflow_gzip = c.flag("true");
            return ctx.ok();
        }
        return ctx.reply(s.netflow_gzip ? "true" : "false");
    }
}

void captureVm(Command& c, CommandContext& ctx) {
    Herd& herd = ctx.herd();
    const std::string name = c.str("vm");
    if (c.flag("delete")) {
        std::optional<int> iface;
        if (typed(c, "interface")) {
            auto i = parseInterface(c.str("interface"));
            if (!i.ok()) return ctx.fail(i.error().text());
            iface = *i;
        }
        if (!herd.capturesIfAny()) return ctx.fail("vm not found: " + name);
        return okOrFail(ctx, herd.captures().deleteVm(ctx.ns(), name, iface, captureSwitch(herd)));
    }
    auto iface = parseInterface(c.str("interface"));
    if (!iface.ok()) return ctx.fail(iface.error().text());
    Vm* vm = herd.vms().find(ctx.ns(), name);
    if (!vm) return ctx.fail("vm not found: " + name);
    const auto& nets = vm->config.networks;
    if (*iface < 0 || static_cast<size_t>(*iface) >= nets.size()) {
        return ctx.fail(fmt::format("no such interface {} for {}", *iface, vm->name));
    }
    if (!captureSwitch(herd)) {
        return ctx.fail("capture needs the container runtime (not -runtime dry)");
    }
    const NetConfig& nic = nets[static_cast<size_t>(*iface)];
    if (!inStates(vm->state, kKillable) || nic.tap.empty()) {
        return ctx.fail("unknown tap on bridge " + nic.bridge + ": " + nic.tap);
    }
    // As minimega: a relative name is beneath the file root.
    std::string path = c.str("filename");
    const bool relative = path.empty() || path[0] != '/';
    auto out = openCaptureFile(herd.filesDir().get(), path);
    if (!out.ok()) return ctx.fail(out.error().text());
    if (relative) path = go::joinPath(herd.options().filepath, path);
    okOrFail(ctx, herd.captures().startVm(ctx.ns(), *vm, *iface, nic.tap, path, std::move(*out)));
}

void capturePcapBridge(Command& c, CommandContext& ctx) {
    Herd& herd = ctx.herd();
    const std::string bridge = c.str("bridge");
    if (c.flag("delete")) {
        if (!herd.capturesIfAny()) return ctx.ok();
        return okOrFail(ctx, herd.captures().deleteBridge(ctx.ns(), bridge, captureSwitch(herd)));
    }
    runtime::SwitchBackend* sw = captureSwitch(herd);
    if (!sw) return ctx.fail("capture needs the container runtime (not -runtime dry)");
    // As minimega: the name as given (relative to the daemon's directory).
    const std::string path = c.str("filename");
    auto out = openCaptureFile(nullptr, path);
    if (!out.ok()) return ctx.fail(out.error().text());
    okOrFail(ctx, herd.captures().startBridge(ctx.ns(), bridge, path, std::move(*out), *sw));
}

void captureNetflow(Command& c, CommandContext& ctx) {
    CaptureService& cs = ctx.herd().captures();
    if (c.flag("timeout")) {
        if (!typed(c, "timeout")) return ctx.reply(std::to_string(cs.netflow_timeout));
        auto v = go::parseUint(c.str("timeout"), 32);
        if (!v.ok()) return ctx.fail(v.error().text());
        cs.netflow_timeout = static_cast<uint32_t>(*v);
        return ctx.ok();
    }
    if (c.flag("delete")) return ctx.ok();  // there is never a netflow capture to delete
    ctx.fail("capture netflow: not implemented (herd has no NetFlow collector; use capture pcap)");
}

void captureCommand(Command& c, CommandContext& ctx) {
    if (c.flag("netflow")) return captureNetflow(c, ctx);
    capturePcapBridge(c, ctx);
}

void clearCapture(Command&, CommandContext& ctx) {
    if (!ctx.herd().capturesIfAny()) return ctx.ok();
    okOrFail(ctx, ctx.herd().captures().deleteAll(ctx.ns(), captureSwitch(ctx.herd())));
}

}  // namespace

void registerCaptureCommands(Herd& herd) {
    addHandler(herd, makeHandler("show active captures", "", {"capture"}, listCaptures));
    addHandler(herd,
               makeHandler("configure captures", "",
                           {"capture <pcap,> <snaplen,> [size]", "capture <pcap,> <filter,> [bpf]",
                            "capture <netflow,> <mode,> [raw,ascii]",
                            "capture <netflow,> <gzip,> [true,false]"},
                           captureConfig));
    addHandler(herd, makeHandler("capture experiment data for a VM", "",
                                 {"capture <pcap,> vm <vm name> <interface index> <filename>",
                                  "capture <pcap,> <delete,> vm <vm name> [interface index]"},
                                 captureVm, vmSuggest(true)));
    addHandler(
        herd,
        makeHandler(
            "capture experiment data",
            "Capture the traffic of a VM's interface or of a whole bridge to a pcap file\n"
            "(tcpdump -r reads it). Settings for new captures of the namespace:\n\n"
            "\tcapture pcap snaplen <size>   bytes kept of each frame (0 = 1600)\n"
            "\tcapture pcap filter <bpf>     only frames matching a tcpdump filter\n\n"
            "Examples:\n\n"
            "\t# Capture all bridge foo traffic to foo.pcap\n"
            "\tcapture pcap bridge foo foo.pcap\n\n"
            "\t# Capture the 0-th interface for VM foo to foo.pcap\n"
            "\tcapture pcap vm foo 0 foo.pcap\n\n"
            "A relative file name for a VM capture is beneath the file root (-filepath); for\n"
            "a bridge capture, it is relative to the daemon's working directory. The file is\n"
            "created (mode 0600) or truncated; a symbolic link, a special file or another\n"
            "user's file is refused. On the kernel bridge backend a bridge capture reads\n"
            "the kernel bridge of every VLAN the bridge carries when it starts (frames\n"
            "without VLAN tags); on Open vSwitch it reads a mirror port of the whole bridge\n"
            "(frames tagged with their VLAN).\n\n"
            "When run without arguments, capture prints the captures of the namespace: how\n"
            "many frames reached the file, how many the kernel dropped (the writer fell\n"
            "behind) and whether it runs. `vm kill` and `vm flush` stop the captures of a\n"
            "VM; they stay listed until deleted:\n\n"
            "\tcapture pcap delete bridge <bridge>\n"
            "\tcapture pcap delete vm <name>\n"
            "\tcapture pcap delete vm <name> <interface index>\n\n"
            "To stop all captures of a kind, replace <bridge> or <vm> with \"all\". To stop\n"
            "every capture of the namespace, use \"clear capture\". Files are kept.\n\n"
            "herd has no NetFlow collector: the netflow settings are kept, and capture\n"
            "netflow bridge is an error.",
            {"capture <netflow,> <bridge,> <bridge> <filename>",
             "capture <netflow,> <bridge,> <bridge> <tcp,udp> <hostname:port>",
             "capture <netflow,> <delete,> bridge <bridge>",
             "capture <netflow,> <timeout,> [timeout in seconds]",
             "capture <pcap,> bridge <bridge> <filename>",
             "capture <pcap,> <delete,> bridge <bridge>"},
            captureCommand));
    addHandler(herd, makeHandler("reset capture state",
                                 "Stops every capture of the namespace (the optional word is\n"
                                 "ignored, as in minimega). See \"help capture\".",
                                 {"clear capture [netflow,pcap]"}, clearCapture));
}

}  // namespace herd
