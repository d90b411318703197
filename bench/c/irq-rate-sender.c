/* Interrupt source for the rate benchmark: adds 1 to eventfd TX COUNT times, never waiting
 * for the receiver. RATE > 0 paces the writes to RATE per second against absolute deadlines
 * (a busy wait: sleeping cannot hit microsecond deadlines); RATE 0 writes as fast as it can.
 * Prints {"startNs":S,"endNs":E} (CLOCK_MONOTONIC, the clock the receivers read).
 * usage: irq-rate-sender TXFD COUNT RATE */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc != 4) return 2;
  int tx = atoi(argv[1]);
  long count = atol(argv[2]);
  double rate = atof(argv[3]);
  uint64_t one = 1, start = now_ns();
  for (long i = 0; i < count; i++) {
    if (rate > 0) {
      uint64_t due = start + (uint64_t)((double)i * 1e9 / rate);
      while (now_ns() < due) {}
    }
    if (write(tx, &one, 8) != 8) { perror("irq-rate-sender: write"); return 1; }
  }
  printf("{\"startNs\":%llu,\"endNs\":%llu}\n", (unsigned long long)start, (unsigned long long)now_ns());
  return 0;
}
