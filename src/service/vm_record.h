// A VM's record on disk: what a later daemon on the same base needs to bring
// the VM back after this one died or quit with `quit keep`
// (docs/durability.md). One line of JSON per VM in the base's record
// journal (service/record_journal.h), joining the service's side (name, namespace, state, config,
// tags, NICs with their learnt addresses and qos) and the container's (runtime::ContainerRecord:
// init pid and start time, cgroup, veths, disk). Pure: text in, text out; the files are the
// container runtime's.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "runtime/container_spec.h"
#include "service/vm.h"

namespace herd {

// The directory of the records' journal (service/record_journal.h), under
// the base.
inline constexpr const char* kRecordsDir = "records";

struct VmRecord {
    std::unique_ptr<Vm> vm;              // as it was, but for what only a live daemon has
    runtime::ContainerRecord container;  // init, cgroup, veths, disk
    // `vm config` lines this binary refuses (a field it lacks, a value an
    // older one allowed): left at their defaults, said here.
    std::vector<std::string> warnings;
};

// The record of `vm` and its container (`c`), as one line of JSON.
std::string vmRecordJson(
    const Vm& vm, const runtime::ContainerRecord& c,
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// Parses a record. Refuses anything that is not a whole record of this
// version: a record is read after a crash and may be stale, and its text is
// checked as any input (a bad one makes that VM ERROR, never stops the
// daemon). `base` is the base directory (the VM's instance path is under
// it); `hostname` this host's name; the VM's config is rebuilt through the
// same setters `vm config` uses, and a line they refuse is a warning, not
// an error: a newer binary must not drop a running VM over one field.
Result<VmRecord> parseVmRecord(std::string_view text, const std::string& base,
                               const std::string& hostname);

}  // namespace herd
