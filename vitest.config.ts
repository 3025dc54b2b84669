import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * Two projects (docs/architecture.md, Tests):
 * - `fast`: unit tests and the integration tests that drive `main(io)` in process against the
 *   emulator on a loopback port. No build needed: `npm run test:fast` is the inner loop.
 * - `slow`: what needs the built CLI as a real process (`dist/`, so `npm run build` first):
 *   signals, exit codes, SIGKILL crash scenarios, memory under `--max-old-space-size`, the demo.
 */
const SLOW = [
  'test/process/**/*.test.ts',
  'test/integration/demo.test.ts',
  'test/integration/faults-matrix.test.ts',
  'test/integration/streaming-memory.test.ts',
  'test/integration/run-lock.test.ts',
  'test/integration/hostile-server.test.ts',
  'test/integration/hostile-environment.test.ts',
];

export default defineConfig({
  resolve: {
    // The job's tests import the emulator only through its package name; in this repository
    // that name means the package's sources, so tests never run against a stale emulator/dist.
    alias: [
      {
        find: /^keboola-storage-emulator\/vitest$/,
        replacement: fileURLToPath(new URL('./emulator/src/vitest.ts', import.meta.url)),
      },
      {
        find: /^keboola-storage-emulator$/,
        replacement: fileURLToPath(new URL('./emulator/src/index.ts', import.meta.url)),
      },
    ],
  },
  test: {
    restoreMocks: true,
    // Integration tests mostly wait on loopback I/O and timers: more workers than cores pay off.
    maxWorkers: 3,
    projects: [
      {
        extends: true,
        test: {
          name: 'fast',
          include: [
            'test/unit/**/*.test.ts',
            'test/integration/**/*.test.ts',
            'emulator/test/**/*.test.ts',
          ],
          exclude: SLOW,
          // One module graph per worker instead of one per file: importing the job and the
          // emulator is most of a small file's cost. Modules keep no state between runs.
          isolate: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        extends: true,
        test: { name: 'slow', include: SLOW, testTimeout: 120_000, hookTimeout: 120_000 },
      },
    ],
  },
});
