// Launch child: the container's /dev, a fresh tmpfs with the usual device
// nodes, its own devpts instance, shm, mqueue, the /dev/fd links and the
// console.
//
// Runs in the launch child, which shares the daemon's memory (CLONE_VM): raw
// syscalls only (rawsys.h), no allocation, no libc that may lock or set errno.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "runtime/launch_internal.h"

namespace herd::runtime::launch_detail {

using raw::sys;

void mountDev(int console_fd) {
    mountAt("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k");
    struct {
        const char* path;
        unsigned maj, min;
    } const devs[] = {{"/dev/null", 1, 3}, {"/dev/zero", 1, 5},   {"/dev/full", 1, 7},
                      {"/dev/tty", 5, 0},  {"/dev/random", 1, 8}, {"/dev/urandom", 1, 9}};
    for (const auto& d : devs) {
        CHILD_TRY(sys(SYS_mknodat, AT_FDCWD, d.path, S_IFCHR | 0666, makedev(d.maj, d.min)), kMknod,
                  d.path);
    }
    mountAt("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
            "newinstance,ptmxmode=0666,mode=0620,gid=5");
    mountAt("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=65536k", 01777);
    mountAt("mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
    struct {
        const char* target;
        const char* link;
    } const links[] = {{"pts/ptmx", "/dev/ptmx"},
                       {"/proc/self/fd", "/dev/fd"},
                       {"/proc/self/fd/0", "/dev/stdin"},
                       {"/proc/self/fd/1", "/dev/stdout"},
                       {"/proc/self/fd/2", "/dev/stderr"}};
    for (const auto& l : links) {
        CHILD_TRY(sys(SYS_symlinkat, l.target, AT_FDCWD, l.link), kSymlink, l.link);
    }
    attachTree(console_fd, "/dev/console", true);
}

}  // namespace herd::runtime::launch_detail
