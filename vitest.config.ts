import { defineConfig } from 'vitest/config';

// Host suite: everything that needs no guest. Native modules want the forks pool.
export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts'],
    pool: 'forks',
    // A hang still fails, but a fuzz run or a spawned CLI that is slow on a loaded 2-core
    // machine does not: speed is measured by bench/, not by test timeouts.
    testTimeout: 60_000,
  },
});
