// What the daemon accepts from a cc agent, which the guest controls: frame
// limits (size, header size, nesting, checked before parsing), escaping of
// guest text, uuid and size checks, addresses and MACs.
#include <gtest/gtest.h>

#include "proto/ccproto.h"
#include "service/agent_addresses.h"
#include "service/cc.h"
#include "service/vmconfig.h"

namespace herd {
namespace {

using nlohmann::json;

// A frame whose header is the given text (not necessarily JSON).
std::string rawFrame(const std::string& header, const std::string& body = {}) {
    std::string out;
    ccproto::putU32(out, static_cast<uint32_t>(4 + header.size() + body.size()));
    ccproto::putU32(out, static_cast<uint32_t>(header.size()));
    return out + header + body;
}

// Feeds `bytes` to a decoder with `lim`; returns the frames and the error.
std::pair<std::vector<ccproto::Frame>, std::string> decode(const std::string& bytes,
                                                           const ccproto::Decoder::Limits& lim) {
    ccproto::Decoder d;
    d.setLimits(lim);
    d.feed(bytes.data(), bytes.size());
    std::vector<ccproto::Frame> frames;
    std::string err;
    while (auto f = d.next(err)) frames.push_back(std::move(*f));
    return {std::move(frames), err};
}

json agentHello() {
    std::vector<std::string> ips, macs;
    for (size_t i = 0; i < ccproto::kMaxAddrs; ++i) {
        ips.push_back("fd00:1234:5678:9abc:def0:1234:5678:" + std::to_string(1000 + i));
        macs.push_back("00:11:22:33:44:55");
    }
    return {{"type", "hello"},
            {"version", 1},
            {"uuid", "3d1f2a9c-0000-4000-8000-00000000abcd"},
            {"hostname", std::string(64, 'h')},
            {"os", "linux"},
            {"arch", "amd64"},
            {"ip", ips},
            {"mac", macs}};
}

TEST(CcLimits, NormalMessagesPass) {
    // The largest hello an agent sends fits in the hello limits.
    auto [f1, e1] = decode(ccproto::encode(agentHello()), cclimits::kHello);
    EXPECT_EQ(e1, "");
    ASSERT_EQ(f1.size(), 1u);
    EXPECT_EQ(f1[0].type(), "hello");

    // A response with the most output an agent sends at once, a file chunk, a
    // process list of many background commands: the limits of a welcomed
    // agent.
    std::string out(ccproto::kMaxOutputPiece, 'x');
    std::string stream = ccproto::encode(
        {{"type", "response"}, {"id", 1}, {"stdout", out.size()}, {"stderr", 0}, {"exitcode", 0}},
        out);
    stream += ccproto::encode({{"type", "file"}, {"id", 2}, {"path", "/a/b"}, {"eof", false}},
                              std::string(ccproto::kChunk, 'y'));
    json procs = json::array();
    for (int i = 0; i < 1000; ++i)
        procs.push_back({{"pid", 100 + i}, {"argv", {"sleep", "1000", "--with", "args"}}});
    stream += ccproto::encode({{"type", "procs"}, {"procs", procs}});
    auto [f2, e2] = decode(stream, cclimits::kAgent);
    EXPECT_EQ(e2, "");
    ASSERT_EQ(f2.size(), 3u);
    EXPECT_EQ(f2[0].body.size(), out.size());
    EXPECT_EQ(f2[1].body.size(), ccproto::kChunk);
    EXPECT_EQ(f2[2].header["procs"].size(), 1000u);
    EXPECT_EQ(f2[0].size, stream.size() - f2[1].size - f2[2].size);
}

TEST(CcLimits, OversizedFrameRefusedBeforeItIsBuffered) {
    // Only the length field has arrived: already refused.
    std::string len;
    ccproto::putU32(len, 1u << 20);
    auto [f, e] = decode(len, cclimits::kHello);
    EXPECT_TRUE(f.empty());
    EXPECT_NE(e.find("bad frame length 1048576 (allowed: 6 to 65536)"), std::string::npos) << e;

    ccproto::putU32(len, 100);  // a header length
    auto [f2, e2] = decode(len, cclimits::kAgent);
    EXPECT_EQ(e2, "");  // 1 MiB is a fine frame for a welcomed agent (it waits for the rest)
    std::string big;
    ccproto::putU32(big, ccproto::kMaxFrame + 1);
    EXPECT_NE(decode(big, cclimits::kAgent).second.find("bad frame length"), std::string::npos);
}

TEST(CcLimits, OversizedHeaderRefusedBeforeItIsBuffered) {
    std::string head;
    ccproto::putU32(head, 8u << 20);
    ccproto::putU32(head, (8u << 20) - 4);
    auto [f, e] = decode(head, cclimits::kAgent);
    EXPECT_TRUE(f.empty());
    EXPECT_NE(e.find("bad header length"), std::string::npos) << e;
    EXPECT_NE(e.find("allowed: 2 to 1048576"), std::string::npos) << e;
}

TEST(CcLimits, DeepNestingRefusedBeforeParsing) {
    std::string ok = R"({"type":"x","a":[[[[[[[1]]]]]]]})";  // depth 8
    EXPECT_EQ(decode(rawFrame(ok), cclimits::kAgent).second, "");
    std::string deep = R"({"type":"x","a":[[[[[[[[1]]]]]]]]})";  // depth 9
    EXPECT_NE(decode(rawFrame(deep), cclimits::kAgent).second.find("nests deeper than 8"),
              std::string::npos);
    // The attack: a whole frame of `[`, never closed.
    std::string nested(ccproto::kMaxFrame - 8, '[');
    EXPECT_FALSE(ccproto::jsonWithin(nested, ccproto::kMaxDepth, SIZE_MAX));
    ccproto::Decoder::Limits lax = cclimits::kAgent;
    lax.max_header = ccproto::kMaxFrame;
    EXPECT_NE(decode(rawFrame(nested), lax).second.find("nests deeper"), std::string::npos);
}

TEST(CcLimits, StringsDoNotCountAsNesting) {
    std::string s = R"({"type":"x","s":"[[[[[[[[[[{{{{{{{{{{ \" [[[[[[[[[[[ ,,,,:::: "})";
    EXPECT_TRUE(ccproto::jsonWithin(s, 2, 3));
    auto [f, e] = decode(rawFrame(s), cclimits::kHello);
    EXPECT_EQ(e, "");
    ASSERT_EQ(f.size(), 1u);
    // Closers that do not match what was opened are refused too.
    EXPECT_FALSE(ccproto::jsonWithin("]]][[[", 2, 10));
}

TEST(CcLimits, TooManyValuesRefused) {
    std::string many = R"({"type":"x","a":[)";
    for (int i = 0; i < 5000; ++i) many += "0,";
    many += "0]}";
    EXPECT_NE(decode(rawFrame(many), cclimits::kHello).second.find("too many values"),
              std::string::npos);
    EXPECT_EQ(decode(rawFrame(many), cclimits::kAgent).second, "");
}

TEST(CcLimits, BufferGivenBackAfterABigFrame) {
    ccproto::Decoder d;
    d.setLimits(cclimits::kAgent);
    std::string f = ccproto::encode({{"type", "file"}}, std::string(4u << 20, 'z'));
    std::string err;
    // Fed in pieces, as a socket delivers it.
    for (size_t off = 0; off < f.size(); off += 65536) {
        d.feed(f.data() + off, std::min<size_t>(65536, f.size() - off));
        while (auto fr = d.next(err)) EXPECT_EQ(fr->body.size(), 4u << 20);
    }
    EXPECT_EQ(err, "");
    EXPECT_FALSE(d.next(err));
    EXPECT_LT(d.capacity(), 1u << 20);
}

TEST(CcLimits, GuestTextEscapesControls) {
    EXPECT_EQ(guestText("web-1"), "web-1");
    EXPECT_EQ(guestText("a\x1b[31mred\nrow\r\t"), "a\\x1b[31mred\\x0arow\\x0d\\x09");
    EXPECT_EQ(guestText(std::string("nul\0x", 5)), "nul\\x00x");
    EXPECT_EQ(guestText("del\x7f"), "del\\x7f");
    // C1 controls (U+0085 NEL, U+009B CSI) as their code points.
    EXPECT_EQ(guestText("a\xc2\x85z\xc2\x9b"), "a\\x85z\\x9b");
    // UTF-8 is kept; bytes that are not UTF-8 are escaped one by one.
    EXPECT_EQ(guestText("caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x90\x91"),
              "caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x90\x91");
    EXPECT_EQ(guestText("\xff\xc3"), "\\xff\\xc3");
    EXPECT_EQ(guestText("\xc0\xaf"), "\\xc0\\xaf");           // overlong '/'
    EXPECT_EQ(guestText("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // a surrogate
    // Capped, never in the middle of a character or an escape.
    EXPECT_EQ(guestText(std::string(1000, 'a')).size(), cclimits::kMaxText);
    EXPECT_EQ(guestText("ab\x1b", 4), "ab");
    EXPECT_EQ(guestText("ab\xc3\xa9", 3), "ab");
}

TEST(CcLimits, PlainUuid) {
    EXPECT_TRUE(isUuid("3d1f2a9c-0000-4000-8000-00000000abcd"));
    EXPECT_TRUE(isUuid("3D1F2A9C-0000-4000-8000-00000000ABCD"));
    EXPECT_FALSE(isUuid(""));
    EXPECT_FALSE(isUuid("../../../../etc/passwd"));
    EXPECT_FALSE(isUuid("3d1f2a9c-0000-4000-8000-00000000abc/"));
    EXPECT_FALSE(isUuid("3d1f2a9c00000-4000-8000-00000000abcd"));
    EXPECT_FALSE(isUuid("3d1f2a9c-0000-4000-8000-00000000abcde"));
}

TEST(CcLimits, ByteSizes) {
    EXPECT_EQ(parseByteSize("1"), 1u);
    EXPECT_EQ(parseByteSize("4096"), 4096u);
    EXPECT_EQ(parseByteSize("512k"), 512u << 10);
    EXPECT_EQ(parseByteSize("100M"), 100u << 20);
    EXPECT_EQ(parseByteSize("1G"), 1ull << 30);
    EXPECT_EQ(parseByteSize("2gb"), 2ull << 30);
    EXPECT_EQ(parseByteSize("3T"), 3ull << 40);
    for (const char* bad :
         {"", "0", "-1", "1.5G", "G", "1X", "1 G", "99999999999999999999", "99999999999T"})
        EXPECT_FALSE(parseByteSize(bad)) << bad;
}

TEST(CcLimits, AddressesAndMacs) {
    EXPECT_EQ(canonicalAddress("10.0.0.1"), "10.0.0.1");
    EXPECT_EQ(canonicalAddress("2001:DB8:0:0::0001"), "2001:db8::1");
    EXPECT_EQ(canonicalAddress(std::string("10.0.0.1\0\x1b[2J", 9)), "");
    EXPECT_EQ(canonicalAddress("10.0.0.1\n"), "");
    EXPECT_EQ(canonicalAddress("host.example"), "");
    EXPECT_EQ(canonicalAddress(""), "");
    EXPECT_EQ(canonicalMac("00:1A:2b:3c:4d:5e"), "00:1a:2b:3c:4d:5e");
    EXPECT_EQ(canonicalMac("00-1a-2b-3c-4d-5e"), "00:1a:2b:3c:4d:5e");
    EXPECT_EQ(canonicalMac("00:1a:2b:3c:4d:5g"), "");
    EXPECT_EQ(canonicalMac("00:1a:2b:3c:4d:5e\n"), "");
    bool v6 = false;
    EXPECT_FALSE(usableAgentAddress(std::string("10.0.0.1\0junk", 13), v6));
}

TEST(CcLimits, LearnedAddressesAreCanonical) {
    Vm vm;
    NetConfig n;
    n.vlan = 5;
    n.mac = "00:1a:2b:3c:4d:5e";
    vm.config.networks.push_back(n);
    applyAgentAddresses(
        vm, {std::string("10.1.1.1\0\x1b", 10), "127.0.0.1", "10.2.2.2", "2001:DB8::0001"},
        {"garbage\x1b", "00:1A:2B:3C:4D:5E"});
    EXPECT_EQ(vm.config.networks[0].ip4, "10.2.2.2");
    EXPECT_EQ(vm.config.networks[0].ip6, "2001:db8::1");
}

}  // namespace
}  // namespace herd
