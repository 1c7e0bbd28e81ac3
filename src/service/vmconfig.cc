#include "service/vmconfig.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <optional>

#include "base/strings.h"
#include "service/gostr.h"

namespace herd {

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

bool isHex(char c) {
    return std::isxdigit(static_cast<unsigned char>(c)) != 0;
}

// net.ParseMAC for 48-bit addresses: xx:xx:xx:xx:xx:xx, xx-xx-..., xxxx.xxxx.xxxx.
bool isMac(std::string_view s) {
    if (s.size() == 17) {
        char sep = s[2];
        if (sep != ':' && sep != '-') return false;
        for (size_t i = 0; i < 17; ++i) {
            if (i % 3 == 2) {
                if (s[i] != sep) return false;
            } else if (!isHex(s[i])) {
                return false;
            }
        }
        return true;
    }
    if (s.size() == 14) {
        for (size_t i = 0; i < 14; ++i) {
            if (i % 5 == 4) {
                if (s[i] != '.') return false;
            } else if (!isHex(s[i])) {
                return false;
            }
        }
        return true;
    }
    return false;
}

// Relative paths live under the file root (minimega's checkPath).
std::string checkPath(const ConfigContext& ctx, const std::string& v) {
    if (!v.empty() && v[0] == '/') return v;
    return go::joinPath(ctx.filepath, v);
}

// A Go tabwriter block with minwidth 5, padding 1: labels padded to one
// column, values unpadded.
class Block {
  public:
    void add(std::string label, std::string value) { rows_.emplace_back(label, value); }
    std::string str() const {
        size_t width = 5;
        for (auto& [l, _] : rows_) width = std::max(width, l.size() + 1);
        std::string out;
        for (auto& [l, v] : rows_) out += l + std::string(width - l.size(), ' ') + v + "\n";
        return out;
    }

