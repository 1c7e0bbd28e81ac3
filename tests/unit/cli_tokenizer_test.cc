// Tokenizer (reference §2.1). Cases follow minicli's input lexer and its
// TestQuotes / TestHistoryComments / TestWhitespace tables.
#include <gtest/gtest.h>

#include "cli/tokenizer.h"

namespace herd::cli {
namespace {

std::vector<std::string> words(std::string_view line) {
    auto r = tokenize(line);
    EXPECT_TRUE(r.ok()) << line << ": " << (r.ok() ? "" : r.error().text());
    std::vector<std::string> out;
    if (r.ok()) {
        for (const auto& t : r->tokens) out.push_back(t.value);
    }
    return out;
}

std::string errorOf(std::string_view line) {
    auto r = tokenize(line);
    EXPECT_FALSE(r.ok()) << line;
    return r.ok() ? std::string() : r.error().text();
}

using W = std::vector<std::string>;

TEST(CliTokenizer, SplitsOnWhitespace) {
    EXPECT_EQ(words("vm info"), (W{"vm", "info"}));
    EXPECT_EQ(words("  vm \t info  "), (W{"vm", "info"}));
    EXPECT_EQ(words(""), W{});
    EXPECT_EQ(words("   "), W{});
}

TEST(CliTokenizer, UnicodeWhitespaceSeparates) {
    // U+00A0 NO-BREAK SPACE, U+3000 IDEOGRAPHIC SPACE, U+2003 EM SPACE, U+0085 NEL
    EXPECT_EQ(words("a\u00a0b\u3000c\u2003d\u0085e"), (W{"a", "b", "c", "d", "e"}));
    // U+200B ZERO WIDTH SPACE is not white space for Go.
    EXPECT_EQ(words("a\u200bb"), (W{"a\u200bb"}));
}

TEST(CliTokenizer, QuotesFromMinicliTestQuotes) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {R"(foo)", R"(foo)"},
        {R"("foo")", R"(foo)"},
        {R"("foo bar")", R"(foo bar)"},
        {R"("\"foo bar\"")", R"("foo bar")"},
        {R"("\"foo's bar\"")", R"("foo's bar")"},
        {R"('foo')", R"(foo)"},
        {R"('foo bar')", R"(foo bar)"},
        {R"('"foo bar"')", R"("foo bar")"},
        {R"('"foo\'s bar"')", R"("foo's bar")"},
        {R"("foo \"bar\"")", R"(foo "bar")"},
        {R"("")", R"()"},
    };
    for (const auto& [in, want] : cases) EXPECT_EQ(words(in), W{want}) << in;
}

TEST(CliTokenizer, EmptyQuotesYieldEmptyTokens) {
    EXPECT_EQ(words(R"(.env foo "")"), (W{".env", "foo", ""}));
    EXPECT_EQ(words(R"("" '')"), (W{"", ""}));
    // Quotes next to text only group; they do not make an extra token.
    EXPECT_EQ(words(R"(a"")"), (W{"a"}));
}

TEST(CliTokenizer, QuotesJoinAdjacentText) {
    EXPECT_EQ(words(R"(a"b c"d e)"), (W{"ab cd", "e"}));
    EXPECT_EQ(words(R"(x='1 2' y)"), (W{"x=1 2", "y"}));
}

TEST(CliTokenizer, RecordsQuoteCharacter) {
    auto r = tokenize(R"(a "b" 'c')");
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->tokens.size(), 3u);
    EXPECT_EQ(r->tokens[0].quote, 0);
    EXPECT_EQ(r->tokens[1].quote, '"');
    EXPECT_EQ(r->tokens[2].quote, '\'');
}

