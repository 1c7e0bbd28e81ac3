#include "runtime/container_spec.h"

#include <nlohmann/json.hpp>

#include "runtime/bridge.h"

namespace herd::runtime {

namespace {

using json = nlohmann::json;

// The overlay, with its layers in the instance directory or on the disk.
void planRoot(const ContainerSpec& s, ContainerPlan& p) {
    LaunchSpec& l = p.launch;
    if (!s.snapshot) {
        l.root = s.filesystem;
        return;
    }
    l.root = p.path + "/fs";
    l.lowerdir = s.filesystem;
    p.mkdirs.push_back(p.dir + "/fs");
    if (s.disk_limit_mib == 0) {
        l.upperdir = p.path + "/upper";
        l.workdir = p.path + "/work";
        p.mkdirs.push_back(p.dir + "/upper");
        p.mkdirs.push_back(p.dir + "/work");
        return;
    }
    p.disk_mib = s.disk_limit_mib;
    p.disk_fallback = p.path + "/disk";
    l.upperdir = "upper";  // beneath the disk's root (Container::prepare)
    l.workdir = "work";
}

// Fifos, volumes and the cc socket, in that order (the child binds them so).
void planBinds(const ContainerSpec& s, ContainerPlan& p) {
    auto& binds = p.launch.binds;
    for (uint64_t i = 0; i < s.fifos; ++i) {
        const std::string f = "/fifo" + std::to_string(i);
        p.fifos.push_back(p.dir + f);
        binds.push_back({p.path + f, "/dev/fifos" + f, true});
    }
    for (const auto& v : s.volumes) {
        const std::string& t = v.target;
        BindSpec b{v.source, t.empty() || t[0] != '/' ? "/" + t : t, false};
        b.readonly = v.readonly;
        b.allow_suid = v.allow_suid;
        b.allow_dev = v.allow_dev;
        binds.push_back(std::move(b));
    }
    if (!s.cc_socket.empty()) binds.push_back({s.cc_socket, "/cc", true});
}

// Host storage a guest writes to: the filesystem itself without a snapshot,
// or a read-write volume, unless the user allowed set-ID files and devices
// on it (`:suid,dev`). Volumes are the directory binds.
bool writesHostStorage(const ContainerSpec& s, const std::vector<BindSpec>& binds) {
    bool host = !s.snapshot;
    for (const auto& b : binds) {
        if (!b.file && !b.readonly && !(b.allow_suid && b.allow_dev)) host = true;
    }
    return host;
}

Result<void> planNics(const ContainerSpec& s, const PlanContext& ctx, ContainerPlan& p) {
    for (size_t i = 0; i < s.nics.size(); ++i) {
        auto host = vethHostName(ctx.prefix, s.id, static_cast<int>(i));
        if (!host.ok()) return host.error();
        VethSpec v;
        v.host_name = *host;
        v.peer_name = "veth" + std::to_string(i);
        v.peer_mac = s.nics[i].mac;
        p.veths.push_back(std::move(v));
    }
    return Ok();
}

}  // namespace

std::string instanceDirName(int id) {
    return std::to_string(id);
}

Result<ContainerPlan> planContainer(const ContainerSpec& s, const PlanContext& ctx) {
    ContainerPlan p;
    p.dir = instanceDirName(s.id);
    p.path = ctx.base + "/" + p.dir;
    planRoot(s, p);
    planBinds(s, p);
    LaunchSpec& l = p.launch;
    l.hostname = s.hostname;
    l.uuid_file = p.path + "/uuid";
    l.preinit = s.preinit;
    l.init = s.init;
    l.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm",
             "HOME=/root", "container=herd"};
    l.cgroup_ns = ctx.cgroup_ns;
    l.net_admin = !s.nics.empty();  // guests configure their own NICs
    l.host_storage = writesHostStorage(s, l.binds);
    p.limits.memory_bytes = s.memory_mib << 20;
    p.limits.vcpus = s.vcpus;
    p.limits.pids_max = ctx.pids_max;
    HERD_TRY(planNics(s, ctx, p));
    return p;
}

// ---- the record ------------------------------------------------------------

namespace {

const char* diskKindName(DiskKind k) {
    switch (k) {
        case DiskKind::Detached:
            return "detached";
        case DiskKind::Attached:
            return "attached";
        case DiskKind::None:
            break;
    }
    return "none";
}

Result<DiskKind> diskKindOf(const std::string& s) {
    if (s == "none") return DiskKind::None;
    if (s == "detached") return DiskKind::Detached;
    if (s == "attached") return DiskKind::Attached;
    return Error::msg("container record: unknown disk kind `" + s + "`");
}

}  // namespace

std::string recordToJson(const ContainerRecord& r) {
    json j = {
        {"version", ContainerRecord::kVersion},
        {"id", r.id},
        {"name", r.name},
        {"uuid", r.uuid},
        {"generation", r.generation},
        {"init_pid", r.init_pid},
        {"init_start", r.init_start},
        {"released", r.released},
        {"cgroup", r.cgroup},
        {"netns", r.netns},
        {"veths", r.veths},
        {"disk", {{"kind", diskKindName(r.disk)}, {"path", r.disk_path}, {"mib", r.disk_mib}}},
        {"console", r.console},
        {"root", r.root},
    };
    return j.dump() + "\n";
}

Result<ContainerRecord> recordFromJson(std::string_view text) {
    json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object())
        return Error::msg("container record: not a JSON object");
    try {
        if (j.at("version").get<int>() != ContainerRecord::kVersion) {
            return Error::msg("container record: version " + j.at("version").dump() +
                              ", expected " + std::to_string(ContainerRecord::kVersion));
        }
        ContainerRecord r;
        r.id = j.at("id").get<int>();
        r.name = j.at("name").get<std::string>();
        r.uuid = j.at("uuid").get<std::string>();
        r.generation = j.at("generation").get<uint64_t>();
        r.init_pid = j.at("init_pid").get<int>();
        r.init_start = j.at("init_start").get<uint64_t>();
        r.released = j.at("released").get<bool>();
        r.cgroup = j.at("cgroup").get<std::string>();
        r.netns = j.at("netns").get<std::string>();
        r.veths = j.at("veths").get<std::vector<std::string>>();
        const json& d = j.at("disk");
        auto kind = diskKindOf(d.at("kind").get<std::string>());
        if (!kind.ok()) return kind.error();
        r.disk = *kind;
        r.disk_path = d.at("path").get<std::string>();
        r.disk_mib = d.at("mib").get<uint64_t>();
        r.console = j.at("console").get<std::string>();
        r.root = j.at("root").get<std::string>();
        return r;
    } catch (const json::exception& e) {
        return Error::msg(std::string("container record: ") + e.what());
    }
}

}  // namespace herd::runtime
