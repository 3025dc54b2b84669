import { defineConfig } from 'vitest/config';

// Unit tests are pure and fast; integration tests start the emulator on a loopback port and
// drive the built CLI (dist/) as a child process, so they get longer timeouts.
export default defineConfig({
  test: {
    restoreMocks: true,
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 10_000 },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
