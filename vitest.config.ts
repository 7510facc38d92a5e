import { defineConfig } from 'vitest/config';

// Unit tests sit beside the code (`*.test.ts` under each package's src/), cross-service tests in test/.
// Files run one at a time: cross-service tests each start a whole cluster of processes, and the machines
// have two cores.
export default defineConfig({
  test: {
    include: ['{packages,gateway,cli,native,services}/**/src/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
