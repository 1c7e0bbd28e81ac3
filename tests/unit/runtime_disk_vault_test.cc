// The keeper's disk vault (runtime/disk_vault.h): disks kept as mounts in a
// namespace of their own, with no descriptor per disk, and nothing in the
// host's mount table.
#include "runtime/disk_vault.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "runtime/disk.h"

namespace herd::runtime {
namespace {

std::string mountinfo() {
    std::ifstream in("/proc/self/mountinfo");
    return std::string(std::istreambuf_iterator<char>(in), {});
}

int countFds() {
    int n = 0;
    for (int fd = 0; fd < 4096; ++fd)
        if (::fcntl(fd, F_GETFD) >= 0) ++n;
    return n;
}

// The vault needs a single-threaded process: each check runs in a fork and
// returns a code (0 = all good) that names the first step that failed.
int vaultChecks() {
    const std::string before = mountinfo();
    auto v = DiskVault::create();
    if (!v.ok()) return 10;
    if (mountinfo() != before) return 11;  // the vault's root is not the host's business
    const int fds0 = countFds();
    for (int i = 0; i < 50; ++i) {
        auto d = Disk::create("/nonexistent", 1);
        if (!d.ok()) return 20;
        // A file in disk i, to tell the disks apart afterwards.
        unique_fd f(::openat(d->layersFd(), "upper/mark", O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
        if (!f) return 21;
        const std::string mark = std::to_string(i);
        if (::write(f.get(), mark.data(), mark.size()) != static_cast<ssize_t>(mark.size()))
            return 22;
        if (!v->put("disk/" + std::to_string(i), d->layersFd()).ok()) return 23;
    }
    // 50 disks kept, and not one descriptor more; nothing in the host's table.
    if (countFds() != fds0) return 30;
    if (mountinfo() != before) return 31;
    for (int i : {0, 17, 49}) {
        auto g = v->get("disk/" + std::to_string(i));
        if (!g.ok()) return 40;
        unique_fd f(::openat(g->get(), "upper/mark", O_RDONLY | O_CLOEXEC));
        char buf[8] = {};
        if (!f || ::read(f.get(), buf, sizeof buf) <= 0) return 41;
        if (std::string(buf) != std::to_string(i)) return 42;
    }
    v->drop("disk/17");
    if (v->get("disk/17").ok()) return 50;
    if (v->keys().size() != 49) return 51;
    if (v->put("../escape", 0).ok()) return 52;  // keys are names, never paths
    v->dropAll();
    if (!v->keys().empty()) return 53;
    return 0;
}

TEST(DiskVault, KeepsDisksWithoutDescriptorsOrHostMounts) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (mount namespaces)";
    if (!detachedLayersWork()) GTEST_SKIP() << "this kernel's overlayfs needs attached layers";
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) ::_exit(vaultChecks());
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "the step that failed (see vaultChecks)";
}

}  // namespace
}  // namespace herd::runtime
