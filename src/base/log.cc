#include "base/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>

namespace herd {

namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::error)};
std::mutex g_mu;     // serialises writes so lines from threads never interleave
int g_file_fd = -1;  // optional log file, guarded by g_mu

// Writes all of `s` to `fd`, retrying short writes; errors are ignored (there
// is nowhere left to report them).
void writeAll(int fd, std::string_view s) {
    while (!s.empty()) {
        ssize_t n = ::write(fd, s.data(), s.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return;
        }
        s.remove_prefix(static_cast<size_t>(n));
    }
}

std::string_view baseName(const char* path) {
    std::string_view p(path);
    auto slash = p.rfind('/');
    return slash == std::string_view::npos ? p : p.substr(slash + 1);
}

}  // namespace

std::optional<LogLevel> parseLogLevel(std::string_view name) {
    if (name == "debug") return LogLevel::debug;
    if (name == "info") return LogLevel::info;
    if (name == "warn") return LogLevel::warn;
    if (name == "error") return LogLevel::error;
    if (name == "fatal") return LogLevel::fatal;
    return std::nullopt;
}

const char* logLevelName(LogLevel level) {
    switch (level) {
        case LogLevel::debug:
            return "DEBUG";
        case LogLevel::info:
            return "INFO";
        case LogLevel::warn:
            return "WARN";
        case LogLevel::error:
            return "ERROR";
        case LogLevel::fatal:
            return "FATAL";
    }
    return "?";
}

Result<void> logInit(LogLevel level, const std::string& path) {
    logSetLevel(level);
    if (path.empty()) return Ok();
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) return Error::sysNow("open log file", path);
    std::lock_guard lock(g_mu);
    if (g_file_fd >= 0) ::close(g_file_fd);
    g_file_fd = fd;
    return Ok();
}

void logSetLevel(LogLevel level) {
    g_level.store(static_cast<int>(level));
}

LogLevel logLevel() {
    return static_cast<LogLevel>(g_level.load());
}

bool logEnabled(LogLevel level) {
    return level == LogLevel::fatal || static_cast<int>(level) >= g_level.load();
}

void logWrite(LogLevel level, const char* file, int line, std::string_view msg) {
    if (!msg.empty() && msg.back() == '\n') msg.remove_suffix(1);

    char stamp[32];
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    localtime_r(&now, &tm);
    std::strftime(stamp, sizeof stamp, "%Y/%m/%d %H:%M:%S", &tm);

    std::string out = fmt::format("{} {} ", stamp, logLevelName(level));
    if (file) out += fmt::format("{}:{}: ", baseName(file), line);
    out.append(msg);
    out += '\n';

    {
        std::lock_guard lock(g_mu);
        writeAll(STDERR_FILENO, out);
        if (g_file_fd >= 0) writeAll(g_file_fd, out);
    }
    if (level == LogLevel::fatal) {
        // _Exit, not exit: other threads may still run, and static destructors
        // racing with them are worse than skipping them.
        std::_Exit(1);
    }
}

}  // namespace herd
