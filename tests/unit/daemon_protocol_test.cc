// Unit tests of the front end's pure parts: the control-socket wire format,
// flag parsing, the `-e` command line and completion glue.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "daemon/client.h"
#include "daemon/flags.h"
#include "daemon/lineedit.h"
#include "daemon/protocol.h"
#include "service/gostr.h"

namespace herd::daemon {
namespace {

std::vector<Incoming> decodeAll(std::string_view stream, size_t chunk = 0) {
    RequestDecoder dec;
    std::vector<Incoming> out;
    if (chunk == 0) {
        dec.feed(stream, out);
    } else {
        for (size_t i = 0; i < stream.size(); i += chunk) dec.feed(stream.substr(i, chunk), out);
    }
    dec.finish(out);
    return out;
}

TEST(RequestDecoder, SplitsValuesWithoutNewlines) {
    std::string s = R"({"Command":"echo a"}{"Command":"echo \"}{\" b"}  {"Suggest":"vm la"}
{"PlumbPipe":"p"})";
    for (size_t chunk : {0, 1, 2, 3, 7}) {
        auto items = decodeAll(s, chunk);
        ASSERT_EQ(items.size(), 4u) << chunk;
        EXPECT_EQ(items[0].request.command, "echo a");
        EXPECT_EQ(items[1].request.command, "echo \"}{\" b");
        EXPECT_EQ(items[2].request.suggest, "vm la");
        EXPECT_EQ(items[3].request.plumb_pipe, "p");
        for (const auto& it : items) EXPECT_EQ(it.kind, Incoming::Kind::request);
    }
}

TEST(RequestDecoder, MalformedValueKeepsStream) {
    auto items = decodeAll(R"({"Command": } [1] "s" 12 true {"Command":"ok"})");
    ASSERT_EQ(items.size(), 6u);
    EXPECT_EQ(items[0].kind, Incoming::Kind::error);
    EXPECT_NE(items[0].error.find("malformed request"), std::string::npos);
    EXPECT_EQ(items[1].error,
              "json: cannot unmarshal array into Go value of type miniclient.Request");
    EXPECT_EQ(items[2].error,
              "json: cannot unmarshal string into Go value of type miniclient.Request");
    EXPECT_EQ(items[3].error,
              "json: cannot unmarshal number into Go value of type miniclient.Request");
    EXPECT_EQ(items[4].error,
              "json: cannot unmarshal bool into Go value of type miniclient.Request");
    EXPECT_EQ(items[5].kind, Incoming::Kind::request);
    EXPECT_EQ(items[5].request.command, "ok");
}

TEST(RequestDecoder, NullIsAnEmptyRequest) {
    auto items = decodeAll("null");
    ASSERT_EQ(items.size(), 1u);
    EXPECT_EQ(items[0].kind, Incoming::Kind::request);
    EXPECT_TRUE(items[0].request.command.empty());
}

TEST(RequestDecoder, JunkIsFatal) {
    RequestDecoder dec;
    std::vector<Incoming> out;
    dec.feed(std::string_view("\x01junk {\"Command\":\"x\"}", 20), out);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].kind, Incoming::Kind::fatal);
    EXPECT_EQ(out[0].error, "invalid character '\\x01' looking for beginning of value");
    EXPECT_TRUE(dec.dead());
    dec.feed("{\"Command\":\"x\"}", out);
    EXPECT_EQ(out.size(), 1u);
}

TEST(RequestDecoder, UnfinishedValueAtEof) {
    auto items = decodeAll(R"({"Command":"echo)");
    ASSERT_EQ(items.size(), 1u);
    EXPECT_EQ(items[0].kind, Incoming::Kind::fatal);
    EXPECT_EQ(items[0].error, "unexpected end of JSON input");
}

TEST(RequestDecoder, TooLongLine) {
    std::string big = R"({"Command":")" + std::string(kMaxLine + 1, 'a') + R"("})";
    auto items = decodeAll(big + R"({"Command":"next"})", 4096);
    ASSERT_EQ(items.size(), 2u);
    EXPECT_EQ(items[0].kind, Incoming::Kind::error);
    EXPECT_EQ(items[0].error, kTooLong);
    EXPECT_EQ(items[1].request.command, "next");

    // Too big to buffer: rejected early, skipped to its end, stream in sync.
    std::string huge = R"({"Command":")" + std::string(kMaxValueBytes + 10, 'b') + R"("})";
    items = decodeAll(huge + R"({"Command":"after"})", 65536);
    ASSERT_EQ(items.size(), 2u);
    EXPECT_EQ(items[0].error, kTooLong);
    EXPECT_EQ(items[1].request.command, "after");
}

TEST(DecodeRequest, GoFieldMatching) {
    auto r = decodeRequest(R"({"COMMAND":"a","suggest":null,"Extra":[1,{"x":2}],"command":"b"})");
    ASSERT_TRUE(r.ok()) << r.error().text();
    EXPECT_EQ(r->command, "b");  // last one wins, case-insensitively
    EXPECT_EQ(r->suggest, "");
    auto bad = decodeRequest(R"({"Command":5})");
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().text(),
              "json: cannot unmarshal number into Go struct field Request.Command of type string");
}