  private:
    std::vector<std::pair<std::string, std::string>> rows_;
};

std::string netsString(const std::vector<NetConfig>& nets) {
    std::vector<std::string> parts;
    for (auto& n : nets) parts.push_back(n.str());
    std::string joined;
    for (size_t i = 0; i < parts.size(); ++i) joined += (i ? " " : "") + parts[i];
    return "[" + joined + "]";
}

std::string mapLines(const std::map<std::string, std::string>& m) {
    std::string out;
    for (auto& [k, v] : m) out += k + " -> " + v + "\n";
    return out;
}

using Args = std::vector<std::string>;

std::string sizeString(uint64_t mib) {
    return mib == kUnlimited ? std::string("unlimited") : std::to_string(mib);
}

// Plain decimal digits, at most 19 of them (no sign, no spaces): cannot wrap.
std::optional<uint64_t> parseDecimal(std::string_view s) {
    if (s.empty() || s.size() > 19) return std::nullopt;
    uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    return v;
}

// A size in MiB: `2048`, `512M`, `2G`, `1T` (units are binary; MB, MiB, GB,
// GiB, ... and lower case too), or `unlimited` (kUnlimited). Zero is refused:
// minimega scripts that mean "no limit" must say so.
Result<uint64_t> parseSizeMiB(std::string_view field, std::string_view typed) {
    auto bad = [&] {
        return Error::msg(fmt::format(
            "invalid {} {}: want a size in MiB from 1 to {} (e.g. 2048, 512M, 2G), or unlimited",
            field, go::quote(typed), kMaxSizeMiB));
    };
    const std::string s = lower(typed);
    if (s == "unlimited") return kUnlimited;
    size_t digits = 0;
    while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9') ++digits;
    auto n = parseDecimal(std::string_view(s).substr(0, digits));
    if (!n) return bad();
    const std::string unit = s.substr(digits);
    uint64_t mult = 0;
    if (unit.empty() || unit == "m" || unit == "mb" || unit == "mib") {
        mult = 1;
    } else if (unit == "g" || unit == "gb" || unit == "gib") {
        mult = 1024;
    } else if (unit == "t" || unit == "tb" || unit == "tib") {
        mult = 1024 * 1024;
    } else {
        return bad();
    }
    if (*n == 0 || *n > kMaxSizeMiB / mult) return bad();
    return *n * mult;
}

// A whole number in [lo, hi], with an error that says so.
Result<uint64_t> parseCount(std::string_view field, std::string_view typed, uint64_t lo,
                            uint64_t hi) {
    auto n = parseDecimal(typed);
    if (!n || *n < lo || *n > hi) {
        return Error::msg(fmt::format("invalid {} {}: want a whole number from {} to {}", field,
                                      go::quote(typed), lo, hi));
    }
    return *n;
}

ConfigField sizeField(std::string name, std::string help, uint64_t VmConfig::*m) {
    return {name,
            FieldArity::One,
            "configures " + name,
            std::move(help),
            [m](const VmConfig& c) { return sizeString(c.*m); },
            [m, name](VmConfig& c, const Args& a, const ConfigContext&) -> Result<void> {
                auto v = parseSizeMiB(name, a.at(0));
                if (!v) return v.error();
                c.*m = *v;
                return Ok();
            }};
}

// A count that herd uses (unlike the KVM fields, which keep Go's parser
// errors): range-checked, so that a typo cannot mean "no limit" or stall a
// launch.
ConfigField countField(std::string name, std::string help, uint64_t VmConfig::*m, uint64_t lo,
                       uint64_t hi) {
    return {name,
            FieldArity::One,
            "configures " + name,
            std::move(help),
            [m](const VmConfig& c) { return std::to_string(c.*m); },
            [m, name, lo, hi](VmConfig& c, const Args& a, const ConfigContext&) -> Result<void> {
                auto v = parseCount(name, a.at(0), lo, hi);
                if (!v) return v.error();
                c.*m = *v;
                return Ok();
            }};
}

Result<void> setUint(uint64_t& dst, const Args& a) {
    auto v = go::parseUint(a.at(0));
    if (!v) return v.error();
    dst = *v;
    return Ok();
}

ConfigField stringField(std::string name, std::string help, std::string VmConfig::*m,
                        bool path = false) {
    return {name,
            FieldArity::One,
            "configures " + name,
            std::move(help),
            [m](const VmConfig& c) { return c.*m; },
            [m, path](VmConfig& c, const Args& a, const ConfigContext& ctx) -> Result<void> {
                c.*m = path ? checkPath(ctx, a.at(0)) : a.at(0);
                return Ok();
            }};
}

ConfigField uintField(std::string name, std::string help, uint64_t VmConfig::*m) {
    return {name,
            FieldArity::One,
            "configures " + name,
            std::move(help),
            [m](const VmConfig& c) { return std::to_string(c.*m); },
            [m](VmConfig& c, const Args& a, const ConfigContext&) { return setUint(c.*m, a); }};
}

ConfigField boolField(std::string name, std::string help, bool VmConfig::*m) {
    return {name,
            FieldArity::Bool,
            "configures " + name,
            std::move(help),
            [m](const VmConfig& c) { return std::string(c.*m ? "true" : "false"); },
            [m](VmConfig& c, const Args& a, const ConfigContext&) -> Result<void> {
                c.*m = a.at(0) == "true";
                return Ok();
            }};
}

ConfigField listField(std::string name, std::string help, std::vector<std::string> VmConfig::*m,
                      bool paths = false) {
    return {name,
            FieldArity::List,
            "configures " + name,
            std::move(help),
            [m](const VmConfig& c) { return (c.*m).empty() ? std::string() : go::list(c.*m); },
            [m, paths](VmConfig& c, const Args& a, const ConfigContext& ctx) -> Result<void> {
                c.*m = a;
                if (paths)
                    for (auto& v : c.*m) v = checkPath(ctx, v);
                return Ok();
            }};
}

ConfigField mapField(std::string name, std::string help,
                     std::map<std::string, std::string> VmConfig::*m, bool path_values) {
    return {name,
            FieldArity::Map,
            "configures " + name,
            std::move(help),
            [m](const VmConfig& c) { return mapLines(c.*m); },
            [m, path_values](VmConfig& c, const Args& a, const ConfigContext& ctx) -> Result<void> {
                (c.*m)[a.at(0)] = path_values ? checkPath(ctx, a.at(1)) : a.at(1);
                return Ok();
            }};
}

std::vector<ConfigField> buildFields() {
    std::vector<ConfigField> f;
    // Container fields.
    f.push_back(stringField("filesystem",
                            "Root filesystem of a container: a directory holding a Linux\n"
                            "distribution (/dev, /proc, /sys, ...). Relative paths are under the\n"
                            "file root. When unset, herd uses its built-in guest image.\n",
                            &VmConfig::filesystem, true));
    f.push_back(stringField("hostname",
                            "Hostname set in the container before init runs. When unset, the VM\n"
                            "name is used.\n",
                            &VmConfig::hostname));
    f.push_back(listField("init",
                          "Program and arguments exec'd as PID 1 of the container, with an\n"
                          "empty environment.\n\nDefault: \"/init\"\n",
                          &VmConfig::init));
    f.push_back(stringField("preinit",
                            "Host program run as root inside the new namespaces before the\n"
                            "container is isolated; a non-zero exit aborts the launch.\n",
                            &VmConfig::preinit));
    f.push_back(countField("fifos",
                           "Number of named pipes shared between host and container: fifoN in the\n"
                           "instance directory, /dev/fifos/fifoN in the container. From 0 to " +
                               std::to_string(kMaxFifos) + ".\n",
                           &VmConfig::fifos, 0, kMaxFifos));
    f.push_back({"volume", FieldArity::Map, "configures volume",
                 "Bind-mount host directories into a container:\n\n"
                 "\tvm config volume /data /scratch/data\n"
                 "\tvm config volume /ro /scratch/shared:ro\n\n"
                 "Options follow the host path after a colon, separated by commas: ro\n"
                 "(read-only), rw (the default), suid (honour setuid bits), dev (allow device\n"
                 "nodes); volumes are nosuid and nodev otherwise. The host's root directory\n"
                 "cannot be a volume. The same key overwrites the previous volume. With only\n"
                 "a key, prints that volume's host path.\n",
                 [](const VmConfig& c) { return mapLines(c.volumes); },
                 [](VmConfig& c, const Args& a, const ConfigContext& ctx) -> Result<void> {
                     std::string src = checkPath(ctx, a.at(1));
                     auto v = parseVolumeSource(src);
                     if (!v) return v.error();
                     c.volumes[a.at(0)] = std::move(src);
                     return Ok();
                 }});
    f.push_back(
        sizeField("disk-limit",
                  "Space for what a container writes to its root filesystem (the overlay's\n"
                  "upper layer), in MiB: a number, or with a unit (512M, 2G), or unlimited.\n"
                  "A write past it fails inside the container with \"No space left on\n"
                  "device\". The upper layer lives in memory (tmpfs) and counts against the\n"
                  "container's memory limit; it survives vm kill and vm start and is freed\n"
                  "by vm flush. With snapshot false the container writes to its filesystem\n"
                  "directly and there is no disk limit. Not to be confused with disks, which\n"
                  "lists KVM disk images.\n\nDefault: " +
                      std::to_string(kDefaultDiskLimitMiB) + "\n",
                  &VmConfig::disk_limit));
    // KVM fields: accepted and shown so scripts written for minimega keep
    // working; herd never uses them.
    const std::string kvm_note =
        "\nNote: this configuration only applies to KVM-based VMs; herd\n"
        "accepts and shows it but runs containers only.\n";
    f.push_back(stringField("qemu", "QEMU binary.\n" + kvm_note, &VmConfig::qemu, true));
    f.push_back(stringField("kernel", "Kernel image.\n" + kvm_note, &VmConfig::kernel, true));
    f.push_back(stringField("initrd", "Initrd image.\n" + kvm_note, &VmConfig::initrd, true));
    f.push_back(stringField("cdrom", "CD-ROM image.\n" + kvm_note, &VmConfig::cdrom, true));
    f.push_back(stringField("migrate", "Migration image.\n" + kvm_note, &VmConfig::migrate, true));
    f.push_back(stringField("cpu", "Virtual CPU model.\n" + kvm_note, &VmConfig::cpu));
    f.push_back(uintField("sockets", "CPU sockets.\n" + kvm_note, &VmConfig::sockets));
    f.push_back(uintField("cores", "CPU cores per socket.\n" + kvm_note, &VmConfig::cores));
    f.push_back(uintField("threads", "CPU threads per core.\n" + kvm_note, &VmConfig::threads));
    f.push_back(stringField("machine", "Machine type.\n" + kvm_note, &VmConfig::machine));
    f.push_back(uintField("serial-ports", "Serial ports.\n" + kvm_note, &VmConfig::serial_ports));
    f.push_back(
        stringField("virtio-ports", "Virtio-serial ports.\n" + kvm_note, &VmConfig::virtio_ports));
    f.push_back(stringField("vga", "Emulated graphics card.\n" + kvm_note, &VmConfig::vga));
    f.push_back(listField("append", "Kernel command line.\n" + kvm_note, &VmConfig::append));
    f.push_back(listField("disks", "Disk images.\n" + kvm_note, &VmConfig::disks, true));
    f.push_back(
        listField("qemu-append", "Extra QEMU arguments.\n" + kvm_note, &VmConfig::qemu_append));
    f.push_back({"qemu-override", FieldArity::Pairs, "override parts of the QEMU launch string",
                 "Replace <match> by <replacement> in the QEMU command line.\n" + kvm_note,
                 [](const VmConfig& c) {
                     std::string out;
                     for (size_t i = 0; i < c.qemu_override.size(); ++i)
                         out += fmt::format("{}: {} -> {}\n", i, c.qemu_override[i].first,
                                            c.qemu_override[i].second);
                     return out;
                 },
                 [](VmConfig& c, const Args& a, const ConfigContext&) -> Result<void> {
                     c.qemu_override.emplace_back(a.at(0), a.at(1));
                     return Ok();
                 }});
    // Base fields.
    f.push_back({"uuid", FieldArity::One, "configures uuid",
                 "UUID of the VM: 8-4-4-4-12 hexadecimal digits, in either case, stored in\n"
                 "lower case (cc matches its agents by it). When unset, each VM gets a random\n"
                 "one at launch.\n",
                 [](const VmConfig& c) { return c.uuid; },
                 [](VmConfig& c, const Args& a, const ConfigContext&) -> Result<void> {
                     const std::string& u = a.at(0);
                     if (!u.empty() && !isUuid(u)) {
                         return Error::msg(
                             fmt::format("invalid uuid {}: want 8-4-4-4-12 hexadecimal digits, "
                                         "e.g. 0b5c2a8e-3f1d-4c6b-9e7a-1d2c3b4a5f60",
                                         go::quote(u)));
                     }
                     c.uuid = lower(u);
                     return Ok();
                 }});
    f.push_back(countField("vcpus",
                           "Number of virtual CPUs (container: CPU quota), from 1 to " +
                               std::to_string(kMaxVcpus) + ".\n\nDefault: 1\n",
                           &VmConfig::vcpus, 1, kMaxVcpus));
    f.push_back(sizeField("memory",
                          "Memory in MiB (container: memory limit): a number from 1, or with a\n"
                          "unit (512M, 2G), or unlimited for no limit.\n\nDefault: 2048\n",
                          &VmConfig::memory));
    f.push_back(boolField("snapshot",
                          "Run containers on an overlay over their filesystem (true) or directly\n"
                          "on it (false). Only an overlay has a disk limit (see disk-limit).\n\n"
                          "Default: true\n",
                          &VmConfig::snapshot));
    f.push_back({"schedule", FieldArity::One, "configures schedule",
                 "Host where the VM should be scheduled. Cannot be combined with colocate.\n",
                 [](const VmConfig& c) { return c.schedule; },
                 [](VmConfig& c, const Args& a, const ConfigContext& ctx) -> Result<void> {
                     const std::string& s = a.at(0);
                     if (!c.colocate.empty() && !s.empty())
                         return Error::msg(
                             "cannot specify schedule and colocate in the same config");
                     std::string host = s == "localhost" ? ctx.hostname : s;
                     if (std::find(ctx.hosts.begin(), ctx.hosts.end(), host) == ctx.hosts.end())
                         return Error::msg(fmt::format("host is not in namespace: {}", host));
                     c.schedule = s;
                     return Ok();
                 }});
    f.push_back({"colocate", FieldArity::One, "configures colocate",
                 "Colocate the VM with another launched or queued VM. Cannot be combined with\n"
                 "schedule.\n",
                 [](const VmConfig& c) { return c.colocate; },
                 [](VmConfig& c, const Args& a, const ConfigContext&) -> Result<void> {
                     if (!c.schedule.empty() && !a.at(0).empty())
                         return Error::msg(
                             "cannot specify colocate and schedule in the same config");
                     c.colocate = a.at(0);
                     return Ok();
                 }});
    f.push_back({"coschedule", FieldArity::One, "configures coschedule",
                 "Limit on the number of VMs scheduled on the same host as this one (-1: no\n"
                 "limit).\n\nDefault: -1\n",
                 [](const VmConfig& c) { return std::to_string(c.coschedule); },
                 [](VmConfig& c, const Args& a, const ConfigContext&) -> Result<void> {
                     auto v = go::parseInt(a.at(0));
                     if (!v) return v.error();
                     c.coschedule = *v;
                     return Ok();
                 }});
    f.push_back(boolField("backchannel",
                          "Create the cc socket for miniccc in the container.\n\nDefault: true\n",
                          &VmConfig::backchannel));
    f.push_back({"networks", FieldArity::List, "specify network interfaces for VM",
                 "NICs of the VM, each `[bridge,]vlan[,mac][,driver][,qinq]`; VLANs may be\n"
                 "numbers or aliases scoped to the namespace. Replaces the whole list; a bad\n"
                 "spec clears it. With no arguments, prints the current list.\n",
                 [](const VmConfig& c) { return netsString(c.networks); },
                 [](VmConfig& c, const Args& a, const ConfigContext& ctx) -> Result<void> {
                     c.networks.clear();
                     std::vector<NetConfig> nets;
                     for (auto& spec : a) {
                         auto n = parseNetSpec(spec);
                         if (!n) return n.error();
                         if (ctx.lookup_vlan) {
                             auto v = ctx.lookup_vlan(n->alias);
                             if (!v) return v.error();
                             n->vlan = *v;
                         }
                         nets.push_back(std::move(*n));
                     }
                     c.networks = std::move(nets);
                     return Ok();
                 }});
    f.push_back({"bonds", FieldArity::List, "configures bonds",
                 "OVS bonds over the VM's taps. With no arguments, prints the current list.\n",
                 [](const VmConfig& c) { return go::list(c.bonds); },
                 [](VmConfig& c, const Args& a, const ConfigContext&) -> Result<void> {
                     c.bonds = a;
                     return Ok();
                 }});
    f.push_back(
        mapField("tags",
                 "Tags given to newly launched VMs, as `vm tag` sets them. With only a key,\n"
                 "prints that tag.\n",
                 &VmConfig::tags, false));
    return f;
}

}  // namespace

