// The OVSDB JSON-RPC client: value encodings, the stream framer, transact
// reply checking, and the client against a scripted server on a unix socket
// (keepalive echoes answered, replies split across reads, a server that never
// answers).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>

#include "runtime/ovs.h"
#include "runtime/ovsdb.h"

using namespace herd::runtime::ovsdb;

namespace {

TEST(OvsdbEncode, Values) {
    EXPECT_EQ(uuid("abc").dump(), R"(["uuid","abc"])");
    EXPECT_EQ(namedUuid("p0").dump(), R"(["named-uuid","p0"])");
    EXPECT_EQ(set({uuid("a"), uuid("b")}).dump(), R"(["set",[["uuid","a"],["uuid","b"]]])");
    EXPECT_EQ(strMap({{"herd-prefix", "t1"}}).dump(), R"(["map",[["herd-prefix","t1"]]])");
    EXPECT_EQ(cond("name", "==", "br0").dump(), R"(["name","==","br0"])");
}

TEST(OvsdbEncode, TransactRequest) {
    Json ops = Json::array({{{"op", "select"}, {"table", "Bridge"}, {"where", Json::array()}}});
    Json req = transactRequest(ops, 7);
    EXPECT_EQ(req["method"], "transact");
    EXPECT_EQ(req["id"], 7);
    ASSERT_EQ(req["params"].size(), 2u);
    EXPECT_EQ(req["params"][0], "Open_vSwitch");
    EXPECT_EQ(req["params"][1]["table"], "Bridge");
}

TEST(OvsdbEncode, UuidAndSetItems) {
    EXPECT_EQ(uuidOf(uuid("x")).value(), "x");
    EXPECT_FALSE(uuidOf(Json("x")).has_value());
    EXPECT_EQ(setItems(uuid("x")).size(), 1u);  // a one-element set is the atom
    EXPECT_EQ(setItems(set({uuid("a"), uuid("b")})).size(), 2u);
    EXPECT_TRUE(setItems(set({})).empty());
}

TEST(OvsdbFramer, SplitsBackToBackAndPartialMessages) {
    Framer f;
    f.feed(R"({"id":1,"result":[]} {"id":2,"result":["a}"]})");
    f.feed(R"({"id":3,"res)");
    auto a = f.next();
    ASSERT_TRUE(a.ok() && a->has_value());
    EXPECT_EQ(Json::parse(**a)["id"], 1);
    auto b = f.next();
    ASSERT_TRUE(b.ok() && b->has_value());
    EXPECT_EQ(Json::parse(**b)["result"][0], "a}");  // a brace inside a string
    auto c = f.next();
    ASSERT_TRUE(c.ok());
    EXPECT_FALSE(c->has_value());  // incomplete
    f.feed(R"(ult":"q\"}"}
)");
    auto d = f.next();
    ASSERT_TRUE(d.ok() && d->has_value());
    EXPECT_EQ(Json::parse(**d)["result"], "q\"}");  // an escaped quote
    auto e = f.next();
    ASSERT_TRUE(e.ok());
    EXPECT_FALSE(e->has_value());
}

TEST(OvsdbFramer, RejectsNonJson) {
    Framer f;
    f.feed("HTTP/1.1 400\r\n");
    EXPECT_FALSE(f.next().ok());
}

