// The VM configuration template (`vm config`): every field that applies to
// containers plus the KVM fields minimega accepts (stored and printed, ignored
// at launch). Pure data and text; no I/O.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace herd {

inline constexpr std::string_view kDefaultBridge = "mega_bridge";
inline constexpr std::string_view kDefaultDriver = "e1000";
inline constexpr int kDisconnectedVlan = -1;

// Sizes in MiB (`vm config memory`, `vm config disk-limit`). 0 stands for
// "unlimited", which must be typed as such. The upper bound keeps
// `MiB << 20` far from wrapping.
inline constexpr uint64_t kUnlimited = 0;
inline constexpr uint64_t kMaxSizeMiB = uint64_t{1} << 24;  // 16 TiB
inline constexpr uint64_t kDefaultDiskLimitMiB = 1024;
inline constexpr uint64_t kMaxVcpus = 4096;
inline constexpr uint64_t kMaxFifos = 256;

// How a live NIC's host end is shaped (`qos add`), as the user typed each
// value (minimega shows them so: `rate 1mbit`, `loss 0.50`, `delay 100ms`).
// Empty strings are unset; rate excludes loss and delay. State of the host
// end, not configuration: it goes when the container's veths do.
struct NicQos {
    std::string rate;
    std::string loss;
    std::string delay;
    bool empty() const { return rate.empty() && loss.empty() && delay.empty(); }
    bool operator==(const NicQos&) const = default;
};

// One NIC, from a `vm config net` netspec. `alias` is what the user typed for
// the VLAN; `vlan` its resolved number.
struct NetConfig {
    std::string alias;
    int vlan = 0;
    std::string bridge = std::string(kDefaultBridge);
    std::string mac;  // lower case; empty until the VM is created
    std::string driver = std::string(kDefaultDriver);
    bool qinq = false;
    std::string tap;  // set by the runtime
    std::string ip4, ip6;
    NicQos qos;       // set by `qos add` on a live container, kept across moves
    std::string raw;  // the spec as typed, re-parsed by `vm config clone`

    // `[bridge,]alias[,mac][,driver][,qinq]`, defaults omitted.
    std::string str() const;
    // `vm net connect/disconnect`: the NIC's new switch (vlan
    // kDisconnectedVlan = on none); learnt addresses no longer hold.
    void moveTo(const std::string& new_bridge, int new_vlan, const std::string& new_alias);
};

// Parses one netspec (without resolving the VLAN). minimega tells a driver
// token by asking QEMU for its NIC models; herd runs no QEMU, so no token
// counts as a driver.
Result<NetConfig> parseNetSpec(std::string_view spec);

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

// What setters need from outside the config.
struct ConfigContext {
    std::string filepath;            // relative paths are made absolute under it
    std::vector<std::string> hosts;  // hosts of the namespace (schedule)
    std::string hostname;            // this host (`localhost` resolves to it)
    std::function<Result<int>(const std::string& alias)> lookup_vlan;  // netspec VLANs
};

struct VmConfig {
    // Base (all VM types).
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
    std::vector<std::string> qemu_append;
    std::vector<std::pair<std::string, std::string>> qemu_override;

    // Resets one field (by its `vm config` name) or, with "", every field.
    void clear(std::string_view field = {});

    // The `vm config` summary (what `vm config` with no field prints),
    // untrimmed.
    std::string summary() const;

    // The instance `config` file (minimega writes it in each VM's directory):
    // `vm config ...` lines for non-default values, base fields first, then
    // container fields.
    std::string configFile() const;

    // A `vm info` column backed by configuration, or an error when the
    // column is not a configuration field.
    Result<std::string> info(std::string_view column) const;
};

// How a field's command looks.
enum class FieldArity {
    One,    // vm config <f> [value]
    Bool,   // vm config <f> [true,false]
    List,   // vm config <f> [value]...
    Map,    // vm config <f>   |   vm config <f> <key> [value]
    Pairs,  // vm config <f>   |   vm config <f> <match> <replacement>
};

struct ConfigField {
    std::string name;  // as typed after `vm config` (and `clear vm config`)
    FieldArity arity;
    std::string help_short;
    std::string help_long;
    // The print form (`vm config <f>` with no value). Empty: nothing printed.
    std::function<std::string(const VmConfig&)> get;
    // Sets from the typed tokens: One/Bool: {value}; List: values;
    // Map: {key, value}; Pairs: {match, replacement}.
    std::function<Result<void>(VmConfig&, const std::vector<std::string>&, const ConfigContext&)>
        set;
};

// Every `vm config <field>`, in minimega's order.
const std::vector<ConfigField>& configFields();
const ConfigField* findConfigField(std::string_view name);

// Names accepted by `clear vm config <field>`.
const std::vector<std::string>& clearableFields();

// Quotes one argument for a config line when it needs it (spaces, quotes).
std::string configQuote(std::string_view arg);

}  // namespace herd