void NetConfig::moveTo(const std::string& new_bridge, int new_vlan, const std::string& new_alias) {
    if (new_vlan == kDisconnectedVlan) {
        alias.clear();
        bridge.clear();
    } else {
        alias = new_alias;
        bridge = new_bridge;
    }
    vlan = new_vlan;
    ip4.clear();
    ip6.clear();
}

std::string NetConfig::str() const {
    std::vector<std::string> parts;
    if (!bridge.empty() && bridge != kDefaultBridge) parts.push_back(bridge);
    parts.push_back(alias);
    if (!mac.empty()) parts.push_back(mac);
    if (!driver.empty() && driver != kDefaultDriver) parts.push_back(driver);
    if (qinq) parts.push_back("qinq");
    std::string out;
    for (size_t i = 0; i < parts.size(); ++i) out += (i ? "," : "") + parts[i];
    return out;
}

Result<NetConfig> parseNetSpec(std::string_view spec) {
    auto f = split(spec, ",");
    NetConfig n;
    n.raw = std::string(spec);
    if (f.size() > 1 && lower(f.back()) == "qinq") {
        n.qinq = true;
        f.pop_back();
    }
    std::string b, v, m;
    switch (f.size()) {
        case 1:
            v = f[0];
            break;
        case 2:
            if (isMac(f[1]))
                v = f[0], m = f[1];
            else
                b = f[0], v = f[1];
            break;
        case 3:
            if (isMac(f[2])) {
                b = f[0], v = f[1], m = f[2];
                break;
            }
            return Error::msg("malformed netspec");
        default:
            return Error::msg("malformed netspec");
    }
    if (!b.empty()) n.bridge = b;
    n.alias = v;
    n.mac = lower(m);
    return n;
}

