/* The simulator's step: the legacy receive and transmit ring protocol of the 82574 (datasheet
 * §7.1, §7.2) over the shared file of nic-sim.h. See nic-sim-step.h for who calls it, and
 * nic-sim.c for what the simulator models and checks. */
#define _GNU_SOURCE
#include "nic-sim-step.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <x86intrin.h>

static uint32_t reg_load(struct nic_sim *s, uint32_t off) { return __atomic_load_n((uint32_t *)(s->bar + off), __ATOMIC_ACQUIRE); }
static void reg_store(struct nic_sim *s, uint32_t off, uint32_t v) { __atomic_store_n((uint32_t *)(s->bar + off), v, __ATOMIC_RELEASE); }
static uint32_t ctl_load(struct nic_sim *s, int word) { return __atomic_load_n((uint32_t *)s->ctl + word, __ATOMIC_ACQUIRE); }

/* Bus-master access: an IOVA range to a pointer, or NULL when it leaves the DMA area
 * (on hardware, an IOMMU fault). */
static uint8_t *dma_at(struct nic_sim *s, uint64_t iova, uint64_t len) {
  if (iova < NIC_IOVA_BASE || iova - NIC_IOVA_BASE > NIC_DMA_SIZE || len > NIC_DMA_SIZE - (iova - NIC_IOVA_BASE)) return NULL;
  return s->dma + (iova - NIC_IOVA_BASE);
}

double nic_sim_thread_cpu_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

int nic_sim_init(struct nic_sim *s, uint8_t *map, int rate_mode, double rate, double tsc_hz, double timeout_s, int self_timed) {
  memset(s, 0, sizeof *s);
  s->bar = map;
  s->ctl = map + NIC_CTL_OFFSET;
  s->dma = map + NIC_DMA_OFFSET;
  s->rate_mode = rate_mode;
  s->self_timed = self_timed;
  s->tsc_hz = tsc_hz;
  /* Power-on state the driver's init expects: link up at 1000 Mb/s, the NVM already read,
   * a station address loaded, queue 0 arbitration enabled (its reset value). */
  reg_store(s, NIC_STATUS, NIC_STATUS_UP);
  reg_store(s, NIC_EEC, NIC_EEC_AUTO_RD);
  reg_store(s, NIC_RAL0, 0x00000002u);
  reg_store(s, NIC_RAH0, 0x0100u | NIC_RAH_AV); /* 02:00:00:00:00:01 */
  reg_store(s, NIC_TARC0, 1u << 10);

  static const uint8_t dst[6] = {2, 0, 0, 0, 0, 1}, src[6] = {2, 0, 0, 0, 0, 2};
  memcpy(s->frame, dst, 6);
  memcpy(s->frame + 6, src, 6);
  s->frame[12] = NIC_ETHERTYPE >> 8;
  s->frame[13] = NIC_ETHERTYPE & 0xff;
  for (int i = NIC_FRAME_PATTERN; i < NIC_FRAME_LEN; i++) s->frame[i] = (uint8_t)(i * 7);

  s->max_lat = rate_mode ? (size_t)(rate * 30) + 1024 : 0; /* up to 30 s measured */
  if (s->max_lat && !(s->lat = malloc(s->max_lat * sizeof *s->lat))) return -1;
  s->period = rate_mode ? (uint64_t)(tsc_hz / rate) : 0;
  s->deadline = __rdtsc() + (uint64_t)(timeout_s * tsc_hz);
  s->pass_start = __rdtsc();
  __atomic_store_n((uint32_t *)s->ctl + NIC_CTL_READY, 1, __ATOMIC_RELEASE);
  return 0;
}

void nic_sim_free(struct nic_sim *s) {
  free(s->lat);
  s->lat = NULL;
}

