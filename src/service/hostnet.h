// The host's own presence on the experiment's networks: host taps (`tap
// create`), their DHCP clients, and dnsmasq servers (`dnsmasq start`). The
// kernel work for a tap goes through the runtime's SwitchBackend
// (createHostPort/deleteHostPort); helper processes are OwnedChild children of
// the daemon.
//
// What a SIGKILLed daemon leaves is found again by nuke from records under
// the base directory:
//   <base>/taps                   host taps (minimega's table: Bridge Tap VLAN)
//   <base>/udhcpc_<tap>.pid       a tap's DHCP client
//   <base>/udhcpc.script          the lease hook (address only, no routes, no DNS)
//   <base>/dnsmasq_<id>/          a dnsmasq's pid file, leases and log
// Processes are killed only when /proc/<pid>/cmdline names that record's
// path, so a recycled pid is never hit.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/fs.h"
#include "base/result.h"
#include "runtime/bridge.h"
#include "runtime/netlink.h"
#include "service/owned_child.h"

namespace herd {

class Herd;

struct HostTap {
    std::string name;
    std::string bridge;  // as the user names it
    int vlan = 0;
    std::string ns;  // the namespace that owns it
    std::unique_ptr<OwnedChild> dhcp;
};

struct DnsmasqServer {
    int id = 0;
    std::string addr, min, max;
    std::string path;    // <base>/dnsmasq_<id>, for its command line
    std::string ifname;  // the interface holding addr, which it serves ("" = none)
    std::unique_ptr<OwnedChild> proc;
};

class HostNet : public std::enable_shared_from_this<HostNet> {
  public:
    using Post = std::function<void(std::function<void()>)>;
    // `base`: the daemon's base directory; the records and the helpers'
    // files are made beneath it (base/fs.h).
    HostNet(std::shared_ptr<const Dir> base, std::string prefix, Post post);
    ~HostNet();  // stops the helpers; taps are the runtime's to drop by then

    struct TapRequest {
        std::string bridge;
        int vlan = 0;
        std::string name;  // "" = P t<n>
        std::optional<runtime::IpPrefix> ip;
        bool dhcp = false;
        std::string ns;
    };
    // Makes the tap, gives it its address or starts its DHCP client; on any
    // failure nothing of it remains. Returns its name.
    Result<std::string> createTap(runtime::SwitchBackend& sw, const TapRequest& req);
    // Stops its DHCP client and deletes it.
    Result<void> deleteTap(runtime::SwitchBackend* sw, const std::string& name);
    HostTap* findTap(const std::string& name);
    // In creation order.
    std::vector<const HostTap*> taps() const;
    // Whether a link of that name exists on the host.
    Result<bool> linkExists(const std::string& name);

    // `dnsmasq start`: ip/min/max validated here (errors name the bad
    // value); `config` appended as a --conf-file. Returns the server's id.
    Result<int> startDnsmasq(const std::string& ip, const std::string& min, const std::string& max,
                             const std::string& config);
    Result<void> killDnsmasq(int id);
    std::vector<const DnsmasqServer*> dnsmasqs() const;
    // From its pid file (as minimega), else the child's pid.
    int dnsmasqPid(const DnsmasqServer& s) const;

    // Every tap and helper gone (quit, nuke).
    void shutdown(runtime::SwitchBackend* sw);

    // Called on the command thread whenever a tap or a dnsmasq came or went,
    // so the address snooper's list of trusted DHCP servers follows.
    void onServersChanged(std::function<void()> f) { servers_changed_ = std::move(f); }

  private:
    Result<runtime::Netlink*> netlink();
    void writeTapRecord();
    Result<std::string> dhcpScript();
    void onDnsmasqExit(int id);
    void onDhcpExit(const std::string& tap, const OwnedChild* child);

    std::shared_ptr<const Dir> base_;
    std::string prefix_;
    Post post_;
    std::optional<runtime::Netlink> nl_;
    std::vector<std::unique_ptr<HostTap>> taps_;
    std::map<int, std::unique_ptr<DnsmasqServer>> dnsmasq_;
    int next_tap_ = 0;
    int next_dnsmasq_ = 0;
    std::function<void()> servers_changed_;
};

// Makes the daemon's HostNet (Herd::hostnet() calls it on first use).
std::shared_ptr<HostNet> makeHostNet(Herd& herd);
// Deletes the host taps of namespace `ns` (`clear namespace`).
void hostnetClearNamespace(Herd& herd, const std::string& ns);
// Deletes every tap and stops every helper (quit, the nuke command), while
// the runtime's switch still exists.
void hostnetShutdown(Herd& herd);

// For `herd -nuke` after a SIGKILLed daemon: kills the recorded helpers,
// deletes recorded taps that still exist as veths, removes the records.
Result<void> nukeHostNet(const Dir& base, const std::string& prefix);

}  // namespace herd
