/**
 * reflect: a whole app on the port interface, the starting point for writing your own (the
 * ready-made ones are `vfio net pktgen|capture|fwd`). Every frame the port receives goes
 * back out of it with source and destination MAC swapped, in the buffer it came in: no copy.
 *
 *   npx tsx examples/e1000e/reflect.ts 0000:00:06.0
 *   npx vfio net pktgen --count 1000 --dst <its MAC> 0000:00:03.0   # from the other port
 *
 * It runs on any NIC openPort drives (the driver is chosen by PCI id); Ctrl-C stops it.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { formatMac, openPort, type Port } from 'vfio/net';

/** Reflects frames until `signal` fires; returns how many went back out. */
export async function reflect(port: Port, signal: AbortSignal): Promise<number> {
  const { pool } = port;
  const ids = new Uint32Array(32);
  let reflected = 0;
  while (!signal.aborted) {
    const n = port.rxBurst(ids, 32); // ids[0..n) are ours now: pool.data[id], pool.length[id]
    if (n === 0) {
      await port.waitRx(200); // sleeps on the receive interrupt (or polls once, in poll mode)
      continue;
    }
    for (let i = 0; i < n; i++) {
      const frame = pool.data[ids[i]!]!;
      for (let b = 0; b < 6; b++) {
        const dst = frame[b]!;
        frame[b] = frame[6 + b]!;
        frame[6 + b] = dst;
      }
    }
    const sent = port.txBurst(ids, n); // those are the port's now, back in the pool once sent
    pool.free(ids, n - sent, sent); // what the transmit ring had no room for
    reflected += sent;
  }
  return reflected;
}

async function main(address: string | undefined): Promise<void> {
  if (!address) {
    console.error('usage: npx tsx examples/e1000e/reflect.ts <PCI address>');
    process.exitCode = 2;
    return;
  }
  const port = openPort(address); // not promiscuous: only frames for its MAC (and broadcast)
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  try {
    await port.waitForLink(5000);
    console.log(`reflecting on ${address} (${port.driver}, ${formatMac(port.mac)}); Ctrl-C to stop`);
    const n = await reflect(port, stop.signal);
    console.log(`reflected ${n} frames; received ${JSON.stringify(port.stats().rx)}`);
  } finally {
    port.close();
  }
}

if (process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))) await main(process.argv[2]);
