/** The "write your own driver" example (examples/own-driver) runs as a user runs it, importing vfio, vfio/net and vfio/fake. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

describe('examples/own-driver', () => {
  it('sends three frames through the toy NIC and receives them back', () => {
    const tsx = join(__dirname, '../../node_modules/tsx/dist/cli.mjs');
    const r = spawnSync(process.execPath, [tsx, 'examples/own-driver/main.ts'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/received 60 bytes in buffer \d+: hello\n/);
    expect(r.stdout).toMatch(/: user-level driver\n/);
    expect(r.stdout).toMatch(/\{"frames":3,"bytes":180,"drops":0,"errors":0\}/);
  });
});
