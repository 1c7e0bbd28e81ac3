// Patterns, matching, suggestions and help (reference §2.2, §2.3, §2.7,
// §1.4). Pattern and input tables come from minicli's minicli_test.go.
#include <gtest/gtest.h>

#include "cli/table.h"

namespace herd::cli {
namespace {

Handler handler(std::vector<std::string> patterns, std::string short_help = "",
                std::string long_help = "") {
    Handler h;
    h.patterns = std::move(patterns);
    h.help_short = std::move(short_help);
    h.help_long = std::move(long_help);
    return h;
}

void addAll(CommandTable& t, const std::vector<std::string>& patterns) {
    for (const auto& p : patterns) {
        auto r = t.add(handler({p}, p));
        ASSERT_TRUE(r.ok()) << p << ": " << r.error().text();
    }
}

Command mustCompile(const CommandTable& t, std::string_view line) {
    auto c = t.compile(line);
    EXPECT_TRUE(c.ok()) << line << ": " << (c.ok() ? "" : c.error().text());
    return c.ok() ? *c : Command{};
}

std::string compileError(const CommandTable& t, std::string_view line) {
    auto c = t.compile(line);
    EXPECT_FALSE(c.ok()) << line << " matched " << (c.ok() ? c->pattern : "");
    return c.ok() ? std::string() : c.error().text();
}

// --- patterns ---------------------------------------------------------------

TEST(CliPattern, ItemKinds) {
    auto p = parsePattern("vm launch <kvm,container> <name free text> [n]");
    ASSERT_TRUE(p.ok());
    ASSERT_EQ(p->size(), 5u);
    EXPECT_EQ((*p)[0].kind, ItemKind::Literal);
    EXPECT_EQ((*p)[1].key, "launch");
    EXPECT_EQ((*p)[2].kind, ItemKind::Choice);
    EXPECT_EQ((*p)[2].options, (std::vector<std::string>{"kvm", "container"}));
    EXPECT_EQ((*p)[3].kind, ItemKind::String);
    EXPECT_EQ((*p)[3].key, "name");
    EXPECT_EQ((*p)[3].text, "name free text");
    EXPECT_TRUE((*p)[4].optional);

    auto l = parsePattern("mv <dest> <src files>...");
    ASSERT_TRUE(l.ok());
    EXPECT_EQ((*l)[2].kind, ItemKind::List);
    EXPECT_EQ((*l)[2].key, "src");

    auto c = parsePattern(".filter <filter> (command)");
    ASSERT_TRUE(c.ok());
    EXPECT_EQ((*c)[2].kind, ItemKind::Command);
    EXPECT_EQ((*c)[2].key, "command");
}

TEST(CliPattern, SingleOptionChoice) {
    auto p = parsePattern("vm config <net,> [value]");
    ASSERT_TRUE(p.ok());
    EXPECT_EQ((*p)[2].kind, ItemKind::Choice);
    EXPECT_EQ((*p)[2].options, std::vector<std::string>{"net"});
    EXPECT_EQ((*p)[2].text, "net,");
}

TEST(CliPattern, InvalidPatternsFromMinicli) {
    const char* invalid[] = {
        "ls (foo",
        "ls [foo",
        "ls <foo",  // unterminated
        "ls (foo <bar>)",
        "ls [foo (bar)]",
        "ls <foo [bar]>",  // nesting
        "ls [foo] [bar]",
        "ls [foo,bar] [car]",  // optional not last
        "ls [foo].",
        "ls [foo]..",
        "ls [foo]....",  // bad ellipsis
        "ls [foo]bar",
        "ls <foo>bar",
        "ls (foo)bar",  // trailing chars
        "ls [foo]... <bar>",
        "ls <foo>... <bar>",
        "ls [foo]... <bar>...",  // list not last
        "ls <foo>... <bar>...",
        "ls (foo) bar",  // command not last
        "ls <foo, bar>",
        "ls <foo,bar baz,car>",  // spaces in choices
        "ls \"foo\"",
        "ls <foo bar \"\">",
        "ls [foo 'bar']",
        "ls (foo \"roar\")",  // quotes
        "",
        "ls [foo bar] baz",  // herd: empty; optional-with-comment not last
    };
    for (const char* p : invalid) EXPECT_FALSE(parsePattern(p).ok()) << p;
}

TEST(CliPattern, PatternStringForHelp) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"vm info", "vm info"},
        {".annotate <true,false> (command)", ".annotate <true,false> (command)"},
        {"vm config <net,> [value]", "vm config net [value]"},
        {"foo [a,]", "foo [a,]"},
        {"mv <dest> <src files>...", "mv <dest> <src files>..."},
        {"ls [files]...", "ls [files]..."},
        {".columns <columns as csv> (command)", ".columns <columns as csv> (command)"},
        {"foo [bar,zap]", "foo [bar,zap]"},
    };
    for (const auto& [in, want] : cases) {
        auto p = parsePattern(in);
        ASSERT_TRUE(p.ok()) << in;
        EXPECT_EQ(patternString(*p), want);
    }
}

