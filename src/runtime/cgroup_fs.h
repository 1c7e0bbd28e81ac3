// Small file helpers shared by the cgroup implementations.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"

namespace herd::runtime::cgfs {

Result<void> write(const std::string& path, const std::string& value);
Result<std::string> read(const std::string& path);
// mkdir that accepts an existing directory.
Result<void> mkdirOk(const std::string& path, int mode = 0755);
bool exists(const std::string& path);
// The pids in a cgroup.procs file, one a line (a 0 is kept as read); a line
// that is not a number is logged, naming the file, and left out.
std::vector<int> readPids(const std::string& path);
// The number in a one-number file (memory.current, cpuacct.usage). 0 when
// the file cannot be read, as while the group is being removed; an error
// naming the file when it holds anything but a number.
Result<uint64_t> readCounter(const std::string& path);
std::vector<std::string> subdirs(const std::string& path);
// rmdir, retried for up to `ms` while the kernel still tears the group down.
Result<void> rmdirRetry(const std::string& path, int ms = 1000);

}  // namespace herd::runtime::cgfs
