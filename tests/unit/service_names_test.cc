// Launch name expansion (reference §4.1) and targets (§4.4).
#include <gtest/gtest.h>

#include "service/names.h"

namespace herd {
namespace {

using V = std::vector<std::string>;

V split(std::string_view s) {
    auto r = splitList(s);
    EXPECT_TRUE(r.ok()) << s << ": " << r.error().text();
    return r.ok() ? *r : V{};
}

std::string splitErr(std::string_view s) {
    auto r = splitList(s);
    EXPECT_FALSE(r.ok()) << s;
    return r.ok() ? "" : r.error().text();
}

std::string launchErr(std::string_view s) {
    auto r = expandLaunchNames(s);
    EXPECT_FALSE(r.ok()) << s;
    return r.ok() ? "" : r.error().text();
}

TEST(ServiceNames, PlainAndCommaLists) {
    EXPECT_EQ(split("foo"), V{"foo"});
    EXPECT_EQ(split("foo,"), V{"foo"});
    EXPECT_EQ(split("foo,bar"), (V{"foo", "bar"}));
    EXPECT_EQ(split("a,,b"), (V{"a", "", "b"}));
    EXPECT_EQ(split(""), V{});
}

TEST(ServiceNames, Ranges) {
    EXPECT_EQ(split("foo[0-2]"), (V{"foo0", "foo1", "foo2"}));
    EXPECT_EQ(split("foo[1,3-5]"), (V{"foo1", "foo3", "foo4", "foo5"}));
    EXPECT_EQ(split("a,b[1-2]"), (V{"a", "b1", "b2"}));
    EXPECT_EQ(split("foo,bar[0-1],kn[1,2,3]").size(), 6u);
    EXPECT_EQ(split("[1-3,100]"), (V{"1", "2", "3", "100"}));
    EXPECT_EQ(split("x[5,1,3,1]"), (V{"x1", "x3", "x5"}));  // sorted, de-duplicated
    EXPECT_EQ(split("x[3-1]"), V{});                        // empty subrange
}

TEST(ServiceNames, Padding) {
    EXPECT_EQ(split("foo[01-03]"), (V{"foo01", "foo02", "foo03"}));
    EXPECT_EQ(split("kn[008-011,100]"), (V{"kn008", "kn009", "kn010", "kn011", "kn100"}));
    EXPECT_EQ(split("foo[1-10]").back(), "foo10");
    EXPECT_EQ(split("foo[1-10]").front(), "foo1");
    EXPECT_EQ(split("foo[08-11,5]"), (V{"foo5", "foo8", "foo9", "foo10", "foo11"}));
}

TEST(ServiceNames, SplitErrors) {
    EXPECT_EQ(splitErr("foo[[1]]"), "nested '[' at char 4");
    EXPECT_EQ(splitErr("foo]"), "unmatched ']' at char 3");
    EXPECT_EQ(splitErr("foo[1-2"), "unterminated '['");
    EXPECT_EQ(splitErr("foo[1-2]bar"), "invalid range specification");
    EXPECT_EQ(splitErr("foo[1-2-3]"), "invalid subrange 1-2-3");
    EXPECT_EQ(splitErr("foo[a]"), "strconv.Atoi: parsing \"a\": invalid syntax");
    EXPECT_EQ(splitErr("foo[]"), "strconv.Atoi: parsing \"\": invalid syntax");
    EXPECT_EQ(splitErr("foo[-1]"), "strconv.Atoi: parsing \"\": invalid syntax");
    EXPECT_EQ(splitErr("foo[1-b]"), "strconv.Atoi: parsing \"b\": invalid syntax");
    EXPECT_EQ(splitErr("foo[99999999999]"), "value of out range: 99999999999");
    EXPECT_EQ(splitErr("foo[99999999999999999999]"),
              "strconv.Atoi: parsing \"99999999999999999999\": value out of range");
    EXPECT_EQ(splitErr("foo[2147483646-2147483649]"), "value of out range: 2147483648");
    // A huge range is refused instead of allocated.
    EXPECT_FALSE(splitList("foo[0-2000000000]").ok());
}

TEST(ServiceNames, LaunchCounts) {
    auto r = expandLaunchNames("3");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, (V{"", "", ""}));
    EXPECT_EQ(expandLaunchNames("+2")->size(), 2u);
    EXPECT_EQ(launchErr("0"), "invalid number of vms (must be > 0)");
    EXPECT_EQ(launchErr("-1"), "invalid number of vms (must be > 0)");
    // Too big for an int32 count: read as a name, which is an integer.
    EXPECT_EQ(launchErr("99999999999"), "invalid vm name, `99999999999` is an integer");
}

TEST(ServiceNames, LaunchNameErrors) {
    EXPECT_EQ(launchErr("all"), "invalid vm name, `all` is a reserved word");
    EXPECT_EQ(launchErr("foo,all"), "invalid vm name, `all` is a reserved word");
    EXPECT_EQ(launchErr("[0]"), "invalid vm name, `0` is an integer");
    EXPECT_EQ(launchErr("foo,[0]"), "invalid vm name, `0` is an integer");
    EXPECT_EQ(launchErr("foo,foo"), "`foo` is specified twice in VMs to launch");
    EXPECT_EQ(launchErr("a,all,a"), "`a` is specified twice in VMs to launch");
    EXPECT_EQ(launchErr("foo[1-0]"), "no VMs to launch");
    // As in Go, a lone comma is one empty (unnamed) entry.
    EXPECT_EQ(*expandLaunchNames(","), V{""});
    EXPECT_EQ(launchErr("foo["), "unterminated '['");
    auto r = expandLaunchNames("foo[0-2]");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, (V{"foo0", "foo1", "foo2"}));
}

TEST(ServiceNames, ValidName) {
    EXPECT_TRUE(validName("foo-1_2.x"));
    EXPECT_FALSE(validName("foo bar"));
    EXPECT_FALSE(validName("foo/bar"));
    EXPECT_FALSE(validName(""));
}

TEST(ServiceNames, Targets) {
    auto t = parseTarget("foo[0-1],3,bar");
    ASSERT_TRUE(t.ok());
    EXPECT_FALSE(t->wild);
    EXPECT_EQ(t->vals, (V{"foo0", "foo1", "3", "bar"}));
    EXPECT_EQ(t->names, (std::set<std::string>{"foo0", "foo1", "bar"}));
    EXPECT_EQ(t->ids, (std::set<int64_t>{3}));
    auto w = parseTarget("foo,all");
    ASSERT_TRUE(w.ok());
    EXPECT_TRUE(w->wild);
    EXPECT_EQ(w->names, std::set<std::string>{"foo"});
    EXPECT_EQ(parseTarget("[1-2]")->ids, (std::set<int64_t>{1, 2}));
    EXPECT_FALSE(parseTarget("foo[").ok());
}

}  // namespace
}  // namespace herd
