// The web server's pure parts: percent-decoding, the static path rule,
// listen addresses and the token rule (src/web/http_util.h).
#include <gtest/gtest.h>

#include "web/http_util.h"

namespace herd::web {
namespace {

TEST(WebUtil, PercentDecode) {
    EXPECT_EQ(percentDecode("abc"), "abc");
    EXPECT_EQ(percentDecode("a%20b"), "a b");
    EXPECT_EQ(percentDecode("%2e%2E"), "..");
    EXPECT_EQ(percentDecode("a+b"), "a+b");
    EXPECT_EQ(percentDecode("%e2%82%ac"), "\xe2\x82\xac");
    EXPECT_EQ(percentDecode("%"), std::nullopt);
    EXPECT_EQ(percentDecode("%2"), std::nullopt);
    EXPECT_EQ(percentDecode("%zz"), std::nullopt);
    EXPECT_EQ(percentDecode("a%00b"), std::nullopt);
}

TEST(WebUtil, SplitTarget) {
    auto t = splitTarget("/vm/a%20b/connect/?token=x%2By&namespace=ns&token=second");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->path, "/vm/a%20b/connect/");
    EXPECT_EQ(t->query["token"], "x+y");  // first wins
    EXPECT_EQ(t->query["namespace"], "ns");
    EXPECT_FALSE(splitTarget("/?token=%g0"));
    auto bare = splitTarget("/");
    ASSERT_TRUE(bare);
    EXPECT_TRUE(bare->query.empty());
}

TEST(WebUtil, SanitizeRelPath) {
    EXPECT_EQ(sanitizeRelPath("app.js"), "app.js");
    EXPECT_EQ(sanitizeRelPath("xterm/xterm.css"), "xterm/xterm.css");
    EXPECT_EQ(sanitizeRelPath(".hidden"), ".hidden");
    EXPECT_EQ(sanitizeRelPath(""), std::nullopt);
    EXPECT_EQ(sanitizeRelPath(".."), std::nullopt);
    EXPECT_EQ(sanitizeRelPath("../etc/passwd"), std::nullopt);
    EXPECT_EQ(sanitizeRelPath("a/../../b"), std::nullopt);
    EXPECT_EQ(sanitizeRelPath("a/./b"), std::nullopt);
    EXPECT_EQ(sanitizeRelPath("/etc/passwd"), std::nullopt);
    EXPECT_EQ(sanitizeRelPath("a//b"), std::nullopt);
    EXPECT_EQ(sanitizeRelPath("a/"), std::nullopt);
    EXPECT_EQ(sanitizeRelPath("..\\x"), std::nullopt);
    EXPECT_EQ(sanitizeRelPath(std::string_view("a\0b", 3)), std::nullopt);
}

TEST(WebUtil, ContentType) {
    EXPECT_EQ(contentType("index.html"), "text/html; charset=utf-8");
    EXPECT_EQ(contentType("static/app.js"), "text/javascript; charset=utf-8");
    EXPECT_EQ(contentType("static/xterm.css"), "text/css; charset=utf-8");
    EXPECT_EQ(contentType("a.png"), "image/png");
    EXPECT_EQ(contentType("a.svg"), "image/svg+xml");
    EXPECT_EQ(contentType("a.js.map"), "application/json");
    EXPECT_EQ(contentType("dir.d/noext"), "application/octet-stream");
}

TEST(WebUtil, ListenAddr) {
    auto a = parseListenAddr("0.0.0.0:8080");
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->host, "0.0.0.0");
    EXPECT_EQ(a->port, 8080);
    a = parseListenAddr("9001");
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->host, "127.0.0.1");
    EXPECT_EQ(a->port, 9001);
    a = parseListenAddr(":0");
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->host, "127.0.0.1");
    EXPECT_EQ(a->port, 0);
    a = parseListenAddr("[::1]:80");
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->host, "::1");
    EXPECT_FALSE(parseListenAddr("host:").ok());
    EXPECT_FALSE(parseListenAddr("host:65536").ok());
    EXPECT_FALSE(parseListenAddr("host:8x").ok());
    EXPECT_FALSE(parseListenAddr("::1:80").ok());
    EXPECT_FALSE(parseListenAddr("[::1]80").ok());
    EXPECT_NE(parseListenAddr("a:b").error().text().find("bad port `b`"), std::string::npos);
}

TEST(WebUtil, Loopback) {
    EXPECT_TRUE(isLoopback("127.0.0.1"));
    EXPECT_TRUE(isLoopback("127.1.2.3"));
    EXPECT_TRUE(isLoopback("::1"));
    EXPECT_TRUE(isLoopback("::ffff:127.0.0.1"));
    EXPECT_TRUE(isLoopback("localhost"));
    EXPECT_FALSE(isLoopback("0.0.0.0"));
    EXPECT_FALSE(isLoopback("::"));
    EXPECT_FALSE(isLoopback("10.0.0.1"));
    EXPECT_FALSE(isLoopback("example.com"));
}