/* Latches a ring when its enable bit rises, as the hardware reads base and length then. */
static void latch(struct nic_sim *s, struct nic_sim_ring *r, uint32_t bal, uint32_t bah, uint32_t len, uint32_t head) {
  uint64_t base = (uint64_t)reg_load(s, bal) | (uint64_t)reg_load(s, bah) << 32;
  uint32_t bytes = reg_load(s, len);
  r->desc = dma_at(s, base, bytes);
  r->count = bytes / NIC_DESC;
  r->head = reg_load(s, head);
  r->on = r->desc != NULL && r->count >= 8 && r->head < r->count;
  if (!r->on) s->k.faults++;
}

/* Reset, ring enables and the driver's measured window: cheap loads of lines the driver
 * rarely writes. Returns nonzero to stop. */
static int control(struct nic_sim *s) {
  struct nic_sim_counters *k = &s->k;
  uint32_t ctrl = reg_load(s, NIC_CTRL);
  if (ctrl & NIC_CTRL_RST) {
    s->rx.on = s->tx.on = 0;
    reg_store(s, NIC_RCTL, 0);
    reg_store(s, NIC_TCTL, 0);
    __atomic_fetch_and((uint32_t *)(s->bar + NIC_CTRL), ~NIC_CTRL_RST, __ATOMIC_RELEASE);
  }
  uint32_t rctl = reg_load(s, NIC_RCTL), tctl = reg_load(s, NIC_TCTL);
  if ((rctl & NIC_EN) && !s->rx.on) latch(s, &s->rx, NIC_RDBAL, NIC_RDBAH, NIC_RDLEN, NIC_RDH);
  if (!(rctl & NIC_EN)) s->rx.on = 0;
  if ((tctl & NIC_EN) && !s->tx.on) latch(s, &s->tx, NIC_TDBAL, NIC_TDBAH, NIC_TDLEN, NIC_TDH);
  if (!(tctl & NIC_EN)) s->tx.on = 0;
  uint32_t m = ctl_load(s, NIC_CTL_MEASURE);
  if (m != s->measure) {
    if (m == 1) { s->at_open = *k; s->open_tsc = __rdtsc(); s->open_cpu = nic_sim_thread_cpu_ns(); }
    if (m == 2) { s->at_close = *k; s->close_tsc = __rdtsc(); s->close_cpu = nic_sim_thread_cpu_ns(); }
    s->measure = m;
  }
  if (ctl_load(s, NIC_CTL_STOP)) return NIC_SIM_STOPPED;
  if (__rdtsc() > s->deadline) return NIC_SIM_TIMEOUT;
  return 0;
}

/* Takes descriptors from TDH up to TDT, checks each frame (content, order), writes DD back
 * where RS asks for it. */
