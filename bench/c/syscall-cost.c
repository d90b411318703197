/* Calibration for the DMA benchmark (runs in the guest): ns per read() of an empty
 * non-blocking eventfd (a syscall that does nothing, the floor under any native call), per
 * fstat() of /dev/vfio/vfio (the addon checks the fd's kind this way before each DMA ioctl)
 * and per clock read (both sides read the clock twice per map+unmap). Each is timed over N
 * calls in one batch, so the clock reads around the batch do not weigh in.
 * Prints {"readNs":R,"fstatNs":F,"clockNs":C}.  usage: syscall-cost N */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  long n = atol(argv[1]);
  int e = eventfd(0, EFD_NONBLOCK);
  int c = open("/dev/vfio/vfio", O_RDWR);
  if (e < 0 || c < 0) { perror("open"); return 1; }
  uint64_t v;
  struct stat st;
  uint64_t t0 = now_ns();
  for (long i = 0; i < n; i++)
    if (read(e, &v, 8) == 8) return 1;
  uint64_t t1 = now_ns();
  for (long i = 0; i < n; i++)
    if (fstat(c, &st) < 0) return 1;
  uint64_t t2 = now_ns();
  volatile uint64_t sink = 0;
  for (long i = 0; i < n; i++) sink += now_ns();
  uint64_t t3 = now_ns();
  printf("{\"readNs\":%.1f,\"fstatNs\":%.1f,\"clockNs\":%.1f}\n", (double)(t1 - t0) / n, (double)(t2 - t1) / n, (double)(t3 - t2) / n);
  return 0;
}