TEST(WebUtil, OfferedToken) {
    EXPECT_EQ(tokenCookieName(9001), "herd_token_9001");
    const char* c = "herd_token_9001";
    std::map<std::string, std::string> q{{"token", "fromquery"}};
    EXPECT_EQ(offeredToken(q, "herd_token_9001=fromcookie", c, "Bearer b"), "fromquery");
    EXPECT_EQ(offeredToken({}, "a=1; herd_token_9001=fromcookie; b=2", c, ""), "fromcookie");
    EXPECT_EQ(offeredToken({}, "herd_token_9001=\"quoted\"", c, ""), "quoted");
    EXPECT_EQ(offeredToken({}, "other_herd_token_9001=x", c, "bearer tok"), "tok");
    // Another port's cookie (cookies ignore ports) is not this server's.
    EXPECT_EQ(offeredToken({}, "herd_token_9002=other; herd_token=old", c, ""), "");
    EXPECT_EQ(offeredToken({}, "", c, "Basic abc"), "");
    EXPECT_EQ(offeredToken({}, "", c, ""), "");
}

TEST(WebUtil, HostAllowed) {
    EXPECT_TRUE(hostAllowed("127.0.0.1:9001", "127.0.0.1", 9001));
    EXPECT_TRUE(hostAllowed("localhost:9001", "127.0.0.1", 9001));
    EXPECT_TRUE(hostAllowed("LocalHost:9001", "127.0.0.1", 9001));
    EXPECT_TRUE(hostAllowed("[::1]:9001", "127.0.0.1", 9001));
    EXPECT_TRUE(hostAllowed("127.0.0.1:9001", "localhost", 9001));
    EXPECT_TRUE(hostAllowed("[::1]:9001", "::1", 9001));
    EXPECT_TRUE(hostAllowed("[::1]:9001", "0::1", 9001));  // canonical form
    EXPECT_TRUE(hostAllowed("127.0.0.1", "127.0.0.1", 80));
    EXPECT_FALSE(hostAllowed("127.0.0.1", "127.0.0.1", 9001));
    EXPECT_FALSE(hostAllowed("127.0.0.1:9002", "127.0.0.1", 9001));
    EXPECT_FALSE(hostAllowed("evil.example:9001", "127.0.0.1", 9001));
    EXPECT_FALSE(hostAllowed("evil.example", "127.0.0.1", 80));
    EXPECT_FALSE(hostAllowed("", "127.0.0.1", 9001));
    EXPECT_FALSE(hostAllowed("127.0.0.1:9001 x", "127.0.0.1", 9001));
    // A specific non-loopback address: that address only.
    EXPECT_TRUE(hostAllowed("10.1.2.3:9001", "10.1.2.3", 9001));
    EXPECT_FALSE(hostAllowed("localhost:9001", "10.1.2.3", 9001));
    EXPECT_FALSE(hostAllowed("evil.example:9001", "10.1.2.3", 9001));
    EXPECT_TRUE(hostAllowed("[fe80::1]:9001", "FE80::1", 9001));
    // A wildcard address: any name (the token protects it).
    EXPECT_TRUE(hostAllowed("evil.example:9001", "0.0.0.0", 9001));
    EXPECT_TRUE(hostAllowed("herd.lab", "::", 9001));
    EXPECT_FALSE(hostAllowed("", "0.0.0.0", 9001));
}

TEST(WebUtil, SameOriginAndJson) {
    EXPECT_TRUE(sameOrigin("http://127.0.0.1:9001", "127.0.0.1:9001"));
    EXPECT_TRUE(sameOrigin("HTTP://LOCALHOST:9001", "localhost:9001"));
    EXPECT_FALSE(sameOrigin("https://127.0.0.1:9001", "127.0.0.1:9001"));
    EXPECT_FALSE(sameOrigin("http://evil.example", "127.0.0.1:9001"));
    EXPECT_FALSE(sameOrigin("http://127.0.0.1:9002", "127.0.0.1:9001"));
    EXPECT_FALSE(sameOrigin("null", "127.0.0.1:9001"));
    EXPECT_FALSE(sameOrigin("http://", ""));
    EXPECT_TRUE(isJsonContentType("application/json"));
    EXPECT_TRUE(isJsonContentType("Application/JSON; charset=utf-8"));
    EXPECT_FALSE(isJsonContentType("text/plain"));
    EXPECT_FALSE(isJsonContentType("application/x-www-form-urlencoded"));
    EXPECT_FALSE(isJsonContentType(""));
    EXPECT_FALSE(isJsonContentType("application/jsonx"));
}

TEST(WebUtil, TokenRules) {
    EXPECT_TRUE(tokenEquals("abc", "abc"));
    EXPECT_FALSE(tokenEquals("abc", "abd"));
    EXPECT_FALSE(tokenEquals("abc", "abcd"));
    EXPECT_FALSE(tokenEquals("", "a"));
    EXPECT_TRUE(validToken("s3cret-._~"));
    EXPECT_FALSE(validToken(""));
    EXPECT_FALSE(validToken("a b"));
    EXPECT_FALSE(validToken("a;b"));
    EXPECT_FALSE(validToken(std::string(129, 'a')));
    auto t = randomToken();
    EXPECT_EQ(t.size(), 32u);
    EXPECT_TRUE(validToken(t));
    EXPECT_NE(t, randomToken());
}

}  // namespace
}  // namespace herd::web