static int transmit(struct nic_sim *s) {
  struct nic_sim_ring *tx = &s->tx;
  struct nic_sim_counters *k = &s->k;
  int work = 0;
  uint32_t tdt = reg_load(s, NIC_TDT);
  if (tdt >= tx->count) { k->faults++; tx->on = 0; }
  while (tx->on && tx->head != tdt) {
    uint32_t n = 0;
    for (uint32_t h = tx->head; h != tdt && n < NIC_SIM_CHUNK; n++, h = h + 1 == tx->count ? 0 : h + 1) {
      uint8_t *d = tx->desc + (size_t)h * NIC_DESC;
      memcpy(&s->c_addr[n], d, 8);
      memcpy(&s->c_len[n], d + 8, 2);
      s->c_cmd[n] = d[11];
      s->c_buf[n] = dma_at(s, s->c_addr[n], s->c_len[n]);
      if (s->c_buf[n]) __builtin_prefetch(s->c_buf[n]);
    }
    for (uint32_t i = 0; i < n; i++) {
      uint8_t *buf = s->c_buf[i];
      if (!buf) { k->faults++; continue; }
      if (s->c_len[i] != NIC_FRAME_LEN || !(s->c_cmd[i] & NIC_TXD_CMD_EOP) || memcmp(buf, s->frame, NIC_FRAME_SEQ) != 0 ||
          memcmp(buf + NIC_FRAME_PATTERN, s->frame + NIC_FRAME_PATTERN, NIC_FRAME_LEN - NIC_FRAME_PATTERN) != 0) {
        k->bad++;
        continue;
      }
      uint64_t seq, stamp;
      memcpy(&seq, buf + NIC_FRAME_SEQ, 8);
      memcpy(&stamp, buf + NIC_FRAME_STAMP, 8);
      if (seq < s->seq_out) { k->bad++; continue; } /* duplicate or reordered */
      k->gaps += seq - s->seq_out; /* frames the driver dropped */
      s->seq_out = seq + 1;
      k->forwarded++;
      if (stamp && s->measure == 1 && s->nlat < s->max_lat) {
        uint64_t c = __rdtsc() - stamp;
        s->lat[s->nlat++] = c > UINT32_MAX ? UINT32_MAX : (uint32_t)c;
      }
    }
    /* Status write-back (DD) for descriptors that asked for it (RS). */
    for (uint32_t i = 0; i < n; i++) {
      if (s->c_cmd[i] & NIC_TXD_CMD_RS) __atomic_store_n(tx->desc + (size_t)tx->head * NIC_DESC + 12, NIC_TXD_STAT_DD, __ATOMIC_RELEASE);
      if (++tx->head == tx->count) tx->head = 0;
    }
    work = 1;
  }
  if (work) reg_store(s, NIC_TDH, tx->head);
  return work;
}

/* Fills descriptors from RDH up to (not including) RDT with a frame, writes length and
 * DD|EOP back, advances RDH. */
static int receive(struct nic_sim *s) {
  struct nic_sim_ring *rx = &s->rx;
  struct nic_sim_counters *k = &s->k;
  uint32_t rdt = reg_load(s, NIC_RDT);
  if (rdt >= rx->count) { k->faults++; rx->on = 0; }
  uint32_t n = 0, first = rx->head;
  if (s->rate_mode) {
    /* One frame per period of the offered rate; a period with no free descriptor loses
     * its frame (the hardware counts it in MPC). More than 1 ms behind means we were
     * descheduled: resume the schedule rather than catch up in a burst. */
    uint64_t now = __rdtsc();
    if (s->next == 0 || (now > s->next && now - s->next > (uint64_t)s->tsc_hz / 1000)) s->next = now;
    for (; now >= s->next && n < NIC_SIM_CHUNK; s->next += s->period) {
      uint32_t h = (first + n) % rx->count;
      if (h == rdt) k->missed++;
      else n++;
    }
  } else {
    n = (rdt + rx->count - first) % rx->count;
    if (n > NIC_SIM_CHUNK) n = NIC_SIM_CHUNK;
  }
  if (!rx->on || !n) return 0;
  for (uint32_t i = 0; i < n; i++) {
    uint8_t *d = rx->desc + (size_t)((first + i) % rx->count) * NIC_DESC;
    memcpy(&s->c_addr[i], d, 8);
    s->c_buf[i] = dma_at(s, s->c_addr[i], NIC_FRAME_LEN);
    if (s->c_buf[i]) __builtin_prefetch(s->c_buf[i], 1);
  }
  for (uint32_t i = 0; i < n; i++) {
    uint8_t *buf = s->c_buf[i];
    if (!buf) { k->faults++; rx->on = 0; n = i; break; }
    memcpy(buf, s->frame, NIC_FRAME_LEN);
    memcpy(buf + NIC_FRAME_SEQ, &s->seq_in, 8);
    uint64_t stamp = s->rate_mode ? __rdtsc() : 0;
    memcpy(buf + NIC_FRAME_STAMP, &stamp, 8);
    s->seq_in++;
  }
  /* Write-back (length, checksum 0, status DD|EOP, errors 0, special 0: one store per
   * descriptor, after the frames), last descriptor first. On hardware a burst's write-back
   * lands as whole cache lines; a core storing descriptor by descriptor while the driver
   * spins on the first would hand the line back and forth once per descriptor and measure
   * that. Written last-first, the descriptor the driver polls turns DD last, and (x86 stores
   * become visible in order) the whole burst with it. */
  uint64_t wb = NIC_FRAME_LEN | (uint64_t)(NIC_RXD_STAT_DD | NIC_RXD_STAT_EOP) << 32;
  for (uint32_t i = n; i-- > 0;)
    __atomic_store_n((uint64_t *)(rx->desc + (size_t)((first + i) % rx->count) * NIC_DESC + 8), wb, __ATOMIC_RELEASE);
  rx->head = (first + n) % rx->count;
  reg_store(s, NIC_RDH, rx->head);
  k->injected += n;
  return 1;
}

