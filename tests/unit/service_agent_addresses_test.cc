// The cc filter's address match (addressMatches) and the canonical forms of
// what an agent reports.
#include <gtest/gtest.h>

#include "service/agent_addresses.h"

namespace herd {
namespace {

TEST(AddressMatches, ExactAddress) {
    EXPECT_TRUE(addressMatches("10.0.0.5", "10.0.0.5"));
    EXPECT_FALSE(addressMatches("10.0.0.5", "10.0.0.6"));
}

TEST(AddressMatches, Ipv4Blocks) {
    EXPECT_TRUE(addressMatches("10.0.0.0/24", "10.0.0.77"));
    EXPECT_FALSE(addressMatches("10.0.0.0/24", "10.0.1.77"));
    EXPECT_TRUE(addressMatches("10.0.0.0/23", "10.0.1.77"));
    EXPECT_TRUE(addressMatches("0.0.0.0/0", "192.168.1.1"));
    EXPECT_TRUE(addressMatches("10.0.0.5/32", "10.0.0.5"));
    EXPECT_FALSE(addressMatches("10.0.0.5/32", "10.0.0.4"));
}

TEST(AddressMatches, Ipv6Blocks) {
    EXPECT_TRUE(addressMatches("fd56::/64", "fd56::1"));
    EXPECT_FALSE(addressMatches("fd56::/64", "fd57::1"));
    EXPECT_FALSE(addressMatches("fd56::/64", "10.0.0.1"));  // other family
}

TEST(AddressMatches, BadPrefixLengthMatchesNothing) {
    // With atoi, "x" was 0 bits: a block that held every address.
    for (const char* want : {"10.0.0.0/x", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/ 8",
                             "fd56::/129", "10.0.0.0/8x"}) {
        EXPECT_FALSE(addressMatches(want, "10.0.0.1")) << want;
        EXPECT_FALSE(addressMatches(want, "fd56::1")) << want;
    }
    EXPECT_FALSE(addressMatches("nonsense/8", "10.0.0.1"));
}

TEST(CanonicalForms, AddressesAndMacs) {
    EXPECT_EQ(canonicalAddress("10.0.0.1"), "10.0.0.1");
    EXPECT_EQ(canonicalAddress("FD56:0::1"), "fd56::1");
    EXPECT_EQ(canonicalAddress("10.0.0.1\x1b[2J"), "");
    EXPECT_EQ(canonicalMac("AA-bb-CC-dd-EE-ff"), "aa:bb:cc:dd:ee:ff");
    EXPECT_EQ(canonicalMac("aa:bb:cc:dd:ee"), "");
}

}  // namespace
}  // namespace herd
