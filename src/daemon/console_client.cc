#include "daemon/console_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <optional>

#include <fmt/format.h>

#include "base/peer.h"
#include "base/unique_fd.h"
#include "daemon/client.h"
#include "service/gostr.h"

namespace herd::daemon {

namespace {

constexpr char kDetach = 0x1d;  // Ctrl-]

void say(const std::string& s) {
    std::fputs(s.c_str(), stderr);
    std::fflush(stderr);
}

// The id of VM `vm` (a name or an id) from the daemon's `vm info`.
Result<std::string> lookupId(const std::string& base, const std::string& vm,
                             const std::string& ns) {
    auto conn = ClientConn::dial(base + "/minimega");
    if (!conn.ok()) return conn.error();
    Request req;
    req.command = ".annotate false .csv true .headers false .columns id,name vm info";
    if (!ns.empty()) req.command = "namespace " + go::quote(ns) + " " + req.command;
    HERD_TRY(conn->send(req));
    std::string text;
    for (;;) {
        auto r = conn->read();
        if (!r.ok()) return r.error();
        if (std::string errs = errorLines(r->resp); !errs.empty()) return Error::msg(errs);
        if (!r->rendered.empty()) text += r->rendered + "\n";
        if (!r->more && !r->status) break;
    }
    // Rows are `id,name`: ids are digits, names never hold a comma.
    size_t pos = 0;
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        if (nl == std::string::npos) nl = text.size();
        std::string row = text.substr(pos, nl - pos);
        pos = nl + 1;
        auto comma = row.find(',');
        if (comma == std::string::npos) continue;
        std::string id = row.substr(0, comma), name = row.substr(comma + 1);
        if (vm == id || vm == name) return id;
    }
    return Error::msg(
        fmt::format("vm {} not found{}", vm, ns.empty() ? "" : " in namespace " + ns));
}

Result<unique_fd> dialConsole(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) return Error::sys(ENAMETOOLONG, "connect to", path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return Error::sysNow("socket");
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        return Error::sysNow("connect to", path);
    }
    HERD_TRY(requireTrustedPeer(fd.get(), path));
    return fd;
}

// The terminal in raw mode while it lives (keys go to the guest as typed).
class RawTerminal {
  public:
    RawTerminal() {
        termios t{};
        if (!::isatty(STDIN_FILENO) || ::tcgetattr(STDIN_FILENO, &t) != 0) return;
        saved_ = t;
        ::cfmakeraw(&t);
        ::tcsetattr(STDIN_FILENO, TCSANOW, &t);
    }
    ~RawTerminal() {
        if (saved_) ::tcsetattr(STDIN_FILENO, TCSANOW, &*saved_);
    }
    RawTerminal(const RawTerminal&) = delete;
    RawTerminal& operator=(const RawTerminal&) = delete;
    bool raw() const { return saved_.has_value(); }

  private:
    std::optional<termios> saved_;
};

bool writeAll(int fd, const char* p, size_t n) {
    while (n > 0) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= static_cast<size_t>(w);
    }
    return true;
}

}  // namespace

int runConsole(const std::string& base, const std::vector<std::string>& args,
               const std::string& ns) {
    if (args.size() != 1) {
        say("herd: -console takes one VM name or id, e.g. herd -console vm-1\n");
        return 2;
    }
    auto id = lookupId(base, args[0], ns);
    if (!id.ok()) {
        say("herd: " + id.error().text() + "\n");
        return 1;
    }
    // The daemon's one console socket: the first line says which console.
    const std::string path = base + "/console";
    auto sock = dialConsole(path);
    if (sock.ok() && !writeAll(sock->get(), (*id + "\n").data(), id->size() + 1)) {
        sock = Error::sysNow("write to", path);
    }
    if (!sock.ok()) {
        say("herd: vm " + args[0] + ": " + sock.error().text() + "\n");
        return 1;
    }
    say(fmt::format("herd: console of vm {} (Ctrl-] detaches)\n", args[0]));
    int status = 0;
    bool closed = false;  // by the daemon (the VM was flushed, the daemon quit)
    {
        RawTerminal term;
        pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {sock->get(), POLLIN, 0}};
        char buf[8192];
        bool done = false;  // detached with Ctrl-]
        while (!done) {
            if (::poll(fds, 2, -1) < 0) {
                if (errno == EINTR) continue;
                status = 1;
                break;
            }
            if (fds[1].revents) {
                ssize_t n = ::read(sock->get(), buf, sizeof buf);
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0) {
                    say(term.raw() ? "\r\nherd: console closed\r\n" : "herd: console closed\n");
                    closed = true;
                    break;
                }
                if (!writeAll(STDOUT_FILENO, buf, static_cast<size_t>(n))) break;
            }
            if (fds[0].revents) {
                ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0) break;  // end of input: detach
                size_t len = static_cast<size_t>(n);
                if (const void* at = std::memchr(buf, kDetach, len)) {
                    len = static_cast<size_t>(static_cast<const char*>(at) - buf);
                    done = true;
                }
                if (!writeAll(sock->get(), buf, len)) break;
            }
        }
        if (done && term.raw()) say("\r\n");
    }
    if (status == 0 && !closed) say("herd: detached\n");
    return status;
}

}  // namespace herd::daemon
