// The VM configuration template (`vm config`): every field that applies to
// containers plus the KVM fields minimega accepts (stored and printed, ignored
// at launch). Pure data and text; no I/O.
//
// What herd knows about a field (its command, parser, printers, default,
// help, the VM types it applies to, its `vm info` column and its line in the
// `vm config` summary) is one row of configFields() (vmconfig_fields.cc);
// everything else here is derived from that table.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "service/netspec.h"

namespace herd {

// Sizes in MiB (`vm config memory`, `vm config disk-limit`). 0 stands for
// "unlimited", which must be typed as such. The upper bound keeps
// `MiB << 20` far from wrapping.
inline constexpr uint64_t kUnlimited = 0;
inline constexpr uint64_t kMaxSizeMiB = uint64_t{1} << 24;  // 16 TiB
inline constexpr uint64_t kDefaultDiskLimitMiB = 1024;
inline constexpr uint64_t kMaxVcpus = 4096;
inline constexpr uint64_t kMaxFifos = 256;

enum class VmType { Container, Kvm };

// The host side of a volume as typed: `path[:opt,opt...]`. minimega allows
// no `:` in volume paths, so everything after the first one is options:
// `ro`, `rw`, `suid`, `dev` (default: read-write, nosuid, nodev).
struct VolumeSource {
    std::string path;  // lexically cleaned (no `//`, `/./`, `..`)
    bool readonly = false;
    bool suid = false;
    bool dev = false;
};
// Refuses unknown options and a path that is the host's root directory.
Result<VolumeSource> parseVolumeSource(std::string_view typed);

// `vm config uuid`: 8-4-4-4-12 hexadecimal digits, either case.
bool isUuid(std::string_view s);

// Quotes one argument for a config line when it needs it (spaces, quotes).
std::string configQuote(std::string_view arg);

// What setters need from outside the config.
struct ConfigContext {
    std::string filepath;            // relative paths are made absolute under it
    std::vector<std::string> hosts;  // hosts of the namespace (schedule)
    std::string hostname;            // this host (`localhost` resolves to it)
    std::function<Result<int>(const std::string& alias)> lookup_vlan;  // netspec VLANs
};

// The values. Their defaults are the member initializers; the table says
// how each is typed, printed and used.
struct VmConfig {
    // All VM types.
    std::string uuid;  // empty or a lower-case UUID
    uint64_t vcpus = 1;
    uint64_t memory = 2048;  // MiB; kUnlimited: no memory limit
    bool snapshot = true;
    std::string schedule;
    std::string colocate;
    int64_t coschedule = -1;
    bool backchannel = true;
    std::vector<NetConfig> networks;
    std::vector<std::string> bonds;
    std::map<std::string, std::string> tags;

    // KVM: accepted and shown, never used by herd.
    std::string qemu = "kvm";
    std::string kernel, initrd, cdrom, migrate;
    std::string cpu = "host";
    uint64_t sockets = 0, cores = 0, threads = 0;
    std::string machine;
    uint64_t serial_ports = 0;
    std::string virtio_ports;
    std::string vga = "std";
    std::vector<std::string> append;
    std::vector<std::string> disks;
    bool usb_use_xhci = true;
    std::string tpm_socket;
    bool bidirectional_copy_paste = false;
    std::vector<std::string> qemu_append;
    std::vector<std::pair<std::string, std::string>> qemu_override;

    // Container.
    std::string filesystem;  // empty: herd's built-in guest image
    std::string hostname;
    std::vector<std::string> init{"/init"};
    std::string preinit;
    uint64_t fifos = 0;
    // MiB of overlay upper layer (the container's writes to its root
    // filesystem); kUnlimited: none. Unused with `snapshot false`.
    uint64_t disk_limit = kDefaultDiskLimitMiB;
    // container path -> host path as typed (with its `:options`).
    std::map<std::string, std::string> volumes;

    // Resets one field (by its `vm config` name) or, with "" or "all", every
    // field.
    void clear(std::string_view field = {});

