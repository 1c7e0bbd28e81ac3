// The host end of a named pipe for programs outside the daemon: two unix
// sockets under the base directory,
//
//     <base>/pipes/<namespace>/<name>.write   connect and write lines: each
//                                             is a message (a writer while
//                                             connected)
//     <base>/pipes/<namespace>/<name>.read    connect and read: the pipe's
//                                             messages (a reader while
//                                             connected)
//
// The directories are 0700 and the sockets 0600, owned by root, and a
// connecting peer must run as root (SO_PEERCRED): the pipes carry guest
// data into and out of the experiment, so no other local user may read or
// inject it. A reader connection queues at most Plumber::kReaderQueue bytes;
// what does not fit is dropped and counted (the pipe's `dropped`). At most
// kMaxConns connections per socket.
#pragma once

#include <memory>
#include <string>

#include "base/result.h"

namespace boost::asio {
class io_context;
}

namespace herd {

class Dir;
class Plumber;

class PipeSockets : public std::enable_shared_from_this<PipeSockets> {
  public:
    static constexpr size_t kMaxConns = 64;

    // Binds the two sockets of the qualified pipe `pipe` and serves them on
    // `io`. Stale sockets of an earlier daemon are replaced.
    static Result<std::shared_ptr<PipeSockets>> create(boost::asio::io_context& io,
                                                       std::shared_ptr<const Dir> base,
                                                       const std::string& pipe,
                                                       std::weak_ptr<Plumber> plumber);
    ~PipeSockets();
    // Stops listening, closes every connection, removes the sockets.
    void close();

    struct Impl;

  private:
    std::shared_ptr<Impl> impl_;
};

}  // namespace herd
