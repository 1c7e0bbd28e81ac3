// herd's web page server (issue 6, /work/notes/web-contract.md): HTTP and
// WebSockets on Boost.Beast, on the daemon's io_context (one io thread).
// Static files from the web root, a terminal per container over a console
// viewer, the live VM table and commands over /ws, POST /api/command.
//
// Threads: every socket is served on the io thread. What needs the service
// layer (VM lookups, commands, the table) runs as jobs on the command thread,
// whose answers are posted back; nothing here ever waits on the command thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "base/result.h"
#include "service/web_hook.h"
#include "web/backend.h"

namespace herd::web {

struct Core;

class WebServer {
  public:
    // `root`: the static files; `token`: the daemon's access token, which
    // every request must offer, on every address (loopback is no trust
    // boundary: any local user reaches it); `url_file`: where the page's
    // address with its token is written (mode 0600) while it is served, so
    // that root can `cat` it.
    WebServer(boost::asio::io_context& io, Backend backend, std::string root, std::string token,
              std::string url_file);
    ~WebServer();
    WebServer(const WebServer&) = delete;
    WebServer& operator=(const WebServer&) = delete;

    // On the io thread, or before it runs. Starts listening on `addr`
    // (see parseListenAddr); an error when already listening.
    Result<void> listen(const std::string& addr);
    // On the io thread: stops listening and closes every connection (web
    // sockets with 1001).
    void stop();
    // On the io thread: stop(), then calls `done` once every connection is
    // gone, or after `grace` (the rest are cut).
    void shutdown(std::chrono::milliseconds grace, std::function<void()> done);

    // Any thread: where it listens ("" when it does not), the URL shown by
    // `web` and printed at start (without the token), and the token.
    std::string url() const;
    std::string token() const;

    // Command thread: the VMs may have changed; the live table is rebuilt
    // (soon, once) when a /ws client is connected.
    void changed();

    // The `web` command's controls (command thread; they run on the io
    // thread and wait for it).
    std::shared_ptr<WebControl> control();

  private:
    std::shared_ptr<Core> core_;
};

}  // namespace herd::web
