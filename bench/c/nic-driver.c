/* The C baseline for the NIC hot-path benchmark: a driver for the same 82574 legacy ring
 * protocol as examples/e1000e/driver.ts, against the same simulator (nic-sim.c), doing the
 * same forwarding loop: receive a burst, transmit the same frames, drop what the transmit
 * ring cannot take. It follows the TypeScript driver's structure so the two do the same work
 * per frame: descriptors handed back at the next receive call (status cleared, one RDT
 * write), the frame copied into a transmit buffer, one TDT write per burst.
 *
 * Where it differs, it does what a C driver would: the doorbell is a release store (a plain
 * store on x86; JS's only ordered store, Atomics.store, is an xchg), the copy is the frame's
 * length (the TS driver copies whole packet buffers when handed a received Frame), and there
 * is no STATUS read per transmit burst. COPY=whole copies the whole buffer instead, to
 * measure what that costs.
 *
 * usage: nic-driver FILE BATCH WARMUP_MS MEASURE_MS CPU RING len|whole
 * prints {"packets":…,"wallNs":…,"cpuNs":…,"idleNs":…,…} for the measured window. */
#define _GNU_SOURCE
#include "nic-sim.h"

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

static uint8_t *bar, *ctl, *dma;

static uint32_t rd(uint32_t off) { return __atomic_load_n((uint32_t *)(bar + off), __ATOMIC_ACQUIRE); }
static void wr(uint32_t off, uint32_t v) { __atomic_store_n((uint32_t *)(bar + off), v, __ATOMIC_RELEASE); }

