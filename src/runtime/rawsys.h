// Raw system calls for the launch child.
//
// The container's first process is cloned with CLONE_VM: it shares its
// parent's memory (the keeper's; so a BUILDING container costs no copied page
// tables) and must therefore not touch anything another thread may own: no
// allocation, no locks, and not even errno, which lives in the TLS of the
// thread that called clone(). These wrappers issue the syscall instruction directly and
// return -errno on failure instead of setting errno.
#pragma once

#include <sys/syscall.h>

namespace herd::raw {

#if defined(__x86_64__)
inline long sys6(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}
#elif defined(__aarch64__)
inline long sys6(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    register long x5 __asm__("x5") = f;
    __asm__ volatile("svc 0"
                     : "+r"(x0)
                     : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                     : "memory");
    return x0;
}
#else
#error "herd's launch child needs raw syscalls for this architecture"
#endif

template <typename... A>
inline long sys(long n, A... args) {
    return sys6(n, (long)args...);
}

}  // namespace herd::raw
