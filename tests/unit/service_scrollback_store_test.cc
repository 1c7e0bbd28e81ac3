// service/scrollback_store: the consoles' scrollback handed over by `quit
// keep`, in a file the next daemon reads back.
#include "service/scrollback_store.h"

#include <gtest/gtest.h>

namespace herd {
namespace {

TEST(ScrollbackStore, RoundTripsAnyBytes) {
    std::map<int, std::string> in{
        {0, ""}, {3, "login: \r\n"}, {7, std::string("\0\xff\n12 9\n", 8)}};
    EXPECT_EQ(decodeScrollbacks(encodeScrollbacks(in), 1024), in);
}

TEST(ScrollbackStore, KeepsTheLastBytesOfEach) {
    auto out = decodeScrollbacks(encodeScrollbacks({{1, "0123456789"}}), 4);
    EXPECT_EQ(out.at(1), "6789");
}

TEST(ScrollbackStore, ATornOrForeignFileGivesWhatParsedBefore) {
    std::string text = encodeScrollbacks({{1, "one"}, {2, "two"}});
    EXPECT_EQ(decodeScrollbacks(text.substr(0, text.size() - 1), 64).size(), 1u);
    EXPECT_TRUE(decodeScrollbacks("not a scrollback file\n1 3\nabc", 64).empty());
    EXPECT_TRUE(decodeScrollbacks("herd-scrollback 1\n-1 3\nabc", 64).empty());
    EXPECT_TRUE(decodeScrollbacks("herd-scrollback 1\n1 99999999999999999999\nabc", 64).empty());
    EXPECT_TRUE(decodeScrollbacks("herd-scrollback 1\n1 5\nabc", 64).empty());
}

}  // namespace
}  // namespace herd