    // The `vm config` summary (what `vm config` with no field prints),
    // untrimmed.
    std::string summary() const;

    // The instance `config` file (minimega writes it in each VM's directory):
    // `vm config ...` lines for non-default values, base fields first, then
    // container fields.
    std::string configFile() const;

    // A `vm info` column backed by configuration, or an error when the
    // column is not a configuration field of a VM of this type.
    Result<std::string> info(std::string_view column, VmType type) const;
};

// The part of the configuration a field belongs to: the VM types it applies
// to, and the block of the `vm config` summary it is shown in.
enum class ConfigSection {
    Vm,         // all VM types ("VM configuration:")
    Kvm,        // KVM only ("KVM configuration:")
    Container,  // containers only ("Container configuration:")
};

// How a field's command looks.
enum class FieldArity {
    One,    // vm config <f> [value]
    Bool,   // vm config <f> [true,false]
    List,   // vm config <f> [value]...
    Map,    // vm config <f>   |   vm config <f> <key> [value]
    Pairs,  // vm config <f>   |   vm config <f> <match> <replacement>
};

// Whether the instance config file has a line for a field.
enum class InFile {
    IfChanged,  // when it differs from the default (KVM fields: never)
    Always,
};

using ConfigPrinter = std::function<std::string(const VmConfig&)>;
// Sets from the typed tokens: One/Bool: {value}; List: values;
// Map: {key, value}; Pairs: {match, replacement}. Changes nothing on error.
using ConfigSetter =
    std::function<Result<void>(VmConfig&, const std::vector<std::string>&, const ConfigContext&)>;

// How one field's value is typed and printed, whatever the field is called
// (made by the helpers in vmconfig_fields.cc from a member of VmConfig).
struct FieldValue {
    FieldArity arity = FieldArity::One;
    std::string list_key = "value";  // the pattern's name for a List's items
    ConfigPrinter get{};             // `vm config <f>`; "" prints nothing
    ConfigSetter set{};
    ConfigPrinter show{};  // in the summary; each '\n' starts an indented line
    ConfigPrinter info{};  // in `vm info`
    // dst's value becomes src's (`clear` copies from a default VmConfig,
    // `clone` keeps the current KVM fields).
    std::function<void(VmConfig& dst, const VmConfig& src)> copy{};
    std::function<bool(const VmConfig&)> is_default{};
    // The config file's lines, each what follows `vm config <f> `.
    std::function<std::vector<std::string>(const VmConfig&)> file_args{};
    // Map fields: the value of one key ("" when absent).
    std::function<std::string(const VmConfig&, const std::string& key)> lookup{};
};

// One `vm config` field: a row of the table.
struct ConfigField {
    std::string name{};  // as typed after `vm config` (and `clear vm config`)
    // Other names minimega's scripts use for it.
    std::vector<std::string> aliases{};
    ConfigSection section{};
    std::string label{};   // its line in the summary ("Memory:"); "" = none
    std::string column{};  // its `vm info` column; "" = none
    InFile in_file = InFile::IfChanged;
    std::string help_short{};  // "" = "configures <name>"
    std::string help_long{};   // without the default, which help adds
    FieldValue value{};

    bool appliesTo(VmType type) const;
    // `n` is its name or one of its aliases.
    bool isCalled(std::string_view n) const;
    std::string helpShort() const;
    // help_long and, when the default prints as something, `Default: <it>`.
    std::string helpLong() const;
};

// Every `vm config <field>`, in minimega's order: all VM types, KVM,
// containers (the config file's order too).
const std::vector<ConfigField>& configFields();
// By name or alias.
const ConfigField* findConfigField(std::string_view name);

// The fields of each summary block, in the order minimega prints them.
struct SummaryBlock {
    std::string title;
    std::vector<std::string> fields;
};
const std::vector<SummaryBlock>& summaryLayout();

// Names and aliases accepted by `clear vm config <field>`, sorted.
const std::vector<std::string>& clearableFields();

}  // namespace herd
