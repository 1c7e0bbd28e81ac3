#include "runtime/cgroup_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <limits>
#include <thread>

#include "base/fs.h"
#include "base/log.h"
#include "base/strings.h"
#include "base/unique_fd.h"

namespace herd::runtime::cgfs {

Result<void> write(const std::string& path, const std::string& value) {
    unique_fd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC | O_CREAT, 0644));
    if (!fd) return Error::sysNow("open", path);
    if (::write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size())) {
        return Error::sysNow("write " + value + " to", path);
    }
    return Ok();
}

Result<std::string> read(const std::string& path) {
    unique_fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return Error::sysNow("open", path);
    std::string out;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0) return Error::sysNow("read", path);
        if (n == 0) break;
        out.append(buf, n);
    }
    return out;
}

Result<void> mkdirOk(const std::string& path, int mode) {
    if (mkdir(path.c_str(), mode) != 0 && errno != EEXIST) return Error::sysNow("mkdir", path);
    return Ok();
}

bool exists(const std::string& path) {
    return access(path.c_str(), F_OK) == 0;
}

std::vector<int> readPids(const std::string& path) {
    std::vector<int> pids;
    auto text = read(path);
    if (!text.ok()) return pids;
    for (const std::string& line : split(*text, "\n")) {
        if (line.empty()) continue;
        auto pid = parseUint(line, 0, std::numeric_limits<int>::max(), path);
        if (pid.ok())
            pids.push_back(static_cast<int>(*pid));
        else
            HERD_LOG(warn, "{}", pid.error().text());
    }
    return pids;
}

Result<uint64_t> readCounter(const std::string& path) {
    auto n = readNumberFile(path, std::numeric_limits<uint64_t>::max());
    if (!n.ok() && n.error().errnum() != 0) return uint64_t{0};
    return n;
}

std::vector<std::string> subdirs(const std::string& path) {
    std::vector<std::string> out;
    DIR* d = opendir(path.c_str());
    if (!d) return out;
    while (dirent* e = readdir(d)) {
        if (e->d_type == DT_DIR && e->d_name[0] != '.') out.emplace_back(e->d_name);
    }
    closedir(d);
    return out;
}

Result<void> rmdirRetry(const std::string& path, int ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    for (;;) {
        if (rmdir(path.c_str()) == 0 || errno == ENOENT) return Ok();
        if (errno != EBUSY || std::chrono::steady_clock::now() > deadline) {
            return Error::sysNow("rmdir", path);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
}

}  // namespace herd::runtime::cgfs
