// VLAN trunking on kernels without 802.1Q links or bridge VLAN filtering:
// two tiny tc BPF programs (cls_bpf in direct-action mode), built here as
// bytecode and loaded with the bpf() syscall, and the rtnetlink messages
// that attach them to an interface's clsact hooks.
//
//   tag program   (egress of a port of VLAN v's bridge): pushes an 802.1Q
//                 tag with VLAN v onto the frame and redirects it out of
//                 the trunk interface.
//   untag program (ingress of the trunk interface): a frame carrying a VLAN
//                 tag (the kernel keeps a received tag in the packet's
//                 metadata) whose VLAN has an entry in an array map
//                 (VLAN -> ifindex) loses its tag and is redirected out of
//                 that interface: the free end of a veth pair whose other
//                 end is a port of the VLAN's bridge, so the frame enters
//                 the bridge. Anything else (untagged frames, other VLANs)
//                 goes on to the host as if there were no filter.
//
//   loss program  (a filter of the root htb qdisc that qos puts on a NIC's
//                 host end on kernels without netem): drops each packet
//                 with the asked probability (a random u32 below a
//                 threshold) and leaves the others unclassified, so that
//                 htb sends them on unshaped.
//
// Programs and maps are file descriptors (unique_fd): the kernel frees them
// when the last descriptor closes and no filter holds them. Filters belong
// to their interface; removeTrunkFilter or deleting the interface removes
// them. The instruction builders are pure (unit tested without a kernel).
#pragma once

#include <linux/bpf.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "runtime/netlink.h"

struct nlmsghdr;

namespace herd::runtime {

// The programs, as instructions. `map_fd` is put into the untag program's
// map load (a BPF_PSEUDO_MAP_FD immediate).
std::vector<bpf_insn> tagProgram(int vlan, int trunk_ifindex);
std::vector<bpf_insn> untagProgram(int map_fd);
// Drops a packet with probability `percent` / 100 (0 to 100).
std::vector<bpf_insn> lossProgram(double percent);

// An array map of 4096 u32 ifindexes, indexed by VLAN (0 = not carried).
Result<unique_fd> createVlanMap();
Result<void> setVlanTarget(int map_fd, int vlan, int ifindex);
// Loads a SCHED_CLS program named `name` (at most 15 bytes); the error
// carries the verifier's log.
Result<unique_fd> loadTcProgram(const std::vector<bpf_insn>& insns, const std::string& name);

// The name herd gives its filters (TCA_BPF_NAME) so that -nuke can find the
// ones a killed daemon with `prefix` left on interfaces that are not its own.
std::string trunkFilterName(std::string_view prefix);
// The priority of herd's trunk filters on a hook.
inline constexpr uint16_t kTrunkFilterPrio = 0xC000;

// `tc filter add dev <ifindex> ingress|egress pref <prio> bpf da fd <fd>
// name <name>`, into `buf` (kTcMirrorMsgSize bytes).
nlmsghdr* buildBpfFilter(char* buf, int ifindex, bool ingress_hook, uint16_t prio, int prog_fd,
                         const std::string& name);

// The loss filter: `tc filter add dev <ifindex> parent <parent> pref 1 bpf
// da fd <fd> name herd_loss`, into `buf` (kTcMirrorMsgSize bytes).
// Also the BPF program's name, which allows letters, digits, `_` and `.`.
inline constexpr const char* kLossFilterName = "herd_loss";
nlmsghdr* buildLossFilter(char* buf, int ifindex, uint32_t parent, int prog_fd);

// Makes sure `ifname` has a clsact qdisc (Ok when it has one already) and
// attaches `prog_fd` on a hook; true when the clsact qdisc was made here
// (so that removeClsact can restore the interface as it was). Errors read
// `attach trunk filter (ingress) to <if>: ...`.
Result<bool> attachTrunkFilter(Netlink& nl, const std::string& ifname, bool ingress_hook,
                               int prog_fd, const std::string& name);
// Removes the clsact qdisc of `ifname` (with any filters left on it); Ok when
// it or the interface is gone.
Result<void> removeClsact(Netlink& nl, const std::string& ifname);
// Removes herd's trunk filter from a hook; Ok when it or the interface is gone.
Result<void> removeTrunkFilter(Netlink& nl, const std::string& ifname, bool ingress_hook);
// Removes, from the ingress hook of every interface, the bpf filters named
// trunkFilterName(prefix) (what a killed daemon left on a trunked NIC).
Result<void> nukeTrunkFilters(Netlink& nl, std::string_view prefix);

}  // namespace herd::runtime
