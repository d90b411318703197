/* C baseline for register access: volatile 32-bit loads and stores on a shared
 * mapping of a file (memory-backed, like the JS side's), timed with CLOCK_MONOTONIC.
 * usage: registers FILE ITERATIONS  -> prints {"readNs":…,"writeNs":…} */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: %s FILE ITERATIONS\n", argv[0]); return 2; }
  long n = atol(argv[2]);
  int fd = open(argv[1], O_RDWR);
  if (fd < 0) { perror("open"); return 1; }
  volatile uint32_t *regs = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (regs == MAP_FAILED) { perror("mmap"); return 1; }
  uint32_t sum = 0;
  double t0 = now_ns();
  for (long i = 0; i < n; i++) sum += regs[(i & 7) * 4];
  double t1 = now_ns();
  for (long i = 0; i < n; i++) regs[(i & 7) * 4] = (uint32_t)i;
  /* A store fence per write, as the JS side's Atomics.store (xchg) implies one. */
  double t2 = now_ns();
  for (long i = 0; i < n; i++) { regs[(i & 7) * 4] = (uint32_t)i; __atomic_thread_fence(__ATOMIC_SEQ_CST); }
  double t3 = now_ns();
  printf("{\"readNs\":%.3f,\"writeNs\":%.3f,\"writeFencedNs\":%.3f,\"sum\":%u}\n", (t1 - t0) / n, (t2 - t1) / n, (t3 - t2) / n, sum);
  return 0;
}