// --- matching ---------------------------------------------------------------

class CliMatch : public ::testing::Test {
  protected:
    void SetUp() override {
        addAll(table, {"ls [files]...", "mv <dest> <src>...", "pwd", "vm info",
                       "vm info search <terms>", "cd [dir]", "ping <host>", "ip <addr,link>",
                       "ip <addr,link> <command>...", "foo [bar,zap]", "test (foo)", "foobar"});
    }
    CommandTable table;
};

TEST_F(CliMatch, ValidInputsFromMinicli) {
    const char* inputs[] = {"ls",
                            "ls a",
                            "ls a b",
                            "ls a \"b c\" d",
                            "mv a b",
                            "mv a b c",
                            "mv a \"b c\" d",
                            "pwd",
                            "vm info",
                            "vm info search foo",
                            "cd",
                            "cd a",
                            "ping minimega.org",
                            "ip addr",
                            "ip link",
                            "ip addr add foo",
                            "foo",
                            "foo bar",
                            "foo zap",
                            "test cd",
                            "test ping minimega.org",
                            "test foo bar",
                            "foobar # test",
                            "foobar #test",
                            "foobar#test",
                            "foobar# test"};
    for (const char* in : inputs) EXPECT_TRUE(table.compile(in).ok()) << in;
}

TEST_F(CliMatch, Arguments) {
    Command c = mustCompile(table, "mv a \"b c\" d");
    EXPECT_EQ(c.pattern, "mv <dest> <src>...");
    EXPECT_EQ(c.str("dest"), "a");
    EXPECT_EQ(c.list("src"), (std::vector<std::string>{"b c", "d"}));

    c = mustCompile(table, "ls");
    EXPECT_EQ(c.pattern, "ls [files]...");
    EXPECT_FALSE(c.has("files"));

    c = mustCompile(table, "cd /tmp");
    EXPECT_EQ(c.str("dir"), "/tmp");

    c = mustCompile(table, "ip addr add foo");
    EXPECT_TRUE(c.flag("addr"));
    EXPECT_FALSE(c.flag("link"));
    EXPECT_EQ(c.list("command"), (std::vector<std::string>{"add", "foo"}));
}

TEST_F(CliMatch, OriginalIsTrimmedLine) {
    Command c = mustCompile(table, "  vm   info \t");
    EXPECT_EQ(c.original, "vm   info");
    EXPECT_EQ(c.pattern, "vm info");
    EXPECT_NE(c.handler, nullptr);
}

TEST_F(CliMatch, PrefixesOfLiteralsAndChoices) {
    EXPECT_EQ(mustCompile(table, "v i").pattern, "vm info");
    EXPECT_EQ(mustCompile(table, "vm i s x").pattern, "vm info search <terms>");
    Command c = mustCompile(table, "ip l");
    EXPECT_TRUE(c.flag("link"));
    // `foo` typed in full beats the abbreviation of `foobar`.
    EXPECT_EQ(mustCompile(table, "foo").pattern, "foo [bar,zap]");
    EXPECT_EQ(mustCompile(table, "foob").pattern, "foobar");
}

TEST_F(CliMatch, ExtraTokensDoNotMatch) {
    EXPECT_EQ(compileError(table, "pwd x"), "invalid command: `pwd x`");
    EXPECT_EQ(compileError(table, "  vm   info x y "), "invalid command: `vm   info x y`");
    EXPECT_EQ(compileError(table, "ping"), "invalid command: `ping`");
}

