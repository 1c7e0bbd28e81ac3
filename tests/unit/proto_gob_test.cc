// The gob codec (proto/gob.h) and minimega's message types (proto/ron.h):
// byte vectors derived by hand from gob's encoding rules, round trips, and
// the malformed input a hostile guest may send.
#include <gtest/gtest.h>

#include "proto/gob.h"
#include "proto/ron.h"

namespace herd {
namespace {

std::string hex(const std::string& s) {
    static const char* d = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) {
        if (!out.empty()) out += ' ';
        out += d[c >> 4];
        out += d[c & 15];
    }
    return out;
}

std::string bytes(std::initializer_list<int> b) {
    std::string out;
    for (int v : b) out.push_back(static_cast<char>(v));
    return out;
}

// A length-prefixed message.
std::string msg(const std::string& payload) {
    std::string out;
    gob::putUint(out, payload.size());
    return out + payload;
}

std::string str(const std::string& s) {
    std::string out;
    gob::putString(out, s);
    return out;
}

TEST(Gob, Uint) {
    std::string o;
    gob::putUint(o, 7);
    gob::putUint(o, 130);
    gob::putUint(o, 300);
    EXPECT_EQ(hex(o), "07 ff 82 fe 01 2c");
    gob::Reader r(o);
    uint64_t a, b, c;
    ASSERT_TRUE(r.uint(a) && r.uint(b) && r.uint(c));
    EXPECT_EQ(a, 7u);
    EXPECT_EQ(b, 130u);
    EXPECT_EQ(c, 300u);
    EXPECT_TRUE(r.atEnd());
}

TEST(Gob, Int) {
    std::string o;
    for (int64_t v : {6, 65, -65, -1}) gob::putInt(o, v);
    EXPECT_EQ(hex(o), "0c ff 82 ff 81 01");
    gob::Reader r(o);
    for (int64_t want : {6, 65, -65, -1}) {
        int64_t v;
        ASSERT_TRUE(r.sint(v));
        EXPECT_EQ(v, want);
    }
    std::string big;
    gob::putInt(big, INT64_MIN);
    gob::putInt(big, INT64_MAX);
    gob::Reader r2(big);
    int64_t x, y;
    ASSERT_TRUE(r2.sint(x) && r2.sint(y));
    EXPECT_EQ(x, INT64_MIN);
    EXPECT_EQ(y, INT64_MAX);
}

TEST(Gob, TruncatedItems) {
    uint64_t u;
    std::string s;
    EXPECT_FALSE(gob::Reader(bytes({0xfe, 0x01})).uint(u));  // 2 bytes said, 1 there
    EXPECT_FALSE(gob::Reader(bytes({0xf7, 1, 2, 3, 4, 5, 6, 7, 8, 9})).uint(u));  // 9 bytes
    EXPECT_FALSE(gob::Reader(bytes({0x05, 'a', 'b'})).bytes(s));  // length over the data
    EXPECT_FALSE(gob::Reader(bytes({0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}))
                     .bytes(s));  // a huge length: refused before any allocation
}

TEST(Gob, TopLevelBasicValues) {
    gob::Encoder e;
    EXPECT_EQ(hex(e.encode(gob::intType(), gob::Value::ofInt(0))), "03 04 00 00");
    EXPECT_EQ(hex(e.encode(gob::stringType(), gob::Value::ofString("k"))), "04 0c 00 01 6b");
    gob::Decoder d;
    std::string in = bytes({0x03, 0x04, 0x00, 0x00, 0x04, 0x0c, 0x00, 0x01, 0x6b});
    d.feed(in.data(), in.size());
    std::string err;
    auto a = d.next(err);
    ASSERT_TRUE(a) << err;
    EXPECT_EQ(a->kind, gob::Value::Kind::Int);
    EXPECT_EQ(a->i, 0);
    auto b = d.next(err);
    ASSERT_TRUE(b) << err;
    EXPECT_EQ(b->s, "k");
    EXPECT_FALSE(d.next(err));
    EXPECT_EQ(err, "");
}

// The definitions of the spec's examples, written out by hand.
TEST(Gob, DefinitionBytes) {
    gob::Type strs{gob::Type::Kind::Slice, "[]string", {}, gob::stringType(), nullptr};
    gob::Encoder e;
    std::string out = e.encode(&strs, gob::Value::ofStrings({"a"}));
    // -65, SliceT (field 1) {CommonType{Name, Id 65}, Elem 6}; then the value.
    std::string def = bytes({0xff, 0x81, 0x02, 0x01, 0x01}) + str("[]string") +
                      bytes({0x01, 0xff, 0x82, 0x00, 0x01, 0x0c, 0x00, 0x00});
    std::string val = bytes({0xff, 0x82, 0x00, 0x01, 0x01, 'a'});
    EXPECT_EQ(hex(out), hex(msg(def) + msg(val)));

    gob::Type m{gob::Type::Kind::Map, "map[string]int", {}, gob::intType(), gob::stringType()};
    gob::Encoder e2;
    gob::Value v = gob::Value::map();
    v.entries.push_back({gob::Value::ofString("x"), gob::Value::ofInt(-1)});
    std::string mdef = bytes({0xff, 0x81, 0x04, 0x01, 0x01}) + str("map[string]int") +
                       bytes({0x01, 0xff, 0x82, 0x00, 0x01, 0x0c, 0x01, 0x04, 0x00, 0x00});
    std::string mval = bytes({0xff, 0x82, 0x00, 0x01, 0x01, 'x', 0x01});
    EXPECT_EQ(hex(e2.encode(&m, v)), hex(msg(mdef) + msg(mval)));
}

// Hand-made: a struct definition in the form Go sends it, with field ids
// and order of its own, then values; fields are matched by name.
std::string pointDefinition() {
    // -65 StructT{CommonType{"Point", 65}, Field: [{X, int}, {Name, string},
    // {Tags, 66}]}, -66 MapT{CommonType{"map[string]string", 66}, string, string}.
    std::string def = bytes({0xff, 0x81, 0x03, 0x01, 0x01}) + str("Point") +
                      bytes({0x01, 0xff, 0x82, 0x00, 0x01, 0x03}) + bytes({0x01}) + str("X") +
                      bytes({0x01, 0x04, 0x00}) + bytes({0x01}) + str("Name") +
                      bytes({0x01, 0x0c, 0x00}) + bytes({0x01}) + str("Tags") +
                      bytes({0x01, 0xff, 0x84, 0x00}) + bytes({0x00, 0x00});
    std::string map = bytes({0xff, 0x83, 0x04, 0x01, 0x01}) + str("map[string]string") +
                      bytes({0x01, 0xff, 0x84, 0x00, 0x01, 0x0c, 0x01, 0x0c, 0x00, 0x00});
    return msg(def) + msg(map);
}

TEST(Gob, StructByName) {
    // {X: -3, Tags: {"k": "v"}}: Name is zero, so omitted.
    std::string val =
        bytes({0xff, 0x82, 0x01, 0x05, 0x02, 0x01}) + str("k") + str("v") + bytes({0x00});
    std::string in = pointDefinition() + msg(val);
    gob::Decoder d;
    std::string err;
    // Fed a byte at a time: nothing comes out early.
    for (size_t i = 0; i + 1 < in.size(); ++i) {
        d.feed(in.data() + i, 1);
        ASSERT_FALSE(d.next(err)) << i;
        ASSERT_EQ(err, "") << i;
    }
    d.feed(in.data() + in.size() - 1, 1);
    auto v = d.next(err);
    ASSERT_TRUE(v) << err;
    EXPECT_EQ(v->intField("X"), -3);
    EXPECT_EQ(v->field("Name"), nullptr);
    const gob::Value* tags = v->field("Tags");
    ASSERT_TRUE(tags);
    ASSERT_EQ(tags->entries.size(), 1u);
    EXPECT_EQ(tags->entries[0].first.s, "k");
    EXPECT_EQ(tags->entries[0].second.s, "v");
}

std::string decodeError(const std::string& in, gob::Decoder::Limits lim = {}) {
    gob::Decoder d;
    d.setLimits(lim);
    d.feed(in.data(), in.size());
    std::string err;
    while (d.next(err)) {
    }
    return err;
}

TEST(Gob, MalformedInput) {
    // A message longer than allowed, refused from its length alone.
    gob::Decoder::Limits small;
    small.max_message = 1000;
    EXPECT_NE(decodeError(bytes({0xfc, 0x7f, 0xff, 0xff, 0xff}), small), "");
    EXPECT_NE(decodeError(bytes({0xfe, 0x10, 0x00}), small).find("at most 1000"),
              std::string::npos);
    // A slice count far beyond the message.
    gob::Type strs{gob::Type::Kind::Slice, "[]string", {}, gob::stringType(), nullptr};
    gob::Encoder e;
    std::string good = e.encode(&strs, gob::Value::ofStrings({"a"}));
    std::string def = good.substr(0, good.size() - 7);
    std::string huge =
        bytes({0xff, 0x82, 0x00, 0xf8, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff});
    EXPECT_NE(decodeError(def + msg(huge)).find("slice length"), std::string::npos);
    // A string length beyond the message.
    EXPECT_NE(decodeError(msg(bytes({0x0c, 0x00, 0xfc, 0x7f, 0xff, 0xff, 0xff}))), "");
    // A value of a type never defined.
    EXPECT_NE(decodeError(msg(bytes({0xff, 0x90, 0x00}))).find("undefined"), std::string::npos);
    // The same id defined twice.
    EXPECT_NE(decodeError(def + def).find("defined twice"), std::string::npos);
    // Redefining a predefined id.
    std::string predefined = def;
    predefined[1] = 0x0b;  // -6 (string)
    EXPECT_NE(decodeError(predefined.substr(0, 1) + predefined.substr(1)), "");
    // A field number past the struct's fields.
    std::string bad = bytes({0xff, 0x82, 0x09, 0x02, 0x00});
    EXPECT_NE(decodeError(pointDefinition() + msg(bad)), "");
    // Trailing bytes after a value.
    EXPECT_NE(decodeError(msg(bytes({0x04, 0x00, 0x02, 0x00}))), "");
    // A non-nil interface value.
    EXPECT_NE(decodeError(msg(bytes({0x10, 0x00, 0x01, 'x'}))).find("interface"),
              std::string::npos);
    // A type id of 0.
    EXPECT_NE(decodeError(msg(bytes({0x00}))), "");
}

TEST(Gob, TooManyTypes) {
    std::string in;
    for (int id = 65; id < 65 + 200; ++id) {
        std::string d;
        gob::putInt(d, -id);
        d += bytes({0x02, 0x01, 0x01}) + str("s") + bytes({0x01});
        gob::putInt(d, id);
        d += bytes({0x00, 0x01, 0x0c, 0x00, 0x00});
        in += msg(d);
    }
    EXPECT_NE(decodeError(in).find("type definitions"), std::string::npos);
}

TEST(Gob, DeepNestingBounded) {
    // Type 65 = []65: a value nested 10000 deep is refused at the limit,
    // without recursing that deep.
    std::string d;
    gob::putInt(d, -65);
    d += bytes({0x02, 0x01, 0x01}) + str("T") +
         bytes({0x01, 0xff, 0x82, 0x00, 0x01, 0xff, 0x82, 0x00, 0x00});
    std::string v = bytes({0xff, 0x82, 0x00});
    for (int i = 0; i < 10000; ++i) v += '\x01';
    v += '\x00';
    EXPECT_NE(decodeError(msg(d) + msg(v)).find("nested deeper"), std::string::npos);
}

TEST(Gob, NodeBudget) {
    gob::Type strs{gob::Type::Kind::Slice, "[]string", {}, gob::stringType(), nullptr};
    gob::Encoder e;
    std::string in = e.encode(&strs, gob::Value::ofStrings(std::vector<std::string>(5000, "")));
    gob::Decoder::Limits lim;
    lim.max_nodes = 1000;
    EXPECT_NE(decodeError(in, lim).find("values in a message"), std::string::npos);
    EXPECT_EQ(decodeError(in), "");
}

// The spec's worked examples of minimega's Message values.
gob::Value decodeMessageValue(const std::string& value_bytes) {
    gob::Encoder e;
    std::string defs = e.encode(ron::messageType(), gob::Value::structure());
    // Drop the zero value at the end (2 + 2 bytes: length, id 65, end).
    defs.resize(defs.size() - 4);
    gob::Decoder d;
    std::string in = defs + value_bytes;
    d.feed(in.data(), in.size());
    std::string err;
    auto v = d.next(err);
    EXPECT_TRUE(v) << err;
    EXPECT_FALSE(d.next(err));
    return v ? *v : gob::Value();
}

TEST(Ron, ServerHeartbeat) {
    gob::Encoder e;
    gob::Value hb = gob::Value::structure();
    hb.set("Type", gob::Value::ofInt(ron::kHeartbeat));
    hb.set("Version", gob::Value::ofString("v1"));
    std::string out = e.encode(ron::messageType(), hb);
    std::string want = bytes({0x09, 0xff, 0x82, 0x01, 0x0c, 0x0b, 0x02, 0x76, 0x31, 0x00});
    ASSERT_GT(out.size(), want.size());
    EXPECT_EQ(hex(out.substr(out.size() - want.size())), hex(want));
    // Definitions go once per stream.
    EXPECT_EQ(hex(e.encode(ron::messageType(), hb)), hex(want));
}

TEST(Ron, ClientHeartbeat) {
    std::string in =
        bytes({0x29, 0xff, 0x82, 0x01, 0x02, 0x01, 0x02, 0x75, 0x31, 0x03, 0x01, 0x02, 0x75, 0x31,
               0x01, 0x05, 0x61, 0x6d, 0x64, 0x36, 0x34, 0x01, 0x05, 0x6c, 0x69, 0x6e, 0x75, 0x78,
               0x01, 0x01, 0x72, 0x01, 0x01, 0x68, 0x03, 0x00, 0x00, 0x07, 0x02, 0x76, 0x31, 0x00});
    gob::Value m = decodeMessageValue(in);
    EXPECT_EQ(m.intField("Type"), ron::kClient);
    EXPECT_EQ(m.strField("UUID"), "u1");
    EXPECT_EQ(m.strField("Version"), "v1");
    const gob::Value* c = m.field("Client");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->strField("Arch"), "amd64");
    EXPECT_EQ(c->strField("OS"), "linux");
    EXPECT_EQ(c->strField("Hostname"), "h");
    ASSERT_TRUE(c->field("Processes"));
    EXPECT_EQ(c->field("Processes")->kind, gob::Value::Kind::Map);
    // And our encoder makes the same bytes of the same value.
    gob::Encoder e;
    std::string out = e.encode(ron::messageType(), m);
    EXPECT_EQ(hex(out.substr(out.size() - in.size())), hex(in));
}

