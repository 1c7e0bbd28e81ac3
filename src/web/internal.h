// Shared by the web server's modules (server.cc: listener, HTTP; ws.cc: the
// two kinds of WebSocket). Everything here lives on the io thread unless said.
#pragma once

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "web/backend.h"

namespace herd::web {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using Request = http::request<http::string_body>;

inline constexpr size_t kMaxWsMessage = 64 * 1024;  // client -> server
// A console viewer further behind skips output (a marker says how much); one
// whose socket took nothing for kConsoleStall is dropped.
inline constexpr size_t kConsoleBacklog = 256 * 1024;
inline constexpr auto kConsoleStall = std::chrono::seconds(30);
// Commands of one /ws client queued or running at once; beyond, its socket
// is not read (TCP pushes back on the client).
inline constexpr int kMaxCommandsInFlight = 4;
inline constexpr size_t kTableBacklog = 8 * 1024 * 1024;  // same, /ws
inline constexpr auto kTableRefresh = std::chrono::seconds(2);
// CPU figures are sampled with every periodic refresh (no waiting involved).
inline constexpr auto kTopRefresh = kTableRefresh;

struct Core;

// One connection (HTTP or WebSocket). Core keeps it alive until it calls
// Core::forget (its last operation ended).
class SessionBase {
  public:
    SessionBase(std::shared_ptr<Core> core, uint64_t id) : core_(std::move(core)), id_(id) {}
    virtual ~SessionBase() = default;
    // Closes gracefully (the server stops).
    virtual void stop() = 0;
    // Closes the socket now; pending operations end with errors.
    virtual void kill() = 0;
    // Whether it only waits for a request's headers, so that it may be cut
    // to make room for a new connection.
    virtual bool evictable() const { return false; }
    uint64_t id() const { return id_; }
    // Its name as a command session ("web <id>").
    std::string who() const { return "web " + std::to_string(id_); }

  protected:
    std::shared_ptr<Core> core_;
    uint64_t id_;
};

class TableWs;

// What the command thread's jobs share with the io thread: atomics and the
// table builder, never a socket.
struct Shared {
    std::atomic<int> table_clients{0};
    std::atomic<bool> table_queued{false};
    std::atomic<bool> want_top{false};
    TableBuilder builder;  // command thread only
    mutable std::mutex mu;
    std::string url, token;  // as shown by `web`; under mu
};

struct Core : std::enable_shared_from_this<Core> {
    Core(asio::io_context& io, Backend backend, std::string root, std::string token,
         std::string url_file);

    asio::io_context& io;
    Backend backend;
    std::string root;
    std::string token;     // every request must offer it
    std::string url_file;  // <base>/web.url, while listening
    std::shared_ptr<Shared> shared = std::make_shared<Shared>();
    tcp::acceptor acceptor;
    bool listening = false;
    bool stopping = false;
    uint64_t next_id = 1;
    std::map<uint64_t, std::shared_ptr<SessionBase>> sessions;
    std::map<uint64_t, std::weak_ptr<TableWs>> tables;
    // The last refresh's rows, and the whole-table message made from them
    // (for clients without a query; made once, on first need).
    std::shared_ptr<const TableRows> last_rows;
    std::shared_ptr<const std::string> last_all;
    asio::steady_timer refresh;
    bool refreshing = false;
    std::chrono::steady_clock::time_point last_top{};
    asio::steady_timer grace_timer;   // shutdown polling
    asio::steady_timer accept_retry;  // after an accept error (EMFILE)
    bool full_logged = false;
    std::string listen_host;  // as given (parseListenAddr), while listening
    unsigned short port = 0;  // the bound port, while listening
    std::function<void()> on_shutdown;

    Result<void> listen(const std::string& addr);
    void doAccept();
    // Cuts the oldest connection that waits for a request's headers; false
    // when there is none.
    bool evictIdle();
    void stop();
    void pollShutdown(std::chrono::steady_clock::time_point deadline);
    uint64_t add(std::shared_ptr<SessionBase> s);
    void forget(uint64_t id);

    // Any thread: rebuild the table on the command thread and broadcast it.
    void requestTable(bool with_top);
    void tableJoin(uint64_t id, std::weak_ptr<TableWs> ws);
    void tableLeave(uint64_t id);
    void tick();
    void broadcast(std::shared_ptr<const TableRows> rows);
    // The whole-table message of last_rows (null before the first refresh).
    std::shared_ptr<const std::string> allMessage();
};

// ws.cc: take over an upgraded HTTP connection.
void startConsoleWs(std::shared_ptr<Core> core, beast::tcp_stream stream, Request req,
                    std::shared_ptr<runtime::Console> console);
void startTableWs(std::shared_ptr<Core> core, beast::tcp_stream stream, Request req, bool windowed);

}  // namespace herd::web
