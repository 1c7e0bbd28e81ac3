// Running host programs for `shell` and `background` (never on the launch path).
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "base/result.h"

namespace herd {

struct ProcessOutput {
    std::string out;
    std::string err;
    int status = 0;  // raw wait status
};

// Resolves argv0 against PATH as Go's exec.LookPath does; the error text is
// Go's: `exec: "<cmd>": executable file not found in $PATH`.
Result<std::string> lookPath(const std::string& file, const std::string& path_env);

// Lets another thread stop what runProcess runs: cancel() SIGKILLs the
// process and everything in its process group, now or as soon as it is
// spawned. Only until runProcess reaps it: the pid cannot have been reused
// before.
class ProcessCanceller {
  public:
    void cancel();

  private:
    friend class ProcessRun;
    std::mutex mu_;
    int pid_ = 0;  // while spawned and not yet reaped
    bool cancelled_ = false;
};

// posix_spawn()s argv with `env` in a process group of its own, collects
// stdout and stderr, waits.
Result<ProcessOutput> runProcess(const std::string& path, const std::vector<std::string>& argv,
                                 const std::map<std::string, std::string>& env,
                                 ProcessCanceller* canceller = nullptr);

// Starts argv with stdout/stderr to `log` (opened by the caller, e.g.
// O_APPEND beneath the base with Dir::openFile); returns its pid.
Result<int> spawnBackground(const std::string& path, const std::vector<std::string>& argv,
                            const std::map<std::string, std::string>& env, int log);

// Go's text for a non-success wait status: `exit status N` / `signal: killed`.
std::string waitStatusText(int status);

}  // namespace herd
