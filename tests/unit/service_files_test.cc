// The file root's path rules (service/files.h).
#include "service/files.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <time.h>

namespace herd::files {
namespace {

TEST(Files, CleanKeepsEveryPathUnderTheRoot) {
    EXPECT_EQ(clean(""), "/");
    EXPECT_EQ(clean("/"), "/");
    EXPECT_EQ(clean("minitest/foo"), "/minitest/foo");
    EXPECT_EQ(clean("//a///b/"), "/a/b");
    EXPECT_EQ(clean("../../etc/passwd"), "/etc/passwd");
    EXPECT_EQ(clean("a/./b/../c"), "/a/c");
    EXPECT_EQ(clean("a/../../.."), "/");
    EXPECT_EQ(clean("..."), "/...");
}

TEST(Files, Rfc3339InTheLocalZone) {
    const char* old = ::getenv("TZ");
    const std::string saved = old ? old : "";
    ::setenv("TZ", "UTC", 1);
    ::tzset();
    EXPECT_EQ(rfc3339({1796600401, 0}), "2026-12-06T23:40:01Z");
    ::setenv("TZ", "<+0530>-5:30", 1);
    ::tzset();
    EXPECT_EQ(rfc3339({1796600401, 0}), "2026-12-07T05:10:01+05:30");
    ::setenv("TZ", "<-03>3", 1);
    ::tzset();
    EXPECT_EQ(rfc3339({1796600401, 0}), "2026-12-06T20:40:01-03:00");
    if (old) {
        ::setenv("TZ", saved.c_str(), 1);
    } else {
        ::unsetenv("TZ");
    }
    ::tzset();
}

}  // namespace
}  // namespace herd::files
