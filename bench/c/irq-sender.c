/* Interrupt source for the latency benchmark: signals eventfd TX with the send time
 * (CLOCK_MONOTONIC ns) as the counter value, then waits for the receiver's ack on eventfd
 * ACK before the next round, so every event is measured alone. A missing ack ends it
 * after 10 s, so a broken receiver cannot hang the benchmark.
 * usage: irq-sender TXFD ACKFD ROUNDS */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 4) return 2;
  int tx = atoi(argv[1]), ack = atoi(argv[2]);
  long rounds = atol(argv[3]);
  for (long i = 0; i < rounds; i++) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    uint64_t ns = (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
    if (write(tx, &ns, 8) != 8) { perror("write"); return 1; }
    /* The receiver's eventfds may be non-blocking (they are in Node's): wait with poll. */
    uint64_t v;
    for (;;) {
      struct pollfd p = { .fd = ack, .events = POLLIN };
      if (poll(&p, 1, 10000) != 1) { fprintf(stderr, "irq-sender: no ack in 10 s\n"); return 1; }
      if (read(ack, &v, 8) == 8) break;
      if (errno != EAGAIN) { perror("read"); return 1; }
    }
  }
  return 0;
}
