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
 * run prints one JSON object when the driver sets STOP. */
#define _GNU_SOURCE
#include "nic-sim.h"

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

static uint8_t *bar, *ctl, *dma;

static uint32_t reg_load(uint32_t off) { return __atomic_load_n((uint32_t *)(bar + off), __ATOMIC_ACQUIRE); }
static void reg_store(uint32_t off, uint32_t v) { __atomic_store_n((uint32_t *)(bar + off), v, __ATOMIC_RELEASE); }
static uint32_t ctl_load(int word) { return __atomic_load_n((uint32_t *)ctl + word, __ATOMIC_ACQUIRE); }

/* Bus-master access: an IOVA range to a pointer, or NULL when it leaves the DMA area
 * (on hardware, an IOMMU fault). */
static uint8_t *dma_at(uint64_t iova, uint64_t len) {
  if (iova < NIC_IOVA_BASE || iova - NIC_IOVA_BASE > NIC_DMA_SIZE || len > NIC_DMA_SIZE - (iova - NIC_IOVA_BASE)) return NULL;
  return dma + (iova - NIC_IOVA_BASE);
}

struct ring {
  uint8_t *desc;
  uint32_t count, head;
  int on;
};

struct counters {
  uint64_t injected, forwarded, bad, gaps, missed, idle_passes, passes, faults, busy_cycles;
};

static void set_cpu(pid_t tid, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (cpu >= 0) CPU_SET(cpu, &set);
  else for (int i = 0; i < CPU_SETSIZE && i < sysconf(_SC_NPROCESSORS_ONLN); i++) CPU_SET(i, &set);
  if (sched_setaffinity(tid, sizeof set, &set) != 0) perror("sched_setaffinity");
}

/* Time this thread was on a CPU: below the window's length, something else had the CPU. */
static double thread_cpu_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
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