TEST(CliTokenizer, Escapes) {
    EXPECT_EQ(words(R"(a\nb)"), (W{"a\nb"}));
    EXPECT_EQ(words(R"("a\tb\r")"), (W{"a\tb\r"}));
    EXPECT_EQ(words(R"(\\ \" \' \#)"), (W{"\\", "\"", "'", "#"}));
    // An escaped quote does not open a quoted string.
    EXPECT_EQ(words(R"(\"a b)"), (W{"\"a", "b"}));
}

TEST(CliTokenizer, EscapeErrors) {
    EXPECT_EQ(errorOf(R"(echo \x)"), "unexpected escaped character: x");
    EXPECT_EQ(errorOf(R"("\a")"), "unexpected escaped character: a");
    EXPECT_EQ(errorOf("echo \\\u00e9"), "unexpected escaped character: \u00e9");
    EXPECT_EQ(errorOf("echo foo\\"), "expected escape character");
    EXPECT_EQ(errorOf("echo \"foo\\"), "expected escape character");
}

TEST(CliTokenizer, MissingTerminal) {
    EXPECT_EQ(errorOf(R"(echo "foo)"), "missing terminal \"");
    EXPECT_EQ(errorOf(R"(echo 'foo)"), "missing terminal '");
    EXPECT_EQ(errorOf(R"(echo 'foo")"), "missing terminal '");
}

TEST(CliTokenizer, CommentsEndTheLine) {
    for (const char* in : {"foobar # test", "foobar #test", "foobar#test", "foobar# test"}) {
        EXPECT_EQ(words(in), W{"foobar"}) << in;
    }
    EXPECT_EQ(words(R"(echo "a # b" # c)"), (W{"echo", "a # b"}));
    EXPECT_EQ(words(R"(echo a\#b)"), (W{"echo", "a#b"}));
    // A comment hides an unterminated quote.
    EXPECT_EQ(words(R"(echo # "x)"), W{"echo"});
}

TEST(CliTokenizer, CommentOnlyLines) {
    for (const char* in : {"# test", " # test", "\t# test", "\t# test\t", "#"}) {
        auto r = tokenize(in);
        ASSERT_TRUE(r.ok()) << in;
        EXPECT_TRUE(r->comment_only) << in;
        EXPECT_TRUE(r->tokens.empty()) << in;
    }
    auto r = tokenize("test # x");
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->comment_only);
}

TEST(CliTokenizer, InvalidUtf8BecomesReplacementRune) {
    EXPECT_EQ(words("a\xff"
                    "b c"),
              (W{"a\xef\xbf\xbd"
                 "b",
                 "c"}));
}

TEST(CliTokenizer, JoinTokensRoundTrips) {
    const std::vector<std::string> lines = {
        R"(vm config tag "foo bar" baz)", R"(echo "" x)",
        R"(echo "a\"b" 'c d' e\#f)",      R"(echo "tab\there" "line\nbreak" back\\slash)",
        "echo \u3000wide\u3000",
    };
    for (const auto& l : lines) {
        auto a = tokenize(l);
        ASSERT_TRUE(a.ok()) << l;
        const std::string joined = joinTokens(a->tokens);
        auto b = tokenize(joined);
        ASSERT_TRUE(b.ok()) << joined;
        ASSERT_EQ(a->tokens.size(), b->tokens.size()) << joined;
        for (size_t i = 0; i < a->tokens.size(); ++i) {
            EXPECT_EQ(a->tokens[i].value, b->tokens[i].value) << joined;
        }
    }
    auto t = tokenize(R"(vm info "a b")");
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(joinTokens(t->tokens), R"(vm info "a b")");
}

TEST(CliTokenizer, QuoteArg) {
    EXPECT_EQ(quoteArg("vm"), "vm");
    EXPECT_EQ(quoteArg("a b"), R"("a b")");
    EXPECT_EQ(quoteArg(""), R"("")");
    EXPECT_EQ(quoteArg(R"(say "hi" now)"), R"("say \"hi\" now")");
    EXPECT_EQ(quoteArg("x=1"), "x=1");
}

}  // namespace
}  // namespace herd::cli