TEST_F(CliMatch, BlankAndCommentLines) {
    auto blank = table.compile("   ");
    ASSERT_TRUE(blank.ok());
    EXPECT_TRUE(blank->empty());

    auto comment = table.compile("\t# test\t");
    ASSERT_TRUE(comment.ok());
    EXPECT_TRUE(comment->comment);
    EXPECT_FALSE(comment->empty());
    EXPECT_EQ(comment->original, "# test");
    EXPECT_EQ(comment->handler, nullptr);
}

TEST_F(CliMatch, TokenizerErrorsPassThrough) {
    auto c = table.compile("cd \"foo");
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().text(), "missing terminal \"");
}

TEST_F(CliMatch, NestedCommand) {
    Command c = mustCompile(table, "test mv a \"b c\"");
    EXPECT_EQ(c.pattern, "test (foo)");
    ASSERT_NE(c.sub, nullptr);
    EXPECT_EQ(c.sub->pattern, "mv <dest> <src>...");
    EXPECT_EQ(c.sub->list("src"), std::vector<std::string>{"b c"});
    EXPECT_EQ(c.sub->original, "mv a \"b c\"");
    EXPECT_EQ(compileError(table, "test nosuch"), "invalid command: `test nosuch`");
    EXPECT_EQ(compileError(table, "test"), "invalid command: `test`");

    Command deep = mustCompile(table, "test test foo z");
    ASSERT_NE(deep.sub, nullptr);
    ASSERT_NE(deep.sub->sub, nullptr);
    EXPECT_TRUE(deep.sub->sub->flag("zap"));
}

TEST_F(CliMatch, SetRecordReachesNestedCommands) {
    Command c = mustCompile(table, "test test pwd");
    c.setRecord(false);
    EXPECT_FALSE(c.record);
    EXPECT_FALSE(c.sub->record);
    EXPECT_FALSE(c.sub->sub->record);
}

// A word that abbreviates several commands taking a command restarts the match
// from the root once per choice; without memoising (node, token) this line
// needs about 3^60 steps and the test never ends (the fuzzer found it).
TEST(CliMatchComplexity, ManyAbbreviationsOfNestingCommandsEndQuickly) {
    CommandTable t;
    addAll(t, {".alpha <a> (command)", ".beta (command)", ".gamma <b> <c> (command)", "pwd"});
    std::string line;
    for (int i = 0; i < 60; ++i) line += ". ";
    line += "nosuch";
    EXPECT_EQ(compileError(t, line).rfind("invalid command", 0), 0u);
    Command c = mustCompile(t, ".beta .gamma x y .alpha z pwd");
    ASSERT_NE(c.sub, nullptr);
    ASSERT_NE(c.sub->sub, nullptr);
    ASSERT_NE(c.sub->sub->sub, nullptr);
    EXPECT_EQ(c.sub->sub->sub->pattern, "pwd");

    // Suggestions walk the same nesting; the last word's completions remain.
    const std::string prefix = line.substr(0, line.size() - 6);
    EXPECT_EQ(t.suggest(prefix + "pw", nullptr), std::vector<std::string>{prefix + "pwd "});
}

TEST(CliMatchAmbiguity, AbbreviationMatchingSeveralIsRejected) {
    CommandTable t;
    addAll(t, {"vm start <target>", "vm stop <target>", "vm kill <target>"});
    EXPECT_EQ(compileError(t, "vm st foo"), "invalid command: `vm st foo`");
    EXPECT_EQ(mustCompile(t, "vm sta foo").pattern, "vm start <target>");
    EXPECT_EQ(mustCompile(t, "vm k foo").str("target"), "foo");
}

TEST(CliMatchAmbiguity, ChoiceCollisionAndExactOption) {
    CommandTable t;
    addAll(t, {"mode <start,stop>", "size <a,ab>"});
    EXPECT_EQ(compileError(t, "mode st"), "invalid command: `mode st`");
    EXPECT_TRUE(mustCompile(t, "mode sto").flag("stop"));
    // One option typed in full wins over the one it abbreviates.
    Command c = mustCompile(t, "size a");
    EXPECT_TRUE(c.flag("a"));
    EXPECT_FALSE(c.flag("ab"));
}

