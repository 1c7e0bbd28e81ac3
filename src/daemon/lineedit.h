// GNU readline glue shared by the daemon's stdin prompt and `-attach`.
//
// readline runs in its callback mode under poll(), so that a line being typed
// can be abandoned when the daemon shuts down (stop) or on ^C (interrupt:
// the line is cleared and a fresh prompt shown, as minimega's prompt does).
// When stdin is not a terminal, lines are read plainly, without a prompt.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace herd::daemon {

// Given the line up to the cursor, returns whole-line completions, each the
// line with its last word completed plus a trailing space (none after a
// path ending in `/`), as minimega's completer does.
using LineSuggester = std::function<std::vector<std::string>(const std::string& line)>;

class LineReader {
  public:
    enum class Status { line, eof, stopped };

    // One per process (readline is global).
    explicit LineReader(LineSuggester suggester);
    ~LineReader();
    LineReader(const LineReader&) = delete;
    LineReader& operator=(const LineReader&) = delete;

    // Reads one line (without its newline).
    Status read(const std::string& prompt, std::string& line);

    void addHistory(const std::string& line);

    // Async-signal-safe, any thread: read() returns `stopped` (now or next time).
    void stop();
    // Async-signal-safe, any thread: clear the line being typed.
    void interrupt();

    bool interactive() const { return tty_; }

  private:
    Status readPlain(std::string& line);

    bool tty_;
    int wake_[2] = {-1, -1};  // self-pipe: 'S' stop, 'I' interrupt
    bool stopped_ = false;
    std::string plain_buf_;
};

// Turns whole-line suggestions into completions of the word starting at
// `start` of `line`: {common prefix, match...} as readline wants them; empty
// when none apply. Sets `append_space` when every suggestion ended with a space.
std::vector<std::string> wordCompletions(const std::string& line, size_t start,
                                         const std::vector<std::string>& suggestions,
                                         bool& append_space);

}  // namespace herd::daemon