void VmConfig::clear(std::string_view field) {
    VmConfig d;
    bool all = field.empty() || field == "all";
    auto reset = [&](std::string_view name, auto member) {
        if (all || field == name) this->*member = d.*member;
    };
    reset("uuid", &VmConfig::uuid);
    reset("vcpus", &VmConfig::vcpus);
    reset("memory", &VmConfig::memory);
    reset("snapshot", &VmConfig::snapshot);
    reset("schedule", &VmConfig::schedule);
    reset("colocate", &VmConfig::colocate);
    reset("coschedule", &VmConfig::coschedule);
    reset("backchannel", &VmConfig::backchannel);
    reset("networks", &VmConfig::networks);
    reset("bonds", &VmConfig::bonds);
    reset("tags", &VmConfig::tags);
    reset("filesystem", &VmConfig::filesystem);
    reset("hostname", &VmConfig::hostname);
    reset("init", &VmConfig::init);
    reset("preinit", &VmConfig::preinit);
    reset("fifos", &VmConfig::fifos);
    reset("disk-limit", &VmConfig::disk_limit);
    reset("volume", &VmConfig::volumes);
    reset("qemu", &VmConfig::qemu);
    reset("kernel", &VmConfig::kernel);
    reset("initrd", &VmConfig::initrd);
    reset("cdrom", &VmConfig::cdrom);
    reset("migrate", &VmConfig::migrate);
    reset("cpu", &VmConfig::cpu);
    reset("sockets", &VmConfig::sockets);
    reset("cores", &VmConfig::cores);
    reset("threads", &VmConfig::threads);
    reset("machine", &VmConfig::machine);
    reset("serial-ports", &VmConfig::serial_ports);
    reset("virtio-ports", &VmConfig::virtio_ports);
    reset("vga", &VmConfig::vga);
    reset("append", &VmConfig::append);
    reset("disks", &VmConfig::disks);
    reset("qemu-append", &VmConfig::qemu_append);
    reset("qemu-override", &VmConfig::qemu_override);
}

