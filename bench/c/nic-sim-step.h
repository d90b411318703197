/* The 82574 ring simulator's work as a step function, shared by the two ways the NIC benchmark
 * runs it (bench/README.md, NIC hot path):
 *   two-CPU:   nic-sim.c calls nic_sim_step in a loop on its own CPU, beside the driver;
 *   same-core: the driver calls it on its own thread between bursts: nic-driver.c directly,
 *              the TypeScript driver through bench/addon/nic-sim-addon.c.
 * One implementation, so both modes and both drivers meet the same simulator. */
#ifndef NIC_SIM_STEP_H
#define NIC_SIM_STEP_H

#include "nic-sim.h"

#include <stddef.h>
#include <stdio.h>

#define NIC_SIM_CHUNK 64

struct nic_sim_ring {
  uint8_t *desc;
  uint32_t count, head;
  int on;
};

struct nic_sim_counters {
  uint64_t injected, forwarded, bad, gaps, missed, faults, busy_cycles;
};

struct nic_sim {
  uint8_t *bar, *ctl, *dma;
  int rate_mode;
  /* busy_cycles counts the step's own time (same-core) rather than the time from a pass that
   * did work to the next pass (two-CPU: the loop is all the simulator does). */
  int self_timed;
  double tsc_hz;
  uint64_t period, next, deadline, pass, pass_start;
  int last_work;
  struct nic_sim_ring rx, tx;
  struct nic_sim_counters k, at_open, at_close;
  uint64_t seq_in, seq_out, open_tsc, close_tsc;
  double open_cpu, close_cpu;
  uint32_t measure;
  uint8_t frame[NIC_FRAME_LEN];
  uint32_t *lat;
  size_t nlat, max_lat;
  /* One chunk's descriptors, gathered before the buffers are touched (see the step). */
  uint64_t c_addr[NIC_SIM_CHUNK];
  uint16_t c_len[NIC_SIM_CHUNK];
  uint8_t c_cmd[NIC_SIM_CHUNK];
  uint8_t *c_buf[NIC_SIM_CHUNK];
};

/* Takes the shared file's mapping (NIC_FILE_SIZE bytes), presets the registers to the
 * power-on state the driver expects and sets the control page's READY. rate_mode: inject at
 * `rate` frames/s and record latency, else as fast as the ring allows. Returns 0, or -1
 * when out of memory. */
int nic_sim_init(struct nic_sim *s, uint8_t *map, int rate_mode, double rate, double tsc_hz, double timeout_s, int self_timed);

/* One pass: every 16th also looks at the control registers (reset, ring enables, the
 * driver's window); then the transmit ring, then the receive ring. Returns 1 if it did work,
 * 0 if not, NIC_SIM_STOPPED once the driver set STOP, NIC_SIM_TIMEOUT past the deadline. */
#define NIC_SIM_STOPPED (-1)
#define NIC_SIM_TIMEOUT (-2)
int nic_sim_step(struct nic_sim *s);

/* Prints the report as one JSON object (the fields of bench/nic/sim.ts's SimReport), no newline. */
void nic_sim_report(struct nic_sim *s, FILE *out);

void nic_sim_free(struct nic_sim *s);

/* This thread's CPU time in ns. */
double nic_sim_thread_cpu_ns(void);

#endif
