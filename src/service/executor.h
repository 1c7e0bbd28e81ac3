// Runs command lines: alias expansion, compilation, preprocessing, the
// handler, history. Synchronous; called only on the command thread.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "cli/response.h"
#include "service/command_context.h"
#include "service/herd.h"
#include "service/session.h"

namespace herd {

// Receives each batch of a command with its rendered text (rendered with the
// flags in force when the batch was emitted). Both are the receiver's to
// keep (move from them: a batch may hold a 10,000-row table).
using BatchOut = std::function<void(cli::Batch&, std::string& rendered)>;

class Executor {
  public:
    explicit Executor(Herd& herd) : herd_(herd) {}

    // One top-level line from a client (socket or prompt). Blank and comment
    // lines emit nothing. Parse errors emit one batch with the error.
    void runLine(std::string_view line, Session& session, const BatchOut& out);

    // Same, for a line of a `read` file: no alias expansion, runs in `ns`;
    // returns the parse error (to stop the file) if the line did not compile.
    Result<void> runFileLine(std::string_view line, CommandContext& ctx);

    // Runs a compiled command within `ctx` (preprocessing, handler).
    void run(cli::Command& cmd, CommandContext& ctx);

    Herd& herd() { return herd_; }

  private:
    Herd& herd_;
};

// Registers every command of herd into herd.commands(). Defined in
// service/commands/register.cc; each module adds its own register function.
void registerAllCommands(Herd& herd);

}  // namespace herd
