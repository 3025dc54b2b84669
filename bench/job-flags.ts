/**
 * Node flags the image runs the job with (the Dockerfile's ENTRYPOINT), so that the benchmark
 * measures the job as it runs in production. `test/unit/job-flags.test.ts` keeps the two equal.
 */
export const JOB_NODE_FLAGS: readonly string[] = [
  '--max-semi-space-size=1',
  '--no-concurrent-array-buffer-sweeping',
  '--optimize-for-size',
];
