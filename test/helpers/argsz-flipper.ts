/**
 * A worker thread that rewrites the first word of a struct (its argsz) between 4096 and 16
 * as fast as it can, for the ioctl double-fetch tests: what the shim checked must be what the
 * kernel reads. Resolves once the worker is flipping; `stop()` ends it.
 */
import { Worker } from 'node:worker_threads';

export async function flipArgsz(sab: SharedArrayBuffer): Promise<{ stop(): Promise<void> }> {
  const halt = new Int32Array(new SharedArrayBuffer(4));
  const w = new Worker(
    `const { parentPort, workerData: { sab, halt } } = require('node:worker_threads');
     const words = new Int32Array(sab), stop = new Int32Array(halt);
     parentPort.postMessage('flipping');
     while (Atomics.load(stop, 0) === 0) { Atomics.store(words, 0, 4096); Atomics.store(words, 0, 16); }`,
    { eval: true, workerData: { sab, halt: halt.buffer } },
  );
  await new Promise((resolve, reject) => (w.once('message', resolve), w.once('error', reject)));
  return {
    async stop() {
      Atomics.store(halt, 0, 1);
      await w.terminate();
    },
  };
}
