/**
 * Interrupt delivery: an eventfd signalled by another process → the JS callback runs on the
 * event loop (the native poller, as InterruptVector uses it), against a C epoll loop doing
 * the same in the same run. The sender stamps each event with its CLOCK_MONOTONIC send time
 * (the eventfd counter carries it) and waits for an ack, so every event is measured alone.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nativeBackend } from '../src/backend/native.js';

export interface Percentiles {
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

const here = dirname(fileURLToPath(import.meta.url));

function percentiles(xs: number[]): Percentiles {
  xs.sort((a, b) => a - b);
  const at = (q: number) => xs[Math.min(xs.length - 1, Math.floor(xs.length * q))]!;
  return { p50: at(0.5), p99: at(0.99), p999: at(0.999), max: xs[xs.length - 1]! };
}

export async function interruptBench(rounds: number): Promise<{ js: Percentiles; c: Percentiles }> {
  const work = mkdtempSync(join(tmpdir(), 'vfio-bench-irq-'));
  try {
    const sender = join(work, 'irq-sender');
    const receiver = join(work, 'irq-receiver');
    execFileSync('cc', ['-O2', '-o', sender, join(here, 'c/irq-sender.c')]);
    execFileSync('cc', ['-O2', '-o', receiver, join(here, 'c/irq-receiver.c')]);
    const c = JSON.parse(execFileSync(receiver, [sender, String(rounds)], { encoding: 'utf8' })) as Percentiles;

    const b = nativeBackend();
    const tx = b.eventfd();
    const ack = b.eventfd();
    const lat: number[] = [];
    // The child gets the eventfds as fds 3 and 4 (they are close-on-exec here, so pass them explicitly).
    const child = spawn(sender, ['3', '4', String(rounds)], { stdio: ['ignore', 'inherit', 'inherit', tx, ack] });
    const done = new Promise<void>((resolve, reject) => {
      const poller = b.poll(tx, (err, sent) => {
        if (err) return reject(err);
        lat.push(Number(process.hrtime.bigint()) - sent);
        b.eventfdWrite(ack, 1);
        if (lat.length === rounds) {
          poller.close();
          resolve();
        }
      });
      child.on('exit', (code) => (code === 0 ? undefined : reject(new Error(`irq-sender exited ${code}`))));
    });
    await done;
    b.close(ack);
    return { js: percentiles(lat), c };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
