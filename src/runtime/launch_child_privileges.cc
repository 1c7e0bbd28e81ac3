// Launch child: the privilege drop, last step before the child reports
// ready. Capabilities outside a.keep_caps leave every set (bounding, ambient,
// effective, permitted, inheritable), no_new_privs is set (so exec can never
// gain privileges back), then the seccomp filter is loaded, which
// no_new_privs allows without CAP_SYS_ADMIN.
//
// Runs in the launch child, which shares the daemon's memory (CLONE_VM): raw
// syscalls only (rawsys.h), no allocation, no libc that may lock or set errno.
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>

#include "runtime/launch_internal.h"

namespace herd::runtime::launch_detail {

using raw::sys;

void dropPrivileges(const ChildArgs& a) {
    for (int c = 0; c <= a.last_cap; ++c) {
        if (a.keep_caps & (uint64_t{1} << c)) continue;
        long rc = sys(SYS_prctl, PR_CAPBSET_DROP, c, 0, 0, 0);
        if (rc < 0 && rc != -EINVAL) childFail(kCaps, rc, "bounding set");
    }
    sys(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    for (int i = 0; i < 2; ++i) {
        uint32_t v = static_cast<uint32_t>(a.keep_caps >> (32 * i));
        data[i].effective = data[i].permitted = data[i].inheritable = v;
    }
    CHILD_TRY(sys(SYS_capset, &hdr, data), kCaps, "capset");
    CHILD_TRY(sys(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), kNoNewPrivs, "");
    CHILD_TRY(sys(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &a.seccomp), kSeccomp, "");
}

}  // namespace herd::runtime::launch_detail
