// The table of `vm config` fields: one row per field, in minimega's order.
#include <fmt/format.h>

#include <algorithm>

#include "cli/text.h"
#include "service/gostr.h"
#include "service/vmconfig.h"
#include "service/vmconfig_values.h"

namespace herd {

namespace {

using Args = std::vector<std::string>;
using S = ConfigSection;
using field::EmptyList;

// The help of a KVM field.
std::string kvmHelp(std::string_view what) {
    return std::string(what) +
           "\n\nNote: this configuration only applies to KVM-based VMs; herd\n"
           "accepts and shows it but runs containers only.\n";
}

// A KVM field: shown in the KVM block, never in the instance config file.
ConfigField kvm(std::string name, std::string label, std::string column, std::string_view help,
                FieldValue value, std::vector<std::string> aliases = {}) {
    return {.name = std::move(name),
            .aliases = std::move(aliases),
            .section = ConfigSection::Kvm,
            .label = std::move(label),
            .column = std::move(column),
            .help_long = kvmHelp(help),
            .value = std::move(value)};
}

Result<void> setUuid(VmConfig& c, const Args& a, const ConfigContext&) {
    const std::string& u = a.at(0);
    if (!u.empty() && !isUuid(u)) {
        return Error::msg(
            fmt::format("invalid uuid {}: want 8-4-4-4-12 hexadecimal digits, e.g. "
                        "0b5c2a8e-3f1d-4c6b-9e7a-1d2c3b4a5f60",
                        go::quote(u)));
    }
    c.uuid = cli::text::toLower(u);  // cc matches agents by the lower-case form
    return Ok();
}

Result<void> setSchedule(VmConfig& c, const Args& a, const ConfigContext& ctx) {
    const std::string& s = a.at(0);
    if (!c.colocate.empty() && !s.empty())
        return Error::msg("cannot specify schedule and colocate in the same config");
    std::string host = s == "localhost" ? ctx.hostname : s;
    if (std::find(ctx.hosts.begin(), ctx.hosts.end(), host) == ctx.hosts.end())
        return Error::msg(fmt::format("host is not in namespace: {}", host));
    c.schedule = s;
    return Ok();
}

Result<void> setColocate(VmConfig& c, const Args& a, const ConfigContext&) {
    if (!c.schedule.empty() && !a.at(0).empty())
        return Error::msg("cannot specify colocate and schedule in the same config");
    c.colocate = a.at(0);
    return Ok();
}

// Replaces the whole list; a bad spec clears it (as minimega does).
Result<void> setNetworks(VmConfig& c, const Args& a, const ConfigContext& ctx) {
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
}

std::string netSpecs(const VmConfig& c) {
    std::string specs;
    for (size_t i = 0; i < c.networks.size(); ++i) specs += (i ? " " : "") + c.networks[i].str();
    return specs;
}

FieldValue networks() {
    FieldValue v;
    v.arity = FieldArity::List;
    v.list_key = "netspec";
    v.get = [](const VmConfig& c) { return "[" + netSpecs(c) + "]"; };
    v.show = v.get;
    v.info = v.get;
    v.set = setNetworks;
    v.copy = [](VmConfig& dst, const VmConfig& src) { dst.networks = src.networks; };
    v.is_default = [](const VmConfig& c) { return c.networks.empty(); };
    // The specs as printed (MACs included), unquoted.
    v.file_args = [](const VmConfig& c) { return c.networks.empty() ? Args{} : Args{netSpecs(c)}; };
    return v;
}

// `vm info`'s bond column separates with ", " like its NIC columns.
FieldValue bonds() {
    FieldValue v = field::words(&VmConfig::bonds, EmptyList::Brackets);
    v.info = [](const VmConfig& c) {
        std::string out;
        for (size_t i = 0; i < c.bonds.size(); ++i) out += (i ? ", " : "") + c.bonds[i];
        return "[" + out + "]";
    };
    return v;
}

// Host paths are checked (options, not the host's root) and made absolute.
Result<void> setVolume(VmConfig& c, const Args& a, const ConfigContext& ctx) {
    std::string src = field::checkPath(ctx, a.at(1));
    auto v = parseVolumeSource(src);
    if (!v) return v.error();
    c.volumes[a.at(0)] = std::move(src);
    return Ok();
}

// In the summary each volume has a line of its own, under the value column.
FieldValue volumes() {
    FieldValue v = field::withSet(field::dict(&VmConfig::volumes), setVolume);
    v.show = [](const VmConfig& c) {
        std::string out;
        for (auto& [dst, src] : c.volumes) out += "\n" + dst + " -> " + src;
        return out;
    };
    return v;
}

FieldValue disks() {
    FieldValue v = field::paths(&VmConfig::disks, EmptyList::Brackets);
    v.list_key = "diskspec";
    return v;
}

FieldValue qemuOverride() {
    FieldValue v;
    v.arity = FieldArity::Pairs;
    v.get = [](const VmConfig& c) {
        std::string out;
        for (size_t i = 0; i < c.qemu_override.size(); ++i)
            out += fmt::format("{}: {} -> {}\n", i, c.qemu_override[i].first,
                               c.qemu_override[i].second);
        return out;
    };
    v.show = v.get;
    v.info = v.get;
    v.set = [](VmConfig& c, const Args& a, const ConfigContext&) -> Result<void> {
        c.qemu_override.emplace_back(a.at(0), a.at(1));
        return Ok();
    };
    v.copy = [](VmConfig& dst, const VmConfig& src) { dst.qemu_override = src.qemu_override; };
    v.is_default = [](const VmConfig& c) { return c.qemu_override.empty(); };
    v.file_args = [](const VmConfig&) { return Args{}; };
    return v;
}

std::vector<ConfigField> buildFields() {
    using namespace field;
    using V = VmConfig;
    return {
        // All VM types.
        {.name = "uuid",
         .section = S::Vm,
         .label = "UUID:",
         .column = "uuid",
         .in_file = InFile::Always,
         .help_long = "UUID of the VM: 8-4-4-4-12 hexadecimal digits, in either case, stored in\n"
                      "lower case (cc matches its agents by it). When unset, each VM gets a\n"
                      "random one at launch.\n",
         .value = withSet(text(&V::uuid), setUuid)},
        {.name = "vcpus",
         .section = S::Vm,
         .label = "VCPUs:",
         .column = "vcpus",
         .help_long = fmt::format("Number of virtual CPUs (container: CPU quota), from 1 to {}.\n",
                                  kMaxVcpus),
         .value = count("vcpus", &V::vcpus, 1, kMaxVcpus)},
        {.name = "memory",
         .section = S::Vm,
         .label = "Memory:",
         .column = "memory",
         .help_long = "Memory in MiB (container: memory limit): a number from 1, or with a\n"
                      "unit (512M, 2G), or unlimited for no limit.\n",
         .value = size("memory", &V::memory)},
        {.name = "snapshot",
         .section = S::Vm,
         .label = "Snapshot:",
         .column = "snapshot",
         .help_long = "Run containers on an overlay over their filesystem (true) or directly\n"
                      "on it (false). Only an overlay has a disk limit (see disk-limit).\n",
         .value = flag(&V::snapshot)},
        {.name = "schedule",
         .section = S::Vm,
         .label = "Schedule host:",
         .help_long = "Host where the VM should be scheduled. Cannot be combined with colocate.\n",
         .value = withSet(text(&V::schedule), setSchedule)},
        {.name = "colocate",
         .section = S::Vm,
         .label = "Colocate:",
         .help_long = "Colocate the VM with another launched or queued VM. Cannot be combined\n"
                      "with schedule.\n",
         .value = withSet(text(&V::colocate), setColocate)},
        {.name = "coschedule",
         .section = S::Vm,
         .label = "Coschedule limit:",
         .help_long = "Limit on the number of VMs scheduled on the same host as this one (-1:\n"
                      "no limit).\n",
         .value = goInt(&V::coschedule)},
        {.name = "backchannel",
         .section = S::Vm,
         .label = "Backchannel:",
         .help_long = "Create the cc socket for miniccc in the container.\n",
         .value = flag(&V::backchannel)},
        {.name = "networks",
         .section = S::Vm,
         .label = "Networks:",
         .help_short = "specify network interfaces for VM",
         .help_long =
             "NICs of the VM, each `[bridge,]vlan[,mac][,driver][,qinq]`; VLANs may be\n"
             "numbers or aliases scoped to the namespace. The driver (a QEMU NIC model such\n"
             "as e1000 or virtio-net-pci) is kept for KVM VMs and unused by containers.\n"
             "Replaces the whole list; a bad spec clears it. With no arguments, prints the\n"
             "current list.\n",
         .value = networks()},
        {.name = "bonds",
         .section = S::Vm,
         .label = "Bonds:",
         .column = "bond",
         .help_long = "OVS bonds over the VM's taps. With no arguments, prints the current list.\n",
         .value = bonds()},
        {.name = "tags",
         .section = S::Vm,
         .label = "Tags:",
         .column = "tags",
         .help_long = "Tags given to newly launched VMs, as `vm tag` sets them. With only a key,\n"
                      "prints that tag.\n",
         .value = dict(&V::tags)},

        // KVM: accepted and shown so that scripts written for minimega keep
        // working; herd never uses them.
        kvm("qemu", "QEMU Path:", "", "QEMU binary.", path(&V::qemu)),
        kvm("kernel", "Kernel Path:", "kernel", "Kernel image.", path(&V::kernel)),
        kvm("initrd", "Initrd Path:", "initrd", "Initrd image.", path(&V::initrd)),
        kvm("cdrom", "CDROM Path:", "cdrom", "CD-ROM image.", path(&V::cdrom)),
        // Newer minimega calls it `state`.
        kvm("migrate", "State Path:", "", "Migration (saved state) image.", path(&V::migrate),
            {"state"}),
        kvm("cpu", "CPU:", "", "Virtual CPU model.", text(&V::cpu)),
        kvm("sockets", "Sockets:", "", "CPU sockets.", goUint(&V::sockets)),
        kvm("cores", "Cores:", "", "CPU cores per socket.", goUint(&V::cores)),
        kvm("threads", "Threads:", "", "CPU threads per core.", goUint(&V::threads)),
        kvm("machine", "Machine:", "", "Machine type.", text(&V::machine)),
        kvm("serial-ports", "Serial Ports:", "serial-ports", "Serial ports.",
            goUint(&V::serial_ports)),
        kvm("virtio-ports", "Virtio-Serial Ports:", "virtio-ports", "Virtio-serial ports.",
            text(&V::virtio_ports)),
        kvm("vga", "VGA:", "", "Emulated graphics card.", text(&V::vga)),
        kvm("append", "Kernel Append:", "append", "Kernel command line.",
            words(&V::append, EmptyList::Nothing)),
        // minimega's `vm config disk` is a prefix of `disks` alone; here it
        // is one of `disk-limit` too, so it is an alias.
        kvm("disks", "Disks:", "disks", "Disk images.", disks(), {"disk"}),
        kvm("usb-use-xhci", "Usb Use XHCI:", "usb-use-xhci",
            "USB controller: xHCI (true) or EHCI (false).", flag(&V::usb_use_xhci)),
        kvm("tpm-socket", "TPM Socket: ", "tpm-socket", "Socket of a virtual TPM.",
            path(&V::tpm_socket)),
        kvm("bidirectional-copy-paste", "Bidirectional Copy Paste:", "bidirectional-copy-paste",
            "Copy and paste in both directions through the VNC console.",
            flag(&V::bidirectional_copy_paste)),
        kvm("qemu-append", "QEMU Append:", "", "Extra QEMU arguments.",
            words(&V::qemu_append, EmptyList::Nothing)),
        {.name = "qemu-override",
         .section = S::Kvm,
         .help_short = "override parts of the QEMU launch string",
         .help_long = kvmHelp("Replace <match> by <replacement> in the QEMU command line."),
         .value = qemuOverride()},

        // Containers.
        {.name = "filesystem",
         .section = S::Container,
         .label = "Filesystem Path:",
         .column = "filesystem",
         .help_long = "Root filesystem of a container: a directory holding a Linux\n"
                      "distribution (/dev, /proc, /sys, ...). Relative paths are under the\n"
                      "file root. When unset, herd uses its built-in guest image.\n",
         .value = path(&V::filesystem)},
        {.name = "hostname",
         .section = S::Container,
         .label = "Hostname:",
         .column = "hostname",
         .in_file = InFile::Always,
         .help_long = "Hostname set in the container before init runs. When unset, the VM\n"
                      "name is used.\n",
         .value = text(&V::hostname)},
        {.name = "init",
         .section = S::Container,
         .label = "Init:",
         .column = "init",
         .help_long = "Program and arguments exec'd as PID 1 of the container, with an\n"
                      "empty environment.\n",
         .value = words(&V::init, EmptyList::Nothing)},
        {.name = "preinit",
         .section = S::Container,
         .label = "Pre-init:",
         .column = "preinit",
         .help_long = "Host program run as root inside the new namespaces before the\n"
                      "container is isolated; a non-zero exit aborts the launch.\n",
         .value = text(&V::preinit)},
        // minimega looks up the wrong key for its `fifo` column and always
        // shows N/A; herd shows the number of fifos.
        {.name = "fifos",
         .section = S::Container,
         .label = "FIFOs:",
         .column = "fifo",
         .help_long =
             fmt::format("Number of named pipes shared between host and container: fifoN in the\n"
                         "instance directory, /dev/fifos/fifoN in the container. From 0 to {}.\n",
                         kMaxFifos),
         .value = count("fifos", &V::fifos, 0, kMaxFifos)},
        {.name = "disk-limit",
         .section = S::Container,
         .label = "Disk limit:",
         .help_long = "Space for what a container writes to its root filesystem (the overlay's\n"
                      "upper layer), in MiB: a number, or with a unit (512M, 2G), or unlimited.\n"
                      "A write past it fails inside the container with \"No space left on\n"
                      "device\". The upper layer lives in memory (tmpfs) and counts against the\n"
                      "container's memory limit; it survives vm kill and vm start and is freed\n"
                      "by vm flush. With snapshot false the container writes to its filesystem\n"
                      "directly and there is no disk limit. Not to be confused with disks, which\n"
                      "lists KVM disk images.\n",
         .value = size("disk-limit", &V::disk_limit)},
        {.name = "volume",
         .section = S::Container,
         .label = "Volumes:",
         .column = "volume",
         .help_long =
             "Bind-mount host directories into a container:\n\n"
             "\tvm config volume /data /scratch/data\n"
             "\tvm config volume /ro /scratch/shared:ro\n\n"
             "Options follow the host path after a colon, separated by commas: ro\n"
             "(read-only), rw (the default), suid (honour setuid bits), dev (allow device\n"
             "nodes); volumes are nosuid and nodev otherwise. The host's root directory\n"
             "cannot be a volume. The same key overwrites the previous volume. With only\n"
             "a key, prints that volume's host path.\n",
         .value = volumes()},
    };
}

}  // namespace

bool ConfigField::appliesTo(VmType type) const {
    switch (section) {
        case ConfigSection::Vm:
            return true;
        case ConfigSection::Kvm:
            return type == VmType::Kvm;
        case ConfigSection::Container:
            return type == VmType::Container;
    }
    return false;
}

bool ConfigField::isCalled(std::string_view n) const {
    return n == name || std::find(aliases.begin(), aliases.end(), n) != aliases.end();
}

std::string ConfigField::helpShort() const {
    return help_short.empty() ? "configures " + name : help_short;
}

std::string ConfigField::helpLong() const {
    const std::string def = value.get(field::defaults());
    if (def.empty() || def == "[]") return help_long;
    return help_long + "\nDefault: " + def + "\n";
}

const std::vector<ConfigField>& configFields() {
    static const std::vector<ConfigField> fields = buildFields();
    return fields;
}

const ConfigField* findConfigField(std::string_view name) {
    for (auto& f : configFields())
        if (f.isCalled(name)) return &f;
    return nullptr;
}

const std::vector<SummaryBlock>& summaryLayout() {
    static const std::vector<SummaryBlock> blocks = {
        {"VM configuration:",
         {"memory", "vcpus", "networks", "bonds", "snapshot", "uuid", "schedule", "coschedule",
          "colocate", "backchannel", "tags"}},
        {"KVM configuration:",
         {"migrate", "disks", "cdrom", "kernel", "initrd", "append", "qemu", "qemu-append",
          "serial-ports", "virtio-ports", "machine", "cpu", "cores", "threads", "sockets", "vga",
          "usb-use-xhci", "bidirectional-copy-paste", "tpm-socket"}},
        {"Container configuration:",
         {"filesystem", "hostname", "init", "preinit", "fifos", "disk-limit", "volume"}},
        // herd has no Android VMs and no Android fields.
        {"Android configuration:", {}},
    };
    return blocks;
}

const std::vector<std::string>& clearableFields() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> n;
        for (auto& f : configFields()) {
            n.push_back(f.name);
            n.insert(n.end(), f.aliases.begin(), f.aliases.end());
        }
        std::sort(n.begin(), n.end());
        return n;
    }();
    return names;
}

}  // namespace herd
