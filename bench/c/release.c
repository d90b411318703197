/* The cost of releasing memory: munmap against the shim's quarantine (native/memory.cc), which
 * replaces the range with a writable MAP_NORESERVE placeholder (mmap MAP_FIXED) and munmaps the
 * placeholder later. Each release is of a freshly allocated, populated mapping of SIZE bytes, as
 * dmaAlloc makes; only the release is timed. "placeholder" is the mmap(MAP_FIXED) alone, "later"
 * the deferred munmap of that placeholder (untouched: no late write happened).
 * Prints {"size":S,"munmapNs":A,"placeholderNs":B,"laterMunmapNs":C}.  usage: release SIZE N */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void *alloc(size_t size) {
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (p == MAP_FAILED) { perror("mmap"); exit(1); }
  return p;
}

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  size_t size = (size_t)atol(argv[1]);
  long n = atol(argv[2]);
  void **held = calloc((size_t)n, sizeof(void *));
  uint64_t a = 0, b = 0, c = 0, t;
  for (long i = 0; i < n; i++) {
    void *p = alloc(size);
    t = now_ns();
    munmap(p, size);
    a += now_ns() - t;
  }
  for (long i = 0; i < n; i++) {
    void *p = alloc(size);
    t = now_ns();
    if (mmap(p, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) == MAP_FAILED) {
      perror("mmap MAP_FIXED");
      return 1;
    }
    b += now_ns() - t;
    held[i] = p;
    if (i % 1024 == 1023) { /* the quarantine's entry cap: drain as it would */
      t = now_ns();
      for (long k = i - 1023; k <= i; k++) munmap(held[k], size);
      c += now_ns() - t;
    }
  }
  t = now_ns();
  for (long k = n - n % 1024; k < n; k++) munmap(held[k], size);
  c += now_ns() - t;
  printf("{\"size\":%zu,\"munmapNs\":%.0f,\"placeholderNs\":%.0f,\"laterMunmapNs\":%.0f}\n", size, (double)a / n,
         (double)b / n, (double)c / n);
  return 0;
}
