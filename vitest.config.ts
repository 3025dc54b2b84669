import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Unit tests are pure and fast; integration tests start the emulator on a loopback port and
// drive the built CLI (dist/) as a child process, so they get longer timeouts. Both the job's
// tests (test/) and the emulator package's own tests (emulator/test/) run here.
export default defineConfig({
  resolve: {
    // The job's tests import the emulator only through its package name; in this repository
    // that name means the package's sources, so tests never run against a stale emulator/dist.
    alias: {
      'keboola-storage-emulator': fileURLToPath(
        new URL('./emulator/src/index.ts', import.meta.url),
      ),
    },
  },
  test: {
    restoreMocks: true,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'emulator/test/unit/**/*.test.ts'],
          testTimeout: 10_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'emulator/test/integration/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