TEST(CliMatchAmbiguity, SingleOptionChoiceActsAsLiteral) {
    CommandTable t;
    addAll(t, {"vm config <net,> [value]...", "vm config <memory,> [value]"});
    Command c = mustCompile(t, "vm conf mem 512");
    EXPECT_TRUE(c.flag("memory"));
    EXPECT_EQ(c.str("value"), "512");
    c = mustCompile(t, "vm config net 100 101");
    EXPECT_TRUE(c.flag("net"));
    EXPECT_EQ(c.list("value"), (std::vector<std::string>{"100", "101"}));
}

TEST(CliTable, ConflictingPatternsAreRejected) {
    CommandTable t;
    ASSERT_TRUE(t.add(handler({"vm info"})).ok());
    EXPECT_FALSE(t.add(handler({"vm info"})).ok());
    EXPECT_FALSE(t.add(handler({"foo [x]", "foo"})).ok());
    EXPECT_FALSE(t.add(handler({"bad <pattern"})).ok());
    // The table is unchanged by the failures.
    EXPECT_EQ(t.handlers().size(), 1u);
    EXPECT_TRUE(t.compile("vm info").ok());
    EXPECT_FALSE(t.compile("foo").ok());
    EXPECT_TRUE(t.add(handler({"foo"})).ok());
}

TEST(CliTable, EnvPatternsShareAPrefix) {
    CommandTable t;
    ASSERT_TRUE(t.add(handler({".env [name]", ".env <name> <value>"})).ok());
    EXPECT_FALSE(mustCompile(t, ".env").has("name"));
    EXPECT_EQ(mustCompile(t, ".env FOO").str("name"), "FOO");
    Command c = mustCompile(t, ".env FOO \"\"");
    EXPECT_EQ(c.pattern, ".env <name> <value>");
    EXPECT_TRUE(c.strings.count("value"));
    EXPECT_EQ(c.str("value"), "");
}

// --- suggestions ------------------------------------------------------------

class CliSuggest : public ::testing::Test {
  protected:
    void SetUp() override {
        addAll(table,
               {"vm info", "vm launch <kvm,container> <name>", "vm kill <target>", "version"});
        ASSERT_TRUE(
            table.add(handler({".annotate [true,false]", ".annotate <true,false> (command)"}))
                .ok());
    }
    using L = std::vector<std::string>;
    CommandTable table;
};

TEST_F(CliSuggest, FirstWord) {
    EXPECT_EQ(table.suggest("v", nullptr), (L{"version ", "vm "}));
    EXPECT_EQ(table.suggest("vm", nullptr), (L{"vm "}));
}

TEST_F(CliSuggest, NextWord) {
    EXPECT_EQ(table.suggest("vm ", nullptr), (L{"vm info ", "vm kill ", "vm launch "}));
    EXPECT_EQ(table.suggest("vm l", nullptr), (L{"vm launch "}));
}

TEST_F(CliSuggest, Choices) {
    EXPECT_EQ(table.suggest("vm launch ", nullptr), (L{"vm launch container ", "vm launch kvm "}));
    EXPECT_EQ(table.suggest("vm launch c", nullptr), (L{"vm launch container "}));
}

TEST_F(CliSuggest, NothingAfterACompletePattern) {
    EXPECT_EQ(table.suggest("vm info ", nullptr), L{});
    EXPECT_EQ(table.suggest("vm launch kvm foo ", nullptr), L{});
    EXPECT_EQ(table.suggest("vm \"unterminated", nullptr), L{});
}

TEST_F(CliSuggest, NestedCommands) {
    EXPECT_EQ(table.suggest(".annotate true v", nullptr),
              (L{".annotate true version ", ".annotate true vm "}));
    EXPECT_EQ(table.suggest(".annotate ", nullptr), (L{".annotate false ", ".annotate true "}));
}

