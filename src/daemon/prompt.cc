#include "daemon/prompt.h"

#include <chrono>
#include <cstdio>
#include <future>
#include <memory>
#include <optional>

#include "base/log.h"
#include "base/strings.h"
#include "daemon/command_thread.h"
#include "daemon/protocol.h"
#include "service/command_context.h"
#include "service/executor.h"

namespace herd::daemon {

namespace {

void writeLine(FILE* f, const std::string& s) {
    std::fwrite(s.data(), 1, s.size(), f);
    std::fputc('\n', f);
    std::fflush(f);
}

// Runs `fn` on the command thread and waits for its result; nothing when the
// daemon stops first (or within `timeout`, if given).
template <typename F>
auto onCommandThread(CommandThread& cmd, const std::atomic<bool>& stopping, F fn,
                     std::optional<std::chrono::milliseconds> timeout = std::nullopt)
    -> std::optional<decltype(fn())> {
    using R = decltype(fn());
    auto p = std::make_shared<std::promise<R>>();
    auto fut = p->get_future();
    if (!cmd.post([p, fn = std::move(fn)]() mutable { p->set_value(fn()); })) return std::nullopt;
    auto start = std::chrono::steady_clock::now();
    while (fut.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
        if (stopping.load()) return std::nullopt;
        if (timeout && std::chrono::steady_clock::now() - start > *timeout) return std::nullopt;
    }
    try {
        return fut.get();
    } catch (const std::future_error&) {  // job dropped at shutdown
        return std::nullopt;
    }
}

}  // namespace

Prompt::Prompt(CommandThread& cmd, Executor& exec, const std::atomic<bool>& stopping)
    : cmd_(cmd),
      exec_(exec),
      stopping_(stopping),
      reader_([this](const std::string& line) { return suggest(line); }) {
    session_.name = "stdin";
}

std::vector<std::string> Prompt::suggest(const std::string& line) {
    // Completion must not hang the prompt behind a long command.
    auto r = onCommandThread(
        cmd_, stopping_,
        [this, line] {
            Herd& herd = exec_.herd();
            try {
                CommandContext ctx{herd, session_, exec_, [](cli::Batch) {},
                                   herd.namespaces().activeName()};
                return herd.commands().suggest(line, &ctx);
            } catch (const std::exception& e) {
                HERD_LOG(error, "suggest `{}`: {}", line, e.what());
                return std::vector<std::string>{};
            }
        },
        std::chrono::seconds(2));
    return r ? *r : std::vector<std::string>{};
}

void Prompt::runLine(const std::string& line) {
    auto ns = onCommandThread(cmd_, stopping_, [this, line] {
        Herd& herd = exec_.herd();
        session_.status = [](const std::string& text) { writeLine(stderr, text); };
        try {
            exec_.runLine(line, session_, [](const cli::Batch& b, const std::string& rendered) {
                if (!rendered.empty()) writeLine(stdout, rendered);
                std::string errs = errorLines(b);
                if (!errs.empty()) writeLine(stderr, errs);
            });
        } catch (const std::exception& e) {
            HERD_LOG(error, "stdin: `{}`: uncaught exception: {}", line, e.what());
            writeLine(stderr,
                      "Error (" + herd.options().hostname + "): internal error: " + e.what());
        }
        return herd.namespaces().activeName();
    });
    if (ns) ns_ = *ns;
}

bool Prompt::run() {
    auto ns =
        onCommandThread(cmd_, stopping_, [this] { return exec_.herd().namespaces().activeName(); });
    if (!ns) return false;
    ns_ = *ns;
    std::string raw;
    for (;;) {
        auto st = reader_.read("herd[" + ns_ + "]$ ", raw);
        if (st == LineReader::Status::stopped) return false;
        if (st == LineReader::Status::eof) return true;
        std::string line(trim(raw));
        if (line.empty()) continue;
        reader_.addHistory(line);
        runLine(line);
        if (stopping_.load()) return false;
    }
}

}  // namespace herd::daemon
