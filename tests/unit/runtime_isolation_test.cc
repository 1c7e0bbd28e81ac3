// The guest's seccomp filter, loaded in a forked child: what it allows, what
// it refuses with EPERM and what answers ENOSYS.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <linux/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

#include "runtime/isolation.h"

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

namespace herd::runtime {
namespace {

// Runs fn in a child with the filter loaded (the default profile, or with
// `host_storage` the stricter one); fn's return value is the child's exit
// status: 0 for "as expected", else a code telling which check failed.
int underFilter(const std::function<int()>& fn, bool host_storage = true) {
    static auto strict = buildSeccompFilter(true);
    static auto plain = buildSeccompFilter(false);
    auto& prog = host_storage ? strict : plain;
    EXPECT_TRUE(prog.ok()) << (prog.ok() ? "" : prog.error().text());
    if (!prog.ok()) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        sock_fprog fp{static_cast<unsigned short>(prog->size()), prog->data()};
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(100);
        if (syscall(SYS_seccomp, 1 /*SECCOMP_SET_MODE_FILTER*/, 0, &fp) != 0) _exit(101);
        _exit(fn());
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 200 + WTERMSIG(status);
}

// The errno of a raw syscall (0 if it succeeded).
int err(long rc) {
    return rc < 0 ? errno : 0;
}

TEST(Seccomp, PlainCallsAllowed) {
    EXPECT_EQ(underFilter([] {
                  if (getpid() <= 0) return 1;
                  char buf[8];
                  int fd = open("/dev/null", O_RDONLY);
                  if (fd < 0 || read(fd, buf, sizeof buf) != 0) return 2;
                  close(fd);
                  int sv[2];
                  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 3;
                  int s = socket(AF_INET, SOCK_DGRAM, 0);
                  if (s < 0) return 4;
                  pid_t c = fork();  // glibc: clone3 -> ENOSYS -> clone
                  if (c < 0) return 5;
                  if (c == 0) _exit(0);
                  int st;
                  if (waitpid(c, &st, 0) != c) return 6;
                  return 0;
              }),
              0);
}

TEST(Seccomp, IoUringRefused) {
    EXPECT_EQ(underFilter([] {
                  char params[120] = {};
                  return err(syscall(SYS_io_uring_setup, 1, params)) == EPERM ? 0 : 1;
              }),
              0);
}

TEST(Seccomp, Personality) {
    EXPECT_EQ(underFilter([] {
                  if (err(syscall(SYS_personality, 0xffffffffUL)) != 0) return 1;
                  if (err(syscall(SYS_personality, PER_LINUX)) != 0) return 2;
                  if (err(syscall(SYS_personality, PER_BSD)) != EPERM) return 3;
                  if (err(syscall(SYS_personality, READ_IMPLIES_EXEC)) != EPERM) return 4;
                  return 0;
              }),
              0);
}

TEST(Seccomp, VsockRefused) {
    EXPECT_EQ(underFilter([] { return err(socket(AF_VSOCK, SOCK_STREAM, 0)) == EPERM ? 0 : 1; }),
              0);
}

TEST(Seccomp, UnknownSyscallIsEnosys) {
    EXPECT_EQ(underFilter([] { return err(syscall(1000)) == ENOSYS ? 0 : 1; }), 0);
}

TEST(Seccomp, Clone3IsEnosys) {
    EXPECT_EQ(underFilter([] { return err(syscall(SYS_clone3, nullptr, 0)) == ENOSYS ? 0 : 1; }),
              0);
}

TEST(Seccomp, NamespacesAndMountsRefused) {
    EXPECT_EQ(underFilter([] {
                  if (err(syscall(SYS_unshare, CLONE_NEWNS)) != EPERM) return 1;
                  if (err(syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0)) != EPERM) {
                      return 2;
                  }
                  if (err(syscall(SYS_mount, "none", "/", "tmpfs", 0, 0)) != EPERM) return 3;
                  if (err(syscall(SYS_ptrace, 16 /*PTRACE_ATTACH*/, 1, 0, 0)) != EPERM) return 4;
                  if (err(syscall(SYS_keyctl, 0, 0, 0, 0, 0)) != EPERM) return 5;
                  return 0;
              }),
              0);
}

TEST(Seccomp, SetIdBitsRefused) {
    char dir[] = "/tmp/herd-seccomp-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    std::string f = std::string(dir) + "/f";
    EXPECT_EQ(underFilter([&] {
                  int fd = open(f.c_str(), O_CREAT | O_WRONLY, 0644);
                  if (fd < 0) return 1;
                  if (err(fchmod(fd, 0755)) != 0) return 2;
                  if (err(fchmod(fd, 04755)) != EPERM) return 3;
                  if (err(chmod(f.c_str(), 02755)) != EPERM) return 4;
                  if (err(fchmodat(AT_FDCWD, f.c_str(), 06755, 0)) != EPERM) return 5;
                  if (err(chmod(f.c_str(), 01777)) != 0) return 6;  // sticky is fine
                  std::string g = f + "2";
                  if (err(open(g.c_str(), O_CREAT | O_WRONLY, 04755)) != EPERM) return 7;
                  if (err(mknod(g.c_str(), S_IFREG | 02755, 0)) != EPERM) return 8;
                  if (err(syscall(SYS_openat2, AT_FDCWD, g.c_str(), nullptr, 0)) != ENOSYS) {
                      return 9;
                  }
                  return 0;
              }),
              0);
    struct stat st {};
    ASSERT_EQ(stat(f.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 01777u);
    unlink(f.c_str());
    rmdir(dir);
}

TEST(Seccomp, SetIdBitsAllowedWithoutHostStorage) {
    // A container whose writes stay in its overlay (under the root-only base)
    // may install setuid programs, as a package manager does.
    char dir[] = "/tmp/herd-seccomp-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    std::string f = std::string(dir) + "/f";
    EXPECT_EQ(underFilter(
                  [&] {
                      int fd = open(f.c_str(), O_CREAT | O_WRONLY, 04755);
                      if (fd < 0) return 1;
                      if (err(fchmod(fd, 06755)) != 0) return 2;
                      if (err(syscall(SYS_io_uring_setup, 1, nullptr)) != EPERM) return 3;
                      return 0;
                  },
                  /*host_storage=*/false),
              0);
    unlink(f.c_str());
    rmdir(dir);
}

TEST(Capabilities, NoFilePrivilegeCapabilitiesWithHostStorage) {
    uint64_t caps = hostStorageCapabilities();
    for (int c : {CAP_MKNOD, CAP_SETFCAP, CAP_FSETID, CAP_NET_ADMIN, CAP_SYS_ADMIN}) {
        EXPECT_EQ(caps & (uint64_t{1} << c), 0u) << capabilityName(c);
    }
    EXPECT_NE(caps & (uint64_t{1} << CAP_NET_RAW), 0u);
    EXPECT_EQ(netAdminCapability(), uint64_t{1} << CAP_NET_ADMIN);
    // Docker's default set otherwise.
    uint64_t dflt = defaultCapabilities();
    for (int c : {CAP_MKNOD, CAP_SETFCAP, CAP_FSETID, CAP_NET_RAW}) {
        EXPECT_NE(dflt & (uint64_t{1} << c), 0u) << capabilityName(c);
    }
    EXPECT_EQ(dflt & (uint64_t{1} << CAP_SYS_ADMIN), 0u);
}

}  // namespace
}  // namespace herd::runtime
