/**
 * Interrupt rate: another process adds 1 to an eventfd per "interrupt", without waiting for
 * the receiver, and the JS handler (the native poller on the event loop, as InterruptVector
 * uses it) sums the counter values it is handed, against a C epoll loop doing the same.
 *
 * An eventfd never loses an event: a receiver that falls behind finds the counter above 1
 * and handles several events in one invocation (coalescing, as an interrupt handler that
 * drains its rings would). So every run checks that the counts add up to the events sent,
 * and reports two figures:
 *  - flood: the sender writes as fast as it can; handler invocations per second is the
 *    highest rate at which the receiver can run its handler at all (the sustained rate);
 *  - steps: the sender paces itself to fixed rates; the highest rate at which at most 10% of
 *    the events were coalesced is the highest rate handled one invocation per event.
 */
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { nativeBackend } from '../src/backend/native.js';
import { buildC } from './cbuild.js';

export interface RateRun {
  /** Events asked for per second; 0 = as fast as the sender can. */
  target: number;
  events: number;
  invocations: number;
  /** Events per second the sender actually offered. */
  offeredPerS: number;
  /** Handler invocations per second, from the sender's first write to the last invocation. */
  invocationsPerS: number;
  /** Events per invocation (1 = each event handled on its own). */
  coalescing: number;
}

export interface RateResult {
  flood: { js: RateRun; c: RateRun };
  steps: { js: RateRun; c: RateRun }[];
  /** Highest step rate handled with at most 10% of the events coalesced (0: not even the first). */
  oneToOne: { js: number; c: number };
}

interface Raw {
  invocations: number;
  firstNs: number;
  lastNs: number;
  startNs: number;
  endNs: number;
}

const ONE_TO_ONE = 1.1;

function summarise(target: number, events: number, r: Raw): RateRun {
  return {
    target,
    events,
    invocations: r.invocations,
    offeredPerS: (events * 1e9) / (r.endNs - r.startNs),
    invocationsPerS: (r.invocations * 1e9) / (r.lastNs - r.startNs),
    coalescing: events / r.invocations,
  };
}

function jsRun(sender: string, events: number, rate: number): Promise<Raw> {
  const b = nativeBackend();
  const tx = b.eventfd();
  return new Promise((resolve, reject) => {
    let got = 0;
    let invocations = 0;
    let firstNs = 0;
    let lastNs = 0;
    let out = '';
    let finished = false;
    let exited: number | null | undefined;
    const settle = () => {
      if (!finished || exited === undefined) return;
      if (exited !== 0) return reject(new Error(`irq-rate-sender exited ${exited}`));
      const s = JSON.parse(out) as { startNs: number; endNs: number };
      resolve({ invocations, firstNs, lastNs, ...s });
    };
    // fd 3 in the child: the eventfd is close-on-exec here, so it is passed explicitly.
    const child = spawn(sender, ['3', String(events), String(rate)], { stdio: ['ignore', 'pipe', 'inherit', tx.fd] });
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('close', (code) => {
      exited = code;
      settle();
    });
    const poller = b.poll(tx, (err, count) => {
      if (err) return reject(err);
      lastNs = Number(process.hrtime.bigint());
      if (invocations++ === 0) firstNs = lastNs;
      got += count;
      if (got >= events) {
        poller.close();
        if (got !== events) return reject(new Error(`received ${got} events, ${events} sent`));
        finished = true;
        settle();
      }
    });
  });
}

/** `smoke`: a few short steps, only to check the benchmark still works. */
export async function irqRateBench(work: string, smoke: boolean): Promise<RateResult> {
  const sender = buildC('irq-rate-sender', join(work, 'irq-rate-sender'));
  const receiver = buildC('irq-rate-receiver', join(work, 'irq-rate-receiver'));
  const seconds = smoke ? 0.05 : 0.4;
  const rates = smoke ? [10_000, 100_000] : [5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000];
  const both = async (rate: number, events: number) => {
    const c = JSON.parse(execFileSync(receiver, [sender, String(events), String(rate)], { encoding: 'utf8' })) as Raw;
    const js = await jsRun(sender, events, rate);
    return { js: summarise(rate, events, js), c: summarise(rate, events, c) };
  };
  await jsRun(sender, 10_000, 0); // the JIT
  const flood = await both(0, smoke ? 20_000 : 500_000);
  const steps: RateResult['steps'] = [];
  for (const rate of rates) steps.push(await both(rate, Math.round(rate * seconds)));
  // Counted from the bottom: a noisy pass above a failed step does not count.
  const best = (side: 'js' | 'c') => {
    let rate = 0;
    for (const s of steps) {
      if (s[side].coalescing > ONE_TO_ONE) break;
      rate = s[side].target;
    }
    return rate;
  };
  return { flood, steps, oneToOne: { js: best('js'), c: best('c') } };
}

export function formatRate(r: RateResult): string {
  const k = (x: number) => (x / 1000).toFixed(1).padStart(9);
  const row = (label: string, s: { js: RateRun; c: RateRun }) =>
    `${label.padEnd(10)}${k(s.js.offeredPerS)}${k(s.js.invocationsPerS)}${s.js.coalescing.toFixed(2).padStart(8)}` +
    `${k(s.c.offeredPerS)}${k(s.c.invocationsPerS)}${s.c.coalescing.toFixed(2).padStart(8)}`;
  return [
    'interrupt rate, eventfd += 1 per event from another process, no acks (k/s; coalescing = events per handler run)',
    '             ----------- JS -----------  ----------- C ------------',
    'target     offered  handled/s  coalesc   offered  handled/s  coalesc',
    row('flood', r.flood),
    ...r.steps.map((s) => row(`${s.js.target / 1000}k/s`, s)),
    `sustained (flood) handler rate: JS ${k(r.flood.js.invocationsPerS).trim()}k/s, C ${k(r.flood.c.invocationsPerS).trim()}k/s, JS/C ${(r.flood.js.invocationsPerS / r.flood.c.invocationsPerS).toFixed(2)}`,
    `highest step with <= 10% of events coalesced: JS ${r.oneToOne.js / 1000}k/s, C ${r.oneToOne.c / 1000}k/s`,
    'no event lost: every run\'s counts added up to the events sent',
  ].join('\n');
}