TEST(OvsdbReply, ResultsAndErrors) {
    Json ops = Json::array(
        {{{"op", "insert"}, {"table", "Port"}}, {{"op", "mutate"}, {"table", "Bridge"}}});
    auto ok = checkTransactReply(
        Json{{"id", 1}, {"error", nullptr}, {"result", Json::array({{{"uuid", uuid("u")}}, {}})}},
        ops);
    ASSERT_TRUE(ok.ok());
    EXPECT_EQ((*ok)[0]["uuid"][1], "u");

    auto op_err = checkTransactReply(
        Json{{"id", 1},
             {"error", nullptr},
             {"result", Json::array({{{"uuid", uuid("u")}},
                                     {{"error", "constraint violation"}, {"details", "no row"}}})}},
        ops);
    ASSERT_FALSE(op_err.ok());
    EXPECT_EQ(op_err.error().text(),
              "ovsdb transaction failed: mutate Bridge: constraint violation: no row");

    // A commit failure is reported after the operations' results.
    auto commit_err = checkTransactReply(
        Json{{"id", 1},
             {"error", nullptr},
             {"result", Json::array({{}, {}, {{"error", "referential integrity violation"}}})}},
        ops);
    ASSERT_FALSE(commit_err.ok());
    EXPECT_EQ(commit_err.error().text(),
              "ovsdb transaction failed: commit: referential integrity violation");

    auto rpc_err = checkTransactReply(Json{{"id", 1}, {"error", "unknown database"}}, ops);
    ASSERT_FALSE(rpc_err.ok());
    EXPECT_EQ(rpc_err.error().text(), "ovsdb transaction failed: unknown database");

    auto short_reply =
        checkTransactReply(Json{{"id", 1}, {"error", nullptr}, {"result", Json::array({{}})}}, ops);
    EXPECT_FALSE(short_reply.ok());
}

// A one-connection unix socket server running `script` on the accepted fd.
class FakeServer {
  public:
    explicit FakeServer(std::function<void(int)> script) {
        char tmpl[] = "/tmp/herd-ovsdb-test-XXXXXX";
        dir_ = ::mkdtemp(tmpl);
        path_ = dir_ + "/db.sock";
        listen_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strncpy(a.sun_path, path_.c_str(), sizeof a.sun_path - 1);
        EXPECT_EQ(::bind(listen_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        EXPECT_EQ(::listen(listen_, 1), 0);
        thread_ = std::thread([this, script] {
            int fd = ::accept(listen_, nullptr, nullptr);
            if (fd < 0) return;
            script(fd);
            ::close(fd);
        });
    }
    ~FakeServer() {
        ::shutdown(listen_, SHUT_RDWR);
        thread_.join();
        ::close(listen_);
        ::unlink(path_.c_str());
        ::rmdir(dir_.c_str());
    }
    const std::string& path() const { return path_; }

  private:
    std::string dir_, path_;
    int listen_ = -1;
    std::thread thread_;
};

// Reads one whole JSON message from fd.
Json readMessage(int fd) {
    Framer f;
    char buf[4096];
    for (;;) {
        auto m = f.next();
        if (m.ok() && m->has_value()) return Json::parse(**m);
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) return Json();
        f.feed(std::string_view(buf, static_cast<size_t>(n)));
    }
}

void writeAll(int fd, const std::string& s) {
    ASSERT_EQ(::write(fd, s.data(), s.size()), static_cast<ssize_t>(s.size()));
}

TEST(OvsdbClient, AnswersEchoAndReadsSplitReply) {
    Json echo_reply;
    FakeServer server([&](int fd) {
        Json req = readMessage(fd);
        // A keepalive first; the client must answer it before its reply comes.
        writeAll(fd, R"({"method":"echo","params":[],"id":"echo"})");
        echo_reply = readMessage(fd);
        std::string reply =
            Json{{"id", req["id"]}, {"error", nullptr}, {"result", Json::array({{{"count", 1}}})}}
                .dump();
        writeAll(fd, reply.substr(0, 10));
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        writeAll(fd, reply.substr(10));
    });
    auto c = Client::connect(server.path(), std::chrono::milliseconds(3000));
    ASSERT_TRUE(c.ok()) << c.error().text();
    Json ops = Json::array({{{"op", "mutate"}, {"table", "Bridge"}}});
    auto r = c->transact(ops);
    ASSERT_TRUE(r.ok()) << r.error().text();
    EXPECT_EQ((*r)[0]["count"], 1);
    EXPECT_EQ(echo_reply["id"], "echo");
    EXPECT_TRUE(echo_reply["error"].is_null());
}

TEST(OvsdbClient, SilentServerTimesOutAndDisconnects) {
    FakeServer server([](int fd) {
        (void)readMessage(fd);
        std::this_thread::sleep_for(std::chrono::milliseconds(600));
    });
    auto c = Client::connect(server.path(), std::chrono::milliseconds(300));
    ASSERT_TRUE(c.ok()) << c.error().text();
    auto t0 = std::chrono::steady_clock::now();
    auto r = c->transact(Json::array());
    auto took = std::chrono::steady_clock::now() - t0;
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().text(),
              "ovsdb " + server.path() + ": no answer within 300 ms (is ovsdb-server running?)");
    EXPECT_GE(took, std::chrono::milliseconds(290));
    EXPECT_LT(took, std::chrono::milliseconds(2000));
    // A late reply must never be taken for another request's.
    EXPECT_FALSE(c->connected());
}

