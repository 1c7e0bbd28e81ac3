// Rendering (reference §2.4, §1.4). Expected texts are worked out from the
// reference and from Go's text/tabwriter, encoding/csv and encoding/json
// rules, byte for byte.
#include <gtest/gtest.h>

#include "cli/response.h"
#include "cli/tabwriter.h"

namespace herd::cli {
namespace {

using Rows = std::vector<std::vector<std::string>>;

Response table(std::string host, std::vector<std::string> header, Rows rows) {
    Response r;
    r.host = std::move(host);
    r.header = std::move(header);
    r.tabular = std::move(rows);
    return r;
}

Response simple(std::string host, std::string text) {
    Response r;
    r.host = std::move(host);
    r.response = std::move(text);
    return r;
}

Response failed(std::string host, std::string error) {
    Response r;
    r.host = std::move(host);
    r.error = std::move(error);
    return r;
}

Flags plain() {
    Flags f;
    f.annotate = false;
    return f;
}

Flags csv(bool annotate = false) {
    Flags f;
    f.annotate = annotate;
    f.mode = Mode::Csv;
    return f;
}

// --- tables -----------------------------------------------------------------

TEST(CliRender, ReferenceTableExample) {
    Batch b{table("h1", {"name", "state"}, {{"foo0", "BUILDING"}, {"foo1", "RUNNING"}})};
    EXPECT_EQ(render(b, plain()), "name | state\nfoo0 | BUILDING\nfoo1 | RUNNING");
}

TEST(CliRender, ShortCellsPadToFive) {
    Batch b{table("h1", {"name", "state"}, {{"foo", "RUNNING"}})};
    EXPECT_EQ(render(b, plain()), "name | state\nfoo  | RUNNING");
}

TEST(CliRender, AnnotateAddsHostColumn) {
    Batch b{table("h1", {"name", "state"}, {{"foo0", "BUILDING"}, {"foo1", "RUNNING"}})};
    EXPECT_EQ(render(b, Flags{}),
              "host | name | state\n"
              "h1   | foo0 | BUILDING\n"
              "h1   | foo1 | RUNNING");
}

TEST(CliRender, WideMiddleColumn) {
    Batch b{table("h1", {"id", "name", "state"}, {{"1", "a-very-long-name", "x"}})};
    // Column 1 is "| a-very-long-name" (18) + 1 = 19 wide.
    EXPECT_EQ(render(b, plain()), "id   | name" + std::string(13, ' ') +
                                      "| state\n"
                                      "1    | a-very-long-name | x");
}

TEST(CliRender, WidthsCountRunesNotBytes) {
    Batch b{table("h1", {"name", "x"}, {{"h\u00e9llo", "1"}})};
    EXPECT_EQ(render(b, plain()), "name  | x\nh\u00e9llo | 1");
}

TEST(CliRender, EmptyLastCell) {
    Batch b{table("h1", {"k", "v"}, {{"a", ""}, {"b", "x"}})};
    EXPECT_EQ(render(b, plain()), "k    | v\na    | \nb    | x");
    // On the last line the trailing blank is trimmed away.
    Batch c{table("h1", {"k", "v"}, {{"a", "x"}, {"b", ""}})};
    EXPECT_EQ(render(c, plain()), "k    | v\na    | x\nb    |");
}

TEST(CliRender, TabInsideCellSplitsItAsGoDoes) {
    Batch b{table("h1", {"k", "v"}, {{"a\tb", "c"}})};
    EXPECT_EQ(render(b, plain()), "k    | v\na    b    | c");
}

TEST(CliRender, SingleColumn) {
    Batch b{table("h1", {"name"}, {{"b"}, {"a"}})};
    EXPECT_EQ(render(b, plain()), "name\na\nb");
}

TEST(CliRender, HeadersOff) {
    Flags f = plain();
    f.headers = false;
    Batch b{table("h1", {"name", "state"}, {{"foo", "RUNNING"}})};
    EXPECT_EQ(render(b, f), "foo  | RUNNING");
}

TEST(CliRender, ZeroRowsPrintNothing) {
    EXPECT_EQ(render({table("h1", {"name", "state"}, {})}, plain()), "");
    EXPECT_EQ(render({table("h1", {"a"}, {}), table("h2", {"a"}, {})}, Flags{}), "");
}

TEST(CliRender, RowsOfAllResponsesAreGathered) {
    Batch b{table("h2", {"v"}, {{"x"}}), table("h1", {"v"}, {{"y"}})};
    EXPECT_EQ(render(b, Flags{}), "host | v\nh1   | y\nh2   | x");
    EXPECT_EQ(render(b, plain()), "v\nx\ny");
}

// --- sorting ----------------------------------------------------------------

TEST(CliRender, SortColumnByColumnAsMinicliTestSort) {
    // minicli's output_test sortData: the third column is the wanted order.
    Batch b{table("h", {"a", "b", "c"},
                  {{"b", "b", "2"},
                   {"a", "a", "0"},
                   {"d", "a", "4"},
                   {"a", "b", "1"},
                   {"e", "a", "5"},
                   {"c", "a", "3"}})};
    EXPECT_EQ(render(b, plain()),
              "a    | b  | c\n"
              "a    | a  | 0\n"
              "a    | b  | 1\n"
              "b    | b  | 2\n"
              "c    | a  | 3\n"
              "d    | a  | 4\n"
              "e    | a  | 5");
}

TEST(CliRender, SortNumericWhenBothIntegers) {
    Batch b{table("h", {"id"}, {{"10"}, {"9"}, {"100"}, {"-1"}, {"+3"}})};
    EXPECT_EQ(render(b, plain()), "id\n-1\n+3\n9\n10\n100");
    Batch c{table("h", {"id"}, {{"9a"}, {"10"}})};
    EXPECT_EQ(render(c, plain()), "id\n10\n9a");
}

TEST(CliRender, SortOffKeepsOrder) {
    Flags f = plain();
    f.sort = false;
    Batch b{table("h", {"id"}, {{"b"}, {"a"}})};
    EXPECT_EQ(render(b, f), "id\nb\na");
}

// --- CSV --------------------------------------------------------------------

TEST(CliRender, CsvQuotingAsEncodingCsv) {
    Batch b{table("h1", {"name", "note"},
                  {{"a", "x,y"},
                   {"b", "say \"hi\""},
                   {"c", " lead"},
                   {"d", ""},
                   {"e", "l1\nl2"},
                   {"f", "\\."},
                   {"g", "\ttab"},
                   {"h", "plain text"}})};
    EXPECT_EQ(render(b, csv()),
              "name,note\n"
              "a,\"x,y\"\n"
              "b,\"say \"\"hi\"\"\"\n"
              "c,\" lead\"\n"
              "d,\n"
              "e,\"l1\nl2\"\n"
              "f,\"\\.\"\n"
              "g,\"\ttab\"\n"
              "h,plain text");
}

TEST(CliRender, CsvAnnotatedAndHeaderless) {
    Batch b{table("h1", {"name"}, {{"a"}})};
    EXPECT_EQ(render(b, csv(true)), "host,name\nh1,a");
    Flags f = csv();
    f.headers = false;
    EXPECT_EQ(render(b, f), "a");
}

// --- validation -------------------------------------------------------------

TEST(CliRender, HeaderMismatch) {
    Batch b{table("h1", {"a"}, {{"1"}}), table("h2", {"b"}, {{"2"}})};
    EXPECT_EQ(render(b, plain()), "header mismatch, hosts: h1, h2");
    // A response without a header next to a table is a mismatch too.
    Batch c{table("h1", {"a"}, {{"1"}}), simple("h2", "x")};
    EXPECT_EQ(render(c, plain()), "header mismatch, hosts: h1, h2");
}

TEST(CliRender, ErrorResponsesAreIgnoredForHeaders) {
    Response e = failed("h0", "boom");
    e.header = {"other"};
    Batch b{e, table("h1", {"a"}, {{"1"}})};
    EXPECT_EQ(render(b, plain()), "a\n1");
}

TEST(CliRender, TabularWidthMismatch) {
    Batch b{table("h1", {"a", "b"}, {{"1", "2"}, {"3"}})};
    EXPECT_EQ(render(b, plain()), "tabular width mismatch, host: h1, row: 1");
}

TEST(CliRender, MixedSimpleAndTabular) {
    Batch b{table("h1", {}, {{"1"}}), simple("h2", "x")};
    EXPECT_EQ(render(b, plain()), "responses mix simple and tabular data");
}

// --- simple responses -------------------------------------------------------

TEST(CliRender, SimpleResponses) {
    EXPECT_EQ(render({simple("h1", "hello")}, plain()), "hello");
    EXPECT_EQ(render({simple("h1", "hello")}, Flags{}), "h1: hello");
    EXPECT_EQ(render({simple("h1", "  padded  \n")}, plain()), "padded");
    EXPECT_EQ(render({simple("h1", "")}, Flags{}), "");
    EXPECT_EQ(render({}, Flags{}), "");
}

TEST(CliRender, ErrorsAreNotRendered) {
    EXPECT_EQ(render({failed("h1", "boom")}, Flags{}), "");
    EXPECT_EQ(render({simple("h1", "ok"), failed("h2", "boom")}, Flags{}), "h1: ok");
}

TEST(CliRender, CompressFoldsIdenticalTexts) {
    Batch b{simple("h1", "same"), simple("h2", "same"), simple("h3", "other")};
    // Groups sorted by host text: "h3" < "h[1-2]".
    EXPECT_EQ(render(b, Flags{}), "h3: other\nh[1-2]: same");
    EXPECT_EQ(render(b, plain()), "other\nsame");
    Flags f;
    f.compress = false;
    EXPECT_EQ(render(b, f), "h1: same\nh2: same\nh3: other");
}

TEST(CliRender, CompressHosts) {
    std::vector<std::string> hosts;
    for (int i = 0; i < 10; ++i) {
        hosts.push_back("node" + std::to_string(i));
        hosts.push_back("n" + std::to_string(i));
        hosts.push_back("foo" + std::to_string(i));
    }
    EXPECT_EQ(compressHosts(hosts), "foo[0-9],n[0-9],node[0-9]");

    hosts.clear();
    for (int i = 0; i < 10; ++i) {
        if (i != 5) hosts.push_back("n" + std::to_string(i));
        if (i != 9) hosts.push_back("node" + std::to_string(i));
    }
    EXPECT_EQ(compressHosts(hosts), "n[0-4,6-9],node[0-8]");

    EXPECT_EQ(compressHosts({"a", "node1", "node2"}), "a,node[1-2]");
    EXPECT_EQ(compressHosts({"node1"}), "node1");
    EXPECT_EQ(compressHosts({"kn44", "kn45", "kn1", "kn2", "kn3", "kn4", "kn5", "kn20"}),
              "kn[1-5,20,44-45]");
    EXPECT_EQ(compressHosts({"foo1.bar", "foo2.bar"}), "foo[1-2].bar");
    // minimega loses n1 here; herd keeps every host.
    EXPECT_EQ(compressHosts({"n1", "n12"}), "n[1,12]");
}

// --- JSON -------------------------------------------------------------------

TEST(CliRender, JsonModeGoFieldOrderAndNulls) {
    Flags f;
    f.mode = Mode::Json;
    Batch b{table("h1", {"name"}, {{"foo"}})};
    EXPECT_EQ(render(b, f), R"([{"Host":"h1","Response":"","Header":["name"],"Tabular":[["foo"]],)"
                            R"("Error":"","Data":null}])");
    Batch c{simple("h1", "hi"), failed("h2", "boom")};
    EXPECT_EQ(render(c, f),
              R"([{"Host":"h1","Response":"hi","Header":null,"Tabular":null,"Error":"",)"
              R"("Data":null},{"Host":"h2","Response":"","Header":null,"Tabular":null,)"
              R"("Error":"boom","Data":null}])");
    EXPECT_EQ(render({}, f), "");
}

TEST(CliRender, JsonEscapesAsGo) {
    Flags f;
    f.mode = Mode::Json;
    Response r = simple("h", "<a&b>\"\\\n\t\x01\x7f\u2028\xff\u00e9 ");
    EXPECT_EQ(render({r}, f), R"([{"Host":"h","Response":"\u003ca\u0026b\u003e\"\\\n\t\u0001)"
                              "\x7f"
                              R"(\u2028\ufffd)"
                              "\u00e9 "
                              R"(","Header":null,"Tabular":null,"Error":"","Data":null}])");
}