/* Latches a ring when its enable bit rises, as the hardware reads base and length then. */
static void latch(struct ring *r, uint32_t bal, uint32_t bah, uint32_t len, uint32_t head, struct counters *k) {
  uint64_t base = (uint64_t)reg_load(bal) | (uint64_t)reg_load(bah) << 32;
  uint32_t bytes = reg_load(len);
  r->desc = dma_at(base, bytes);
  r->count = bytes / NIC_DESC;
  r->head = reg_load(head);
  r->on = r->desc != NULL && r->count >= 8 && r->head < r->count;
  if (!r->on) k->faults++;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

#define CHUNK 64
static uint64_t c_addr[CHUNK];
static uint16_t c_len[CHUNK];
static uint8_t c_cmd[CHUNK];
static uint8_t *c_buf[CHUNK];

static int run(const char *file, int rate_mode, double rate, double tsc_hz, int cpu, double timeout_s) {
  prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the benchmark that started us */
  if (cpu >= 0) set_cpu(0, cpu);
  int fd = open(file, O_RDWR);
  if (fd < 0) { perror(file); return 1; }
  uint8_t *map = mmap(NULL, NIC_FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) { perror("mmap"); return 1; }
  bar = map;
  ctl = map + NIC_CTL_OFFSET;
  dma = map + NIC_DMA_OFFSET;

  /* Power-on state the driver's init expects: link up at 1000 Mb/s, the NVM already read,
   * a station address loaded, queue 0 arbitration enabled (its reset value). */
  reg_store(NIC_STATUS, NIC_STATUS_UP);
  reg_store(NIC_EEC, NIC_EEC_AUTO_RD);
  reg_store(NIC_RAL0, 0x00000002u);
  reg_store(NIC_RAH0, 0x0100u | NIC_RAH_AV); /* 02:00:00:00:00:01 */
  reg_store(NIC_TARC0, 1u << 10);

  uint8_t frame[NIC_FRAME_LEN];
  static const uint8_t dst[6] = {2, 0, 0, 0, 0, 1}, src[6] = {2, 0, 0, 0, 0, 2};
  memcpy(frame, dst, 6);
  memcpy(frame + 6, src, 6);
  frame[12] = NIC_ETHERTYPE >> 8;
  frame[13] = NIC_ETHERTYPE & 0xff;
  memset(frame + NIC_FRAME_SEQ, 0, 16);
  for (int i = NIC_FRAME_PATTERN; i < NIC_FRAME_LEN; i++) frame[i] = (uint8_t)(i * 7);

  size_t max_samples = rate_mode ? (size_t)(rate * 30) + 1024 : 0; /* up to 30 s measured */
  uint32_t *lat = max_samples ? malloc(max_samples * sizeof *lat) : NULL;
  size_t nlat = 0;
  uint64_t period = rate_mode ? (uint64_t)(tsc_hz / rate) : 0, next = 0;
  uint64_t deadline = __rdtsc() + (uint64_t)(timeout_s * tsc_hz);

  struct ring rx = {0}, tx = {0};
  struct counters k = {0}, at_open = {0}, at_close = {0};
  uint64_t seq_in = 0, seq_out = 0, open_tsc = 0, close_tsc = 0;
  double open_cpu = 0, close_cpu = 0;
  uint32_t measure = 0;
  __atomic_store_n((uint32_t *)ctl + NIC_CTL_READY, 1, __ATOMIC_RELEASE);

  /* Busy time: each pass's cycles (TSC to the next pass) count as busy when it did work,
   * so the report can say whether the simulator had room to spare. */
  uint64_t pass_start = __rdtsc();
  int last_work = 0;
  for (uint64_t pass = 0;; pass++) {
    k.passes++;
    uint64_t t = __rdtsc();
    if (last_work) k.busy_cycles += t - pass_start;
    pass_start = t;
    /* Control, every 16 passes: cheap loads of lines the driver rarely writes. */
    if ((pass & 15) == 0) {
      uint32_t ctrl = reg_load(NIC_CTRL);
      if (ctrl & NIC_CTRL_RST) {
        rx.on = tx.on = 0;
        reg_store(NIC_RCTL, 0);
        reg_store(NIC_TCTL, 0);
        __atomic_fetch_and((uint32_t *)(bar + NIC_CTRL), ~NIC_CTRL_RST, __ATOMIC_RELEASE);
      }
      uint32_t rctl = reg_load(NIC_RCTL), tctl = reg_load(NIC_TCTL);
      if ((rctl & NIC_EN) && !rx.on) latch(&rx, NIC_RDBAL, NIC_RDBAH, NIC_RDLEN, NIC_RDH, &k);
      if (!(rctl & NIC_EN)) rx.on = 0;
      if ((tctl & NIC_EN) && !tx.on) latch(&tx, NIC_TDBAL, NIC_TDBAH, NIC_TDLEN, NIC_TDH, &k);
      if (!(tctl & NIC_EN)) tx.on = 0;
      uint32_t m = ctl_load(NIC_CTL_MEASURE);
      if (m != measure) {
        if (m == 1) { at_open = k; open_tsc = __rdtsc(); open_cpu = thread_cpu_ns(); }
        if (m == 2) { at_close = k; close_tsc = __rdtsc(); close_cpu = thread_cpu_ns(); }
        measure = m;
      }
      if (ctl_load(NIC_CTL_STOP)) break;
      if (__rdtsc() > deadline) { fprintf(stderr, "nic-sim: timed out\n"); return 3; }
    }
    int work = 0;

    /* Both directions work in chunks of up to CHUNK descriptors, in phases (descriptors,
     * then buffers, then write-backs), so the cache misses of a chunk overlap instead of
     * queueing one behind the other: the simulator stands for DMA engines that keep many
     * reads in flight, and must not be what limits the driver. */
    if (tx.on) {
      uint32_t tdt = reg_load(NIC_TDT);
      if (tdt >= tx.count) { k.faults++; tx.on = 0; }
      while (tx.on && tx.head != tdt) {
        uint32_t n = 0;
        for (uint32_t h = tx.head; h != tdt && n < CHUNK; n++, h = h + 1 == tx.count ? 0 : h + 1) {
          uint8_t *d = tx.desc + (size_t)h * NIC_DESC;
          memcpy(&c_addr[n], d, 8);
          memcpy(&c_len[n], d + 8, 2);
          c_cmd[n] = d[11];
          c_buf[n] = dma_at(c_addr[n], c_len[n]);
          if (c_buf[n]) __builtin_prefetch(c_buf[n]);
        }
        for (uint32_t i = 0; i < n; i++) {
          uint8_t *buf = c_buf[i];
          if (!buf) { k.faults++; continue; }
          if (c_len[i] != NIC_FRAME_LEN || !(c_cmd[i] & NIC_TXD_CMD_EOP) || memcmp(buf, frame, NIC_FRAME_SEQ) != 0 ||
              memcmp(buf + NIC_FRAME_PATTERN, frame + NIC_FRAME_PATTERN, NIC_FRAME_LEN - NIC_FRAME_PATTERN) != 0) {
            k.bad++;
            continue;
          }
          uint64_t seq, stamp;
          memcpy(&seq, buf + NIC_FRAME_SEQ, 8);
          memcpy(&stamp, buf + NIC_FRAME_STAMP, 8);
          if (seq < seq_out) { k.bad++; continue; } /* duplicate or reordered */
          k.gaps += seq - seq_out; /* frames the driver dropped */
          seq_out = seq + 1;
          k.forwarded++;
          if (stamp && measure == 1 && nlat < max_samples) {
            uint64_t c = __rdtsc() - stamp;
            lat[nlat++] = c > UINT32_MAX ? UINT32_MAX : (uint32_t)c;
          }
        }
        /* Status write-back (DD) for descriptors that asked for it (RS). */
        for (uint32_t i = 0; i < n; i++) {
          if (c_cmd[i] & NIC_TXD_CMD_RS) __atomic_store_n(tx.desc + (size_t)tx.head * NIC_DESC + 12, NIC_TXD_STAT_DD, __ATOMIC_RELEASE);
          if (++tx.head == tx.count) tx.head = 0;
        }
        work = 1;
      }
      if (work) reg_store(NIC_TDH, tx.head);
    }

    if (rx.on) {
      uint32_t rdt = reg_load(NIC_RDT);
      if (rdt >= rx.count) { k.faults++; rx.on = 0; }
      uint32_t n = 0, first = rx.head;
      if (rate_mode) {
        /* One frame per period of the offered rate; a period with no free descriptor loses
         * its frame (the hardware counts it in MPC). More than 1 ms behind means we were
         * descheduled: resume the schedule rather than catch up in a burst. */
        uint64_t now = __rdtsc();
        if (next == 0 || (now > next && now - next > (uint64_t)tsc_hz / 1000)) next = now;
        for (; now >= next && n < CHUNK; next += period) {
          uint32_t h = (first + n) % rx.count;
          if (h == rdt) k.missed++;
          else n++;
        }
      } else {
        n = (rdt + rx.count - first) % rx.count;
        if (n > CHUNK) n = CHUNK;
      }
      if (rx.on && n) {
        for (uint32_t i = 0; i < n; i++) {
          uint8_t *d = rx.desc + (size_t)((first + i) % rx.count) * NIC_DESC;
          memcpy(&c_addr[i], d, 8);
          c_buf[i] = dma_at(c_addr[i], NIC_FRAME_LEN);
          if (c_buf[i]) __builtin_prefetch(c_buf[i], 1);
        }
        for (uint32_t i = 0; i < n; i++) {
          uint8_t *buf = c_buf[i];
          if (!buf) { k.faults++; rx.on = 0; n = i; break; }
          memcpy(buf, frame, NIC_FRAME_LEN);
          memcpy(buf + NIC_FRAME_SEQ, &seq_in, 8);
          uint64_t stamp = rate_mode ? __rdtsc() : 0;
          memcpy(buf + NIC_FRAME_STAMP, &stamp, 8);
          seq_in++;
        }
        /* Write-back (length, checksum 0, status DD|EOP, errors 0, special 0: one store per
         * descriptor, after the frames), last descriptor first. On hardware a burst's
         * write-back lands as whole cache lines; a core storing descriptor by descriptor
         * while the driver spins on the first would hand the line back and forth once per
         * descriptor and measure that. Written last-first, the descriptor the driver polls
         * turns DD last, and (x86 stores become visible in order) the whole burst with it. */
        uint64_t wb = NIC_FRAME_LEN | (uint64_t)(NIC_RXD_STAT_DD | NIC_RXD_STAT_EOP) << 32;
        for (uint32_t i = n; i-- > 0;)
          __atomic_store_n((uint64_t *)(rx.desc + (size_t)((first + i) % rx.count) * NIC_DESC + 8), wb, __ATOMIC_RELEASE);
        rx.head = (first + n) % rx.count;
        reg_store(NIC_RDH, rx.head);
        k.injected += n;
        work = 1;
      }
    }
    if (!work) k.idle_passes++;
    last_work = work;
  }

  if (!close_tsc) { at_close = k; close_tsc = __rdtsc(); close_cpu = thread_cpu_ns(); }
  if (!open_tsc) { open_tsc = close_tsc; at_open = at_close; open_cpu = close_cpu; }
  double win = (double)(close_tsc - open_tsc);
  printf("{\"windowNs\":%.0f,\"injected\":%llu,\"forwarded\":%llu,\"bad\":%llu,\"gaps\":%llu,\"missed\":%llu,"
         "\"faults\":%llu,\"simBusy\":%.4f,\"simCpuShare\":%.4f,\"totalForwarded\":%llu,\"totalBad\":%llu,\"totalFaults\":%llu",
         win * 1e9 / tsc_hz, (unsigned long long)(at_close.injected - at_open.injected),
         (unsigned long long)(at_close.forwarded - at_open.forwarded), (unsigned long long)(at_close.bad - at_open.bad),
         (unsigned long long)(at_close.gaps - at_open.gaps), (unsigned long long)(at_close.missed - at_open.missed),
         (unsigned long long)(at_close.faults - at_open.faults),
         win > 0 ? (double)(at_close.busy_cycles - at_open.busy_cycles) / win : 0.0,
         win > 0 ? (close_cpu - open_cpu) / (win * 1e9 / tsc_hz) : 0.0,
         (unsigned long long)k.forwarded, (unsigned long long)k.bad, (unsigned long long)k.faults);
  if (nlat) {
    qsort(lat, nlat, sizeof *lat, cmp_u32);
    double ns = 1e9 / tsc_hz;
#define AT(q) ((double)lat[(size_t)((double)(nlat - 1) * (q))] * ns)
    printf(",\"latency\":{\"samples\":%zu,\"p50\":%.0f,\"p90\":%.0f,\"p99\":%.0f,\"p999\":%.0f,\"max\":%.0f}", nlat, AT(0.5), AT(0.9),
           AT(0.99), AT(0.999), (double)lat[nlat - 1] * ns);
  }
  printf("}\n");
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
