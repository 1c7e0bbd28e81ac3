// service/plumber: names, delivery modes, via, bounded readers, pipelines
// of pipes and host programs (no sockets: no base directory here); and the
// guest stdio streams of TunnelMux that feed it.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <mutex>
#include <thread>

#include "service/cc_tunnel.h"
#include "service/pipeline.h"
#include "service/plumber.h"

namespace herd {
namespace {

const char* kPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

struct Collect : PipeReader {
    std::mutex mu;
    std::vector<std::string> got;
    bool gone = false;
    void deliver(const std::string& m) override {
        std::lock_guard l(mu);
        got.push_back(m);
    }
    void closed() override {
        std::lock_guard l(mu);
        gone = true;
    }
    size_t size() {
        std::lock_guard l(mu);
        return got.size();
    }
};

std::shared_ptr<Plumber> make() {
    return std::make_shared<Plumber>(nullptr, nullptr, kPath);
}

bool waitFor(const std::function<bool()>& f) {
    for (int i = 0; i < 500; ++i) {
        if (f()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return f();
}

TEST(Plumber, Names) {
    EXPECT_EQ(Plumber::qualify("minimega", "p0"), "minimega//p0");
    EXPECT_EQ(Plumber::qualify("minimega", "other//x"), "other//x");
    EXPECT_TRUE(Plumber::checkName("minimega//p0").ok());
    EXPECT_TRUE(Plumber::checkName("a//b.c_d-e").ok());
    for (const char* bad : {"minimega//", "//x", "minimega//../x", "minimega//a/b", "ns//.hidden",
                            "minimega//a b", "x"})
        EXPECT_FALSE(Plumber::checkName(bad).ok()) << bad;
    EXPECT_NE(Plumber::checkName("minimega//a/b").error().text().find("letters, digits"),
              std::string::npos);
}

TEST(Plumber, CountsAndPrevious) {
    auto p = make();
    ASSERT_TRUE(p->write("ns//a", "hello").ok());  // no readers: dropped, still counted
    ASSERT_TRUE(p->write("ns//a", "  world  \n").ok());
    auto l = p->list("ns");
    ASSERT_EQ(l.size(), 1u);
    EXPECT_EQ(l[0].count, 2u);
    EXPECT_EQ(l[0].previous, "world");
    EXPECT_EQ(l[0].mode, "all");
    EXPECT_TRUE(p->list("other").empty());
}

TEST(Plumber, ModeAllAndRoundRobin) {
    auto p = make();
    std::vector<std::shared_ptr<Collect>> rs;
    for (int i = 0; i < 3; ++i) {
        rs.push_back(std::make_shared<Collect>());
        ASSERT_TRUE(p->addReader("ns//a", rs.back()).ok());
    }
    ASSERT_TRUE(p->write("ns//a", "one").ok());
    for (auto& r : rs) ASSERT_EQ(r->got, std::vector<std::string>{"one\n"});
    ASSERT_TRUE(p->setMode("ns//a", Plumber::Mode::RoundRobin).ok());
    for (int i = 0; i < 9; ++i) ASSERT_TRUE(p->write("ns//a", "x").ok());
    for (auto& r : rs) EXPECT_EQ(r->size(), 4u);  // 1 + 3 each
    ASSERT_TRUE(p->setMode("ns//a", Plumber::Mode::Random).ok());
    for (int i = 0; i < 30; ++i) ASSERT_TRUE(p->write("ns//a", "y").ok());
    EXPECT_EQ(rs[0]->size() + rs[1]->size() + rs[2]->size(), 12u + 30u);
    EXPECT_EQ(p->list("ns")[0].readers, 3u);
}

TEST(Plumber, ClearRules) {
    auto p = make();
    auto r = std::make_shared<Collect>();
    ASSERT_TRUE(p->addReader("ns//a", r).ok());
    ASSERT_TRUE(p->addWriter("ns//b").ok());
    EXPECT_EQ(p->clearAll().error().text(), "cannot delete named pipe with open writers");
    EXPECT_EQ(p->clearPipe("ns//zz").error().text(), "no such pipe: ns//zz");
    EXPECT_EQ(p->resetSetting("ns//zz", "mode").error().text(), "no such pipe: ns//zz");
    ASSERT_TRUE(p->clearPipe("ns//a").ok());
    EXPECT_TRUE(r->gone);
    p->removeWriter("ns//b");
    EXPECT_TRUE(p->clearAll().ok());
    EXPECT_TRUE(p->list("ns").empty());
}

TEST(Plumber, ViaRunsPerReader) {
    auto p = make();
    auto r1 = std::make_shared<Collect>(), r2 = std::make_shared<Collect>();
    ASSERT_TRUE(p->addReader("ns//v", r1).ok());
    ASSERT_TRUE(p->addReader("ns//v", r2).ok());
    ASSERT_TRUE(p->setVia("ns//v", {"tr", "a-z", "A-Z"}).ok());
    ASSERT_TRUE(p->write("ns//v", "hello").ok());
    ASSERT_TRUE(waitFor([&] { return r1->size() == 1 && r2->size() == 1; }));
    EXPECT_EQ(r1->got[0], "HELLO\n");
    EXPECT_EQ(r2->got[0], "HELLO\n");
    // A failing via drops the message for everyone, and is counted.
    ASSERT_TRUE(p->setVia("ns//v", {"false"}).ok());
    ASSERT_TRUE(p->write("ns//v", "lost").ok());
    ASSERT_TRUE(waitFor([&] { return p->list("ns")[0].dropped == 1; }));
    EXPECT_EQ(r1->size(), 1u);
}

TEST(Plumber, PipelineOfPipes) {
    auto p = make();
    // minimega's plumbing_basic tree: p0 -> {p1, p2}, p1 -> {p3, p4}, p2 -> {p5, p6}.
    for (auto [a, b] : std::vector<std::pair<const char*, const char*>>{
             {"p0", "p1"}, {"p0", "p2"}, {"p1", "p3"}, {"p1", "p4"}, {"p2", "p5"}, {"p2", "p6"}})
        ASSERT_TRUE(p->plumb({std::string("ns//") + a, std::string("ns//") + b}).ok());
    EXPECT_EQ(p->plumb({"ns//p0", "ns//p1"}).error().text(),
              "pipeline already exists: [ns//p0 ns//p1]");
    ASSERT_TRUE(p->write("ns//p0", "hi").ok());
    for (const auto& i : p->list("ns")) EXPECT_EQ(i.count, 1u) << i.name;
    for (const char* n : {"ns//p0", "ns//p1", "ns//p2"})
        ASSERT_TRUE(p->setMode(n, Plumber::Mode::RoundRobin).ok());
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(p->write("ns//p0", "m").ok());
    std::map<std::string, uint64_t> counts;
    for (const auto& i : p->list("ns")) counts[i.name] = i.count;
    EXPECT_EQ(counts["ns//p0"], 5u);
    EXPECT_EQ(counts["ns//p1"], 3u);
    EXPECT_EQ(counts["ns//p2"], 3u);
    for (const char* leaf : {"ns//p3", "ns//p4", "ns//p5", "ns//p6"}) EXPECT_EQ(counts[leaf], 2u);
    EXPECT_EQ(p->pipelines("ns").size(), 6u);
    EXPECT_EQ(p->clearPipeline("ns//p0").error().text(), "no such pipeline: [ns//p0]");
    ASSERT_TRUE(p->clearPipeline("ns//p0 ns//p1").ok());
    EXPECT_EQ(p->pipelines("ns").size(), 5u);
    // Deleting a pipe ends the pipelines that read it.
    ASSERT_TRUE(p->clearPipe("ns//p2").ok());
    EXPECT_EQ(p->pipelines("ns").size(), 3u);
    p->clearPipelines();
    EXPECT_TRUE(p->pipelines("ns").empty());
    EXPECT_TRUE(p->clearAll().ok());
}

TEST(Plumber, PipelineLoopIsBounded) {
    auto p = make();
    ASSERT_TRUE(p->plumb({"ns//a", "ns//b"}).ok());
    ASSERT_TRUE(p->plumb({"ns//b", "ns//a"}).ok());
    // Goes round a few times, then is dropped instead of recursing forever.
    EXPECT_TRUE(p->write("ns//a", "loop").ok());
    EXPECT_LT(p->list("ns")[0].count, 20u);
    p->clearPipelines();
}

TEST(Plumber, PipelineThroughProgram) {
    auto p = make();
    auto out = std::make_shared<Collect>();
    ASSERT_TRUE(p->addReader("ns//out", out).ok());
    ASSERT_TRUE(p->plumb({"ns//in", "sed -u s/hello/goodbye/", "ns//out"}).ok());
    ASSERT_TRUE(p->write("ns//in", "hello world").ok());
    ASSERT_TRUE(waitFor([&] { return out->size() == 1; }));
    EXPECT_EQ(out->got[0], "goodbye world\n");
    EXPECT_EQ(p->pipelines("ns"),
              std::vector<std::string>{"ns//in sed -u s/hello/goodbye/ ns//out"});
    // The program ending ends the pipeline.
    ASSERT_TRUE(p->clearPipe("ns//in").ok());
    ASSERT_TRUE(waitFor([&] { return p->pipelines("ns").empty(); }));
    p->removeReader("ns//out", 0);
}

TEST(Plumber, SplitStage) {
    EXPECT_EQ(Pipeline::splitStage("sed -u \"s/a b/c/\" 'x y'"),
              (std::vector<std::string>{"sed", "-u", "s/a b/c/", "x y"}));
    EXPECT_TRUE(Pipeline::splitStage("   ").empty());
}

}  // namespace
}  // namespace herd

// TunnelMux's pipe streams (`popen`) against a scripted agent: output lines
// become messages, a pipe's messages reach a guest's stdin within the
// window, and a hostile agent's frames are refused without effect.
namespace herd {
namespace {

struct MuxRig {
    boost::asio::io_context io;
    std::vector<ccproto::Frame> sent;
    std::shared_ptr<Plumber> plumber = make();
    std::shared_ptr<TunnelMux> mux;
    MuxRig() {
        mux = std::make_shared<TunnelMux>(io.get_executor(), [this](std::string f) {
            ccproto::Decoder d;
            d.feed(f.data(), f.size());
            std::string err;
            while (auto fr = d.next(err)) sent.push_back(std::move(*fr));
        });
        mux->setPipes(plumber, "ns");
    }
    void frame(const nlohmann::json& h, const std::string& body = {}) {
        ccproto::Decoder d;
        std::string wire = ccproto::encode(h, body);
        d.feed(wire.data(), wire.size());
        std::string err;
        mux->onFrame(*d.next(err));
    }
    void spin() {
        io.restart();
        io.run_for(std::chrono::milliseconds(50));
    }
    size_t bytes(const std::string& type) {
        size_t n = 0;
        for (const auto& f : sent)
            if (f.type() == type) n += f.body.size();
        return n;
    }
    size_t count(const std::string& type) {
        size_t n = 0;
        for (const auto& f : sent) n += f.type() == type;
        return n;
    }
};

TEST(PipeStreams, GuestOutputBecomesMessages) {
    MuxRig r;
    auto got = std::make_shared<Collect>();
    ASSERT_TRUE(r.plumber->addReader("ns//out", got).ok());
    r.frame({{"type", "popen"}, {"sid", 2}, {"pipe", "out"}, {"dir", "stdout"}});
    EXPECT_EQ(r.plumber->list("ns")[0].writers, 1u);
    r.frame({{"type", "tdata"}, {"sid", 2}}, "one\ntw");
    r.frame({{"type", "tdata"}, {"sid", 2}}, "o\nthree");
    EXPECT_EQ(got->got, (std::vector<std::string>{"one\n", "two\n"}));
    EXPECT_EQ(r.count("tack"), 2u);  // taken at once
    r.frame({{"type", "tclose"}, {"sid", 2}, {"eof", true}});
    EXPECT_EQ(got->got.back(), "three\n");
    EXPECT_EQ(r.plumber->list("ns")[0].writers, 0u);
}

TEST(PipeStreams, StdinWithinWindowAndBounded) {
    MuxRig r;
    r.frame({{"type", "popen"}, {"sid", 4}, {"pipe", "in"}, {"dir", "stdin"}});
    ASSERT_EQ(r.plumber->list("ns")[0].readers, 1u);
    std::string line(1000, 'x');
    // 3 MiB written, nothing acknowledged: the agent is sent one window,
    // the daemon holds at most kReaderQueue more, the rest is dropped.
    for (int i = 0; i < 3 * 1024; ++i) ASSERT_TRUE(r.plumber->write("ns//in", line).ok());
    r.spin();
    EXPECT_EQ(r.bytes("tdata"), ccproto::kTunnelWindow);
    auto info = r.plumber->list("ns")[0];
    EXPECT_GT(info.dropped, 1000u);
    // An acknowledgement lets more through.
    r.frame({{"type", "tack"}, {"sid", 4}, {"n", 1000}});
    EXPECT_EQ(r.bytes("tdata"), ccproto::kTunnelWindow + 1000);
    // Deleting the pipe ends the guest's stdin.
    ASSERT_TRUE(r.plumber->clearPipe("ns//in").ok());
    r.spin();
    EXPECT_EQ(r.sent.back().type(), "tclose");
}

TEST(PipeStreams, HostileAgentIsRefused) {
    MuxRig r;
    r.frame({{"type", "popen"}, {"sid", 3}, {"pipe", "x"}, {"dir", "stdout"}});  // odd: ignored
    EXPECT_TRUE(r.sent.empty());
    for (const char* bad : {"../x", "a/b", "", "other//x", "ns//x", ".x"}) {
        r.frame({{"type", "popen"}, {"sid", 6}, {"pipe", bad}, {"dir", "stdout"}});
        ASSERT_EQ(r.sent.back().type(), "tclose") << bad;
    }
    r.frame({{"type", "popen"}, {"sid", 6}, {"pipe", "ok"}, {"dir", "sideways"}});
    EXPECT_EQ(r.sent.back().type(), "tclose");
    EXPECT_TRUE(r.plumber->list("ns").empty());
    // Data on a stdin stream is a protocol abuse: the stream goes.
    r.frame({{"type", "popen"}, {"sid", 8}, {"pipe", "in"}, {"dir", "stdin"}});
    r.frame({{"type", "tdata"}, {"sid", 8}}, "evil");
    EXPECT_EQ(r.plumber->list("ns")[0].readers, 0u);
    // At most kMaxStreams streams.
    for (int i = 0; i < 200; ++i)
        r.frame({{"type", "popen"}, {"sid", 100 + 2 * i}, {"pipe", "w"}, {"dir", "stdout"}});
    size_t writers = 0;
    for (const auto& p : r.plumber->list("ns"))
        if (p.name == "ns//w") writers = p.writers;
    EXPECT_EQ(writers, ccproto::kMaxStreams);
    r.mux->closeAll(false);
    for (const auto& p : r.plumber->list("ns")) EXPECT_EQ(p.writers, 0u) << p.name;
}

}  // namespace
}  // namespace herd
