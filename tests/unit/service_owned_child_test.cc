// OwnedChild: a helper process the daemon owns. When no pidfd can be had for
// it, spawn must fail and leave no child behind (stop() could never signal
// one it has no pidfd for, and would wait for it forever).
#include "service/owned_child.h"

#include <gtest/gtest.h>
#include <seccomp.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <cerrno>

namespace {

herd::unique_fd devNull() {
    return herd::unique_fd(::open("/dev/null", O_WRONLY | O_CLOEXEC));
}

TEST(OwnedChild, SpawnWithoutPidfdFailsAndLeavesNoChild) {
    // In a forked process: the seccomp filter that makes pidfd_open fail
    // stays with the process that installs it.
    pid_t tester = ::fork();
    ASSERT_GE(tester, 0);
    if (tester == 0) {
        ::alarm(10);  // a hang (the bug) ends as SIGALRM, a failure
        scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
        if (!ctx || seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EMFILE), SCMP_SYS(pidfd_open), 0) != 0 ||
            seccomp_load(ctx) != 0) {
            _exit(10);
        }
        auto c = herd::OwnedChild::spawn({"/bin/sleep", "30"}, devNull(), nullptr);
        if (c.ok()) {
            (*c)->stop(100);  // blocks forever without a pidfd: the alarm fails it
            _exit(11);
        }
        if (c.error().errnum() != EMFILE) _exit(12);
        // The sleep was killed and reaped: no child is left.
        if (::waitpid(-1, nullptr, WNOHANG) != -1 || errno != ECHILD) _exit(13);
        _exit(0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(tester, &status, 0), tester);
    ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

// The ordinary path still works: spawned, stopped, reaped.
TEST(OwnedChild, SpawnAndStop) {
    auto c = herd::OwnedChild::spawn({"/bin/sleep", "30"}, devNull(), nullptr);
    ASSERT_TRUE(c.ok()) << c.error().text();
    EXPECT_TRUE((*c)->running());
    (*c)->stop(2000);
    EXPECT_FALSE((*c)->running());
    EXPECT_TRUE(WIFSIGNALED((*c)->status()));
}

}  // namespace
