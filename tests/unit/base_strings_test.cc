#include "base/strings.h"

#include <gtest/gtest.h>

namespace herd {
namespace {

TEST(Strings, TrimStripsWhiteSpaceAtBothEnds) {
    EXPECT_EQ(trim("  a b \t\r\n\v\f"), "a b");
    EXPECT_EQ(trim(" \t\n"), "");
    EXPECT_EQ(trim(""), "");
    EXPECT_EQ(trim("x"), "x");
    // Only the characters asked for.
    EXPECT_EQ(trim("\v a \f", " \t\r\n"), "\v a \f");
}

TEST(Strings, TrimRightKeepsTheStart) {
    EXPECT_EQ(trimRight("  a \r\n"), "  a");
    EXPECT_EQ(trimRight("a\t \n", " \r\n"), "a\t");
    EXPECT_EQ(trimRight("\n\n"), "");
}

TEST(Strings, SplitKeepsEmptyPieces) {
    using V = std::vector<std::string>;
    EXPECT_EQ(split("", ","), V{""});
    EXPECT_EQ(split("a", ","), V{"a"});
    EXPECT_EQ(split("a,,b,", ","), (V{"a", "", "b", ""}));
    EXPECT_EQ(split("a!=b!=", "!="), (V{"a", "b", ""}));
}

TEST(Strings, ParseUintAcceptsDigitsInRange) {
    EXPECT_EQ(*parseUint("0", 0, 10, "n"), 0u);
    EXPECT_EQ(*parseUint("007", 0, 10, "n"), 7u);
    EXPECT_EQ(*parseUint("18446744073709551615", 0, UINT64_MAX, "n"), UINT64_MAX);
}

TEST(Strings, ParseUintSaysWhatIsWrongAndWhatIsAllowed) {
    auto text = [](std::string_view s, uint64_t min, uint64_t max) {
        auto r = parseUint(s, min, max, "vlan");
        return r.ok() ? std::string("ok") : r.error().text();
    };
    EXPECT_EQ(text("", 1, 4094), "vlan \"\": not a number (allowed: 1 to 4094)");
    EXPECT_EQ(text("12x", 1, 4094), "vlan \"12x\": not a number (allowed: 1 to 4094)");
    EXPECT_EQ(text("-1", 1, 4094), "vlan \"-1\": not a number (allowed: 1 to 4094)");
    EXPECT_EQ(text(" 5", 1, 4094), "vlan \" 5\": not a number (allowed: 1 to 4094)");
    EXPECT_EQ(text("0", 1, 4094), "vlan 0: out of range (allowed: 1 to 4094)");
    EXPECT_EQ(text("4095", 1, 4094), "vlan 4095: out of range (allowed: 1 to 4094)");
    // Past 2^64 - 1: out of range, not wrapped around.
    EXPECT_EQ(text("18446744073709551616", 0, UINT64_MAX),
              "vlan 18446744073709551616: out of range (allowed: 0 to 18446744073709551615)");
    EXPECT_EQ(text("99999999999999999999999", 0, 10),
              "vlan 99999999999999999999999: out of range (allowed: 0 to 10)");
}

}  // namespace
}  // namespace herd
