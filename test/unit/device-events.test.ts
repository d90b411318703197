/**
 * The Device's kernel notifiers are unref'd on purpose: an open device with a
 * 'release-request' listener does not keep the process alive, an armed vector does.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const tsx = join(__dirname, '../../node_modules/tsx/dist/cli.mjs');
const fake = join(__dirname, '../../src/backend/fake/index.ts');
const api = join(__dirname, '../../src/index.ts');

function run(body: string) {
  const script = `
    const { FakeKernel, EduModel } = await import(${JSON.stringify(fake)});
    const { openDevice } = await import(${JSON.stringify(api)});
    const kernel = new FakeKernel();
    kernel.addDevice('0000:00:02.0', new EduModel());
    process.on('exit', () => { kernel.dispose(); console.log('exited'); });
    const dev = openDevice('0000:00:02.0', kernel.options);
    ${body}
  `;
  return spawnSync(process.execPath, [tsx, '--eval', script, '--input-type=module'], { encoding: 'utf8', timeout: 20_000 });
}

describe('what keeps the process alive', () => {
  it("a 'release-request' listener alone does not", () => {
    const r = run(`dev.on('release-request', () => dev.close());`);
    expect(r.error).toBeUndefined();
    expect(r.stdout).toContain('exited');
    expect(r.status).toBe(0);
  });

  it('an armed interrupt vector does, until it is unref()d', () => {
    const r = run(`const v = dev.enableInterrupts('msi').vector; setTimeout(() => { console.log('still alive'); v.unref(); }, 300).unref();`);
    expect(r.stdout).toContain('still alive');
    expect(r.stdout).toContain('exited');
  });
});
