// runtime/hostcheck: the capacity check before a launch (pure), and reading
// the host's figures it works on.
#include "runtime/hostcheck.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

namespace herd::runtime {
namespace {

HostUsage roomy() {
    HostUsage u;
    u.pty_max = 4096;
    u.ptys = 10;
    u.pid_max = 32768;
    u.threads_max = 192735;
    u.tasks = 500;
    u.nofile = 1 << 20;
    u.fds = 40;
    return u;
}

TEST(HostCapacity, FitsWithinEveryLimit) {
    EXPECT_TRUE(checkCapacity(roomy(), 0).ok());
    EXPECT_TRUE(checkCapacity(roomy(), 4086).ok());  // every pty left
}

TEST(HostCapacity, PtysNameTheSysctlAndASize) {
    auto r = checkCapacity(roomy(), 4087);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().text(),
              "cannot launch 4087 containers: kernel.pty.max is 4096 with 10 ptys in use, and "
              "each container's console is one (raise it: sysctl -w kernel.pty.max=5120)");
}

TEST(HostCapacity, TasksAgainstTheLowerOfPidMaxAndThreadsMax) {
    HostUsage u = roomy();
    u.pty_max = 1 << 20;
    auto r = checkCapacity(u, 7000);  // 500 + 35000 > 32768
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().text(),
              "cannot launch 7000 containers: kernel.pid_max is 32768 with 500 tasks running, "
              "and each container runs about 5 (raise it: sysctl -w kernel.pid_max=35840)");
    u.threads_max = 20000;
    r = checkCapacity(u, 7000);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().text().find("kernel.threads-max is 20000"), std::string::npos);
}

TEST(HostCapacity, DescriptorsNameTheLimitAndHowToRaiseIt) {
    HostUsage u = roomy();
    u.nofile = 20000;
    u.pty_max = u.pid_max = 1 << 22;
    EXPECT_TRUE(checkCapacity(u, 10000).ok());  // 40 + 10000 (+ 64 to spare)
    EXPECT_TRUE(checkCapacity(u, 10000, 9800).ok());
    auto r = checkCapacity(u, 10000, 10000);  // 40 + 10000 + 10000 + 64
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().text(),
              "cannot launch 10000 containers: the daemon's open file limit (RLIMIT_NOFILE) is "
              "20000 with 40 open, and it holds 1 per container and 1 more per cc agent (raise "
              "the hard limit the daemon starts with, e.g. `ulimit -Hn 20480` or LimitNOFILE= "
              "in its service, up to fs.nr_open)");
}

TEST(HostCapacity, OneContainerIsSingular) {
    HostUsage u = roomy();
    u.ptys = u.pty_max;
    auto r = checkCapacity(u, 1);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().text().rfind("cannot launch 1 container: ", 0), 0u);
}

TEST(HostUsageRead, ReadsThisHost) {
    auto u = readHostUsage();
    ASSERT_TRUE(u.ok()) << u.error().text();
    EXPECT_GT(u->pty_max, 0u);
    EXPECT_LE(u->ptys, u->pty_max);
    EXPECT_GT(u->pid_max, 0u);
    EXPECT_GT(u->tasks, 0u);
    EXPECT_GE(u->fds, 3u);  // at least the standard streams' worth
    rlimit rl{};
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
    EXPECT_EQ(u->nofile, rl.rlim_cur);
}

}  // namespace
}  // namespace herd::runtime
