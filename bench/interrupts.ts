/**
 * Interrupt delivery: an eventfd signalled by another process → the JS callback runs on the
 * event loop (the native poller, as InterruptVector uses it), against a C epoll loop doing
 * the same in the same run. The sender stamps each event with its CLOCK_MONOTONIC send time
 * (the eventfd counter carries it) and waits for an ack, so every event is measured alone.
 */
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { nativeBackend } from '../src/backend/native.js';
import { buildC } from './cbuild.js';
import { percentiles, type Percentiles } from './stats.js';

export interface LatencyResult {
  rounds: number;
  js: Percentiles;
  c: Percentiles;
}

export async function interruptBench(work: string, rounds: number): Promise<LatencyResult> {
  const sender = buildC('irq-sender', join(work, 'irq-sender'));
  const receiver = buildC('irq-receiver', join(work, 'irq-receiver'));
  const c = JSON.parse(execFileSync(receiver, [sender, String(rounds)], { encoding: 'utf8' })) as Percentiles;

  const b = nativeBackend();
  const tx = b.eventfd();
  const ack = b.eventfd();
  const lat: number[] = [];
  // The child gets the eventfds as fds 3 and 4 (they are close-on-exec here, so pass them explicitly).
  const child = spawn(sender, ['3', '4', String(rounds)], { stdio: ['ignore', 'inherit', 'inherit', tx.fd, ack.fd] });
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
  return { rounds, js: percentiles(lat), c };
}

export function formatLatency(r: LatencyResult): string {
  const us = (ns: number) => (ns / 1000).toFixed(1).padStart(8);
  return [
    `interrupt delivery latency, eventfd from another process -> handler, ${r.rounds.toLocaleString('en')} events (µs)`,
    '          p50     p99   p99.9      max',
    `JS   ${us(r.js.p50)}${us(r.js.p99)}${us(r.js.p999)}${us(r.js.max)}`,
    `C    ${us(r.c.p50)}${us(r.c.p99)}${us(r.c.p999)}${us(r.c.max)}`,
    `JS/C ${(r.js.p50 / r.c.p50).toFixed(2).padStart(8)}${(r.js.p99 / r.c.p99).toFixed(2).padStart(8)}`,
  ].join('\n');
}
