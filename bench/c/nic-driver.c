/* The C baseline for the NIC hot-path benchmark: a driver for the same 82574 legacy ring
 * protocol as vfio/net's E1000ePort (src/net/e1000e/port.ts) with the same zero-copy buffer
 * scheme as its PacketPool (src/net/pool.ts), against the same simulator, in the same
 * forwarding loop: receive a burst of buffer ids, transmit the same ids, free what the
 * transmit ring cannot take.
 *
 * Like-for-like with the TypeScript side, per frame:
 *   receive:  a fresh buffer from the pool's free stack goes into the descriptor, the filled
 *             one passes to the app (owner byte, length, port, queue, timestamp), status
 *             cleared; one RDT write per burst;
 *   transmit: the ownership byte and length checked, the id's IOVA and length into the
 *             descriptor, owner NIC; one TDT write per burst; buffers of descriptors the NIC
 *             wrote back (DD) go back onto the free stack before each burst.
 * Where it differs, it does what a C driver would: the doorbell is a release store (a plain
 * store on x86; JS's only ordered store, Atomics.store, is an xchg), an IOVA is one 64-bit
 * store, and there is no STATUS (link) read per transmit burst.
 *
 * usage: nic-driver FILE BATCH WARMUP_MS MEASURE_MS CPU RING two-cpu|same-core TSC_HZ
 * same-core: the simulator's step (nic-sim-step.c) runs on this thread before each burst; no
 * simulator process. Prints {"packets":…,"wallNs":…,"cpuNs":…,"idleNs":…,"simCycles":…} for
 * the measured window, and in same-core mode the simulator's report on a second line. */
#define _GNU_SOURCE
#include "nic-sim-step.h"

#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE 2048
#define MAX_RING 4096
#define MAX_BATCH 256
#define MAX_POOL (4 * MAX_RING)
#define ETH_HEADER 14
enum { FREE = 0, APP = 1, NIC = 2 };

static uint8_t *bar, *ctl, *dma;
static struct nic_sim sim;
static int same_core;

static uint32_t rd(uint32_t off) { return __atomic_load_n((uint32_t *)(bar + off), __ATOMIC_ACQUIRE); }
static void wr(uint32_t off, uint32_t v) { __atomic_store_n((uint32_t *)(bar + off), v, __ATOMIC_RELEASE); }

