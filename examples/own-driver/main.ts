/**
 * Runs the toy driver on the fake kernel: sends three frames, receives them back (the toy's
 * wire loops them), and prints what came back.
 *
 *   npx tsx examples/own-driver/main.ts
 */
import { openDevice } from 'vfio';
import { FakeKernel } from 'vfio/fake';
import { ToyNic } from './toy-nic.js';
import { ToyPort } from './driver.js';

const kernel = new FakeKernel();
kernel.addDevice('0000:00:05.0', new ToyNic());
const device = openDevice('0000:00:05.0', kernel.options);
const port = new ToyPort(device);
const { pool } = port;
const ids = new Uint32Array(1);

for (const text of ['hello', 'from a', 'user-level driver']) {
  pool.alloc(ids, 1);
  pool.write(ids[0]!, new TextEncoder().encode(text.padEnd(60, '.'))); // an Ethernet minimum of 60 bytes
  port.txBurst(ids, 1); // the id is the port's now
  await port.waitRx(100);
  if (port.rxBurst(ids, 1) === 1) {
    const id = ids[0]!;
    console.log(`received ${pool.length[id]} bytes in buffer ${id}: ${new TextDecoder().decode(pool.data[id]!.subarray(0, text.length))}`);
    pool.free(ids, 1);
  }
}
console.log(JSON.stringify(port.stats().rx));
port.close();
device.close();
if (kernel.faults.length) throw new Error(`DMA faults: ${JSON.stringify(kernel.faults)}`);
kernel.dispose();
