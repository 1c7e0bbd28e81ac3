#include "runtime/fetch.h"

#include <gtest/gtest.h>

namespace herd::runtime {
namespace {

TEST(ParseUrl, DefaultsAndParts) {
    auto u = parseUrl("http://example.org/a/b.txt?x=1#frag");
    ASSERT_TRUE(u.ok()) << u.error().text();
    EXPECT_EQ(u->scheme, "http");
    EXPECT_EQ(u->host, "example.org");
    EXPECT_EQ(u->port, "80");
    EXPECT_EQ(u->target, "/a/b.txt?x=1");
    EXPECT_EQ(u->path, "/a/b.txt");

    u = parseUrl("HTTPS://user@[::1]:8443");
    ASSERT_TRUE(u.ok()) << u.error().text();
    EXPECT_EQ(u->scheme, "https");
    EXPECT_EQ(u->host, "::1");
    EXPECT_EQ(u->port, "8443");
    EXPECT_EQ(u->target, "/");
    EXPECT_EQ(u->path, "/");
}

TEST(ParseUrl, DecodesThePath) {
    auto u = parseUrl("http://h/%2e%2e/a%20b");
    ASSERT_TRUE(u.ok());
    EXPECT_EQ(u->path, "/../a b");
    EXPECT_EQ(u->target, "/%2e%2e/a%20b");
}

TEST(ParseUrl, RefusesBadInput) {
    for (const char* bad :
         {"ftp://h/x", "http:///x", "http://h:99999/", "http://h:8x/", "http://h/%zz",
          "http://h/%00", "http://h/%2", "http://[::1/", "http://h/a b"}) {
        EXPECT_FALSE(parseUrl(bad).ok()) << bad;
    }
}

}  // namespace
}  // namespace herd::runtime