TEST(OvsdbClient, MissingSocket) {
    auto c = Client::connect("/nonexistent/herd/db.sock", std::chrono::milliseconds(100));
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().errnum(), ENOENT);
    EXPECT_NE(c.error().text().find("/nonexistent/herd/db.sock"), std::string::npos);
}

// A unix socket whose backlog is full answers a non-blocking connect with
// EAGAIN: the socket is not connected, so connect fails with that error
// (after a brief retry) instead of handing back a client that cannot talk.
TEST(OvsdbClient, FullBacklogFailsWithEagain) {
    char tmpl[] = "/tmp/herd-ovsdb-test-XXXXXX";
    std::string dir = ::mkdtemp(tmpl);
    std::string path = dir + "/db.sock";
    int srv = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    ASSERT_EQ(::bind(srv, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(::listen(srv, 0), 0);  // never accepted
    std::vector<int> fill;
    for (int i = 0; i < 16; ++i) {
        int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        fill.push_back(fd);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno == EAGAIN) break;
    }
    auto t0 = std::chrono::steady_clock::now();
    auto c = Client::connect(path, std::chrono::milliseconds(300));
    auto took = std::chrono::steady_clock::now() - t0;
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().errnum(), EAGAIN) << c.error().text();
    EXPECT_GE(took, std::chrono::milliseconds(250));  // retried meanwhile
    EXPECT_LT(took, std::chrono::milliseconds(2000));
    for (int fd : fill) ::close(fd);
    ::close(srv);
    ::unlink(path.c_str());
    ::rmdir(dir.c_str());
}

// The rows a fake inventory transaction answers with: a bridge t1br made by
// herd (tagged t1) with its local port L, herd's port P1 and herd's capture
// mirror M, plus `extra` ports (not herd's) on it.
Json inventoryReply(const Json& req, bool foreign_port) {
    auto tag = strMap({{"herd-prefix", "t1"}});
    Json ports =
        Json::array({{{"_uuid", uuid("P1")}, {"name", "t1v0n0"}, {"external_ids", tag}},
                     {{"_uuid", uuid("L")}, {"name", "t1br"}, {"external_ids", strMap({})}}});
    Json::array_t on_bridge = {uuid("P1"), uuid("L")};
    if (foreign_port) {
        ports.push_back({{"_uuid", uuid("F")}, {"name", "theirs"}, {"external_ids", strMap({})}});
        on_bridge.push_back(uuid("F"));
    }
    Json bridges = Json::array({{{"_uuid", uuid("B")},
                                 {"name", "t1br"},
                                 {"ports", set(on_bridge)},
                                 {"mirrors", uuid("M")},
                                 {"external_ids", tag}}});
    Json mirrors =
        Json::array({{{"_uuid", uuid("M")}, {"name", "mirror-t1m0"}, {"external_ids", tag}}});
    // herd's linux-noop QoS row, which its ports refer to.
    Json qos = Json::array({{{"_uuid", uuid("Q")}, {"external_ids", tag}}});
    return Json{
        {"id", req["id"]},
        {"error", nullptr},
        {"result",
         Json::array(
             {{{"rows", ports}}, {{"rows", bridges}}, {{"rows", mirrors}}, {{"rows", qos}}})}};
}

const Json* findOp(const Json& req, const std::string& op, const std::string& table) {
    for (const auto& o : req["params"]) {
        if (o.is_object() && o.value("op", "") == op && o.value("table", "") == table) return &o;
    }
    return nullptr;
}

