// Built only when libstdc++ is linked statically (VFIO_STATIC_CXX, see binding.gyp), so that
// the addon loads on glibc 2.28. The builder's libstdc++.a was compiled against its own, newer
// glibc and refers to two symbols that 2.28 lacks; hidden definitions here satisfy those
// references inside the addon without exporting anything or touching the process's glibc.
#include <sys/syscall.h>
#include <unistd.h>  // defines __GLIBC__

#include <cerrno>
#include <cstdint>

#if defined(VFIO_STATIC_CXX) && defined(__GLIBC__)

extern "C" {

// GLIBC_2.32. libstdc++ skips atomic reference counting when this is non-zero; zero (always
// use atomics) is right for any process, and Node's is never single-threaded anyway.
__attribute__((visibility("hidden"))) char __libc_single_threaded = 0;

// GLIBC_2.36. Reached only from std::random_device, which the shim never constructs; it is
// linked in because libstdc++.a's string instantiations sit in the same object file.
__attribute__((visibility("hidden"))) uint32_t arc4random(void) {
  uint32_t v;
  for (;;) {
    long n = ::syscall(SYS_getrandom, &v, sizeof v, 0);
    if (n == static_cast<long>(sizeof v)) return v;
    if (n < 0 && errno != EINTR) __builtin_trap();  // <cstdlib> would redeclare arc4random
  }
}

}  // extern "C"
#endif
