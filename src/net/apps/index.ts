/**
 * The apps for any driver, as library functions: pktgen, capture and forward take open ports
 * and options, report each interval through a callback and resolve with a summary object;
 * they print nothing and never exit the process (the `vfio net` command is their front).
 */
export { pktgen, type PktgenOptions, type PktgenSummary } from './pktgen.js';
export { capture, type CaptureOptions, type CaptureSummary } from './capture.js';
export { forward, type ForwardOptions, type ForwardSummary } from './fwd.js';
export { openPorts, type OpenedPorts, type OpenPortsOptions } from './open.js';
export { Meter, wireBits, type AppProgress, type AppTotals, type AppSummary, type AppRunOptions, type StopReason } from './meter.js';
export { parseFrameSizes, frameSizeTable, frameSizeBounds, formatFrameSizes, type FrameSizes, type FrameSizeRange } from './sizes.js';
export {
  ETHERTYPE_TEST,
  TEST_MAGIC,
  TEST_HEADER,
  MIN_TEST_FRAME,
  BROADCAST,
  parseMac,
  formatMac,
  sameMac,
  patternByte,
  testFrame,
  stamp,
  readTestFrame,
  testPrefix,
  type TestFrameInfo,
} from './frames.js';
