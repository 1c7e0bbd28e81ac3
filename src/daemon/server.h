// The control socket `<base>/minimega`, where minimega's clients find it
// (wire format: daemon/protocol.h).
//
// Runs on one Boost.Asio io thread; commands run on the CommandThread. Each
// connection reads asynchronously, decodes requests into an ordered queue and
// has at most one request in flight, so a connection's requests run in order
// and a busy client takes turns with the others instead of starving them.
// Replies are queued per connection and written asynchronously, with flow
// control: a command whose client has kMaxQueuedBytes unread waits, without
// the command lock, until the client reads on, so an answer of any size goes
// out at the client's pace in bounded memory (as minimega's, whose client
// takes replies of any size). A client that reads nothing for kReaderStall
// meanwhile is dropped. Nothing a client does holds up the others.
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "base/result.h"

namespace herd {
class Executor;
}

namespace herd::daemon {

class CommandThread;
class Connection;

// Unread replies per connection beyond which its command waits for the
// client (one reply, of any size, always goes out).
inline constexpr size_t kMaxQueuedBytes = size_t{16} << 20;
// How long such a client may read nothing before it is dropped.
inline constexpr std::chrono::seconds kReaderStall{10};
// Decoded requests queued per connection before reading pauses.
inline constexpr size_t kMaxPendingRequests = 64;

class Server {
  public:
    Server(boost::asio::io_context& io, CommandThread& cmd, Executor& exec, std::string hostname);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Binds and listens on `path` (which must not exist). Before the io thread runs.
    // `via`, when given, is the path actually bound and later removed: one
    // that reaches the same place through an open directory descriptor
    // (Dir::viaFd); `path` names it in messages.
    Result<void> listen(const std::string& path, const std::string& via = {});

    // Starts accepting clients (on the io thread once it runs).
    void start();

    // On the io thread: stops accepting, removes the socket file (if it is
    // still ours), stops reading from clients and closes each one once its
    // queued replies are written, or after `grace`. Calls `done` when every
    // client is gone.
    void shutdown(std::chrono::milliseconds grace, std::function<void()> done);

    // Removes the socket file if it is still the one we bound (another
    // daemon started with -force may have replaced it). Any thread.
    void removeSocketFile();

    size_t clientCount() const { return conns_.size(); }

    // Tells whether the daemon is stopping; read on the command thread after
    // each command. A command that emitted nothing and stopped the daemon
    // (bare `quit`) gets no reply at all: its client sees the connection
    // close, as with minimega.
    void setStoppingProbe(std::function<bool()> probe) { stopping_probe_ = std::move(probe); }

  private:
    friend class Connection;

    void doAccept();
    void remove(uint64_t id);
    void finishShutdown();

    boost::asio::io_context& io_;
    CommandThread& cmd_;
    Executor& exec_;
    std::string hostname_;
    boost::asio::local::stream_protocol::acceptor acceptor_;
    boost::asio::steady_timer timer_;
    std::string path_;
    std::string via_;  // what bind() was given
    dev_t dev_ = 0;
    ino_t ino_ = 0;
    bool bound_ = false;
    bool stopping_ = false;
    std::function<void()> on_done_;
    std::function<bool()> stopping_probe_;
    uint64_t next_id_ = 1;
    std::map<uint64_t, std::shared_ptr<Connection>> conns_;
};

}  // namespace herd::daemon
