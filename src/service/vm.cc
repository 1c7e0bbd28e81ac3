#include "service/vm.h"

#include <algorithm>

#include "runtime/guest_mount.h"

#include <fmt/format.h>

#include <random>

#include "runtime/cgroup.h"
#include "runtime/console.h"
#include "service/gostr.h"
#include "service/qos.h"
#include "service/vlan_alias.h"

namespace herd {

namespace {

std::mt19937_64& rng() {
    static std::mt19937_64 g{std::random_device{}()};
    return g;
}

std::string joinList(const std::vector<std::string>& v) {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + v[i];
    return out + "]";
}

}  // namespace

std::string_view stateString(VmState s) {
    switch (s) {
        case VmState::Building:
            return "BUILDING";
        case VmState::Running:
            return "RUNNING";
        case VmState::Paused:
            return "PAUSED";
        case VmState::Quit:
            return "QUIT";
        case VmState::Error:
            return "ERROR";
    }
    return "UNKNOWN";
}

std::string_view typeString(VmType t) {
    return t == VmType::Kvm ? "kvm" : "container";
}

const std::vector<std::string>& vmInfoColumns() {
    static const std::vector<std::string> cols = {"id",
                                                  "name",
                                                  "state",
                                                  "uptime",
                                                  "type",
                                                  "uuid",
                                                  "cc_active",
                                                  "pid",
                                                  "vlan",
                                                  "bridge",
                                                  "tap",
                                                  "mac",
                                                  "ip",
                                                  "ip6",
                                                  "qos",
                                                  "qinq",
                                                  "bond",
                                                  "memory",
                                                  "vcpus",
                                                  "disks",
                                                  "snapshot",
                                                  "initrd",
                                                  "kernel",
                                                  "cdrom",
                                                  "save",
                                                  "append",
                                                  "serial-ports",
                                                  "virtio-ports",
                                                  "vnc_port",
                                                  "usb-use-xhci",
                                                  "tpm-socket",
                                                  "bidirectional-copy-paste",
                                                  "android_avd",
                                                  "android_console_port",
                                                  "android_adb_port",
                                                  "android_serial",
                                                  "filesystem",
                                                  "hostname",
                                                  "init",
                                                  "preinit",
                                                  "fifo",
                                                  "volume",
                                                  "console_port",
                                                  "tags"};
    return cols;
}

const std::vector<std::string>& vmInfoSummaryColumns() {
    static const std::vector<std::string> cols = {"id",   "name",      "state", "type",
                                                  "uuid", "cc_active", "vlan"};
    return cols;
}

Result<std::string> Vm::info(std::string_view column, const VlanAliases& vlans) const {
    auto v = VmInfoColumn(column).cell(*this, vlans);
    if (!v) return Error::msg(fmt::format("invalid info field: {}", column));
    return std::move(*v);
}

VmInfoColumn::VmInfoColumn(std::string_view column) {
    static const std::map<std::string_view, Kind> kinds = {
        {"id", Kind::Id},       {"name", Kind::Name},
        {"state", Kind::State}, {"uptime", Kind::Uptime},
        {"type", Kind::Type},   {"cc_active", Kind::CcActive},
        {"pid", Kind::Pid},     {"console_port", Kind::ConsolePort},
        {"vlan", Kind::Vlan},   {"bridge", Kind::Bridge},
        {"tap", Kind::Tap},     {"mac", Kind::Mac},
        {"ip", Kind::Ip},       {"ip6", Kind::Ip6},
        {"qos", Kind::Qos},     {"qinq", Kind::Qinq},
    };
    if (auto it = kinds.find(column); it != kinds.end()) {
        kind_ = it->second;
        return;
    }
    // In minimega's order: the first that applies to a VM's type gives its cell.
    for (auto& f : configFields()) {
        if (!f.column.empty() && f.column == column) {
            kind_ = Kind::Config;
            fields_.push_back(&f);
        }
    }
}

std::optional<std::string> VmInfoColumn::cell(const Vm& vm, const VlanAliases& vlans) const {
    auto nics = [&](auto fn) {
        std::vector<std::string> v;
        for (auto& n : vm.config.networks) v.push_back(fn(n));
        return joinList(v);
    };
    switch (kind_) {
        case Kind::Id:
            return std::to_string(vm.id);
        case Kind::Name:
            return vm.name;
        case Kind::State:
            return std::string(stateString(vm.state));
        case Kind::Uptime: {
            auto d = std::chrono::steady_clock::now() - vm.launch_time;
            return go::duration(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
        }
        case Kind::Type:
            return std::string(typeString(vm.type));
        case Kind::CcActive:
            return std::string(vm.cc_active ? "true" : "false");
        case Kind::Pid:
            return std::to_string(vm.pid);
        case Kind::ConsolePort:
            return std::to_string(vm.console_port);
        case Kind::Vlan:
            return nics([&](const NetConfig& n) {
                return n.vlan == kDisconnectedVlan ? std::string("disconnected")
                                                   : vlans.print(vm.ns, n.vlan);
            });
        case Kind::Bridge:
            return nics([](const NetConfig& n) { return n.bridge; });
        case Kind::Tap:
            return nics([](const NetConfig& n) { return n.tap; });
        case Kind::Mac:
            return nics([](const NetConfig& n) { return n.mac; });
        case Kind::Ip:
            return nics([](const NetConfig& n) { return n.ip4; });
        case Kind::Ip6:
            return nics([](const NetConfig& n) { return n.ip6; });
        case Kind::Qos:
            return qosColumn(vm.config.networks);
        case Kind::Qinq: {
            std::vector<std::string> v;
            for (size_t i = 0; i < vm.config.networks.size(); ++i)
                if (vm.config.networks[i].qinq) v.push_back(std::to_string(i));
            return joinList(v);
        }
        case Kind::Config:
            for (const ConfigField* f : fields_)
                if (f->appliesTo(vm.type)) return f->value.info(vm.config);
            return std::nullopt;
        case Kind::None:
            break;
    }
    return std::nullopt;
}

Vm& VmRegistry::create(const std::string& name, const std::string& ns, const std::string& host,
                       VmType type, VmConfig config, const std::string& base) {
    auto vm = std::make_unique<Vm>();
    vm->id = next_id_++;
    vm->name = name;
    vm->ns = ns;
    vm->host = host;
    vm->type = type;
    vm->state = VmState::Building;
    vm->launch_time = std::chrono::steady_clock::now();
    vm->instance_path = base + "/" + std::to_string(vm->id);
    vm->config = std::move(config);
    if (vm->config.uuid.empty()) vm->config.uuid = randomUuid();
    if (vm->config.hostname.empty()) vm->config.hostname = name;
    for (auto& n : vm->config.networks)
        if (n.mac.empty()) n.mac = randomMac();
    Vm& ref = *vm;
    vms_[ref.id] = std::move(vm);
    return ref;
}

Vm* VmRegistry::adopt(std::unique_ptr<Vm> vm) {
    if (!vm || vm->id < 0 || vms_.count(vm->id)) return nullptr;
    next_id_ = std::max(next_id_, vm->id + 1);
    Vm* p = vm.get();
    vms_[p->id] = std::move(vm);
    return p;
}

Vm* VmRegistry::find(const std::string& ns, std::string_view idOrName) {
    auto id = go::atoi(idOrName);
    for (auto& [vid, vm] : vms_) {
        if (vm->ns != ns) continue;
        if (id.ok() ? *id == vid : vm->name == idOrName) return vm.get();
    }
    return nullptr;
}

std::vector<Vm*> VmRegistry::inNamespace(const std::string& ns) {
    std::vector<Vm*> out;
    for (auto& [_, vm] : vms_)
        if (vm->ns == ns) out.push_back(vm.get());
    return out;
}

void VmRegistry::erase(int id) {
    vms_.erase(id);
}

std::string randomUuid() {
    std::uniform_int_distribution<int> byte(0, 255);
    unsigned char b[16];
    for (auto& x : b) x = static_cast<unsigned char>(byte(rng()));
    b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
    b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
    return fmt::format(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-"
        "{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
        b[14], b[15]);
}

std::string randomMac() {
    // 00:16:3e is an IEEE-registered prefix commonly used for virtual NICs.
    std::uniform_int_distribution<int> byte(0, 255);
    return fmt::format("00:16:3e:{:02x}:{:02x}:{:02x}", byte(rng()), byte(rng()), byte(rng()));
}

std::vector<Result<void>> Runtime::launchMany(const std::vector<Vm*>& vms) {
    std::vector<Result<void>> out;
    for (Vm* vm : vms) out.push_back(launch(*vm));
    return out;
}

std::vector<Result<void>> Runtime::startMany(const std::vector<Vm*>& vms) {
    std::vector<Result<void>> out;
    for (Vm* vm : vms) out.push_back(start(*vm));
    return out;
}

std::vector<Result<void>> Runtime::flushMany(const std::vector<Vm*>& vms) {
    std::vector<Result<void>> out;
    for (Vm* vm : vms) out.push_back(flush(*vm));
    return out;
}

std::vector<Result<void>> Runtime::applyQos(const std::vector<QosRequest>& reqs) {
    return std::vector<Result<void>>(reqs.size());
}

std::vector<Result<void>> Runtime::killMany(const std::vector<Vm*>& vms) {
    std::vector<Result<void>> out;
    for (Vm* vm : vms) out.push_back(kill(*vm));
    return out;
}

Result<runtime::CgroupStats> Runtime::stats(const Vm& vm) {
    return Error::msg("vm not running: " + vm.name);
}

std::vector<int> Runtime::procs(const Vm&) {
    return {};
}

std::shared_ptr<runtime::Console> Runtime::console(const Vm&) {
    return nullptr;
}

Result<runtime::GuestMount> Runtime::mountRoot(const Vm&, const std::string&) {
    return Error::msg("cc mount needs the container runtime");
}

std::vector<std::string> Runtime::nicHostNames(const Vm&) const {
    return {};
}

Result<void> Runtime::moveNic(Vm& vm, size_t index, const std::string& bridge, int vlan,
                              const std::string& alias) {
    vm.config.networks.at(index).moveTo(bridge, vlan, alias);  // the config-only change
    return Ok();
}

}  // namespace herd
