/**
 * The shim's allow-list (native/allowlist.gen.h) is generated from
 * src/backend/allowlist.ts and committed; this fails while the two differ.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HEADER_PATH, REGENERATE, renderAllowlistHeader } from '../../native/gen-allowlist.js';

describe('native/allowlist.gen.h', () => {
  it('is what the generator writes from src/backend/allowlist.ts', () => {
    const committed = readFileSync(HEADER_PATH, 'utf8');
    expect(committed === renderAllowlistHeader(), `native/allowlist.gen.h is stale: run \`${REGENERATE}\``).toBe(true);
  });
});
