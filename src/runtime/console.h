// A container's console (minimega's, with its defects fixed): a pty whose
// master the daemon keeps for the container's whole life (relaunches included),
// a scrollback, and any number of viewers, each typing into the same pty: unix
// connections the daemon's one console socket hands over (console_listener.h)
// and, when asked for, connections to a TCP port of the console's own. The guest's output is paced
// by the viewer that reads fastest: a slow viewer slows the guest's writes down as a real terminal
// would, and is never dropped for it. A viewer that stops reading is dropped, once the others are a
// full queue ahead of it or after it held the console up for stall_timeout: it never stalls the
// others, and it holds up the guest for at most stall_timeout.
//
// A console is a root shell in the container, so only those who may drive
// the daemon reach it: the unix socket is root's alone (console_listener.h),
// and a TCP viewer must first send the daemon's
// access token as one line; until it has, it gets no output and its bytes
// reach nobody, and a wrong token closes the connection after a short delay.
//
// All I/O runs on the daemon's io_context (one thread); the public methods
// may be called from any thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "base/result.h"
#include "base/unique_fd.h"
#include "runtime/scrollback_arena.h"

namespace herd::runtime {

struct ConsoleOptions {
    std::string name;               // what it is, for messages ("console of vm 3")
    std::string tcp_address;        // empty: no TCP listener (the default)
    std::string tcp_token;          // the first line a TCP viewer must send; required with TCP
    size_t scrollback = 64 * 1024;  // bytes replayed to each new viewer
    // Where the scrollback is kept: a ring that outlives the daemon
    // (scrollback_arena.h), or, when null, the daemon's heap.
    std::shared_ptr<ScrollbackBuffer> buffer;
    size_t viewer_queue = 256 * 1024;  // a viewer further behind is dropped
    // A viewer that reads nothing for this long while the console waits for
    // it (it has a quarter of viewer_queue waiting) is dropped.
    std::chrono::milliseconds stall_timeout = std::chrono::seconds(2);
    // A TCP viewer has this long to send its token line.
    std::chrono::milliseconds auth_timeout = std::chrono::seconds(10);
    // A wrong token closes the connection after this (guessing is slow).
    std::chrono::milliseconds auth_reject_delay = std::chrono::seconds(1);
};

class Console : public std::enable_shared_from_this<Console> {
  public:
    static Result<std::shared_ptr<Console>> create(boost::asio::io_context& io,
                                                   const ConsoleOptions& opts);
    // The same around an existing pty master (`master`, taken): a console a
    // previous daemon made, whose master the keeper kept (runtime/keeper.h).
    // What the guest wrote since that daemon ended waits in the pty; what
    // that daemon had kept is in `opts.buffer`'s ring, when it has one.
    static Result<std::shared_ptr<Console>> adopt(boost::asio::io_context& io,
                                                  const ConsoleOptions& opts, unique_fd master);
    virtual ~Console() = default;

    // A copy of the scrollback as it is now (any thread).
    virtual std::string scrollback() const = 0;

    // The pty slave the container opens as its console (/dev/pts/N on the host).
    virtual const std::string& slavePath() const = 0;
    // The pty's master (owned by the console; valid until close()).
    virtual int masterFd() const = 0;
    // The TCP listener's port, 0 when there is none.
    virtual int tcpPort() const = 0;

    // (Re)starts reading the pty: call once the container holds the slave.
    virtual void resume() = 0;
    // Sets the pty window size (viewers that know their size, e.g. the web page).
    virtual void resize(unsigned rows, unsigned cols) = 0;
    // Closes the TCP listener and the viewers, and the pty.
    virtual void close() = 0;

    // Makes a unix connection a viewer (`typed`: what it sent after the line
    // that chose this console, typed first). Any thread.
    virtual void attach(boost::asio::local::stream_protocol::socket sock, std::string typed) = 0;

    // Generic viewer hook (used by the web terminal): `deliver` gets every byte
    // of output (scrollback first), `input` is written to the pty. Returns an
    // id for removeViewer. `deliver` returning false drops the viewer; it is
    // called once with nullptr when the viewer is dropped otherwise (console
    // closed, removeViewer). Called on the io thread.
    using Deliver = std::function<bool(std::shared_ptr<const std::string>)>;
    virtual int addViewer(Deliver deliver) = 0;
    virtual void input(std::string bytes) = 0;
    virtual void removeViewer(int id) = 0;
    virtual size_t viewerCount() const = 0;
};

}  // namespace herd::runtime