TEST_F(CliSuggest, HandlerSuggestFunction) {
    Handler h = handler({"vm start <target>"});
    std::vector<std::string> seen;
    h.suggest = [&seen](CommandContext&, const std::string& key, const std::string& typed) {
        seen = {key, typed};
        return std::vector<std::string>{"foo1", "foo2", "bar"};
    };
    ASSERT_TRUE(table.add(std::move(h)).ok());
    // The table only forwards the CommandContext: an opaque, never dereferenced pointer.
    alignas(64) static unsigned char fake_env[1024];
    CommandContext* ctx = reinterpret_cast<CommandContext*>(fake_env);
    EXPECT_EQ(table.suggest("vm start fo", ctx),
              (L{"vm start bar ", "vm start foo1 ", "vm start foo2 "}));
    EXPECT_EQ(seen, (L{"target", "fo"}));
    EXPECT_EQ(table.suggest("vm start fo", nullptr), L{});
}

TEST(CliSuggestLines, CompleteLine) {
    EXPECT_EQ(completeLine("vm conf", {"config"}), std::vector<std::string>{"vm config "});
    EXPECT_EQ(completeLine("read /tmp/d", {"/tmp/dir/", "/tmp/data"}),
              (std::vector<std::string>{"read /tmp/data ", "read /tmp/dir/"}));
    EXPECT_EQ(completeLine("", {"vm"}), std::vector<std::string>{"vm "});
}

// --- help ---------------------------------------------------------------------

class CliHelp : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_TRUE(table.add(handler({"vm info"}, "show vms")).ok());
        ASSERT_TRUE(
            table.add(handler({"vm launch <kvm,container> <name>"}, "launch", "\nLaunch VMs.\n"))
                .ok());
        ASSERT_TRUE(table.add(handler({"vm kill <target>"}, "kill")).ok());
    }
    CommandTable table;
};

TEST_F(CliHelp, ListsEveryPatternTabAligned) {
    // printHelpShort: tabwriter(minwidth 0, tabwidth 8, padding 0, '\t') over
    // "<pattern> \t :\t <short> \t" lines. Column 0 is 33 wide -> 40.
    EXPECT_EQ(table.help(""),
              "Display help on a command. Here is a list of commands:\n"
              "vm info \t\t\t\t :\t show vms \t\n"
              "vm kill <target> \t\t\t :\t kill \t\t\n"
              "vm launch <kvm,container> <name> \t :\t launch \t\n");
}

TEST_F(CliHelp, UsageForOneCommand) {
    EXPECT_EQ(table.help("vm launch"), "Usage:\n\tvm launch <kvm,container> <name>\n\nLaunch VMs.");
    EXPECT_EQ(table.help("vm i"), "Usage:\n\tvm info\n\nshow vms");
    EXPECT_EQ(table.help("vm kill foo"), "Usage:\n\tvm kill <target>\n\nkill");
}

TEST_F(CliHelp, SeveralHandlersOneLongHelp) {
    EXPECT_EQ(table.help("vm"),
              "Usage:\n\tvm info\n\tvm launch <kvm,container> <name>\n\tvm kill "
              "<target>\n\nLaunch VMs.");
}

TEST_F(CliHelp, SeveralHandlersShortList) {
    ASSERT_TRUE(table.add(handler({"vm kilo"}, "k")).ok());
    EXPECT_EQ(table.help("vm ki"),
              "Display help on a command. Here is a list of commands:\n"
              "vm kill <target> \t :\t kill \t\n"
              "vm kilo \t\t :\t k \t\n");
}

TEST_F(CliHelp, UnknownAndUnparsable) {
    EXPECT_EQ(table.help("bogus"), "no help entry for `bogus`");
    EXPECT_EQ(table.help("vm \"x"), "unable to parse `vm \"x`: missing terminal \"");
}

TEST(CliHelpTrim, HelpTextsAreTrimmedOnAdd) {
    CommandTable t;
    ASSERT_TRUE(t.add(handler({"x"}, "  short \n", "\n  long\n")).ok());
    EXPECT_EQ(t.handlers()[0].help_short, "short");
    EXPECT_EQ(t.handlers()[0].help_long, "long");
    ASSERT_EQ(t.handlers()[0].parsed.size(), 1u);
}

}  // namespace
}  // namespace herd::cli