// A port added to herd's bridge between cleanup's read and its write must not
// be deleted with the bridge: the delete carries a wait on the ports it read,
// and when that wait fails cleanup reads again and keeps the bridge.
TEST(OvsCleanup, BridgeDeleteWaitsOnThePortsItRead) {
    Json first_write, second_write;
    FakeServer server([&](int fd) {
        Json req = readMessage(fd);
        writeAll(fd, inventoryReply(req, false).dump());
        first_write = readMessage(fd);
        // Someone added a port meanwhile: the server fails the wait.
        writeAll(fd, Json{{"id", first_write["id"]},
                          {"error", nullptr},
                          {"result", Json::array({{{"error", "timed out"}}})}}
                         .dump());
        req = readMessage(fd);
        if (req.is_null()) return;  // the client gave up (no retry)
        writeAll(fd, inventoryReply(req, true).dump());
        second_write = readMessage(fd);
        if (second_write.is_null()) return;
        Json results = Json::array();  // one per operation (params[0] is the database)
        for (size_t i = 1; i < second_write["params"].size(); ++i)
            results.push_back({{"count", 1}});
        writeAll(fd,
                 Json{{"id", second_write["id"]}, {"error", nullptr}, {"result", results}}.dump());
    });
    auto r = herd::runtime::nukeOvs(server.path(), "t1", true, std::chrono::milliseconds(3000));
    ASSERT_TRUE(r.ok()) << r.error().text();

    // First write: wait (ports == {P1, L}) then delete the bridge.
    ASSERT_EQ(first_write["method"], "transact");
    const Json& ops = first_write["params"];
    ASSERT_GE(ops.size(), 3u);
    const Json* wait = findOp(first_write, "wait", "Bridge");
    ASSERT_NE(wait, nullptr) << first_write.dump();
    EXPECT_EQ(ops[1], *wait) << "the wait precedes the delete";
    EXPECT_EQ((*wait)["where"], Json::array({cond("_uuid", "==", uuid("B"))}));
    EXPECT_EQ((*wait)["columns"], Json::array({"ports"}));
    EXPECT_EQ((*wait)["until"], "==");
    EXPECT_EQ((*wait)["timeout"], 0);
    EXPECT_EQ((*wait)["rows"], Json::array({{{"ports", set({uuid("P1"), uuid("L")})}}}));
    const Json* del = findOp(first_write, "mutate", "Open_vSwitch");
    ASSERT_NE(del, nullptr);
    EXPECT_EQ((*del)["mutations"][0][2], set({uuid("B")}));
    // herd's QoS row goes too, once its ports let go of it (ovsdb checks
    // references before it collects the ports the bridge drops).
    const Json* qos = findOp(first_write, "delete", "QoS");
    ASSERT_NE(qos, nullptr) << first_write.dump();
    EXPECT_EQ((*qos)["where"], Json::array({cond("_uuid", "==", uuid("Q"))}));
    const Json* let_go = findOp(first_write, "update", "Port");
    ASSERT_NE(let_go, nullptr) << first_write.dump();
    EXPECT_EQ((*let_go)["where"], Json::array({cond("_uuid", "==", uuid("P1"))}));
    EXPECT_EQ((*let_go)["row"], Json({{"qos", set({})}}));

    // Read again: the bridge now has someone's port: only herd's port and
    // mirror go.
    EXPECT_EQ(findOp(second_write, "wait", "Bridge"), nullptr) << second_write.dump();
    EXPECT_EQ(findOp(second_write, "mutate", "Open_vSwitch"), nullptr) << second_write.dump();
    const Json* mut = findOp(second_write, "mutate", "Bridge");
    ASSERT_NE(mut, nullptr) << second_write.dump();
    EXPECT_EQ((*mut)["mutations"][0], Json::array({"ports", "delete", set({uuid("P1")})}));
    EXPECT_EQ((*mut)["mutations"][1], Json::array({"mirrors", "delete", set({uuid("M")})}));
}

}  // namespace