static double clock_ns(clockid_t id) {
  struct timespec t;
  clock_gettime(id, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

struct port {
  uint32_t size;
  uint8_t *rxd, *txd;
  uint8_t *rxbuf[MAX_RING], *txbuf[MAX_RING];
  uint32_t rx_next, rx_held, tx_tail, tx_clean;
};

/* Init in the TypeScript driver's order (datasheet chapter 4), minus what the simulator
 * does not model (interrupts, PHY, statistics). */
static void port_open(struct port *p, uint32_t size) {
  p->size = size;
  wr(0x00d8, 0xffffffffu); /* IMC */
  wr(NIC_CTRL, rd(NIC_CTRL) | NIC_CTRL_RST);
  while (rd(NIC_CTRL) & NIC_CTRL_RST) usleep(100);
  while (!(rd(NIC_EEC) & NIC_EEC_AUTO_RD)) usleep(100);
  wr(NIC_CTRL, rd(NIC_CTRL) | (1u << 6)); /* SLU */

  /* One DMA area: the receive ring, the transmit ring, then page-aligned packet buffers. */
  uint32_t ring_bytes = size * NIC_DESC;
  uint32_t bufs_at = (2 * ring_bytes + 4095) & ~4095u;
  p->rxd = dma;
  p->txd = dma + ring_bytes;
  for (uint32_t i = 0; i < size; i++) {
    uint64_t rx_iova = NIC_IOVA_BASE + bufs_at + (uint64_t)i * BUF_SIZE;
    uint64_t tx_iova = NIC_IOVA_BASE + bufs_at + (uint64_t)(size + i) * BUF_SIZE;
    p->rxbuf[i] = dma + (rx_iova - NIC_IOVA_BASE);
    p->txbuf[i] = dma + (tx_iova - NIC_IOVA_BASE);
    memset(p->rxd + i * NIC_DESC, 0, NIC_DESC);
    memset(p->txd + i * NIC_DESC, 0, NIC_DESC);
    memcpy(p->rxd + i * NIC_DESC, &rx_iova, 8);
    memcpy(p->txd + i * NIC_DESC, &tx_iova, 8);
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
  p->rx_next = p->rx_held = p->tx_tail = p->tx_clean = 0;
}

static void rx_give_back(struct port *p) {
  uint32_t held = p->rx_held;
  if (!held) return;
  uint32_t j = (p->rx_next + p->size - held) % p->size;
  for (uint32_t k = 0; k < held; k++) {
    p->rxd[j * NIC_DESC + 12] = 0;
    if (++j == p->size) j = 0;
  }
  p->rx_held = 0;
  wr(NIC_RDT, p->rx_next == 0 ? p->size - 1 : p->rx_next - 1);
}

static int rx_ready(const struct port *p) {
  return __atomic_load_n(p->rxd + p->rx_next * NIC_DESC + 12, __ATOMIC_ACQUIRE) & NIC_RXD_STAT_DD;
}

static uint32_t rx_burst(struct port *p, uint8_t **bufs, uint16_t *lens, uint32_t max) {
  rx_give_back(p);
  uint32_t i = p->rx_next, n = 0, used = 0;
  while (n < max && used < p->size) {
    uint8_t *d = p->rxd + i * NIC_DESC;
    uint8_t status = __atomic_load_n(d + 12, __ATOMIC_ACQUIRE);
    if (!(status & NIC_RXD_STAT_DD)) break;
    used++;
    if ((status & NIC_RXD_STAT_EOP) && !(d[13] & 0x97)) {
      memcpy(&lens[n], d + 8, 2);
      bufs[n++] = p->rxbuf[i];
    }
    if (++i == p->size) i = 0;
  }
  p->rx_next = i;
  p->rx_held += used;
  return n;
}

static uint32_t tx_burst(struct port *p, uint8_t **bufs, const uint16_t *lens, uint32_t count, int whole) {
  uint32_t c = p->tx_clean;
  while (c != p->tx_tail && (__atomic_load_n(p->txd + c * NIC_DESC + 12, __ATOMIC_ACQUIRE) & NIC_TXD_STAT_DD))
    if (++c == p->size) c = 0;
  p->tx_clean = c;
  uint32_t free = (c + p->size - p->tx_tail - 1) % p->size;
  uint32_t n = count < free ? count : free;
  uint32_t tail = p->tx_tail;
  for (uint32_t k = 0; k < n; k++) {
    memcpy(p->txbuf[tail], bufs[k], whole ? BUF_SIZE : lens[k]);
    uint8_t *d = p->txd + tail * NIC_DESC;
    memcpy(d + 8, &lens[k], 2);
    d[12] = 0;
    if (++tail == p->size) tail = 0;
  }
  if (n) {
    p->tx_tail = tail;
    wr(NIC_TDT, tail);
  }
  return n;
}

int main(int argc, char **argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: %s FILE BATCH WARMUP_MS MEASURE_MS CPU RING len|whole\n", argv[0]);
    return 2;
  }
  uint32_t batch = (uint32_t)atoi(argv[2]);
  double warm_ns = atof(argv[3]) * 1e6, measure_ns = atof(argv[4]) * 1e6;
  int cpu = atoi(argv[5]);
  uint32_t ring = (uint32_t)atoi(argv[6]);
  int whole = !strcmp(argv[7], "whole");
  if (batch < 1 || batch > MAX_BATCH || ring < 8 || ring > MAX_RING || ring % 8) { fprintf(stderr, "bad BATCH or RING\n"); return 2; }
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
  while (!__atomic_load_n((uint32_t *)ctl + NIC_CTL_READY, __ATOMIC_ACQUIRE)) usleep(100);

  static struct port p;
  port_open(&p, ring);
  uint8_t *bufs[MAX_BATCH];
  uint16_t lens[MAX_BATCH];
  uint64_t packets = 0, drops = 0, bursts = 0, empty = 0;
  uint64_t m_packets = 0, m_drops = 0, m_bursts = 0, m_empty = 0;
  double idle = 0, m_idle = 0;
  double start = clock_ns(CLOCK_MONOTONIC), wall0 = 0, cpu0 = 0, wall1 = 0, cpu1 = 0;
  int phase = 0; /* 0 warm-up, 1 measuring */
  for (uint64_t it = 1;; it++) {
    uint32_t n = rx_burst(&p, bufs, lens, batch);
    if (n) {
      uint32_t sent = tx_burst(&p, bufs, lens, n, whole);
      packets += sent;
      drops += n - sent;
      bursts++;
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
        m_packets = packets, m_drops = drops, m_bursts = bursts, m_empty = empty, m_idle = idle;
      } else if (phase == 1 && now - wall0 >= measure_ns) {
        cpu1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        wall1 = clock_ns(CLOCK_MONOTONIC);
        __atomic_store_n((uint32_t *)ctl + NIC_CTL_MEASURE, 2, __ATOMIC_SEQ_CST);
        break;
      }
    }
  }
  __atomic_store_n((uint32_t *)ctl + NIC_CTL_STOP, 1, __ATOMIC_SEQ_CST);
  printf("{\"packets\":%llu,\"drops\":%llu,\"bursts\":%llu,\"emptyPolls\":%llu,\"wallNs\":%.0f,\"cpuNs\":%.0f,\"idleNs\":%.0f}\n",
         (unsigned long long)(packets - m_packets), (unsigned long long)(drops - m_drops), (unsigned long long)(bursts - m_bursts),
         (unsigned long long)(empty - m_empty), wall1 - wall0, cpu1 - cpu0, idle - m_idle);
  return 0;
}
