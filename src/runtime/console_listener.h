// The daemon's one console socket, `<base>/console`, shared by every
// container's console (console.h): one listening descriptor for all of them
// instead of one each.
//
// A viewer connects and sends one line: the id of a VM in decimal and a
// newline ("3\n"; "3\r\n" too), at most kMaxViewerLine bytes, within
// line_timeout. From then on the connection is a viewer of that VM's console
// as if it had connected to the console itself: the scrollback first, then
// live output, what it types goes to the guest, and the console's pacing and
// stall rules apply. Bytes after the newline are typed. A line that is not an
// id, an id with no console here, or no line in time gets one line saying
// what was wrong (`herd: ...`) and the connection is closed.
//
// A console is a root shell in its container: the socket is root's alone
// (0600 in the 0700 base), and a peer must run as root or as the daemon's
// user (SO_PEERCRED); any other is closed at once, without a byte.
//
// Consoles are registered by VM id from any thread; connections are served
// on the consoles' io_context (one thread).
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "base/fs.h"
#include "base/result.h"
#include "runtime/console.h"

namespace herd::runtime {

// The socket's name under the base directory.
inline constexpr const char* kConsoleSocket = "console";
// The longest first line taken, newline included.
inline constexpr size_t kMaxViewerLine = 32;

// What the bytes a viewer sent first say. Pure.
struct ViewerLine {
    enum class Kind {
        Incomplete,  // no newline yet, and the line may still be an id
        Id,          // `id`, then `consumed` bytes (the newline included)
        Invalid,     // `error` says why
    };
    Kind kind = Kind::Incomplete;
    int id = -1;
    size_t consumed = 0;
    std::string error;
};
ViewerLine parseViewerLine(std::string_view buffered);

class ConsoleListener : public std::enable_shared_from_this<ConsoleListener> {
  public:
    struct Options {
        // A connection has this long to send its line.
        std::chrono::milliseconds line_timeout = std::chrono::seconds(5);
    };
    // Binds `<base>/console` beneath `base` (a stale file of an earlier
    // daemon is replaced) and listens on `io`.
    static Result<std::shared_ptr<ConsoleListener>> create(boost::asio::io_context& io,
                                                           std::shared_ptr<const Dir> base,
                                                           Options opts);
    static Result<std::shared_ptr<ConsoleListener>> create(boost::asio::io_context& io,
                                                           std::shared_ptr<const Dir> base) {
        return create(io, std::move(base), Options{});
    }
    virtual ~ConsoleListener() = default;

    // The console of VM `id` (kept weakly: a closed console is not reached).
    virtual void add(int id, const std::shared_ptr<Console>& console) = 0;
    // Forgets VM `id`'s console, if it is still `console`.
    virtual void remove(int id, const Console* console) = 0;
    // Stops listening, closes the connections that have not sent their line,
    // and removes the socket file if it is still this listener's.
    virtual void close() = 0;
    // <base>/console.
    virtual const std::string& path() const = 0;
};

}  // namespace herd::runtime
