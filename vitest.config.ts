import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Each file works in schemas of its own, so files run in parallel against one server.
    fileParallelism: true,
    pool: 'forks',
  },
});
