// cc tunnel, cc rtunnel, cc test-conn, cc log level, cc listen, cc mount.
#include "service/commands/cc_tunnel.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/beast/core/detail/base64.hpp>

#include "cli/text.h"
#include "service/cc.h"
#include "service/commands/vm_internal.h"
#include "service/gostr.h"
#include "service/guest_mounts.h"
#include "service/names.h"

namespace herd {

Vm* findVm(CommandContext& ctx, const std::string& s) {
    if (Vm* vm = ctx.herd().vms().find(ctx.ns(), s)) return vm;
    for (Vm* vm : ctx.herd().vms().inNamespace(ctx.ns()))
        if (cli::text::toLower(vm->uuid()) == cli::text::toLower(s)) return vm;
    return nullptr;
}

namespace {

using cli::Command;

void replyWithId(CommandContext& ctx, int id) {
    auto r = ctx.response();
    r.data = id;
    ctx.emit({std::move(r)});
}

// A port argument: minimega's `non-integer <what>: <s> : <err>` for text
// that is not a number; a number outside 1-65535 is refused too (minimega
// would fail later, in the listen or the dial).
Result<uint16_t> port(const std::string& what, const std::string& s) {
    auto v = go::atoi(s);
    if (!v.ok())
        return Error::msg(fmt::format("non-integer {}: {} : {}", what, s, v.error().text()));
    if (*v < 1 || *v > 65535)
        return Error::msg(fmt::format("invalid {} port {}: want 1-65535", what, s));
    return static_cast<uint16_t>(*v);
}

// A host to dial: a name or address, no spaces or control characters.
bool hostOk(const std::string& h) {
    return !h.empty() && h.size() <= 253 &&
           std::all_of(h.begin(), h.end(), [](unsigned char ch) { return ch > 0x20 && ch < 0x7f; });
}

void tunnelList(Command& c, CommandContext& ctx) {
    CcService& cc = ctx.herd().cc();
    const std::string& target = c.str("vm");
    Vm* only = nullptr;
    if (target != kWildcard) {
        only = findVm(ctx, target);
        if (!only) return ctx.fail(fmt::format("vm not found: {}", target));
    }
    std::vector<std::pair<std::string, std::vector<std::string>>> rows;
    for (CcClient* cl : cc.active(ctx.ns())) {
        if (only && only->id != cl->vm_id) continue;
        Vm* vm = ctx.herd().vms().find(ctx.ns(), std::to_string(cl->vm_id));
        std::string name = vm ? vm->name : cl->uuid;
        for (const auto& [id, t] : cl->tunnels)
            rows.push_back(
                {name,
                 {name, std::to_string(id), std::to_string(t.src), t.host, std::to_string(t.dst)}});
    }
    // By vm name, then id (numerically: the map gave them in order).
    std::stable_sort(rows.begin(), rows.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<std::vector<std::string>> out;
    for (auto& r : rows) out.push_back(std::move(r.second));
    emitTable(ctx, {"vm", "id", "src port", "dst", "dst port"}, std::move(out), "");
}

void tunnelClose(Command& c, CommandContext& ctx) {
    CcService& cc = ctx.herd().cc();
    Vm* vm = findVm(ctx, c.str("vm"));
    if (!vm) return ctx.fail(fmt::format("vm not found: {}", c.str("vm")));
    auto id = go::atoi(c.str("id"));
    if (!id.ok() || *id < 1 || *id > INT32_MAX) return ctx.fail("invalid format for tunnel ID");
    CcClient* cl = cc.connected(vm->id);
    if (!cl) return ctx.fail(fmt::format("no such client: {}", vm->uuid()));
    if (!cc.closeTunnel(*cl, static_cast<int>(*id)))
        return ctx.fail(fmt::format("forwarder with ID {} not found", *id));
    ctx.ok();
}

struct Endpoints {
    uint16_t src;
    std::string host;
    uint16_t dst;
};

// The `<src port> <host> <dst port>` of `cc tunnel` and `cc rtunnel`.
Result<Endpoints> endpoints(const Command& c) {
    auto src = port("src", c.str("src"));
    if (!src.ok()) return src.error();
    auto dst = port("dst", c.str("dst"));
    if (!dst.ok()) return dst.error();
    const std::string& host = c.str("host");
    if (!hostOk(host))
        return Error::msg("invalid host `" + host + "`: want a host name or an IP address");
    return Endpoints{*src, host, *dst};
}

void tunnelOpen(Command& c, CommandContext& ctx) {
    CcService& cc = ctx.herd().cc();
    auto ends = endpoints(c);
    if (!ends.ok()) return ctx.fail(ends.error().text());
    const auto& [src, host, dst] = *ends;
    Vm* vm = findVm(ctx, c.str("vm"));
    if (!vm) return ctx.fail(fmt::format("vm not found: {}", c.str("vm")));
    CcClient* cl = cc.connected(vm->id);
    if (!cl) return ctx.fail(fmt::format("no such client: {}", vm->uuid()));
    auto id = cc.openTunnel(*cl, src, host, dst);
    if (!id.ok()) return ctx.fail(id.error().text());
    ctx.ok();
}

}  // namespace

void ccTunnel(Command& c, CommandContext& ctx) {
    if (c.flag("list")) return tunnelList(c, ctx);
    if (c.flag("close")) return tunnelClose(c, ctx);
    tunnelOpen(c, ctx);
}

void ccRtunnel(Command& c, CommandContext& ctx) {
    CcService& cc = ctx.herd().cc();
    auto ends = endpoints(c);
    if (!ends.ok()) return ctx.fail(ends.error().text());
    const auto& [src, host, dst] = *ends;
    auto clients = cc.matching(ctx.ns());
    if (clients.empty()) return ctx.fail("cc rtunnel: no connected client matches the cc filter");
    for (CcClient* cl : clients) cc.openRtunnel(*cl, src, host, dst);
    ctx.ok();
}

void ccTestConn(Command& c, CommandContext& ctx) {
    const std::string proto = c.flag("udp") ? "udp" : "tcp";
    const std::string& host = c.str("ip");
    if (!hostOk(host))
        return ctx.fail("invalid host `" + host + "`: want a host name or an IP address");
    const std::string& p = c.str("port");
    auto pv = go::atoi(p);
    if (!pv.ok()) return ctx.fail(fmt::format("invalid port {}: {}", p, pv.error().text()));
    if (*pv < 1 || *pv > 65535) return ctx.fail(fmt::format("invalid port {}: want 1-65535", p));
    const std::string& d = c.str("duration");
    auto wait = go::parseDuration(d);
    if (!wait.ok())
        return ctx.fail(fmt::format("invalid wait duration {}: {}", d, wait.error().text()));
    if (*wait < 0) return ctx.fail(fmt::format("invalid wait duration {}: negative", d));
    std::string packet;
    if (c.strings.count("base64")) {
        if (proto != "udp") return ctx.fail("a packet is only sent by a udp test");
        namespace b64 = boost::beast::detail::base64;
        const std::string& in = c.str("base64");
        std::string out(b64::decoded_size(in.size()), '\0');
        auto [wrote, read] = b64::decode(out.data(), in.data(), in.size());
        // Go's StdEncoding: padded to a multiple of 4, nothing after the padding.
        if (read != in.size() || in.size() % 4 != 0)
            return ctx.fail(
                fmt::format("unable to decode base64 packet string: illegal base64 data at "
                            "input byte {}",
                            std::min(read, in.size())));
        out.resize(wrote);
        static const char* hex = "0123456789abcdef";
        for (unsigned char b : out) {
            packet.push_back(hex[b >> 4]);
            packet.push_back(hex[b & 15]);
        }
    }
    CcCommand cmd;
    cmd.extra["conntest"] = {{"proto", proto},
                             {"host", host},
                             {"port", *pv},
                             {"wait_ms", *wait / 1000000},
                             {"packet", packet}};
    replyWithId(ctx, ctx.herd().cc().post(ctx.ns(), std::move(cmd)));
}

void ccLogLevel(Command& c, CommandContext& ctx) {
    std::string level;
    for (const char* l : {"debug", "info", "warn", "error", "fatal"})
        if (c.flag(l)) level = l;
    CcCommand cmd;
    cmd.extra["loglevel"] = level;
    replyWithId(ctx, ctx.herd().cc().post(ctx.ns(), std::move(cmd)));
}

void ccListen(Command&, CommandContext& ctx) {
    ctx.fail(
        "cc listen: not supported: herd's agents connect only over their container's own unix "
        "socket, which identifies the VM; a TCP listener on a shared host would let any host "
        "user or guest on the network claim to be an agent");
}

// `cc mount`: the mounts of this namespace; `cc mount <vm> <path>`: the
// VM's root filesystem on the host directory <path> (nosuid, nodev, noexec,
// nosymfollow; the container's own submounts are not included).
void ccMount(Command& c, CommandContext& ctx) {
    GuestMounts& gm = ctx.herd().guestMounts();
    if (!c.has("vm")) {
        std::vector<std::vector<std::string>> rows;
        for (const CcMount* m : gm.list(ctx.ns()))
            rows.push_back({m->vm_name, m->uuid, "local", m->mount.target});
        return ctx.table({"name", "uuid", "addr", "path"}, std::move(rows));
    }
    Vm* vm = findVm(ctx, c.str("vm"));
    if (!vm) return ctx.fail("vm not found: " + c.str("vm"));
    if (!c.has("path")) return ctx.fail("must provide a mount path");
    okOrFail(ctx, gm.add(ctx.herd().runtime(), ctx.ns(), *vm, c.str("path")));
}

void clearCcMount(Command& c, CommandContext& ctx) {
    okOrFail(ctx, ctx.herd().guestMounts().remove(ctx.ns(), c.has("uuid") ? c.str("uuid") : ""));
}

}  // namespace herd
