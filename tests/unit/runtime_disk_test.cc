// The container disk (runtime/disk.h): a size-limited tmpfs, detached from
// every mount namespace where the kernel allows overlay layers on it.
#include "runtime/disk.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <fstream>
#include <string>

namespace herd::runtime {
namespace {

std::string mountinfo() {
    std::ifstream in("/proc/self/mountinfo");
    return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(Disk, DetachedHasItsSizeAndLayersAndIsInNoMountTable) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (mounts)";
    if (!detachedLayersWork()) GTEST_SKIP() << "this kernel's overlayfs needs attached layers";
    const std::string before = mountinfo();
    auto d = Disk::create("/nonexistent/not-used", 8);
    ASSERT_TRUE(d.ok()) << d.error().text();
    ASSERT_GE(d->layersFd(), 0);
    EXPECT_TRUE(d->path().empty());
    struct statfs fs {};
    ASSERT_EQ(::fstatfs(d->layersFd(), &fs), 0);
    EXPECT_EQ(static_cast<uint64_t>(fs.f_blocks) * fs.f_bsize, 8ull << 20);
    EXPECT_EQ(static_cast<uint64_t>(fs.f_files), 4096u);  // at least 4096 inodes
    for (const char* layer : {"upper", "work"}) {
        struct stat st {};
        ASSERT_EQ(::fstatat(d->layersFd(), layer, &st, AT_SYMLINK_NOFOLLOW), 0) << layer;
        EXPECT_TRUE(S_ISDIR(st.st_mode)) << layer;
        EXPECT_EQ(st.st_mode & 07777, 0755u) << layer;
    }
    EXPECT_EQ(mountinfo(), before);
    ASSERT_TRUE(d->release().ok());
    EXPECT_LT(d->layersFd(), 0);
}

}  // namespace
}  // namespace herd::runtime
