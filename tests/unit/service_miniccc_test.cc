// The miniccc session (service/cc_miniccc.h): minimega's messages in, the
// herd-cc frames the cc service handles out, and back.
#include <gtest/gtest.h>

#include "proto/ccproto.h"
#include "proto/gob.h"
#include "proto/ron.h"
#include "service/cc_miniccc.h"

namespace herd {
namespace {

using gob::Value;
using nlohmann::json;

Value heartbeat(const std::string& uuid, const std::string& version = "v1") {
    Value c = Value::structure();
    c.set("UUID", Value::ofString(uuid));
    c.set("Hostname", Value::ofString("guest"));
    c.set("Arch", Value::ofString("amd64"));
    c.set("OS", Value::ofString("linux"));
    c.set("IPs", Value::ofStrings({"10.0.0.5"}));
    c.set("MACs", Value::ofStrings({"00:11:22:33:44:55"}));
    c.set("Processes", Value::map());
    Value m = Value::structure();
    m.set("Type", Value::ofInt(ron::kClient));
    m.set("UUID", Value::ofString(uuid));
    m.set("Version", Value::ofString(version));
    m.set("Client", c);
    return m;
}

std::vector<ccproto::Frame> drain(MinicccSession& s, std::string* error = nullptr) {
    std::vector<ccproto::Frame> out;
    std::string err;
    while (auto f = s.next(err)) out.push_back(std::move(*f));
    if (error) *error = err;
    return out;
}

struct Peer {
    gob::Encoder enc;
    MinicccSession s;
    void send(const Value& m) {
        std::string b = enc.encode(ron::messageType(), m);
        s.feed(b.data(), b.size());
    }
};

TEST(Miniccc, MagicThenHello) {
    Peer p;
    p.s.feed("xxRO", 4);
    EXPECT_EQ(p.s.takeMagicReply(), "");
    p.s.feed("N", 1);
    EXPECT_EQ(p.s.takeMagicReply(), "RON");
    EXPECT_EQ(p.s.takeMagicReply(), "");
    Value hb = heartbeat("0f4c8e8a-0000-4000-8000-000000000001");
    Value proc = Value::structure();
    proc.set("PID", Value::ofInt(42));
    proc.set("Command", Value::ofStrings({"sleep", "9"}));
    Value& procs = hb.fields[3].second.fields.back().second;  // Client.Processes
    procs.entries.push_back({Value::ofInt(42), proc});
    p.send(hb);
    auto f = drain(p.s);
    ASSERT_EQ(f.size(), 1u);  // only the hello until it is welcomed
    EXPECT_EQ(f[0].type(), "hello");
    EXPECT_EQ(f[0].header["version"], 1);
    EXPECT_EQ(f[0].header["uuid"], "0f4c8e8a-0000-4000-8000-000000000001");
    EXPECT_EQ(f[0].header["ip"], json::array({"10.0.0.5"}));
    EXPECT_GT(f[0].size, 0u);
    // The welcome echoes the hello back.
    std::string echo = p.s.fromService({{{"type", "welcome"}}, {}, 0});
    gob::Decoder d;
    d.feed(echo.data(), echo.size());
    std::string err;
    auto v = d.next(err);
    ASSERT_TRUE(v) << err;
    EXPECT_EQ(v->intField("Type"), ron::kClient);
    p.s.welcomed();
    f = drain(p.s);
    ASSERT_EQ(f.size(), 1u);
    EXPECT_EQ(f[0].type(), "procs");
    EXPECT_EQ(f[0].header["procs"][0]["pid"], 42);
}

TEST(Miniccc, OldVersionSaysZero) {
    Peer p;
    p.s.feed("RON", 3);
    p.send(heartbeat("u", "v0"));
    auto f = drain(p.s);
    ASSERT_EQ(f.size(), 1u);
    EXPECT_EQ(f[0].header["version"], 0);
}

TEST(Miniccc, FirstMessageMustBeHeartbeat) {
    Peer p;
    p.s.feed("RON", 3);
    Value m = Value::structure();
    m.set("Type", Value::ofInt(ron::kFile));
    p.send(m);
    std::string err;
    EXPECT_TRUE(drain(p.s, &err).empty());
    EXPECT_NE(err, "");
}

TEST(Miniccc, NoMagic) {
    MinicccSession s;
    std::string junk(200, 'x');
    s.feed(junk.data(), junk.size());
    std::string err;
    EXPECT_FALSE(s.next(err));
    EXPECT_NE(err.find("RON"), std::string::npos);
}

TEST(Miniccc, CommandsResponsesAndFiles) {
    Peer p;
    p.s.feed("RON", 3);
    p.send(heartbeat("u"));
    drain(p.s);
    p.s.welcomed();
    // A background command and a kill go out as commands with their ids.
    std::string out = p.s.fromService({{{"type", "command"},
                                        {"id", 5},
                                        {"argv", {"sleep", "1"}},
                                        {"background", true},
                                        {"send", {"a.txt"}},
                                        {"recv", json::array()}},
                                       {},
                                       0});
    std::string kill = p.s.fromService({{{"type", "kill"}, {"id", 6}, {"pid", 42}}, {}, 0});
    gob::Decoder d;
    out += kill;
    d.feed(out.data(), out.size());
    std::string err;
    auto c1 = d.next(err);
    ASSERT_TRUE(c1) << err;
    const Value& cmd = c1->field("Commands")->entries.at(0).second;
    EXPECT_EQ(cmd.intField("ID"), 5);
    EXPECT_TRUE(cmd.boolField("Background"));
    EXPECT_EQ(cmd.strsField("FilesSend", 9), std::vector<std::string>{"a.txt"});
    auto c2 = d.next(err);
    ASSERT_TRUE(c2) << err;
    EXPECT_EQ(c2->field("Commands")->entries.at(0).second.intField("PID"), 42);
    // Responses come in a heartbeat: a background one counts twice, the
    // kill's answer is dropped.
    Value hb = heartbeat("u");
    Value rs;
    rs.kind = Value::Kind::Slice;
    for (int id : {5, 6}) {
        Value r = Value::structure();
        r.set("ID", Value::ofInt(id));
        r.set("Stdout", Value::ofString("out"));
        rs.elems.push_back(r);
    }
    hb.fields[3].second.set("Responses", rs);
    Value tags = Value::map();
    tags.entries.push_back({Value::ofString("k"), Value::ofString("v")});
    hb.fields[3].second.set("Tags", tags);
    p.send(hb);
    auto f = drain(p.s);
    ASSERT_EQ(f.size(), 3u);
    EXPECT_EQ(f[0].type(), "tags");
    EXPECT_EQ(f[0].header["tags"]["k"], "v");
    EXPECT_EQ(f[1].type(), "response");
    EXPECT_EQ(f[1].header["id"], 5);
    EXPECT_EQ(f[1].header["stdout"], 3);
    EXPECT_EQ(f[1].body, "out");
    EXPECT_FALSE(f[1].header.contains("exitcode"));
    EXPECT_EQ(f[2].type(), "response");
    // A file request, and a cc recv chunk (its name made absolute).
    Value req = Value::structure();
    req.set("Type", Value::ofInt(ron::kFile));
    Value file = Value::structure();
    file.set("Name", Value::ofString("a.txt"));
    req.set("File", file);
    p.send(req);
    Value chunk = req;
    Value& cf = chunk.fields.back().second;
    cf.set("ID", Value::ofInt(7));
    cf.set("Name", Value::ofString("etc/hostname"));
    cf.set("Data", Value::ofString("h\n", Value::Kind::Bytes));
    cf.set("EOF", Value::ofBool(true));
    p.send(chunk);
    f = drain(p.s);
    ASSERT_EQ(f.size(), 2u);
    EXPECT_EQ(f[0].type(), MinicccSession::kFileRequest);
    EXPECT_EQ(f[0].header["name"], "a.txt");
    EXPECT_EQ(f[1].type(), "file");
    EXPECT_EQ(f[1].header["path"], "/etc/hostname");
    EXPECT_EQ(f[1].header["id"], 7);
    EXPECT_TRUE(f[1].header["eof"]);
    EXPECT_EQ(f[1].body, "h\n");
    // Only offered files are served.
    EXPECT_FALSE(p.s.offered("a.txt"));
    p.s.offer("a.txt", "/srv/a.txt", 0600);
    ASSERT_TRUE(p.s.offered("a.txt"));
    EXPECT_EQ(p.s.offered("a.txt")->host, "/srv/a.txt");
}

TEST(Miniccc, OffersBounded) {
    MinicccSession s;
    for (size_t i = 0; i < minicccLimits::kMaxOffers + 10; ++i)
        s.offer("f" + std::to_string(i), "/h", 0644);
    EXPECT_FALSE(s.offered("f0"));
    EXPECT_TRUE(s.offered("f" + std::to_string(minicccLimits::kMaxOffers + 9)));
}

TEST(Miniccc, HelloBytesBounded) {
    MinicccSession s;
    s.feed("RON", 3);
    // Definitions only, never a value: refused past the hello budget.
    std::string err;
    for (int id = 65; id < 120 && err.empty(); ++id) {
        std::string d;
        gob::putInt(d, -id);
        d += std::string("\x02\x01\x01", 3);
        gob::putString(d, std::string(2000, 'n'));
        d += '\x01';
        gob::putInt(d, id);
        d += std::string("\x00\x01\x0c\x00\x00", 5);
        std::string m;
        gob::putUint(m, d.size());
        m += d;
        s.feed(m.data(), m.size());
        while (s.next(err)) {
        }
    }
    EXPECT_NE(err.find("first"), std::string::npos) << err;
}

}  // namespace
}  // namespace herd
