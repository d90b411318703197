/**
 * The shared file's layout and the control page, mirrored from bench/c/nic-sim.h (the C
 * side's copy; change both together). Register offsets the driver uses come from
 * src/hw/e82574.ts, as the driver's own do.
 */
export const BAR_SIZE = 128 * 1024;
export const CTL_OFFSET = BAR_SIZE;
export const DMA_OFFSET = BAR_SIZE + 4096;
export const DMA_SIZE = 8 << 20;
export const FILE_SIZE = DMA_OFFSET + DMA_SIZE;
/** IOVA of the DMA area's first byte: above 4 GiB, so a lost high address half shows. */
export const IOVA_BASE = 2 ** 32;

/** Control page words (32-bit). The simulator sets READY; the driver MEASURE (1 open, 2 closed) and STOP. */
export const CTL_READY = 0;
export const CTL_MEASURE = 1;
export const CTL_STOP = 2;

/** The simulator's frames: 60 bytes delivered (a 64-byte frame on the wire, CRC stripped). */
export const FRAME_LEN = 60;
