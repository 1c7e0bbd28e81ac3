// The argument preprocessor's variable expansion (reference §2.6): Go's
// os.Expand rules.
#include <gtest/gtest.h>

#include <map>

#include "cli/preprocess.h"

namespace herd::cli {
namespace {

const std::map<std::string, std::string> kVars = {
    {"HOME", "/root"}, {"A", "x"}, {"a_b1", "y"}, {"1", "one"}, {"$", "pid"}, {"EMPTY", ""},
};

Lookup lookup() {
    return [](const std::string& k) -> std::optional<std::string> {
        auto it = kVars.find(k);
        if (it == kVars.end()) return std::nullopt;
        return it->second;
    };
}

std::string expand(std::string_view s) {
    return expandVars(s, lookup());
}

TEST(CliPreprocess, PlainNames) {
    EXPECT_EQ(expand("$HOME/x"), "/root/x");
    EXPECT_EQ(expand("a$A.b"), "ax.b");
    EXPECT_EQ(expand("$a_b1-c"), "y-c");
    EXPECT_EQ(expand("$UNSET!"), "!");
    EXPECT_EQ(expand("[$EMPTY]"), "[]");
    EXPECT_EQ(expand("no vars"), "no vars");
}

TEST(CliPreprocess, BracedNames) {
    EXPECT_EQ(expand("${HOME}x"), "/rootx");
    EXPECT_EQ(expand("${A}${A}"), "xx");
    EXPECT_EQ(expand("${not a name}"), "");
}

TEST(CliPreprocess, SpecialParameters) {
    EXPECT_EQ(expand("$1x"), "onex");
    EXPECT_EQ(expand("${1}"), "one");
    EXPECT_EQ(expand("$$"), "pid");
    EXPECT_EQ(expand("$12"), "one2");
}

TEST(CliPreprocess, DollarWithoutName) {
    EXPECT_EQ(expand("100$"), "100$");
    EXPECT_EQ(expand("$"), "$");
    EXPECT_EQ(expand("a $ b"), "a $ b");
    EXPECT_EQ(expand("$/x"), "$/x");
    EXPECT_EQ(expand("$%"), "$%");
}

TEST(CliPreprocess, BadBraceSyntaxIsEaten) {
    EXPECT_EQ(expand("a${}b"), "ab");
    EXPECT_EQ(expand("${HOME"), "HOME");
    EXPECT_EQ(expand("x${"), "x");
}

TEST(CliPreprocess, AppliesToStringsAndListsNotSubcommands) {
    Command c;
    c.strings["path"] = "$HOME/f";
    c.lists["args"] = {"$A", "${A}y", "plain"};
    c.bools["$A"] = true;
    c.sub = std::make_shared<Command>();
    c.sub->strings["x"] = "$A";
    preprocess(c, lookup());
    EXPECT_EQ(c.str("path"), "/root/f");
    EXPECT_EQ(c.list("args"), (std::vector<std::string>{"x", "xy", "plain"}));
    EXPECT_TRUE(c.flag("$A"));
    EXPECT_EQ(c.sub->str("x"), "$A");
}

}  // namespace
}  // namespace herd::cli
