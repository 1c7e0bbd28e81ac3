// The daemon's own prompt on stdin: `herd[<namespace>]$ ` with line editing,
// history and tab completion from the command table. Lines run on the
// command thread like any client's, with their own session (output flags).
#pragma once

#include <atomic>
#include <string>

#include "daemon/lineedit.h"
#include "service/session.h"

namespace herd {
class Executor;
}

namespace herd::daemon {

class CommandThread;

class Prompt {
  public:
    Prompt(CommandThread& cmd, Executor& exec, const std::atomic<bool>& stopping);

    // Reads and runs lines until EOF on stdin (returns true: the caller
    // shuts the daemon down, as minimega does) or until stop() (false).
    bool run();

    // Any thread, async-signal-safe.
    void stop() { reader_.stop(); }
    void interrupt() { reader_.interrupt(); }
    bool interactive() const { return reader_.interactive(); }

  private:
    std::vector<std::string> suggest(const std::string& line);
    void runLine(const std::string& line);

    CommandThread& cmd_;
    Executor& exec_;
    const std::atomic<bool>& stopping_;
    Session session_;  // command thread only
    std::string ns_;   // active namespace, for the prompt
    LineReader reader_;
};

}  // namespace herd::daemon
