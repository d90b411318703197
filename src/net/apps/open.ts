/**
 * openPorts: ports on several NICs by PCI address, ready for the apps. One address is one
 * openPort (the port makes its own pool). Two or more share one DMA context (iommufd IOAS
 * or container) and one packet pool, so a frame received on one can be sent on another in
 * the same buffer: fwd's zero-copy path.
 */
import { openContext, type DmaContext, type OpenOptions } from '../../open.js';
import { findNicDriver, openPort } from '../open-port.js';
import { PacketPool } from '../pool.js';
import type { PortOptions } from '../port.js';
import type { PortBase } from '../port-base.js';

/** Ports opened by openPorts, and how to close them all. */
export interface OpenedPorts {
  /** The ports, in the order of the addresses (port i has `portId` i). */
  readonly ports: PortBase[];
  /** The pool they share (with one address: that port's own). */
  readonly pool: PacketPool;
  /** Closes the ports, the shared pool and the context (or the one port and its device). */
  close(): void;
}

/** Options of openPorts: the drivers' options and how to open the devices. */
export interface OpenPortsOptions extends Omit<PortOptions, 'pool' | 'portId'>, OpenOptions {}

/**
 * Opens a port on each address, the driver chosen by PCI id (openPort). Several share one
 * DMA context and a pool of `poolSize` buffers (default: twice both rings of every port).
 * Throws what openContext, openDevice and openPort throw (ERR_VFIO_NET_UNSUPPORTED for a
 * device that is not a supported NIC), after closing what it opened.
 */
export function openPorts(addresses: readonly string[], options: OpenPortsOptions = {}): OpenedPorts {
  if (addresses.length === 0) throw new RangeError('openPorts: no PCI address');
  if (new Set(addresses).size !== addresses.length) throw new RangeError(`openPorts: an address is given twice (${addresses.join(', ')})`);
  if (addresses.length === 1) {
    const port = openPort(addresses[0]!, options);
    return { ports: [port], pool: port.pool, close: () => port.close() };
  }
  const { poolSize, bufferSize, ...rest } = options;
  const ctx: DmaContext = openContext(options);
  const ports: PortBase[] = [];
  let pool: PacketPool | null = null;
  const close = (): void => {
    try {
      for (const p of [...ports].reverse()) p.close();
      pool?.close();
    } finally {
      ctx.close();
    }
  };
  try {
    // Devices first: a context maps nothing before its first device.
    const devices = addresses.map((a) => ctx.openDevice(a));
    const perPort = 2 * ((options.rxDescriptors ?? 512) + (options.txDescriptors ?? 512));
    // Room in front of each buffer for the header the hungriest driver puts there (virtio-net: 12 bytes).
    const headroom = Math.max(0, ...devices.map((d) => findNicDriver(d.config.vendorId, d.config.deviceId)?.headroom ?? 0));
    pool = PacketPool.create(ctx, { count: poolSize ?? addresses.length * perPort, headroom, ...(bufferSize !== undefined && { bufferSize }) });
    for (const [i, d] of devices.entries()) ports.push(openPort(d, { ...rest, pool, portId: i }));
  } catch (e) {
    close();
    throw e;
  }
  return { ports, pool, close };
}
