// cgroup drivers: v2 limits against a fake cgroupfs tree; v2 freeze, kill and
// the device program, and v1, against this host's real hierarchies (root).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "runtime/cgroup.h"

namespace fs = std::filesystem;
using namespace herd::runtime;

namespace {

std::string readAll(const std::string& p) {
    std::ifstream f(p);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

std::string uniquePrefix() {
    std::random_device rd;
    return "u" + std::to_string(rd() % 1000000);
}

// A child that waits (in pause()) to be put in a cgroup and killed.
pid_t sleeper() {
    pid_t pid = fork();
    if (pid == 0) {
        for (;;) pause();
    }
    return pid;
}

int reap(pid_t pid) {
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
}

bool haveUnified() {
    return geteuid() == 0 && fs::exists("/sys/fs/cgroup/unified/cgroup.procs");
}

}  // namespace

TEST(RuntimeCgroupV2, LimitsOnAFakeTree) {
    std::string root = fs::temp_directory_path() / ("herd-fakecg-" + uniquePrefix());
    fs::create_directories(root);
    std::ofstream(root + "/cgroup.controllers") << "cpuset cpu io memory pids\n";
    auto d = makeCgroupV2(root, "hx", /*device_program=*/false);
    ASSERT_TRUE(d->setup().ok());
    EXPECT_EQ(readAll(root + "/cgroup.subtree_control"), "+memory +cpu +pids");
    EXPECT_EQ(readAll(root + "/hx/cgroup.subtree_control"), "+memory +cpu +pids");
    auto cg = d->create("7", {512ull << 20, 2, 100});
    ASSERT_TRUE(cg.ok()) << cg.error().text();
    EXPECT_EQ(readAll(root + "/hx/7/memory.max"), std::to_string(512ull << 20));
    EXPECT_EQ(readAll(root + "/hx/7/cpu.max"), "200000 100000");
    EXPECT_EQ(readAll(root + "/hx/7/pids.max"), "100");
    ASSERT_TRUE((*cg)->attach(1234).ok());
    EXPECT_EQ(readAll(root + "/hx/7/cgroup.procs"), "1234");
    fs::remove_all(root);
}

TEST(RuntimeCgroupV2, MissingControllersAreSkipped) {
    std::string root = fs::temp_directory_path() / ("herd-fakecg-" + uniquePrefix());
    fs::create_directories(root);
    std::ofstream(root + "/cgroup.controllers") << "\n";
    auto d = makeCgroupV2(root, "hx", false);
    ASSERT_TRUE(d->setup().ok());
    auto cg = d->create("1", {1 << 20, 1, 10});
    ASSERT_TRUE(cg.ok());
    EXPECT_FALSE(fs::exists(root + "/hx/1/memory.max"));
    fs::remove_all(root);
}

TEST(RuntimeCgroupV2, FreezeKillAndDevicesForReal) {
    if (!haveUnified()) GTEST_SKIP() << "needs root and cgroup2 at /sys/fs/cgroup/unified";
    const std::string prefix = uniquePrefix();
    auto d = makeCgroupV2("/sys/fs/cgroup/unified", prefix);
    ASSERT_TRUE(d->setup().ok());
    auto cg = d->create("0", {});
    ASSERT_TRUE(cg.ok()) << cg.error().text();

    // The device program: /dev/null opens, a block device node does not.
    const std::string node = "/tmp/herd-blk-probe-" + prefix;
    ASSERT_EQ(mknod(node.c_str(), S_IFBLK | 0600, makedev(7, 0)), 0);
    int go[2];
    ASSERT_EQ(pipe(go), 0);
    pid_t probe = fork();
    if (probe == 0) {
        char b;
        if (read(go[0], &b, 1) != 1) _exit(2);  // until attached
        int ok = open("/dev/null", O_RDONLY) >= 0;
        int blocked = open(node.c_str(), O_RDONLY) < 0 && errno == EPERM;
        _exit(ok && blocked ? 0 : 1);
    }
    ASSERT_TRUE((*cg)->attach(probe).ok());
    ASSERT_EQ(write(go[1], "g", 1), 1);
    int st = reap(probe);
    close(go[0]);
    close(go[1]);
    unlink(node.c_str());
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "device program did not apply";

    pid_t pid = sleeper();
    ASSERT_TRUE((*cg)->attach(pid).ok());
    ASSERT_TRUE((*cg)->freeze().ok());
    EXPECT_NE(readAll("/sys/fs/cgroup/unified/" + prefix + "/0/cgroup.events").find("frozen 1"),
              std::string::npos);
    // cgroup.kill takes frozen tasks too.
    ASSERT_TRUE((*cg)->kill().ok());
    st = reap(pid);
    EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    ASSERT_TRUE(d->nuke().ok());
    EXPECT_FALSE(fs::exists("/sys/fs/cgroup/unified/" + prefix));
}

TEST(RuntimeCgroupV1, LimitsFreezeKillForReal) {
    if (geteuid() != 0 || !fs::exists("/sys/fs/cgroup/freezer/cgroup.procs")) {
        GTEST_SKIP() << "needs root and cgroup v1 hierarchies";
    }
    const std::string prefix = uniquePrefix();
    auto d = detectCgroups("/sys/fs/cgroup", prefix);
    ASSERT_TRUE(d.ok()) << d.error().text();
    if (std::string((*d)->version()) != "v1") GTEST_SKIP() << "host uses cgroup v2";
    ASSERT_TRUE((*d)->setup().ok());
    auto cg = (*d)->create("0", {64ull << 20, 1, 50});
    ASSERT_TRUE(cg.ok()) << cg.error().text();
    const std::string mem = "/sys/fs/cgroup/memory/" + prefix + "/0/";
    EXPECT_EQ(std::stoull(readAll(mem + "memory.limit_in_bytes")), 64ull << 20);
    EXPECT_EQ(readAll("/sys/fs/cgroup/pids/" + prefix + "/0/pids.max"), "50\n");
    EXPECT_EQ(readAll("/sys/fs/cgroup/cpu/" + prefix + "/0/cpu.cfs_quota_us"), "100000\n");
    // Device rules are inherited from the daemon's group: no "a *:* rwm".
    std::string devs = readAll("/sys/fs/cgroup/devices/" + prefix + "/0/devices.list");
    EXPECT_EQ(devs.find("a *:*"), std::string::npos);
    EXPECT_NE(devs.find("c 136:* rwm"), std::string::npos);

    pid_t pid = sleeper();
    ASSERT_TRUE((*cg)->attach(pid).ok());
    EXPECT_EQ((*cg)->procs(), std::vector<int>{pid});
    ASSERT_TRUE((*cg)->freeze().ok());
    EXPECT_EQ(readAll("/sys/fs/cgroup/freezer/" + prefix + "/0/freezer.state"), "FROZEN\n");
    ASSERT_TRUE((*cg)->kill().ok());
    int st = reap(pid);
    EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    ASSERT_TRUE((*cg)->remove().ok());
    ASSERT_TRUE((*d)->nuke().ok());
    ASSERT_TRUE((*d)->nuke().ok());  // twice is fine
    EXPECT_FALSE(fs::exists("/sys/fs/cgroup/memory/" + prefix));
}

TEST(RuntimeCgroup, DeviceRulesHaveNoWildcardMknod) {
    for (const auto& r : defaultDeviceRules()) {
        EXPECT_FALSE(r.major < 0) << "a rule allows any major";
        EXPECT_EQ(r.type, 'c');
    }
}