std::string VmConfig::summary() const {
    std::string out = "VM configuration:\n";
    Block vm;
    vm.add("Memory:", sizeString(memory));
    vm.add("VCPUs:", std::to_string(vcpus));
    vm.add("Networks:", netsString(networks));
    vm.add("Bonds:", go::list(bonds));
    vm.add("Snapshot:", snapshot ? "true" : "false");
    vm.add("UUID:", uuid);
    vm.add("Schedule host:", schedule);
    vm.add("Coschedule limit:", std::to_string(coschedule));
    vm.add("Colocate:", colocate);
    vm.add("Backchannel:", backchannel ? "true" : "false");
    vm.add("Tags:", go::jsonMap(tags));
    out += vm.str() + "\n";

    out += "KVM configuration:\n";
    Block kvm;
    kvm.add("State Path:", migrate);
    kvm.add("Disks:", go::list(disks));
    kvm.add("CDROM Path:", cdrom);
    kvm.add("Kernel Path:", kernel);
    kvm.add("Initrd Path:", initrd);
    kvm.add("Kernel Append:", go::list(append));
    kvm.add("QEMU Path:", qemu);
    kvm.add("QEMU Append:", go::list(qemu_append));
    kvm.add("Serial Ports:", std::to_string(serial_ports));
    kvm.add("Virtio-Serial Ports:", virtio_ports);
    kvm.add("Machine:", machine);
    kvm.add("CPU:", cpu);
    kvm.add("Cores:", std::to_string(cores));
    kvm.add("Threads:", std::to_string(threads));
    kvm.add("Sockets:", std::to_string(sockets));
    kvm.add("VGA:", vga);
    out += kvm.str() + "\n";

    out += "Container configuration:\n";
    Block ct;
    ct.add("Filesystem Path:", filesystem);
    ct.add("Hostname:", hostname);
    ct.add("Init:", go::list(init));
    ct.add("Pre-init:", preinit);
    ct.add("FIFOs:", std::to_string(fifos));
    ct.add("Disk limit:", sizeString(disk_limit));
    ct.add("Volumes:", "");
    for (auto& [k, v] : volumes) ct.add("", k + " -> " + v);
    out += ct.str() + "\n";

    out += "Android configuration:\n\n";
    return out;
}