int nic_sim_step(struct nic_sim *s) {
  uint64_t t = __rdtsc();
  if (!s->self_timed && s->last_work) s->k.busy_cycles += t - s->pass_start;
  s->pass_start = t;
  if ((s->pass++ & 15) == 0) {
    int r = control(s);
    if (r) return r;
  }
  /* Both directions work in chunks of up to NIC_SIM_CHUNK descriptors, in phases
   * (descriptors, then buffers, then write-backs), so the cache misses of a chunk overlap
   * instead of queueing one behind the other: the simulator stands for DMA engines that keep
   * many reads in flight, and must not be what limits the driver. */
  int work = 0;
  if (s->tx.on) work |= transmit(s);
  if (s->rx.on) work |= receive(s);
  s->last_work = work;
  if (s->self_timed) s->k.busy_cycles += __rdtsc() - t;
  return work;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

void nic_sim_report(struct nic_sim *s, FILE *out) {
  if (!s->close_tsc) { s->at_close = s->k; s->close_tsc = __rdtsc(); s->close_cpu = nic_sim_thread_cpu_ns(); }
  if (!s->open_tsc) { s->open_tsc = s->close_tsc; s->at_open = s->at_close; s->open_cpu = s->close_cpu; }
  struct nic_sim_counters *o = &s->at_open, *c = &s->at_close, *k = &s->k;
  double win = (double)(s->close_tsc - s->open_tsc);
  fprintf(out,
          "{\"windowNs\":%.0f,\"injected\":%llu,\"forwarded\":%llu,\"bad\":%llu,\"gaps\":%llu,\"missed\":%llu,"
          "\"faults\":%llu,\"simBusy\":%.4f,\"simCpuShare\":%.4f,\"totalForwarded\":%llu,\"totalBad\":%llu,\"totalFaults\":%llu",
          win * 1e9 / s->tsc_hz, (unsigned long long)(c->injected - o->injected), (unsigned long long)(c->forwarded - o->forwarded),
          (unsigned long long)(c->bad - o->bad), (unsigned long long)(c->gaps - o->gaps), (unsigned long long)(c->missed - o->missed),
          (unsigned long long)(c->faults - o->faults), win > 0 ? (double)(c->busy_cycles - o->busy_cycles) / win : 0.0,
          win > 0 ? (s->close_cpu - s->open_cpu) / (win * 1e9 / s->tsc_hz) : 0.0, (unsigned long long)k->forwarded,
          (unsigned long long)k->bad, (unsigned long long)k->faults);
  if (s->nlat) {
    qsort(s->lat, s->nlat, sizeof *s->lat, cmp_u32);
    double ns = 1e9 / s->tsc_hz;
#define AT(q) ((double)s->lat[(size_t)((double)(s->nlat - 1) * (q))] * ns)
    fprintf(out, ",\"latency\":{\"samples\":%zu,\"p50\":%.0f,\"p90\":%.0f,\"p99\":%.0f,\"p999\":%.0f,\"max\":%.0f}", s->nlat, AT(0.5),
            AT(0.9), AT(0.99), AT(0.999), (double)s->lat[s->nlat - 1] * ns);
#undef AT
  }
  fprintf(out, "}");
}
