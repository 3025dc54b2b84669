import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

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
  'test/integration/soak.test.ts',
  'test/integration/zoneless-timestamps.test.ts',
];

/**
 * The files that take longest, longest first: they start first (see {@link LongestFirst}). Most
 * of their time is spent waiting (timers, trickling servers, child processes), which the short
 * files fill with work.
 */
const LONGEST = [
  'test/integration/faults-matrix.test.ts',
  'test/integration/hostile-server.test.ts',
  'test/integration/streaming-memory.test.ts',
  'test/integration/faults-config-fuzz.test.ts',
  'test/integration/hostile-environment.test.ts',
  'test/integration/demo.test.ts',
  'test/process/cli-process.test.ts',
  'test/integration/run-lock.test.ts',
];

const ROOT = fileURLToPath(new URL('.', import.meta.url));

/**
 * Starts the files of {@link LONGEST} first, in that order, then the others in Vitest's order.
 * Vitest's own order runs one project after the other (`fast` before `slow`, by name), longest
 * first by the durations of earlier runs or, without them as in a clean clone, largest file
 * first: the longest files would start last and end the run alone.
 */
class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (file: TestSpecification) => LONGEST.indexOf(relative(ROOT, file.moduleId));
    const sorted = await super.sort(files);
    const first = sorted.filter((file) => rank(file) >= 0).sort((a, b) => rank(a) - rank(b));
    return [...first, ...sorted.filter((file) => rank(file) < 0)];
  }
}

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
    setupFiles: ['test/helpers/remove-data-dirs.ts'],
    sequence: { sequencer: LongestFirst },
    // The long files mostly wait on loopback I/O, timers and child processes: more workers than
    // cores keep both cores busy (on 2 cores, 4 workers ended the suite sooner than 3).
    maxWorkers: 4,
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
