import { defineConfig } from 'vitest/config';

// Two projects: pure unit tests, and lab tests that talk to a real dockerd,
// haproxy and keepalived. Lab tests share one engine, so they run one file at
// a time, and their global setup starts (and later stops) what they need.
export default defineConfig({
  test: {
    projects: [
      {
        test: { name: 'unit', include: ['test/unit/**/*.test.ts', 'test/*.test.ts'] },
      },
      {
        test: {
          name: 'lab',
          include: ['test/lab/**/*.test.ts'],
          globalSetup: ['test/lab/support/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
