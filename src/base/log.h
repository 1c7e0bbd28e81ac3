// A small leveled logger: stderr plus an optional log file, thread-safe.
//
//   HERD_LOG(info, "listening on {}", path);
//   herd::logf(herd::LogLevel::warn, "dropping client {}", name);
//
// Lines read `2024/05/01 12:00:00 INFO server.cc:42: listening on /tmp/herd/minimega`
// (minimega's minilog layout, with our file names). The level filter is checked
// before the message is formatted, so disabled debug lines cost one atomic load.
// `fatal` messages are always written and then end the process with status 1.
#pragma once

#include <fmt/format.h>

#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace herd {

enum class LogLevel { debug, info, warn, error, fatal };

// "debug", "info", "warn", "error", "fatal" (as `-level` takes them).
std::optional<LogLevel> parseLogLevel(std::string_view name);
const char* logLevelName(LogLevel level);  // "DEBUG", "INFO", ...

// Sets the threshold (default: error) and, if `path` is not empty, appends to
// that file as well as stderr. Safe to call again (reopens the file).
Result<void> logInit(LogLevel level, const std::string& path = {});
void logSetLevel(LogLevel level);
LogLevel logLevel();
bool logEnabled(LogLevel level);

// Writes one line (a trailing newline in `msg` is not doubled). For `fatal`,
// flushes and exits the process with status 1 after writing.
void logWrite(LogLevel level, const char* file, int line, std::string_view msg);

template <typename... Args>
void logf(LogLevel level, fmt::format_string<Args...> f, Args&&... args) {
    if (!logEnabled(level)) return;
    logWrite(level, nullptr, 0, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace herd

// HERD_LOG(level, "format {}", args...): level is one of debug, info, warn,
// error, fatal. Records the source file and line.
#define HERD_LOG(level, ...)                                              \
    do {                                                                  \
        if (::herd::logEnabled(::herd::LogLevel::level))                  \
            ::herd::logWrite(::herd::LogLevel::level, __FILE__, __LINE__, \
                             ::fmt::format(__VA_ARGS__));                 \
    } while (0)
