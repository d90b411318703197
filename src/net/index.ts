/**
 * vfio/net: the packet layer. A pool of DMA packet buffers known by integer ids, one port
 * interface that NIC drivers implement and apps use, the Intel 82574 (e1000e) and virtio-net drivers on it,
 * pcap files, and the apps for any driver (pktgen, capture, forward: `vfio net`'s engines).
 *
 *   const port = openPort('0000:00:03.0', { promiscuous: true });  // driver chosen by PCI id
 *   await port.waitForLink();
 *   const ids = new Uint32Array(32);
 *   const n = port.rxBurst(ids, 32);            // ids[0..n) are the app's now
 *   const sent = port.txBurst(ids, n);          // zero-copy: the port's now
 *   port.pool.free(ids, n - sent, sent);        // what the ring had no room for
 *   port.close();
 *
 * @packageDocumentation
 */
export { PacketPool, BufferOwner, type PacketPoolOptions, type DmaAllocator } from './pool.js';
export type { Port, PortOptions, PortEvents, PortStats, DirectionStats, DriverStats, RxMode, InterruptChoice } from './port.js';
export { PortBase, type PortCounters } from './port-base.js';
export { openPort, findNicDriver, NIC_DRIVERS, type NicDriver, type OpenPortOptions } from './open-port.js';
export { E1000ePort } from './e1000e/port.js';
export type { E1000eHwStats } from './e1000e/counters.js';
export { VirtioNetPort } from './virtio-net/port.js';
export type { VirtioNetHwStats } from './virtio-net/counters.js';
export { PcapWriter, readPcap, PCAP_MAGIC_US, PCAP_MAGIC_NS, LINKTYPE_ETHERNET, type PcapWriterOptions, type PcapRecord, type PcapFile } from './pcap.js';
export * from './apps/index.js';
