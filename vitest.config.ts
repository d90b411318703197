import { defineConfig } from 'vitest/config';

// Host suite: everything that needs no guest. Native modules want the forks pool.
export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts'],
    pool: 'forks',
  },
});
