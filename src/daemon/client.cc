#include "daemon/client.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "base/peer.h"
#include "base/strings.h"
#include "cli/tokenizer.h"
#include "daemon/lineedit.h"
#include "service/gostr.h"

namespace herd::daemon {

namespace {

void printOut(const std::string& s) {
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
}

void printErr(const std::string& s) {
    std::fwrite(s.data(), 1, s.size(), stderr);
    std::fputc('\n', stderr);
    std::fflush(stderr);
}

constexpr const char* kDisconnected = "server disconnected";

// Whether `line` is a bare `quit` (possibly inside `namespace <ns>`), which
// the daemon answers by closing the connection.
bool isBareQuit(const std::string& line) {
    auto t = cli::tokenize(line);
    if (!t.ok()) return false;
    const auto& tok = t->tokens;
    size_t i = 0;
    if (tok.size() >= 2 && tok[0].value == "namespace") i = 2;
    return tok.size() == i + 1 && tok[i].value == "quit";
}

LineReader* g_reader = nullptr;  // for the signal handlers of -attach

void onSignal(int sig) {
    if (!g_reader) return;
    if (sig == SIGINT) {
        g_reader->interrupt();
    } else {
        g_reader->stop();
    }
}

}  // namespace

Result<ClientConn> ClientConn::dial(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) {
        return Error::msg(fmt::format("cannot connect to {}: path too long", path));
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    auto backoff = std::chrono::milliseconds(10);
    for (;;) {
        int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return Error::sysNow("socket");
        if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
            ClientConn conn(fd);
            HERD_TRY(requireTrustedPeer(fd, path));
            return conn;
        }
        int err = errno;
        ::close(fd);
        // A full listen backlog is temporary (minimega's client retries too).
        if ((err == EAGAIN || err == EINTR) && backoff < std::chrono::seconds(3)) {
            std::this_thread::sleep_for(backoff);
            backoff *= 2;
            continue;
        }
        return Error::msg(fmt::format("cannot connect to {}: {}", path, std::strerror(err)));
    }
}

ClientConn::ClientConn(ClientConn&& o) noexcept : fd_(o.fd_), buf_(std::move(o.buf_)) {
    o.fd_ = -1;
}

ClientConn::~ClientConn() {
    if (fd_ >= 0) ::close(fd_);
}

Result<void> ClientConn::send(const Request& r) {
    std::string data = encodeRequest(r);
    std::string_view rest = data;
    while (!rest.empty()) {
        ssize_t n = ::send(fd_, rest.data(), rest.size(), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return Error::sysNow("write to daemon");
        }
        rest.remove_prefix(static_cast<size_t>(n));
    }
    return Ok();
}

Result<Reply> ClientConn::read() {
    char chunk[64 * 1024];
    size_t scanned = 0;
    for (;;) {
        auto nl = buf_.find('\n', scanned);
        if (nl != std::string::npos) {
            std::string line = buf_.substr(0, nl);
            buf_.erase(0, nl + 1);
            scanned = 0;
            if (trim(line).empty()) continue;
            return decodeReply(line);
        }
        scanned = buf_.size();
        ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Error::sysNow("read from daemon");
        if (n == 0) return Error::msg(kDisconnected);
        buf_.append(chunk, static_cast<size_t>(n));
    }
}

Result<bool> ClientConn::runAndPrint(const std::string& line) {
    Request req;
    req.command = line;
    HERD_TRY(send(req));
    bool failed = false;
    for (;;) {
        auto r = read();
        if (!r.ok()) return r.error();
        // Status replies (progress of a long command) go to stderr, like errors.
        if (!r->rendered.empty()) (r->status ? printErr : printOut)(r->rendered);
        std::string errs = errorLines(r->resp);
        if (!errs.empty()) {
            printErr(errs);
            failed = true;
        }
        // Status updates come between the batches of a command.
        if (!r->more && !r->status) return failed;
    }
}

std::vector<std::string> ClientConn::suggest(const std::string& line) {
    Request req;
    req.suggest = line;
    if (!send(req).ok()) return {};
    auto r = read();
    if (!r.ok()) return {};
    return r->suggest;
}

std::string commandFromArgs(const std::vector<std::string>& args, const std::string& ns) {
    std::string cmd;
    if (args.size() == 1) {
        cmd = args[0];
    } else {
        for (size_t i = 0; i < args.size(); ++i) {
            if (i) cmd += ' ';
            cmd += cli::quoteArg(args[i]);
        }
    }
    // minimega put `namespace <ns>` among the args before joining, which
    // defeated the one-argument-verbatim rule; the prefix is added after.
    if (!ns.empty()) cmd = "namespace " + go::quote(ns) + " " + cmd;
    return cmd;
}

int runExec(const std::string& base, const std::vector<std::string>& args, const std::string& ns) {
    std::string path = base + "/minimega";
    auto conn = ClientConn::dial(path);
    if (!conn.ok()) {
        printErr("herd: " + conn.error().text());
        return 1;
    }
    std::string cmd = commandFromArgs(args, ns);
    // minimega's client sends nothing for an empty command.
    if (cmd.empty()) return 0;
    auto failed = conn->runAndPrint(cmd);
    if (!failed.ok() && failed.error().text() == kDisconnected && isBareQuit(cmd)) return 0;
    if (!failed.ok()) {
        printErr("herd: " + failed.error().text());
        return 1;
    }
    return *failed ? 1 : 0;
}

int runAttach(const std::string& base, const std::string& ns) {
    std::string path = base + "/minimega";
    auto conn = ClientConn::dial(path);
    if (!conn.ok()) {
        printErr("herd: " + conn.error().text());
        return 1;
    }
    std::printf("CAUTION: calling 'quit' will cause the herd daemon to exit\n");
    std::printf("use 'disconnect' or ^d to exit just the herd command line\n\n");
    std::fflush(stdout);

    LineReader reader([&conn](const std::string& line) { return conn->suggest(line); });
    g_reader = &reader;
    struct sigaction sa {};
    sa.sa_handler = onSignal;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
    ::sigaction(SIGHUP, &sa, nullptr);

    std::string prompt =
        ns.empty() ? fmt::format("herd:{}$ ", path) : fmt::format("herd:{}[{}]$ ", path, ns);
    int status = 0;
    bool quit_armed = false;
    std::string raw;
    while (reader.read(prompt, raw) == LineReader::Status::line) {
        std::string line(trim(raw));
        if (line.empty()) continue;
        reader.addHistory(line);
        if (line == "disconnect") break;
        if (line == "quit" && !quit_armed) {
            std::printf("CAUTION: calling 'quit' will cause the herd daemon to exit\n");
            std::printf("If you really want to stop the herd daemon, enter 'quit' again\n");
            std::fflush(stdout);
            quit_armed = true;
            continue;
        }
        quit_armed = false;
        bool quitting = line == "quit";
        if (!ns.empty()) line = "namespace " + go::quote(ns) + " " + line;
        auto r = conn->runAndPrint(line);
        if (!r.ok() && quitting && r.error().text() == kDisconnected) break;
        if (!r.ok()) {
            printErr("herd: " + r.error().text());
            status = 1;
            break;
        }
        if (quitting) break;
    }
    g_reader = nullptr;
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    return status;
}

}  // namespace herd::daemon
