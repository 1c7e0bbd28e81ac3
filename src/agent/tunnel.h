// herd-cc's half of cc tunnels and `cc test-conn` (protocol: proto/ccproto.h).
//
// Streams run on threads of their own (a reader and a writer per stream),
// so a slow guest connection never stalls the agent's connection to the
// daemon. Each side holds at most kTunnelWindow bytes of a stream.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "proto/ccproto.h"

namespace herd::agent {

// Sends a frame to the daemon (dropped while disconnected).
using SendFn = std::function<void(const nlohmann::json& header, std::string_view body)>;

class Tunnels {
  public:
    explicit Tunnels(SendFn send);
    ~Tunnels();
    static bool handles(const std::string& type);
    void onFrame(const ccproto::Frame& f);
    // The connection ended: every stream and reverse listener goes.
    void reset();
    // Binds one stdio stream of a guest process to the daemon's named pipe
    // `pipe` (`dir`: "stdin", "stdout" or "stderr"): `fd` is the agent's
    // end of a socketpair whose other end the process has. Takes `fd`.
    void openPipe(int fd, const std::string& pipe, const std::string& dir);

  private:
    struct State;
    std::shared_ptr<State> st_;
};

// `cc test-conn`: `host:port | pass` or `host:port | fail`.
std::string connTest(const nlohmann::json& spec);

}  // namespace herd::agent
