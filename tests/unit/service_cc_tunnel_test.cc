// TunnelMux (the daemon's half of cc tunnels) against a scripted agent: a
// guest's frames for streams it was not given change nothing, a stream
// whose agent sends past its window is aborted, and a forward tunnel relays
// real bytes from a host TCP connection within the window.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "service/cc_tunnel.h"

namespace herd {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using nlohmann::json;

struct Rig {
    asio::io_context io;
    std::vector<ccproto::Frame> sent;  // what the mux sent to the "agent"
    std::shared_ptr<TunnelMux> mux;
    Rig() {
        mux = std::make_shared<TunnelMux>(io.get_executor(), [this](std::string f) {
            ccproto::Decoder d;
            d.feed(f.data(), f.size());
            std::string err;
            while (auto fr = d.next(err)) sent.push_back(std::move(*fr));
        });
    }
    void frame(const json& h, const std::string& body = {}) {
        ccproto::Decoder d;
        std::string wire = ccproto::encode(h, body);
        d.feed(wire.data(), wire.size());
        std::string err;
        mux->onFrame(*d.next(err));
    }
    void spin(int ms = 50) {
        io.restart();
        io.run_for(std::chrono::milliseconds(ms));
    }
    size_t count(const std::string& type) {
        size_t n = 0;
        for (const auto& f : sent) n += f.type() == type;
        return n;
    }
};

TEST(TunnelMux, FramesForUnknownStreamsChangeNothing) {
    Rig r;
    std::string piece(ccproto::kTunnelPiece, 'x');
    for (int i = 0; i < 100; ++i) {
        r.frame({{"type", "tdata"}, {"sid", 1 + 2 * i}}, piece);
        r.frame({{"type", "tack"}, {"sid", 1 + 2 * i}, {"n", 1 << 20}});
        r.frame({{"type", "tclose"}, {"sid", 1 + 2 * i}, {"eof", true}});
    }
    r.spin();
    EXPECT_TRUE(r.sent.empty());
    // A reverse connection for a tunnel nobody made is refused, never dialed.
    r.frame({{"type", "rconnect"}, {"rid", 5}, {"sid", 2}});
    ASSERT_EQ(r.count("tclose"), 1u);
    // Odd ids are the daemon's: ignored.
    r.frame({{"type", "rconnect"}, {"rid", 5}, {"sid", 3}});
    EXPECT_EQ(r.count("tclose"), 1u);
}

TEST(TunnelMux, ForwardRelaysWithinWindowAndAbortsPastIt) {
    Rig r;
    tcp::acceptor acc(r.io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    uint16_t port = acc.local_endpoint().port();
    r.mux->addForward(1, std::move(acc), "10.0.0.1", 80);
    tcp::socket host(r.io);
    host.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    // The host sends 1 MiB; the agent never acknowledges.
    std::string big(1 << 20, 'h');
    asio::async_write(host, asio::buffer(big), [](boost::system::error_code, size_t) {});
    r.spin(300);
    ASSERT_EQ(r.count("tconnect"), 1u);
    int64_t sid = ccproto::jint(r.sent[0].header, "sid");
    EXPECT_EQ(sid % 2, 1);
    EXPECT_EQ(ccproto::jstr(r.sent[0].header, "host"), "10.0.0.1");
    size_t relayed = 0;
    for (const auto& f : r.sent)
        if (f.type() == "tdata") relayed += f.body.size();
    EXPECT_EQ(relayed, ccproto::kTunnelWindow);  // no more without acks
    // An ack lets more through.
    r.frame({{"type", "tack"}, {"sid", sid}, {"n", 1000}});
    r.spin(100);
    relayed = 0;
    for (const auto& f : r.sent)
        if (f.type() == "tdata") relayed += f.body.size();
    EXPECT_EQ(relayed, ccproto::kTunnelWindow + 1000);
    // Acknowledging what was never sent aborts the stream.
    r.frame({{"type", "tack"}, {"sid", sid}, {"n", 1 << 20}});
    EXPECT_EQ(r.count("tclose"), 1u);
    r.mux->closeAll(false);
    r.spin(10);
}

TEST(TunnelMux, AgentDataPastWindowAborts) {
    Rig r;
    tcp::acceptor acc(r.io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    uint16_t port = acc.local_endpoint().port();
    r.mux->addForward(1, std::move(acc), "10.0.0.1", 80);
    tcp::socket host(r.io);
    host.open(tcp::v4());
    host.set_option(asio::socket_base::receive_buffer_size(4096));
    host.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    r.spin(100);
    ASSERT_EQ(r.count("tconnect"), 1u);
    int64_t sid = ccproto::jint(r.sent[0].header, "sid");
    // Data to the host, which reads nothing: the agent may have a window
    // outstanding; beyond it the stream goes.
    std::string piece(ccproto::kTunnelPiece, 'g');
    size_t n = 0;
    while (r.count("tclose") == 0 && n < 64u << 20) {
        r.frame({{"type", "tdata"}, {"sid", sid}}, piece);
        n += piece.size();
        if (n % (1 << 20) == 0) r.spin(5);
    }
    EXPECT_EQ(r.count("tclose"), 1u);
    EXPECT_LT(n, 16u << 20);  // kernel buffers plus one window
    r.mux->closeAll(false);
    r.spin(10);
}

}  // namespace
}  // namespace herd
