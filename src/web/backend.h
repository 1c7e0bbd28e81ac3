// What the web server asks of the service layer. Everything here runs on the
// command thread (Herd is not thread-safe); the server posts these as jobs and
// takes the answers back to its io thread.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "runtime/console.h"
#include "service/executor.h"
#include "service/herd.h"
#include "service/session.h"
#include "web/table_query.h"

namespace herd::web {

struct Backend {
    Herd& herd;
    Executor& exec;
    // Queues a job on the command thread; false when the daemon is stopping.
    std::function<bool(std::function<void()>)> post;
};

// A VM's console for a web viewer. `status` is the HTTP status: 200, or 404
// with `error` ("vm <name> not found", "vm <name> has no console").
struct ConsoleLookup {
    int status = 200;
    std::string error;
    std::shared_ptr<runtime::Console> console;
};
// Finds VM `name` in namespace `ns`, or in every namespace when `ns` is empty
// (first match by id). With `need_console`, a VM without one is a 404 too.
ConsoleLookup findConsole(Herd& herd, const std::string& name, const std::string& ns,
                          bool need_console);

// A command run as a control-socket client runs it (`herd -e`): rendered
// output and error lines in order, each followed by a newline.
struct CommandResult {
    bool error = false;
    std::string text;
};
CommandResult runClientCommand(Executor& exec, Session& session, const std::string& command,
                               const std::string& ns);

// The live table: `vm info` of every namespace (and `vm top` when asked),
// run through the command handlers, as the rows of the {"type":"vms"} message.
class TableBuilder {
  public:
    // Every VM's row; cpu from the last refreshCpu.
    TableRows build(Herd& herd, Executor& exec);
    // CPU of each running VM (as `vm top` computes it, from the cgroup's
    // usage counter) since the previous refresh; never waits.
    void refreshCpu(Herd& herd, Executor& exec);

  private:
    Session session_;
    // cpu of each running VM from the last refresh, by (namespace, name).
    std::map<std::pair<std::string, std::string>, std::string> cpu_;
    struct CpuSample {
        uint64_t cpu_ns = 0;
        std::chrono::steady_clock::time_point at;
    };
    std::map<int, CpuSample> samples_;  // by VM id
};

}  // namespace herd::web