static double clock_ns(clockid_t id) {
  struct timespec t;
  clock_gettime(id, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* Waiting on the hardware during init: in same-core mode, the hardware is us. */
static void hw_wait(void) {
  if (same_core) nic_sim_step(&sim);
  else usleep(100);
}

/* PacketPool's per-id arrays and free stack (src/net/pool.ts), with the fields it has. */
struct pool {
  uint32_t count, top;
  uint64_t iova[MAX_POOL];
  uint32_t length[MAX_POOL];
  uint16_t port[MAX_POOL], queue[MAX_POOL];
  double timestamp[MAX_POOL];
  uint8_t owner[MAX_POOL];
  uint32_t stack[MAX_POOL];
};

struct port {
  struct pool *pool;
  uint32_t size, port_id;
  uint8_t *rxd, *txd;
  uint32_t rx_ids[MAX_RING], tx_ids[MAX_RING];
  uint32_t rx_next, tx_tail, tx_clean;
  uint64_t rx_frames, rx_bytes, tx_frames, tx_bytes, tx_drops, ring_full, pool_empty;
};

static int pool_take(struct pool *pl) {
  if (!pl->top) return -1;
  uint32_t id = pl->stack[--pl->top];
  pl->owner[id] = NIC;
  return (int)id;
}

static void pool_release(struct pool *pl, uint32_t id) {
  pl->owner[id] = FREE;
  pl->stack[pl->top++] = id;
}

static void pool_free(struct pool *pl, const uint32_t *ids, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    if (pl->owner[ids[i]] != APP) { fprintf(stderr, "nic-driver: freeing buffer %u it does not own\n", ids[i]); exit(4); }
    pool_release(pl, ids[i]);
  }
}

/* Init in the TypeScript driver's order (datasheet chapter 4), minus what the simulator
 * does not model (interrupts, PHY, statistics). One DMA area: the receive ring, the transmit
 * ring, then the pool's buffers (2 × (rx + tx), PacketPool's default for a port). */
static void port_open(struct port *p, struct pool *pl, uint32_t size) {
  p->pool = pl;
  p->size = size;
  wr(0x00d8, 0xffffffffu); /* IMC */
  wr(NIC_CTRL, rd(NIC_CTRL) | NIC_CTRL_RST);
  while (rd(NIC_CTRL) & NIC_CTRL_RST) hw_wait();
  while (!(rd(NIC_EEC) & NIC_EEC_AUTO_RD)) hw_wait();
  wr(NIC_CTRL, rd(NIC_CTRL) | (1u << 6)); /* SLU */

  uint32_t ring_bytes = size * NIC_DESC;
  uint32_t bufs_at = (2 * ring_bytes + 4095) & ~4095u;
  pl->count = 4 * size;
  for (uint32_t id = 0; id < pl->count; id++) {
    pl->iova[id] = NIC_IOVA_BASE + bufs_at + (uint64_t)id * BUF_SIZE;
    pl->stack[id] = pl->count - 1 - id;
  }
  pl->top = pl->count;
  p->rxd = dma;
  p->txd = dma + ring_bytes;
  memset(p->rxd, 0, 2 * ring_bytes);
  for (uint32_t i = 0; i < size; i++) {
    int id = pool_take(pl);
    p->rx_ids[i] = (uint32_t)id;
    memcpy(p->rxd + i * NIC_DESC, &pl->iova[id], 8);
    p->txd[i * NIC_DESC + 11] = NIC_TXD_CMD_EOP | 0x02 /* IFCS */ | NIC_TXD_CMD_RS;
  }
  uint64_t rx_ring = NIC_IOVA_BASE, tx_ring = NIC_IOVA_BASE + ring_bytes;
  wr(NIC_RCTL, 0);
  wr(NIC_RDBAL, (uint32_t)rx_ring);
  wr(NIC_RDBAH, (uint32_t)(rx_ring >> 32));
  wr(NIC_RDLEN, ring_bytes);
  wr(NIC_RDH, 0);
  wr(NIC_RDT, 0);
  wr(NIC_RCTL, NIC_EN | (1u << 15) | (1u << 26) | (1u << 5)); /* EN, BAM, SECRC, LPE; BSIZE 2048 */
  wr(NIC_RDT, size - 1);
  wr(NIC_TCTL, 0);
  wr(NIC_TDBAL, (uint32_t)tx_ring);
  wr(NIC_TDBAH, (uint32_t)(tx_ring >> 32));
  wr(NIC_TDLEN, ring_bytes);
  wr(NIC_TDH, 0);
  wr(NIC_TDT, 0);
  wr(NIC_TCTL, NIC_EN | (1u << 3) | (0x0fu << 4) | (0x3fu << 12) | (1u << 24));
  p->rx_next = p->tx_tail = p->tx_clean = 0;
}

static int rx_ready(const struct port *p) {
  return __atomic_load_n(p->rxd + p->rx_next * NIC_DESC + 12, __ATOMIC_ACQUIRE) & NIC_RXD_STAT_DD;
}

static void tx_reclaim(struct port *p) {
  uint32_t c = p->tx_clean;
  while (c != p->tx_tail && (__atomic_load_n(p->txd + c * NIC_DESC + 12, __ATOMIC_ACQUIRE) & NIC_TXD_STAT_DD)) {
    pool_release(p->pool, p->tx_ids[c]);
    if (++c == p->size) c = 0;
  }
  p->tx_clean = c;
}

static uint32_t rx_burst(struct port *p, uint32_t *ids, uint32_t max) {
  struct pool *pl = p->pool;
  uint32_t i = p->rx_next, n = 0, used = 0;
  while (n < max && used < p->size) {
    uint8_t *d = p->rxd + i * NIC_DESC;
    uint8_t status = __atomic_load_n(d + 12, __ATOMIC_ACQUIRE);
    if (!(status & NIC_RXD_STAT_DD)) break;
    if ((status & NIC_RXD_STAT_EOP) && !(d[13] & 0x97)) {
      int fresh = pool_take(pl);
      if (fresh < 0) {
        tx_reclaim(p); /* sent buffers may be waiting to go back */
        if ((fresh = pool_take(pl)) < 0) { p->pool_empty++; break; }
      }
      uint32_t id = p->rx_ids[i];
      uint16_t len;
      memcpy(&len, d + 8, 2);
      pl->owner[id] = APP;
      pl->length[id] = len;
      pl->port[id] = (uint16_t)p->port_id;
      pl->queue[id] = 0;
      pl->timestamp[id] = 0;
      ids[n++] = id;
      p->rx_frames++;
      p->rx_bytes += len;
      p->rx_ids[i] = (uint32_t)fresh;
      memcpy(d, &pl->iova[fresh], 8);
    }
    d[12] = 0;
    used++;
    if (++i == p->size) i = 0;
  }
  if (!used) return 0;
  p->rx_next = i;
  wr(NIC_RDT, i == 0 ? p->size - 1 : i - 1);
  return n;
}

static uint32_t tx_burst(struct port *p, const uint32_t *ids, uint32_t count) {
  struct pool *pl = p->pool;
  tx_reclaim(p);
  uint32_t free = (p->tx_clean + p->size - p->tx_tail - 1) % p->size;
  uint32_t n = count < free ? count : free;
  if (n < count) { p->ring_full++; p->tx_drops += count - n; }
  uint32_t tail = p->tx_tail;
  uint64_t bytes = 0;
  for (uint32_t k = 0; k < n; k++) {
    uint32_t id = ids[k], len = pl->length[id];
    if (pl->owner[id] != APP || len > BUF_SIZE || len < ETH_HEADER) { fprintf(stderr, "nic-driver: cannot send buffer %u\n", id); exit(4); }
    pl->owner[id] = NIC;
    p->tx_ids[tail] = id;
    uint8_t *d = p->txd + tail * NIC_DESC;
    memcpy(d, &pl->iova[id], 8);
    uint16_t l16 = (uint16_t)len;
    memcpy(d + 8, &l16, 2);
    d[12] = 0;
    bytes += len;
    if (++tail == p->size) tail = 0;
  }
  if (n) {
    p->tx_tail = tail;
    wr(NIC_TDT, tail); /* the doorbell: a release store, after the descriptor stores */
    p->tx_frames += n;
    p->tx_bytes += bytes;
  }
  return n;
}

int main(int argc, char **argv) {
  if (argc != 9) {
    fprintf(stderr, "usage: %s FILE BATCH WARMUP_MS MEASURE_MS CPU RING two-cpu|same-core TSC_HZ\n", argv[0]);
    return 2;
  }
  uint32_t batch = (uint32_t)atoi(argv[2]);
  double warm_ns = atof(argv[3]) * 1e6, measure_ns = atof(argv[4]) * 1e6;
  int cpu = atoi(argv[5]);
  uint32_t ring = (uint32_t)atoi(argv[6]);
  same_core = !strcmp(argv[7], "same-core");
  double tsc_hz = atof(argv[8]);
  if (batch < 1 || batch > MAX_BATCH || ring < 8 || ring > MAX_RING || ring % 8) { fprintf(stderr, "bad BATCH or RING\n"); return 2; }
  if ((uint64_t)2 * ring * NIC_DESC + 4096 + (uint64_t)4 * ring * BUF_SIZE > NIC_DMA_SIZE) { fprintf(stderr, "RING too large for the DMA area\n"); return 2; }
  if (cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
  }
  int fd = open(argv[1], O_RDWR);
  if (fd < 0) { perror(argv[1]); return 1; }
  uint8_t *map = mmap(NULL, NIC_FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) { perror("mmap"); return 1; }
  bar = map;
  ctl = map + NIC_CTL_OFFSET;
  dma = map + NIC_DMA_OFFSET;
  if (same_core && nic_sim_init(&sim, map, 0, 0, tsc_hz, (warm_ns + measure_ns) / 1e9 + 30, 1) != 0) { perror("nic-sim"); return 1; }
  while (!__atomic_load_n((uint32_t *)ctl + NIC_CTL_READY, __ATOMIC_ACQUIRE)) usleep(100);

  static struct pool pl;
  static struct port p;
  port_open(&p, &pl, ring);
  uint32_t ids[MAX_BATCH];
  uint64_t packets = 0, drops = 0, bursts = 0, empty = 0;
  uint64_t m_packets = 0, m_drops = 0, m_bursts = 0, m_empty = 0, sim0 = 0, sim1 = 0;
  double idle = 0, m_idle = 0;
  double start = clock_ns(CLOCK_MONOTONIC), wall0 = 0, cpu0 = 0, wall1 = 0, cpu1 = 0;
  int phase = 0; /* 0 warm-up, 1 measuring */
  for (uint64_t it = 1;; it++) {
    if (same_core && nic_sim_step(&sim) == NIC_SIM_TIMEOUT) { fprintf(stderr, "nic-driver: simulator timed out\n"); return 3; }
    uint32_t n = rx_burst(&p, ids, batch);
    if (n) {
      uint32_t sent = tx_burst(&p, ids, n);
      if (sent < n) pool_free(&pl, ids + sent, n - sent);
      packets += sent;
      drops += n - sent;
      bursts++;
    } else if (same_core) {
      empty++; /* the next step brings frames */
    } else {
      /* The ring is empty: wait for the simulator, and book the wait as idle, not as the
       * driver's work per frame (see bench/nic.ts on cycles per packet). */
      empty++;
      double t0 = clock_ns(CLOCK_MONOTONIC);
      for (uint32_t spins = 0; !rx_ready(&p);)
        if (++spins == 1u << 20) {
          spins = 0;
          if (clock_ns(CLOCK_MONOTONIC) - start > warm_ns + measure_ns + 10e9) { fprintf(stderr, "nic-driver: no frames\n"); return 3; }
        }
      idle += clock_ns(CLOCK_MONOTONIC) - t0;
    }
    if ((it & 63) == 0) {
      double now = clock_ns(CLOCK_MONOTONIC);
      if (phase == 0 && now - start >= warm_ns) {
        phase = 1;
        __atomic_store_n((uint32_t *)ctl + NIC_CTL_MEASURE, 1, __ATOMIC_SEQ_CST);
        wall0 = clock_ns(CLOCK_MONOTONIC);
        cpu0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        sim0 = sim.k.busy_cycles;
        m_packets = packets, m_drops = drops, m_bursts = bursts, m_empty = empty, m_idle = idle;
      } else if (phase == 1 && now - wall0 >= measure_ns) {
        cpu1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        wall1 = clock_ns(CLOCK_MONOTONIC);
        sim1 = sim.k.busy_cycles;
        __atomic_store_n((uint32_t *)ctl + NIC_CTL_MEASURE, 2, __ATOMIC_SEQ_CST);
        break;
      }
    }
  }
  __atomic_store_n((uint32_t *)ctl + NIC_CTL_STOP, 1, __ATOMIC_SEQ_CST);
  printf("{\"packets\":%llu,\"drops\":%llu,\"bursts\":%llu,\"emptyPolls\":%llu,\"wallNs\":%.0f,\"cpuNs\":%.0f,\"idleNs\":%.0f,\"simCycles\":%llu}\n",
         (unsigned long long)(packets - m_packets), (unsigned long long)(drops - m_drops), (unsigned long long)(bursts - m_bursts),
         (unsigned long long)(empty - m_empty), wall1 - wall0, cpu1 - cpu0, idle - m_idle, (unsigned long long)(sim1 - sim0));
  if (same_core) {
    /* The window's marks: the step only looks at the control page every 16 passes. */
    for (int i = 0; i < 16; i++) nic_sim_step(&sim);
    nic_sim_report(&sim, stdout);
    printf("\n");
    nic_sim_free(&sim);
  }
  return 0;
}
