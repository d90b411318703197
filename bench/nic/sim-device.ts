/**
 * A Device for the e1000e driver (src/net/e1000e) whose BAR0 and DMA memory are the shared file the
 * simulator plays the hardware in. The driver is handed this instead of a VFIO device, so the
 * benchmark needs no seam in the driver: E1000ePort.open(device) touches only the members below
 * (identity in config space, bus mastering, BAR0, DMA memory, interrupt counts, reset), and
 * with interrupts 'none' and no reset capability it asks for nothing the simulator lacks.
 * test/unit/bench-nic.test.ts opens a port through it, so a driver that starts using more of
 * Device fails there rather than in a benchmark run.
 *
 * DMA memory is a bump allocator over the file's DMA area: each buffer is its own mapping
 * of its part of the file (the driver views a buffer from byte 0), at IOVA = IOVA_BASE +
 * offset, which is how the simulator finds it.
 */
import type { Device } from '../../src/model/device.js';
import type { SharedNic } from './shm.js';
import { DMA_OFFSET, DMA_SIZE, IOVA_BASE } from './layout.js';

const PAGE = 4096;
const PROT_RW = 3;
const INTEL = 0x8086;
const E82574L = 0x10d3;
const ETHERNET_CLASS = 0x020000;

export function simDevice(nic: SharedNic): Device {
  let next = 0;
  let closed = false;
  const device = {
    address: 'sim:82574',
    get closed() {
      return closed;
    },
    canReset: false,
    reset() {
      throw new Error('the simulated 82574 has no function reset; open the port with reset: false');
    },
    config: {
      vendorId: INTEL,
      deviceId: E82574L,
      read32: (offset: number) => (offset === 0x08 ? ETHERNET_CLASS << 8 : 0),
      setBusMaster: (_on = true) => 0,
    },
    bar(n: number) {
      if (n !== 0) throw new Error(`the simulated 82574 has only BAR0, not BAR${n}`);
      return nic.bar;
    },
    irqInfo: (_kind: string) => ({ argsz: 16, flags: 0, index: 0, count: 0 }),
    enableInterrupts() {
      throw new Error('the simulated 82574 has no interrupts: open the port with interrupts: "none"');
    },
    allocDma(size: number) {
      const bytes = Math.ceil(size / PAGE) * PAGE;
      if (next + bytes > DMA_SIZE) throw new RangeError(`simulated DMA area exhausted: ${size} bytes wanted, ${DMA_SIZE - next} left`);
      const at = next;
      next += bytes;
      let buffer: ArrayBuffer | null = nic.backend.mmap(nic.fd, DMA_OFFSET + at, bytes, PROT_RW);
      return {
        iova: IOVA_BASE + at,
        size: bytes,
        pageSize: PAGE,
        get buffer() {
          if (buffer === null) throw new Error('DMA buffer used after free');
          return buffer;
        },
        get freed() {
          return buffer === null;
        },
        free() {
          if (buffer !== null) nic.backend.munmap(buffer);
          buffer = null;
        },
      };
    },
    close() {
      closed = true;
    },
  };
  // Structurally a subset of Device (which has private state), hence the cast; see above.
  return device as unknown as Device;
}
