// The daemon's half of cc tunnels (`cc tunnel`, `cc rtunnel`) for one agent
// connection: host TCP connections carried as streams over the agent's cc
// connection (messages and flow control: proto/ccproto.h).
//
// Lives on the io thread: every method is called there. The guest is not
// trusted: data for a stream it was not given is dropped, a stream whose
// peer sends past its window is aborted, the daemon holds at most
// kTunnelWindow bytes per stream (it reads a host socket only while the
// agent has room), and a connection holds at most kMaxStreams streams. The
// daemon dials a host address only for a reverse tunnel the user created.
//
// The same streams carry the stdio of guest processes bound to named pipes
// (`cc exec stdin=P stdout=Q ...`): the agent opens a stream with `popen`
// for each bound stream of a process. A guest's stdout/stderr is split into
// lines that are written to the pipe (acknowledged as soon as they are
// delivered: the plumber never blocks, its readers drop what they cannot
// queue); a pipe's messages to a guest's stdin are sent within the stream's
// window, with at most Plumber::kReaderQueue bytes waiting (more is dropped
// and counted).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "proto/ccproto.h"

namespace herd {

class Plumber;

class TunnelMux : public std::enable_shared_from_this<TunnelMux> {
  public:
    using Send = std::function<void(std::string frame)>;
    TunnelMux(boost::asio::any_io_executor ex, Send send);
    ~TunnelMux();

    // Whether a frame of this type belongs to the tunnels.
    static bool handles(const std::string& type);
    void onFrame(const ccproto::Frame& f);

    // `cc tunnel`: every connection accepted on `acc` (listening) becomes a
    // stream that the agent dials to host:port in the guest.
    void addForward(int id, boost::asio::ip::tcp::acceptor acc, const std::string& host,
                    uint16_t port);
    // `cc rtunnel`: the agent listens on guest port `guest_port`; each of
    // its connections is dialed to host:port from the host.
    void addReverse(int id, uint16_t guest_port, const std::string& host, uint16_t port);
    // Closes tunnel `id` and its streams.
    void remove(int id);
    // Closes everything; `notify`: tell the agent (the connection stays).
    void closeAll(bool notify);
    // Where this connection's `popen` streams go: pipe names are qualified
    // with the VM's namespace `ns`. Without a plumber, popen is refused.
    void setPipes(std::shared_ptr<Plumber> plumber, std::string ns);

    // On the io thread, from a pipe's reader: a message for stream `sid`
    // (a guest's stdin); the pipe was deleted.
    void pipeIn(int64_t sid, std::string msg);
    void pipeGone(int64_t sid);

  private:
    struct Stream;
    struct Forward;
    struct Reverse {
        std::string host;
        uint16_t port = 0;
    };

    void accept(int id);
    void dial(int64_t sid, std::shared_ptr<Stream> s, const std::string& host, uint16_t port);
    void startRead(int64_t sid, const std::shared_ptr<Stream>& s);
    void startWrite(int64_t sid, const std::shared_ptr<Stream>& s);
    void maybeDone(int64_t sid, const std::shared_ptr<Stream>& s);
    void abort(int64_t sid, const std::string& why, bool notify);
    std::shared_ptr<Stream> find(int64_t sid);
    void data(int64_t sid, const std::string& body);
    void ack(int64_t sid, int64_t n);
    void closed(int64_t sid, bool eof);
    void rconnect(int64_t rid, int64_t sid);
    void popen(int64_t sid, const std::string& pipe, const std::string& dir);
    void pipeOut(int64_t sid, const std::shared_ptr<Stream>& s, const std::string& body);
    void flushPipe(int64_t sid, const std::shared_ptr<Stream>& s);
    void releasePipe(const std::shared_ptr<Stream>& s);

    boost::asio::any_io_executor ex_;
    Send send_;
    std::map<int64_t, std::shared_ptr<Stream>> streams_;
    std::map<int, std::shared_ptr<Forward>> forwards_;
    std::map<int, Reverse> reverses_;
    int64_t next_sid_ = 1;  // odd: the daemon's
    std::shared_ptr<Plumber> plumber_;
    std::string ns_;
};

}  // namespace herd