TEST(DecodeRequest, InvalidUtf8BecomesReplacement) {
    auto r = decodeRequest("{\"Command\":\"a\xff\xc3\"}");
    ASSERT_TRUE(r.ok()) << r.error().text();
    EXPECT_EQ(r->command, "a\xef\xbf\xbd\xef\xbf\xbd");
}

TEST(Encode, ReplyBytes) {
    cli::Response a;
    a.host = "h1";
    a.response = "<x> & y";
    cli::Batch b{a};
    EXPECT_EQ(encodeReply(&b, "h1: <x> & y", true),
              "{\"Resp\":[{\"Host\":\"h1\",\"Response\":\"\\u003cx\\u003e \\u0026 y\",\"Header\":"
              "null,\"Tabular\":null,\"Error\":\"\",\"Data\":null}],\"Rendered\":\"h1: "
              "\\u003cx\\u003e \\u0026 y\",\"More\":true,\"Status\":false}\n");
    EXPECT_EQ(encodeReply(nullptr, "", false),
              "{\"Resp\":null,\"Rendered\":\"\",\"More\":false,\"Status\":false}\n");
    EXPECT_EQ(encodeErrorReply("h", "bad \"x\""),
              "{\"Resp\":[{\"Host\":\"h\",\"Response\":\"\",\"Header\":null,\"Tabular\":null,"
              "\"Error\":\"bad \\\"x\\\"\",\"Data\":null}],\"Rendered\":\"\",\"More\":false,"
              "\"Status\":false}\n");
}

// What encodeReply wrote when it built the reply as a JSON tree: it writes
// the text directly now and must stay byte-identical to this.
std::string treeReply(const cli::Batch* batch, std::string_view rendered, bool more, bool status) {
    nlohmann::ordered_json j = nlohmann::ordered_json::object();
    if (batch) {
        nlohmann::ordered_json resp = nlohmann::ordered_json::array();
        for (const auto& r : *batch) resp.push_back(cli::toJson(r));
        j["Resp"] = std::move(resp);
    } else {
        j["Resp"] = nullptr;
    }
    j["Rendered"] = std::string(rendered);
    j["More"] = more;
    j["Status"] = status;
    return goEscape(j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace)) +
           "\n";
}

TEST(Encode, DirectReplyEqualsTreeReply) {
    const std::vector<std::string> texts = {
        "",
        "plain",
        "q\"b\\s/",
        "ctl \b\f\n\r\t\x01\x1f\x7f end",
        "<a> & b",
        "883.637\xc2\xb5s",                            // µ
        "\xe2\x80\xa8 and \xe2\x80\xa9",               // U+2028, U+2029
        "\xe2\x82\xac \xf0\x9f\x90\x91 \xed\x9f\xbf",  // €, 🐑, U+D7FF
        "bad \xff\xfe",
        "lone \xc3",
        "overlong \xc0\xaf",
        "surrogate \xed\xa0\x80",
        "\xf4\x90\x80\x80 too big",
        "\xe0\x80\x80 overlong",
        std::string("nul\0x", 5),
        "lit \\u0008 \\u000c \\ufffd",  // backslashes that look like Go's escapes
    };
    for (const auto& t : texts) {
        cli::Response r;
        r.host = t;
        r.response = t;
        r.error = t;
        cli::Batch b{r};
        EXPECT_EQ(encodeReply(&b, t, false), treeReply(&b, t, false, false)) << t;
        cli::Response tab;
        tab.host = "h";
        tab.header = {"name", t};
        tab.tabular = {{"a", t}, {t, ""}};
        tab.data = nlohmann::json::array();
        tab.data.push_back({{"Name", t}, {"ID", 3}, {"Tags", {{t, t}}}, {"On", true}});
        tab.data.push_back({{"Neg", -5}, {"Big", 18446744073709551615ULL}, {"Null", nullptr}});
        cli::Batch tb{tab, r};
        EXPECT_EQ(encodeReply(&tb, t, true, true), treeReply(&tb, t, true, true)) << t;
        // Data given as Go's text (data_go) goes out as the tree would write it.
        cli::Batch one{tab};
        cli::Batch go{tab};
        go[0].data_go = cli::goJson(tab.data);
        go[0].data = nullptr;
        EXPECT_EQ(encodeReply(&go, t, false), treeReply(&one, t, false, false)) << t;
    }
    // Floats take the tree's way (Go's and nlohmann's texts differ).
    cli::Response f;
    f.data = {{"F", 0.1}, {"G", 1e21}, {"H", 3.0}};
    cli::Batch fb{f};
    EXPECT_EQ(encodeReply(&fb, "", false), treeReply(&fb, "", false, false));
    EXPECT_EQ(encodeReply(nullptr, "status", false, true),
              treeReply(nullptr, "status", false, true));
}

