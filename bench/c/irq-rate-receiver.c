/* C baseline for the interrupt rate benchmark: an epoll loop on an eventfd that a forked
 * irq-rate-sender adds to, summing the counter values until COUNT events have arrived.
 * Prints {"invocations":N,"firstNs":F,"lastNs":L,"startNs":S,"endNs":E}: handler runs (each
 * read of a non-zero counter), the first and last of them, and the sender's own report.
 * usage: irq-rate-receiver SENDER COUNT RATE */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc != 4) { fprintf(stderr, "usage: %s SENDER COUNT RATE\n", argv[0]); return 2; }
  long count = atol(argv[2]);
  /* Non-blocking, as Node's are: a spurious wakeup must not block the loop. */
  int tx = eventfd(0, EFD_NONBLOCK);
  int out[2];
  if (tx < 0 || pipe(out) < 0) { perror("setup"); return 1; }
  char fd[16];
  snprintf(fd, sizeof fd, "%d", tx);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    execl(argv[1], argv[1], fd, argv[2], argv[3], (char *)NULL);
    _exit(127);
  }
  close(out[1]);
  int ep = epoll_create1(0);
  struct epoll_event ev = { .events = EPOLLIN, .data.fd = tx };
  epoll_ctl(ep, EPOLL_CTL_ADD, tx, &ev);
  long got = 0, invocations = 0;
  uint64_t first = 0, last = 0;
  while (got < count) {
    struct epoll_event e;
    if (epoll_wait(ep, &e, 1, 10000) != 1) { fprintf(stderr, "irq-rate-receiver: no event in 10 s\n"); return 1; }
    uint64_t v;
    if (read(tx, &v, 8) != 8) continue;
    last = now_ns();
    if (invocations++ == 0) first = last;
    got += (long)v;
  }
  char line[128] = "";
  ssize_t n = read(out[0], line, sizeof line - 1);
  int status;
  waitpid(pid, &status, 0);
  if (n <= 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) { fprintf(stderr, "irq-rate-receiver: sender failed\n"); return 1; }
  line[n] = '\0';
  unsigned long long s, e;
  if (sscanf(line, "{\"startNs\":%llu,\"endNs\":%llu}", &s, &e) != 2) return 1;
  printf("{\"invocations\":%ld,\"firstNs\":%llu,\"lastNs\":%llu,\"startNs\":%llu,\"endNs\":%llu}\n", invocations,
         (unsigned long long)first, (unsigned long long)last, s, e);
  return got == count ? 0 : 1;
}
