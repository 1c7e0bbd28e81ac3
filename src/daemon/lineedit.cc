#include "daemon/lineedit.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

// readline.h needs stdio.h first.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <readline/history.h>
#include <readline/readline.h>

namespace herd::daemon {

namespace {

// readline is process-global, so are its completer and line callback.
LineSuggester g_suggester;
bool g_have_line = false;
bool g_eof = false;
bool g_installed = false;  // a prompt's line handler is installed
std::string g_line;

// Removes the line handler once per prompt. Called from the line handler
// itself: otherwise readline, on returning from it, prints the next prompt
// at once, before the command's answer, which then overwrites the prompt.
void removeHandler() {
    if (!g_installed) return;
    rl_callback_handler_remove();
    g_installed = false;
}

char** complete(const char* /*text*/, int start, int end) {
    rl_attempted_completion_over = 1;  // never fall back to filenames
    if (!g_suggester) return nullptr;
    std::string line(rl_line_buffer, static_cast<size_t>(end));
    bool space = true;
    auto words = wordCompletions(line, static_cast<size_t>(start), g_suggester(line), space);
    if (words.empty()) return nullptr;
    rl_completion_append_character = space ? ' ' : '\0';
    // readline frees the array and its strings with free().
    auto** out = static_cast<char**>(std::calloc(words.size() + 1, sizeof(char*)));
    if (!out) return nullptr;
    for (size_t i = 0; i < words.size(); ++i) out[i] = ::strdup(words[i].c_str());
    return out;
}

void onLine(char* line) {
    removeHandler();
    if (line) {
        g_line = line;
        std::free(line);
        g_have_line = true;
    } else {
        g_eof = true;
    }
}

}  // namespace

std::vector<std::string> wordCompletions(const std::string& line, size_t start,
                                         const std::vector<std::string>& suggestions,
                                         bool& append_space) {
    append_space = true;
    std::string prefix = line.substr(0, std::min(start, line.size()));
    std::vector<std::string> words;
    for (const auto& s : suggestions) {
        if (s.compare(0, prefix.size(), prefix) != 0) continue;
        std::string w = s.substr(prefix.size());
        if (!w.empty() && w.back() == ' ') {
            w.pop_back();
        } else {
            append_space = false;
        }
        if (w.empty() || w.find_first_of(" \t") != std::string::npos) continue;
        words.push_back(std::move(w));
    }
    if (words.empty()) return {};
    if (words.size() == 1) return words;
    // Element 0 replaces the typed word: the longest common prefix.
    std::string common = words[0];
    for (const auto& w : words) {
        size_t n = 0;
        while (n < common.size() && n < w.size() && common[n] == w[n]) ++n;
        common.resize(n);
    }
    words.insert(words.begin(), common);
    return words;
}

LineReader::LineReader(LineSuggester suggester) : tty_(::isatty(STDIN_FILENO) == 1) {
    if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) wake_[0] = wake_[1] = -1;
    g_suggester = std::move(suggester);
    rl_attempted_completion_function = complete;
    rl_completer_word_break_characters = const_cast<char*>(" \t");
    rl_basic_word_break_characters = const_cast<char*>(" \t");
    // Signals are the daemon's (or the client's) business, not readline's.
    rl_catch_signals = 0;
}

LineReader::~LineReader() {
    g_suggester = nullptr;
    if (wake_[0] >= 0) ::close(wake_[0]);
    if (wake_[1] >= 0) ::close(wake_[1]);
}

// write() is async-signal-safe; a full pipe already holds a wake-up.
void LineReader::stop() {
    if (wake_[1] < 0) return;
    ssize_t n = ::write(wake_[1], "S", 1);
    (void)n;
}

void LineReader::interrupt() {
    if (wake_[1] < 0) return;
    ssize_t n = ::write(wake_[1], "I", 1);
    (void)n;
}

void LineReader::addHistory(const std::string& line) {
    if (tty_) ::add_history(line.c_str());
}

LineReader::Status LineReader::read(const std::string& prompt, std::string& line) {
    // ^C pressed while no line was being typed is stale; a stop is not.
    char buf[64];
    for (ssize_t n; (n = ::read(wake_[0], buf, sizeof buf)) > 0;) {
        if (std::memchr(buf, 'S', static_cast<size_t>(n))) stopped_ = true;
    }
    if (stopped_) return Status::stopped;
    if (!tty_) return readPlain(line);

    g_have_line = g_eof = false;
    rl_callback_handler_install(prompt.c_str(), onLine);
    g_installed = true;
    Status st = Status::stopped;
    for (;;) {
        pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {wake_[0], POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) continue;  // EINTR
        if (fds[1].revents & POLLIN) {
            ssize_t n = ::read(wake_[0], buf, sizeof buf);
            if (n > 0 && std::memchr(buf, 'S', static_cast<size_t>(n))) {
                stopped_ = true;
                std::fputc('\n', rl_outstream ? rl_outstream : stdout);
                break;
            }
            if (n > 0) {
                // ^C: drop what was typed, start a fresh prompt.
                std::fputc('\n', rl_outstream ? rl_outstream : stdout);
                rl_replace_line("", 0);
                rl_on_new_line();
                rl_redisplay();
            }
        }
        if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            rl_callback_read_char();
            if (g_have_line) {
                line = g_line;
                st = Status::line;
                break;
            }
            if (g_eof) {
                std::fputc('\n', rl_outstream ? rl_outstream : stdout);
                st = Status::eof;
                break;
            }
        }
    }
    removeHandler();
    std::fflush(stdout);
    return st;
}

LineReader::Status LineReader::readPlain(std::string& line) {
    char buf[4096];
    for (;;) {
        auto nl = plain_buf_.find('\n');
        if (nl != std::string::npos) {
            line = plain_buf_.substr(0, nl);
            plain_buf_.erase(0, nl + 1);
            return Status::line;
        }
        pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {wake_[0], POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) continue;
        if (fds[1].revents & POLLIN) {
            ssize_t n = ::read(wake_[0], buf, sizeof buf);
            if (n > 0 && std::memchr(buf, 'S', static_cast<size_t>(n))) {
                stopped_ = true;
                return Status::stopped;
            }
        }
        if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                if (plain_buf_.empty()) return Status::eof;
                line.swap(plain_buf_);  // last line without a newline
                plain_buf_.clear();
                return Status::line;
            }
            plain_buf_.append(buf, static_cast<size_t>(n));
        }
    }
}

}  // namespace herd::daemon