TEST(Ron, CommandList) {
    std::string in = bytes({0x15, 0xff, 0x82, 0x04, 0x01, 0x06, 0x01, 0x06, 0x02, 0x02, 0x04,
                            0x65, 0x63, 0x68, 0x6f, 0x02, 0x68, 0x69, 0x06, 0x04, 0x00, 0x00});
    gob::Value m = decodeMessageValue(in);
    const gob::Value* cmds = m.field("Commands");
    ASSERT_TRUE(cmds);
    ASSERT_EQ(cmds->entries.size(), 1u);
    EXPECT_EQ(cmds->entries[0].first.i, 3);
    const gob::Value& c = cmds->entries[0].second;
    EXPECT_EQ(c.intField("ID"), 3);
    EXPECT_EQ(c.strsField("Command", 10), (std::vector<std::string>{"echo", "hi"}));
    EXPECT_EQ(c.intField("Level"), 2);
    gob::Encoder e;
    std::string out = e.encode(ron::messageType(), m);
    EXPECT_EQ(hex(out.substr(out.size() - in.size())), hex(in));
}

TEST(Ron, FileRoundTrip) {
    gob::Value f = gob::Value::structure();
    f.set("ID", gob::Value::ofInt(7));
    f.set("Name", gob::Value::ofString("etc/hostname"));
    f.set("Perm", gob::Value::ofUint(0644));
    f.set("Data", gob::Value::ofString(std::string("a\0b", 3), gob::Value::Kind::Bytes));
    f.set("EOF", gob::Value::ofBool(true));
    gob::Value m = gob::Value::structure();
    m.set("Type", gob::Value::ofInt(ron::kFile));
    m.set("File", f);
    gob::Encoder e;
    std::string out = e.encode(ron::messageType(), m);
    gob::Decoder d;
    d.feed(out.data(), out.size());
    std::string err;
    auto v = d.next(err);
    ASSERT_TRUE(v) << err;
    const gob::Value* g = v->field("File");
    ASSERT_TRUE(g);
    EXPECT_EQ(g->intField("ID"), 7);
    EXPECT_EQ(g->uintField("Perm"), 0644u);
    EXPECT_EQ(g->field("Perm")->kind, gob::Value::Kind::Uint);
    EXPECT_EQ(g->strField("Data"), std::string("a\0b", 3));
    EXPECT_TRUE(g->boolField("EOF"));
    EXPECT_EQ(g->field("Offset"), nullptr);
}

TEST(Ron, MajorVersion) {
    EXPECT_EQ(ron::majorVersion("v1"), 1);
    EXPECT_EQ(ron::majorVersion("V2.3"), 2);
    EXPECT_EQ(ron::majorVersion("v0"), 0);
    EXPECT_EQ(ron::majorVersion(""), -1);
    EXPECT_EQ(ron::majorVersion("x"), -1);
}

}  // namespace
}  // namespace herd
