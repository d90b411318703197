/* C baseline receiver: an epoll loop on eventfd TX that reads the send time, records the
 * latency, and acks on eventfd ACK; prints latencies (ns) as JSON percentiles.
 * usage: irq-receiver ROUNDS  (creates the eventfds, forks the sender) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: %s SENDER ROUNDS\n", argv[0]); return 2; }
  long rounds = atol(argv[2]);
  int tx = eventfd(0, 0), ack = eventfd(0, 0);
  char a[16], b[16], r[32];
  snprintf(a, sizeof a, "%d", tx); snprintf(b, sizeof b, "%d", ack); snprintf(r, sizeof r, "%ld", rounds);
  pid_t pid = fork();
  if (pid == 0) { execl(argv[1], argv[1], a, b, r, (char *)NULL); _exit(127); }
  int ep = epoll_create1(0);
  struct epoll_event ev = { .events = EPOLLIN, .data.fd = tx };
  epoll_ctl(ep, EPOLL_CTL_ADD, tx, &ev);
  double *lat = malloc(sizeof(double) * rounds);
  for (long i = 0; i < rounds; i++) {
    struct epoll_event out;
    if (epoll_wait(ep, &out, 1, -1) != 1) { perror("epoll_wait"); return 1; }
    uint64_t sent;
    if (read(tx, &sent, 8) != 8) return 1;
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    lat[i] = (double)((uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec - sent);
    uint64_t one = 1;
    if (write(ack, &one, 8) != 8) return 1;
  }
  waitpid(pid, NULL, 0);
  qsort(lat, rounds, sizeof(double), cmp);
  printf("{\"p50\":%.0f,\"p99\":%.0f,\"p999\":%.0f,\"max\":%.0f}\n", lat[rounds / 2], lat[rounds * 99 / 100], lat[rounds * 999 / 1000], lat[rounds - 1]);
  return 0;
}