bool isUuid(std::string_view s) {
    if (s.size() != 36) return false;
    for (size_t i = 0; i < s.size(); ++i) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isHex(s[i])) return false;
    }
    return true;
}

Result<VolumeSource> parseVolumeSource(std::string_view typed) {
    VolumeSource v;
    auto colon = typed.find(':');
    std::string_view path = typed.substr(0, colon);
    bool ro = false, rw = false;
    if (colon != std::string_view::npos) {
        for (const auto& opt : split(typed.substr(colon + 1), ",")) {
            if (opt == "ro") {
                ro = true;
            } else if (opt == "rw") {
                rw = true;
            } else if (opt == "suid") {
                v.suid = true;
            } else if (opt == "dev") {
                v.dev = true;
            } else {
                return Error::msg(fmt::format(
                    "invalid volume option {} in {}: allowed are ro, rw, suid, dev, separated "
                    "by commas after a colon",
                    go::quote(opt), go::quote(typed)));
            }
        }
    }
    if (ro && rw)
        return Error::msg(
            fmt::format("volume {}: ro and rw both given (choose one)", go::quote(typed)));
    v.readonly = ro;
    // Lexically cleaned, as the kernel resolves it: `//`, `/./`, `/x/..`.
    v.path = path.empty() || path[0] != '/' ? std::string(path) : go::joinPath("/", path);
    if (v.path == "/") {
        return Error::msg(fmt::format(
            "volume {}: the host's root directory cannot be a volume (bind a directory under it)",
            go::quote(typed)));
    }
    return v;
}

