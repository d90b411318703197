/* A stand-in for the 82574's DMA engines, for the NIC hot-path benchmark: it plays the
 * legacy receive and transmit ring protocol (Intel 82574 datasheet §7.1, §7.2) over the
 * shared file described in nic-sim.h, busy-polling on its own CPU as the hardware works
 * beside the driver's core.
 *
 *   receive:  fills descriptors from RDH up to (not including) RDT with a 60-byte frame,
 *             writes length and status DD|EOP back, advances RDH
 *   transmit: takes descriptors from TDH up to TDT, reads and checks the frame, writes DD
 *             back when the descriptor asks for it (RS), advances TDH
 *   CTRL.RST: drops both rings and clears RCTL, TCTL and the bit itself
 *
 * Frames carry a sequence number, so the simulator also checks that every frame comes back
 * intact and in order (the driver is a forwarder). In rate mode it injects at a fixed rate,
 * stamps each frame with the TSC, and records injection-to-transmit latency: one clock, on
 * one side, and no timing code in the drivers, so both are measured the same way.
 *
 * usage: nic-sim run FILE MODE RATE_PPS TSC_HZ CPU TIMEOUT_S   (MODE: throughput | rate)
 *        nic-sim calibrate          prints the TSC frequency in Hz
 *        nic-sim pin TID CPU        binds thread TID to CPU (-1: to every CPU)
 *        nic-sim pingpong CPU CPU   prints the cache-line round trip between them in ns
 * run prints one JSON object when the driver sets STOP. The work itself is nic_sim_step
 * (nic-sim-step.c), which the same-core mode runs on the driver's thread instead. */
#define _GNU_SOURCE
#include "nic-sim-step.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

static void set_cpu(pid_t tid, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (cpu >= 0) CPU_SET(cpu, &set);
  else for (int i = 0; i < CPU_SETSIZE && i < sysconf(_SC_NPROCESSORS_ONLN); i++) CPU_SET(i, &set);
  if (sched_setaffinity(tid, sizeof set, &set) != 0) perror("sched_setaffinity");
}

static double mono_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC_RAW, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* The TSC against CLOCK_MONOTONIC_RAW over 200 ms; the kernel's own figure is not
 * exported to user space on every system. */
static double calibrate(void) {
  double t0 = mono_ns();
  uint64_t c0 = __rdtsc();
  while (mono_ns() - t0 < 200e6) {}
  uint64_t c1 = __rdtsc();
  double t1 = mono_ns();
  return (double)(c1 - c0) * 1e9 / (t1 - t0);
}

/* The two-CPU mode: the step in a busy loop on this process's own CPU, as the hardware
 * works beside the driver's core. */
static int run(const char *file, int rate_mode, double rate, double tsc_hz, int cpu, double timeout_s) {
  prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the benchmark that started us */
  if (cpu >= 0) set_cpu(0, cpu);
  int fd = open(file, O_RDWR);
  if (fd < 0) { perror(file); return 1; }
  uint8_t *map = mmap(NULL, NIC_FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) { perror("mmap"); return 1; }
  static struct nic_sim s;
  if (nic_sim_init(&s, map, rate_mode, rate, tsc_hz, timeout_s, 0) != 0) { perror("nic-sim"); return 1; }
  int r;
  while ((r = nic_sim_step(&s)) >= 0) {}
  if (r == NIC_SIM_TIMEOUT) { fprintf(stderr, "nic-sim: timed out\n"); return 3; }
  nic_sim_report(&s, stdout);
  printf("\n");
  nic_sim_free(&s);
  return 0;
}

/* Cache-line round trip between two CPUs: how long one core waits for a line the other just
 * wrote, which is what the simulator and the driver pay per frame for each line they hand
 * over. On a VM it also shows whether the two vCPUs run at the same time at all. */
static volatile uint64_t ping __attribute__((aligned(64))), pong __attribute__((aligned(64)));
#define PP_ROUNDS 200000
static void *pp_peer(void *arg) {
  set_cpu(0, *(int *)arg);
  for (uint64_t i = 1; i <= PP_ROUNDS; i++) {
    while (ping != i) {}
    pong = i;
  }
  return NULL;
}
static int pingpong(int a, int b) {
  pthread_t t;
  set_cpu(0, a);
  pthread_create(&t, NULL, pp_peer, &b);
  double t0 = mono_ns();
  for (uint64_t i = 1; i <= PP_ROUNDS; i++) {
    ping = i;
    while (pong != i) {}
  }
  double t1 = mono_ns();
  pthread_join(t, NULL);
  printf("%.1f\n", (t1 - t0) / PP_ROUNDS);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 4 && !strcmp(argv[1], "pingpong")) return pingpong(atoi(argv[2]), atoi(argv[3]));
  if (argc == 2 && !strcmp(argv[1], "calibrate")) {
    printf("%.0f\n", calibrate());
    return 0;
  }
  if (argc == 4 && !strcmp(argv[1], "pin")) {
    set_cpu((pid_t)atoi(argv[2]), atoi(argv[3]));
    return 0;
  }
  if (argc == 8 && !strcmp(argv[1], "run"))
    return run(argv[2], !strcmp(argv[3], "rate"), atof(argv[4]), atof(argv[5]), atoi(argv[6]), atof(argv[7]));
  fprintf(stderr, "usage: %s run FILE throughput|rate RATE_PPS TSC_HZ CPU TIMEOUT_S | calibrate | pin TID CPU | pingpong CPU CPU\n", argv[0]);
  return 2;
}