TEST(Encode, BinaryJunkNeverThrows) {
    cli::Response a;
    a.host = "h";
    a.response = std::string("\xff\xfe\x00\x01", 4);
    cli::Batch b{a};
    std::string out = encodeReply(&b, a.response, false);
    EXPECT_NE(out.find("\\u0000\\u0001"), std::string::npos);
    EXPECT_EQ(out.back(), '\n');
}

TEST(Encode, SuggestOmitsEmpty) {
    EXPECT_EQ(encodeSuggestReply({}),
              "{\"Resp\":null,\"Rendered\":\"\",\"More\":false,\"Status\":false}\n");
    EXPECT_EQ(encodeSuggestReply({"vm launch ", "vm log "}),
              "{\"Resp\":null,\"Rendered\":\"\",\"More\":false,\"Status\":false,\"Suggest\":"
              "[\"vm launch \",\"vm log \"]}\n");
}

TEST(Encode, RequestLikeGoClient) {
    Request r;
    r.command = "echo <b>";
    EXPECT_EQ(encodeRequest(r),
              "{\"Command\":\"echo \\u003cb\\u003e\",\"Suggest\":\"\",\"PlumbPipe\":\"\"}\n");
    auto back = decodeRequest(encodeRequest(r));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back->command, r.command);
}

TEST(Encode, GoEscapeLineSeparators) {
    EXPECT_EQ(goEscape("\"a\xe2\x80\xa8"
                       "b\xe2\x80\xa9"
                       "c\xe2\x82\xac\""),
              "\"a\\u2028b\\u2029c\xe2\x82\xac\"");
}

TEST(DecodeReply, Fields) {
    auto r = decodeReply(R"({"Resp":[{"Host":"a","Error":"e1"},{"Host":"b","Error":""}],)"
                         R"("Rendered":"x","More":true,"Status":false,"Suggest":["s "]})");
    ASSERT_TRUE(r.ok()) << r.error().text();
    EXPECT_EQ(r->rendered, "x");
    EXPECT_TRUE(r->more);
    ASSERT_EQ(r->resp.size(), 2u);
    EXPECT_EQ(errorLines(r->resp), "Error (a): e1");
    EXPECT_EQ(r->suggest, std::vector<std::string>{"s "});
    EXPECT_FALSE(decodeReply("{").ok());
}

TEST(Flags, GoSyntax) {
    auto f = parseFlags(
        {"--base", "/b", "-level=debug", "-nostdin", "-force=false", "-e", "vm", "-info"});
    ASSERT_TRUE(f.ok()) << f.error().text();
    EXPECT_EQ(f->base, "/b");
    EXPECT_EQ(f->level, "debug");
    EXPECT_TRUE(f->nostdin);
    EXPECT_FALSE(f->force);
    EXPECT_TRUE(f->e);
    EXPECT_EQ(f->args, (std::vector<std::string>{"vm", "-info"}));

    f = parseFlags({"-e", "--", "-x"});
    ASSERT_TRUE(f.ok());
    EXPECT_EQ(f->args, std::vector<std::string>{"-x"});
    EXPECT_EQ(parseFlags({}).value().base, "/tmp/herd");

    EXPECT_EQ(parseFlags({"-nope"}).error().text(), "flag provided but not defined: -nope");
    EXPECT_EQ(parseFlags({"-base"}).error().text(), "flag needs an argument: -base");
    EXPECT_EQ(parseFlags({"-e=yes"}).error().text(),
              "invalid boolean value \"yes\" for -e: parse error");
    EXPECT_FALSE(parseFlags({"-level", "loud"}).ok());
    EXPECT_FALSE(parseFlags({"-prefix", "TooLongPrefix"}).ok());
    EXPECT_FALSE(parseFlags({"-prefix", "a-b"}).ok());
    EXPECT_TRUE(parseFlags({"-prefix", "ab12"}).ok());
    EXPECT_TRUE(parseFlags({"-h"}).value().help);
}

TEST(ExecCommand, QuotingAndNamespace) {
    EXPECT_EQ(commandFromArgs({"vm info  "}, ""), "vm info  ");
    EXPECT_EQ(commandFromArgs({"echo", "a b", "c"}, ""), "echo \"a b\" c");
    EXPECT_EQ(commandFromArgs({"vm info"}, "foo"), "namespace \"foo\" vm info");
    EXPECT_EQ(go::quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
}

TEST(Completion, WordsFromWholeLines) {
    bool space = false;
    auto w = wordCompletions("vm la", 3, {"vm launch "}, space);
    EXPECT_EQ(w, std::vector<std::string>{"launch"});
    EXPECT_TRUE(space);
    w = wordCompletions("vm l", 3, {"vm launch ", "vm log "}, space);
    EXPECT_EQ(w, (std::vector<std::string>{"l", "launch", "log"}));
    w = wordCompletions("read /tm", 5, {"read /tmp/"}, space);
    EXPECT_EQ(w, std::vector<std::string>{"/tmp/"});
    EXPECT_FALSE(space);
    EXPECT_TRUE(wordCompletions("x", 0, {}, space).empty());
}

}  // namespace
}  // namespace herd::daemon