TEST(CliRender, JsonData) {
    Response r = simple("h", "");
    r.data = nlohmann::json::parse(R"({"b":1,"a":[true,1.5,null,"x"],"c":{"z":-2}})");
    EXPECT_EQ(goJson(toJson(r)),
              R"({"Host":"h","Response":"","Header":null,"Tabular":null,"Error":"",)"
              R"("Data":{"a":[true,1.5,null,"x"],"b":1,"c":{"z":-2}}})");
    EXPECT_EQ(goJson(nlohmann::json(1e-7)), "1e-7");
    EXPECT_EQ(goJson(nlohmann::json(1e21)), "1e+21");
    EXPECT_EQ(goJson(nlohmann::json(100.0)), "100");
    EXPECT_EQ(goJson(nlohmann::json(0.000001)), "0.000001");
}

// --- the tabwriter itself -----------------------------------------------------

TEST(CliTabwriter, TabPaddingAsHelpUsesIt) {
    TabwriterOptions o{.minwidth = 0, .tabwidth = 8, .padding = 0, .padchar = '\t'};
    // Cells of width 16 fill their column exactly: no tab follows them.
    EXPECT_EQ(tabwrite("0123456789abcdef\tx\nab\ty\n", o), "0123456789abcdefx\nab\t\ty\n");
}

TEST(CliTabwriter, LineWithoutTabsEndsBlock) {
    TabwriterOptions o{.minwidth = 0, .tabwidth = 0, .padding = 1, .padchar = ' '};
    EXPECT_EQ(tabwrite("a\tb\nlonger\tc\nbreak\nxy\tz\n", o), "a      b\nlonger c\nbreak\nxy z\n");
    // Text without a final newline is written as is.
    EXPECT_EQ(tabwrite("a\tb\nc", o), "a b\nc");
}

}  // namespace
}  // namespace herd::cli
