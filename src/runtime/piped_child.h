// A host program with its stdin, stdout and stderr on pipes: the programs
// that `plumb` pipelines and `pipe ... via` pass data through.
//
// Those programs see data that guests wrote, so when the daemon runs as root
// they run as the unprivileged user nobody (uid and gid 65534, no
// supplementary groups) unless the caller asks otherwise. Each runs in a
// process group of its own; the object kills that group and reaps the
// program when it goes.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"

namespace herd::runtime {

inline constexpr uid_t kNobody = 65534;

class PipedChild {
  public:
    PipedChild() = default;
    PipedChild(PipedChild&& o) noexcept;
    PipedChild& operator=(PipedChild&& o) noexcept;
    PipedChild(const PipedChild&) = delete;
    PipedChild& operator=(const PipedChild&) = delete;
    ~PipedChild();

    // Starts `path` (already resolved, e.g. by lookPath) with `argv` and
    // `env`. `unprivileged`: drop to nobody when running as root. Every
    // descriptor is prepared before the fork; the child only calls
    // async-signal-safe functions until it execs.
    static Result<PipedChild> start(const std::string& path, const std::vector<std::string>& argv,
                                    const std::map<std::string, std::string>& env,
                                    bool unprivileged);

    pid_t pid() const { return pid_; }
    // The parent's ends (close `in` to give the program EOF).
    unique_fd in, out, err;

    // SIGKILLs the program's process group (until it is reaped).
    void kill();
    // Waits for the program; returns its raw wait status (or -1).
    int wait();

  private:
    pid_t pid_ = -1;
};

// Runs `path` with `input` on stdin and returns its stdout (at most
// `max_out` bytes; more is an error), killing it after `timeout`. For `pipe
// ... via`: a non-zero exit is an error too.
Result<std::string> filterThrough(const std::string& path, const std::vector<std::string>& argv,
                                  const std::map<std::string, std::string>& env,
                                  const std::string& input, size_t max_out,
                                  std::chrono::milliseconds timeout);

}  // namespace herd::runtime
