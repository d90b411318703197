/**
 * The port interface: what a NIC driver implements and an app uses, whatever the NIC.
 *
 * Frames move as buffer ids of a PacketPool. rxBurst hands received ids to the app (they are
 * the app's until it frees or sends them); txBurst hands ids to the port (the ones it accepts
 * are the port's from then on and go back to the pool once the NIC has sent them, reclaimed
 * a burst at a time). Forwarding is zero-copy: ids received on one port are sent on another
 * that shares its pool (open both devices in one DMA context and give both ports the pool).
 */
import type { EventEmitter } from 'node:events';
import type { VfioError } from '../errors.js';
import type { Device } from '../model/device.js';
import type { PacketPool } from './pool.js';

/** How waitRx waits: sleeping on the receive interrupt, or polling the ring. */
export type RxMode = 'interrupt' | 'poll';

/** Which interrupts a port asks for: 'auto' takes MSI-X, then MSI; 'none' polls only. */
export type InterruptChoice = 'auto' | 'msix' | 'msi' | 'none';

/** Events of a port. */
export interface PortEvents {
  /** The link went up (true) or down (false). */
  link: [up: boolean];
  /**
   * The device stopped working and must be reset (virtio's DEVICE_NEEDS_RESET): `error` is a
   * VfioError (ERR_VFIO_VIRTIO_NEEDS_RESET) that rxBurst and txBurst throw from then on.
   * Close the port (close() still gives every buffer back to the pool) and open it again.
   * Drivers whose devices cannot signal this (e1000e) never emit it.
   */
  'needs-reset': [error: VfioError];
}

/** Counters of one direction. */
export interface DirectionStats {
  /** Frames handed to the app (rx) or accepted by txBurst (tx). */
  frames: number;
  /** Their bytes (without the FCS). */
  bytes: number;
  /** rx: received frames the driver discarded (larger than one buffer). tx: ids txBurst refused for a full ring (the app kept them). */
  drops: number;
  /** rx: frames the NIC flagged with an error (CRC, symbol, …), discarded. tx: txBurst calls refused for a bad id or length. */
  errors: number;
}

/** The driver's own event counters. */
export interface DriverStats {
  /** Receive interrupts delivered. */
  rxInterrupts: number;
  /** waitRx calls woken by the interrupt (or a frame), and ones that timed out. */
  rxWakeups: number;
  /** waitRx calls that timed out. */
  rxTimeouts: number;
  /** rxBurst calls that found the ring empty. */
  rxEmptyPolls: number;
  /** rxBurst calls that left frames in the ring because the pool had no buffer to refill it with. */
  rxPoolEmpty: number;
  /** txBurst calls that could not take every id (ring full). */
  txRingFull: number;
  /** Link state changes seen. */
  linkChanges: number;
}

/** A port's statistics: the driver's counters and the NIC's own (`hw`, named by the driver). */
export interface PortStats<H extends object = Record<string, number>> {
  /** Receive direction. */
  rx: DirectionStats;
  /** Transmit direction. */
  tx: DirectionStats;
  /** The driver's events. */
  driver: DriverStats;
  /** The NIC's counters, accumulated since the port opened. */
  hw: H;
}

/** Options every driver takes (openPort passes them on). */
export interface PortOptions {
  /** Receive descriptors (the driver states its rule; e1000e: a multiple of 8, 8-4096). Default 512. */
  rxDescriptors?: number;
  /** Transmit descriptors, same rule. Default 512. */
  txDescriptors?: number;
  /**
   * The pool to take buffers from (share one between ports to forward zero-copy; its memory
   * must be mapped for this device: the same DMA context). Default: the port makes its own
   * and closes it with the port.
   */
  pool?: PacketPool;
  /** Buffers of the port's own pool. Default 2 × (rxDescriptors + txDescriptors). */
  poolSize?: number;
  /** Data bytes per buffer of the port's own pool (the driver states which sizes it takes). Default 2048. */
  bufferSize?: number;
  /** Accept every unicast and multicast frame. Default false. */
  promiscuous?: boolean;
  /** Interrupts to use. Default 'auto'. */
  interrupts?: InterruptChoice;
  /** How waitRx waits; default 'interrupt' when the port has interrupts, else 'poll'. */
  rxMode?: RxMode;
  /** Reset the function first through VFIO (FLR) when the device offers it. Default true. */
  reset?: boolean;
  /** Stamp each received buffer's `timestamp` (one clock read per burst). Default false. */
  timestamps?: boolean;
  /** Written to `pool.port[id]` of every frame this port receives. Default 0. */
  portId?: number;
}

/**
 * A NIC port. Drivers implement it (most of it comes with PortBase); apps use only this.
 * Hot-path calls (rxBurst, txBurst, rxReady) allocate nothing and make no native call per frame.
 */
export interface Port<H extends object = Record<string, number>> extends EventEmitter<PortEvents> {
  /** The driver's name ('e1000e'). */
  readonly driver: string;
  /** The device's PCI address. */
  readonly address: string;
  /** The device the port drives. */
  readonly device: Device;
  /** The pool its buffers come from. */
  readonly pool: PacketPool;
  /** The station (MAC) address. */
  readonly mac: Uint8Array;
  /** Accepting every unicast and multicast frame; settable. */
  promiscuous: boolean;
  /** Receive and transmit ring sizes, in descriptors. */
  readonly rxSize: number;
  /** Transmit ring size, in descriptors. */
  readonly txSize: number;
  /** The largest frame a buffer takes, in bytes. */
  readonly maxFrame: number;
  /** The interrupts in use: 'none' means the port polls only. */
  readonly interruptKind: 'msix' | 'msi' | 'none';
  /** Link up now (reads the NIC). */
  readonly linkUp: boolean;
  /** Link speed in Mb/s. */
  readonly speed: number;
  /** How waitRx waits. */
  readonly rxMode: RxMode;
  /** True after close(). */
  readonly closed: boolean;
  /**
   * Takes up to `max` received frames: their ids go to ids[start..start+n) and become the
   * app's (free or send them); `pool.length[id]` is each frame's length. Returns n.
   */
  rxBurst(ids: Uint32Array, max: number, start?: number): number;
  /**
   * Queues ids[start..start+count) for sending (each the app's, its `pool.length` set).
   * Returns how many it took, in order: fewer when the ring is full; the rest stay the app's.
   * Throws before taking any on a bad id (ownership) or length, or when the link is down.
   */
  txBurst(ids: Uint32Array, count: number, start?: number): number;
  /** A received frame is waiting. */
  rxReady(): boolean;
  /**
   * Waits for a frame: in interrupt mode the process sleeps on the receive interrupt (armed
   * only now, so a busy port runs without interrupts), in poll mode it yields to the event
   * loop once. Resolves true when a frame may be there, false on timeout.
   */
  waitRx(timeoutMs?: number): Promise<boolean>;
  /** Switches waitRx between interrupts and polling, at any time. */
  setRxMode(mode: RxMode): void;
  /** Resolves true once the link is up, false after `timeoutMs`. */
  waitForLink(timeoutMs?: number): Promise<boolean>;
  /** Frames queued and not yet sent by the NIC (reclaims what it finished). */
  readonly txInFlight: number;
  /** Resolves true once every queued frame is sent, false after `timeoutMs`. */
  flushTx(timeoutMs?: number): Promise<boolean>;
  /** A snapshot of the counters (reads the NIC's). */
  stats(): PortStats<H>;
  /**
   * Stops the NIC (no DMA afterwards), gives its ring buffers back to the pool, frees what
   * the port allocated, and closes the device if the port opened it. Idempotent.
   */
  close(): void;
}