std::string configQuote(std::string_view arg) {
    bool plain = !arg.empty() && std::none_of(arg.begin(), arg.end(), [](char c) {
        return std::isspace(static_cast<unsigned char>(c)) || c == '"' || c == '\'' || c == '\\' ||
               c == '#';
    });
    return plain ? std::string(arg) : go::quote(arg);
}

std::string VmConfig::configFile() const {
    VmConfig d;
    std::string out;
    auto line = [&](std::string_view field, const std::string& value) {
        out += fmt::format("vm config {} {}\n", field, value);
    };
    line("uuid", configQuote(uuid));
    if (vcpus != d.vcpus) line("vcpus", std::to_string(vcpus));
    if (memory != d.memory) line("memory", sizeString(memory));
    if (!snapshot) line("snapshot", "false");
    if (!schedule.empty()) line("schedule", configQuote(schedule));
    if (!colocate.empty()) line("colocate", configQuote(colocate));
    if (coschedule != d.coschedule) line("coschedule", std::to_string(coschedule));
    if (!backchannel) line("backchannel", "false");
    if (!networks.empty()) {
        std::string specs;
        for (size_t i = 0; i < networks.size(); ++i) specs += (i ? " " : "") + networks[i].str();
        line("networks", specs);
    }
    if (!bonds.empty()) {
        std::string b;
        for (size_t i = 0; i < bonds.size(); ++i) b += (i ? " " : "") + configQuote(bonds[i]);
        line("bonds", b);
    }
    for (auto& [k, v] : tags) line("tags", configQuote(k) + " " + configQuote(v));
    if (!filesystem.empty()) line("filesystem", configQuote(filesystem));
    line("hostname", configQuote(hostname));
    if (init != d.init && !init.empty()) {
        std::string a;
        for (size_t i = 0; i < init.size(); ++i) a += (i ? " " : "") + configQuote(init[i]);
        line("init", a);
    }
    if (!preinit.empty()) line("preinit", configQuote(preinit));
    if (fifos != 0) line("fifos", std::to_string(fifos));
    if (disk_limit != d.disk_limit) line("disk-limit", sizeString(disk_limit));
    for (auto& [k, v] : volumes) line("volume", configQuote(k) + " " + configQuote(v));
    return out;
}

Result<std::string> VmConfig::info(std::string_view column) const {
    if (column == "uuid") return uuid;
    if (column == "vcpus") return std::to_string(vcpus);
    if (column == "memory") return sizeString(memory);
    if (column == "snapshot") return std::string(snapshot ? "true" : "false");
    if (column == "filesystem") return filesystem;
    if (column == "hostname") return hostname;
    if (column == "init") return go::list(init);
    if (column == "preinit") return preinit;
    // minimega looks up the wrong key and always shows N/A; herd shows the
    // number of fifos.
    if (column == "fifo") return std::to_string(fifos);
    if (column == "volume") return go::jsonMap(volumes);
    return Error::msg(fmt::format("invalid info field: {}", column));
}

const std::vector<ConfigField>& configFields() {
    static const std::vector<ConfigField> fields = buildFields();
    return fields;
}

const ConfigField* findConfigField(std::string_view name) {
    for (auto& f : configFields())
        if (f.name == name) return &f;
    return nullptr;
}

const std::vector<std::string>& clearableFields() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> n;
        for (auto& f : configFields()) n.push_back(f.name);
        std::sort(n.begin(), n.end());
        return n;
    }();
    return names;
}

}  // namespace herd
