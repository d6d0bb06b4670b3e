import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    // Each file starts its own Valkey and gateway; one file at a time keeps a small machine calm.
    fileParallelism: false,
    testTimeout: 20000,
    hookTimeout: 20000,
  },
});
