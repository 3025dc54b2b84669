/**
 * Node flags and environment the image runs the job with (the Dockerfile's ENTRYPOINT and ENV),
 * so that the benchmark measures the job as it runs in production. `test/unit/job-flags.test.ts`
 * keeps them equal.
 */
export const JOB_NODE_FLAGS: readonly string[] = [
  '--max-semi-space-size=1',
  '--no-concurrent-array-buffer-sweeping',
  '--optimize-for-size',
];

/**
 * glibc reads it when the process starts: two malloc arenas instead of up to 8 per core, so the
 * thread pool's inflate states and the main thread's chunk buffers share freed memory instead of
 * each arena keeping its own (docs/performance.md, Memory).
 */
export const JOB_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };
