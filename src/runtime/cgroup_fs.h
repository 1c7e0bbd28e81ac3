// Small file helpers shared by the cgroup implementations.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"

namespace herd::runtime::cgfs {

Result<void> write(const std::string& path, const std::string& value);
Result<std::string> read(const std::string& path);
// mkdir that accepts an existing directory.
Result<void> mkdirOk(const std::string& path, int mode = 0755);
bool exists(const std::string& path);
std::vector<int> readPids(const std::string& path);
std::vector<std::string> subdirs(const std::string& path);
// rmdir, retried for up to `ms` while the kernel still tears the group down.
Result<void> rmdirRetry(const std::string& path, int ms = 1000);

}  // namespace herd::runtime::cgfs
