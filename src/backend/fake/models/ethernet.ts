// Ethernet for NIC models: a hub that carries frames between ports, queueing as QEMU does.

/** Something plugged into an EthernetHub: a NIC model, or a FrameTap. */
export interface EthernetPort {
  /** Whether a frame could be taken now (QEMU's can_receive). */
  canReceive(): boolean;
  /** Takes a frame off the wire; false when it cannot after all (the hub keeps it and waits for ready()). */
  receiveFrame(frame: Uint8Array): boolean;
  /** The hub this port is plugged into: frames it transmits go to `link.send`. */
  connect(link: EthernetLink): void;
  /** A frame for this port was dropped because a queue was full. */
  missed?(): void;
}

/** The hub's side, as a port sees it. */
export interface EthernetLink {
  /** `from` transmits `frame` (the hub queues or delivers it). */
  send(from: EthernetPort, frame: Uint8Array): void;
  /** The port may be able to take frames now (its receiver was enabled, buffers were added). */
  ready(port: EthernetPort): void;
}

class Queue {
  frames: Uint8Array[] = [];
  head = 0;
  delivering = false;
  get length(): number {
    return this.frames.length - this.head;
  }
  peek(): Uint8Array | undefined {
    return this.frames[this.head];
  }
  shift(): void {
    this.frames[this.head++] = EMPTY;
    if (this.head === this.frames.length) {
      this.frames = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.frames.length) {
      this.frames = this.frames.slice(this.head);
      this.head = 0;
    }
  }
}
const EMPTY = new Uint8Array(0);

interface Member {
  port: EthernetPort;
  /** Frames this port sent that have not entered the hub yet. */
  out: Queue;
  /** Frames waiting to be taken by this port. */
  in: Queue;
  /** It refused a frame; offered nothing until ready(). */
  disabled: boolean;
}

/** Options of EthernetHub (and wire()). */
export interface EthernetHubOptions {
  /** Frames per queue before further ones are dropped (QEMU's net queue holds 10000). */
  queueLimit?: number;
}

/**
 * An Ethernet hub for NIC models: it carries frames between ports (NIC models, or a
 * FrameTap a test injects and collects with), queueing the way QEMU's `-netdev hubport`
 * and its net queues (net/queue.c, net/hub.c) do, because drivers see the difference:
 *
 *  - A frame a port sends enters the hub only if some other port can take a frame now;
 *    otherwise it waits in the sender's queue. In the hub it is offered to every other port;
 *    a port that cannot take it now (receiver off, ring full) gets it in its own queue.
 *  - A port that refuses a frame it said it could take (no room for the whole frame) stops
 *    being offered frames until it says it is ready again (QEMU's receive_disabled).
 *  - ready(port) (the NIC's RDT write or receiver enable) first flushes every other port's
 *    sending queue, then the port's own queue. So when a receiver's ring overflows while the
 *    sender keeps sending, newer frames can overtake older queued ones, as in QEMU 7.2.
 *  - Queues hold at most `queueLimit` frames (QEMU: 10000); a frame that finds one full is
 *    dropped and counted, here and by the destination port (`missed`).
 *
 *   const hub = wire(nicA, nicB);            // two models, as two NICs on one QEMU hub
 *   const tap = new FrameTap(); hub.attach(tap);
 */
export class EthernetHub implements EthernetLink {
  /** Frames per queue before further ones are dropped. */
  readonly queueLimit: number;
  /** Frames dropped because a queue was full. */
  dropped = 0;
  /** Frames sent into the hub. */
  frames = 0;
  #members = new Map<EthernetPort, Member>();

  constructor(options: EthernetHubOptions = {}) {
    const limit = options.queueLimit ?? 10000;
    if (!Number.isInteger(limit) || limit < 0) throw new RangeError(`EthernetHub: queueLimit must be a non-negative integer, got ${limit}`);
    this.queueLimit = limit;
  }

