#include "runtime/landlock.h"

#include <fcntl.h>
#include <linux/landlock.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "runtime/rawsys.h"

// Newer than some distributions' kernel headers (the value is the kernel's ABI).
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif

namespace herd::runtime {

Result<int> landlockAbi() {
    long abi = syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
    if (abi < 1) return Error::sysNow("landlock_create_ruleset", "version");
    return static_cast<int>(abi);
}

Result<void> planPreinitLandlock(LandlockPlan& plan, const char* root) {
    auto abi = landlockAbi();
    if (!abi.ok()) {
        return Error::msg(
            "preinit needs Landlock (to keep its writes inside the container's root, where a "
            "guest may have planted symlinks to host files), and this kernel has none: " +
            abi.error().text() +
            "; enable Landlock (lsm=...,landlock) or remove vm config preinit");
    }
    uint64_t write = LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |
                     LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR |
                     LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
                     LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |
                     LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM;
    uint64_t file_write = LANDLOCK_ACCESS_FS_WRITE_FILE;
    // ABI 2: moving files between directories is a right of its own (without
    // it being handled, Landlock refuses every such rename and link).
    if (*abi >= 2) write |= LANDLOCK_ACCESS_FS_REFER;
    // ABI 3: truncation (open with O_TRUNC, as `>` does).
    if (*abi >= 3) {
        write |= LANDLOCK_ACCESS_FS_TRUNCATE;
        file_write |= LANDLOCK_ACCESS_FS_TRUNCATE;
    }
    // Reading, listing, executing and device ioctls are not handled: allowed
    // everywhere, as for any host root program.
    plan.handled = write;
    plan.nrules = 0;
    plan.rules[plan.nrules++] = {root, write, true};
    // Only the network sysctls: they are the container's network
    // namespace's. kernel.*, vm.*, fs.* (and binfmt_misc) are the host's.
    plan.rules[plan.nrules++] = {"/proc/sys/net", file_write, false};
    for (const char* dev : {"/dev/null", "/dev/zero", "/dev/full"}) {
        plan.rules[plan.nrules++] = {dev, file_write, false};
    }
    return Ok();
}

long applyLandlock(const LandlockPlan& plan, const char** what) {
    using raw::sys;
    landlock_ruleset_attr attr{};
    attr.handled_access_fs = plan.handled;
    // Only the first field: the kernel takes older, shorter layouts.
    long rs = sys(SYS_landlock_create_ruleset, &attr, sizeof attr.handled_access_fs, 0);
    if (rs < 0) {
        *what = "landlock_create_ruleset";
        return rs;
    }
    for (int i = 0; i < plan.nrules; ++i) {
        const auto& r = plan.rules[i];
        long fd = sys(SYS_openat, AT_FDCWD, r.path, O_PATH | O_CLOEXEC);
        if (fd < 0) {
            if (!r.required) continue;
            *what = r.path;
            return fd;
        }
        landlock_path_beneath_attr pb{};
        pb.allowed_access = r.access;
        pb.parent_fd = static_cast<int32_t>(fd);
        long rc = sys(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
        sys(SYS_close, fd);
        if (rc < 0) {
            *what = r.path;
            return rc;
        }
    }
    long rc = sys(SYS_landlock_restrict_self, rs, 0);
    sys(SYS_close, rs);
    if (rc < 0) *what = "landlock_restrict_self";
    return rc < 0 ? rc : 0;
}

}  // namespace herd::runtime