  /** Plugs ports in. */
  attach(...ports: EthernetPort[]): this {
    for (const p of ports) {
      if (this.#members.has(p)) continue;
      this.#members.set(p, { port: p, out: new Queue(), in: new Queue(), disabled: false });
      p.connect(this);
    }
    return this;
  }

  /** The ports plugged in, in the order they were attached. */
  get ports(): readonly EthernetPort[] {
    return [...this.#members.keys()];
  }

  /** Frames that will be offered to `port`: its own queue plus what other ports have not sent into the hub yet. */
  queued(port: EthernetPort): number {
    let n = this.#members.get(port)?.in.length ?? 0;
    for (const m of this.#members.values()) if (m.port !== port) n += m.out.length;
    return n;
  }

  send(from: EthernetPort, frame: Uint8Array): void {
    const m = this.#members.get(from);
    if (!m) throw new Error('EthernetHub.send: the port is not attached to this hub');
    this.frames++;
    if (m.out.delivering || !this.#anyCanTake(m)) {
      this.#append(m.out, frame, null);
      return;
    }
    this.#enter(m, frame);
    this.#flushOut(m);
  }

  ready(port: EthernetPort): void {
    const m = this.#members.get(port);
    if (!m) return;
    m.disabled = false;
    for (const o of this.#members.values()) if (o !== m) this.#flushOut(o);
    this.#flushIn(m);
  }

  #canTake(m: Member): boolean {
    return !m.disabled && m.port.canReceive();
  }

  #anyCanTake(from: Member): boolean {
    for (const m of this.#members.values()) if (m !== from && this.#canTake(m)) return true;
    return false;
  }

  /** The frame is in the hub: offered to every other port. */
  #enter(from: Member, frame: Uint8Array): void {
    from.out.delivering = true;
    try {
      for (const m of this.#members.values()) if (m !== from) this.#offer(m, frame);
    } finally {
      from.out.delivering = false;
    }
  }

  #offer(m: Member, frame: Uint8Array): void {
    if (m.in.delivering || !this.#canTake(m)) {
      this.#append(m.in, frame, m);
      return;
    }
    if (!this.#deliver(m, frame)) {
      this.#append(m.in, frame, m);
      return;
    }
    this.#flushIn(m); // QEMU flushes the older queued frames after the new one
  }

  #deliver(m: Member, frame: Uint8Array): boolean {
    if (m.disabled) return false;
    m.in.delivering = true;
    try {
      if (m.port.receiveFrame(frame)) return true;
    } finally {
      m.in.delivering = false;
    }
    m.disabled = true;
    return false;
  }

  #flushIn(m: Member): void {
    const q = m.in;
    while (q.length > 0 && !q.delivering) {
      if (!this.#deliver(m, q.peek()!)) return;
      q.shift();
    }
  }

  #flushOut(m: Member): void {
    const q = m.out;
    while (q.length > 0 && !q.delivering) {
      const f = q.peek()!;
      q.shift();
      this.#enter(m, f);
    }
  }

  #append(q: Queue, frame: Uint8Array, to: Member | null): void {
    if (q.length >= this.queueLimit) {
      this.dropped++;
      if (to) to.port.missed?.();
      else for (const m of this.#members.values()) if (m.out !== q) m.port.missed?.();
      return;
    }
    q.frames.push(frame);
  }
}

/** Two ports on one hub: a cable between two NICs. */
export function wire(a: EthernetPort, b: EthernetPort, options?: EthernetHubOptions): EthernetHub {
  return new EthernetHub(options).attach(a, b);
}

/** A test's own station on the hub: records every frame that reaches it and sends frames. */
export class FrameTap implements EthernetPort {
  /** Every frame received (copies), oldest first. */
  readonly frames: Uint8Array[] = [];
  /** When false the tap refuses frames (they queue in the hub), like a receiver that is off. */
  accepting = true;
  #link: EthernetLink | null = null;

  canReceive(): boolean {
    return this.accepting;
  }

  receiveFrame(frame: Uint8Array): boolean {
    if (!this.accepting) return false;
    this.frames.push(frame.slice());
    return true;
  }

  connect(link: EthernetLink): void {
    this.#link = link;
  }

  /** Sends a copy of `frame` into the hub; an Error if the tap is not attached to one. */
  send(frame: Uint8Array): void {
    if (!this.#link) throw new Error('FrameTap.send: not attached to a hub');
    this.#link.send(this, frame.slice());
  }

  /** Starts accepting again and takes what queued meanwhile. */
  accept(): void {
    this.accepting = true;
    this.#link?.ready(this);
  }
}
