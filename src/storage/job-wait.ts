import { DeadlineError, InterruptedError, JobFailedError } from '../errors.js';
import type { SleepFn } from './http.js';
import type { StorageJob, WaitOptions } from './types.js';

/** Job polling: first wait, growth and cap (docs/storage-api-notes.md, Waiting for a job: start small, double, cap). */
export interface PollOptions {
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** Default overall deadline of one `waitForJob`; `WaitOptions.timeoutMs` overrides it. */
  readonly timeoutMs: number;
}

/**
 * Start short, so that a short job ends after a few polls (Go's client starts at 50 ms); cap at
 * 5 s, within the range of Keboola's clients, a few seconds to 20 s (docs/storage-api-notes.md,
 * Waiting for a job).
 */
const POLL_INITIAL_DELAY_MS = 100;
const POLL_MAX_DELAY_MS = 5_000;
const JOB_TIMEOUT_MS = 2 * 60 * 60_000;

export const DEFAULT_POLL_OPTIONS: PollOptions = {
  initialDelayMs: POLL_INITIAL_DELAY_MS,
  maxDelayMs: POLL_MAX_DELAY_MS,
  timeoutMs: JOB_TIMEOUT_MS,
};

export interface JobWaitDeps {
  readonly getJob: (jobId: number) => Promise<StorageJob>;
  readonly now: () => number;
  readonly sleep: SleepFn;
  readonly poll: PollOptions;
}

/**
 * Polls a job until it ends: doubling waits from `poll.initialDelayMs` up to `poll.maxDelayMs`,
 * within an overall deadline, stopping when `signal` aborts.
 * @throws JobFailedError, DeadlineError naming the job and its last status, InterruptedError
 */
export async function waitForJob(
  job: StorageJob,
  waitOptions: WaitOptions,
  deps: JobWaitDeps,
): Promise<StorageJob> {
  const { poll, now, sleep, getJob } = deps;
  const timeoutMs = waitOptions.timeoutMs ?? poll.timeoutMs;
  const deadlineMs = now() + timeoutMs;
  let current = job;
  let delayMs = poll.initialDelayMs;
  for (;;) {
    if (current.status === 'success') return current;
    if (current.status === 'error') throw jobFailed(current);
    const { signal } = waitOptions;
    if (signal?.aborted) throw interrupted(current);
    const remainingMs = deadlineMs - now();
    if (remainingMs <= 0) throw deadlinePassed(current, timeoutMs);
    try {
      await sleep(Math.min(delayMs, remainingMs), signal);
    } catch (error) {
      if (signal?.aborted) throw interrupted(current);
      throw error;
    }
    delayMs = Math.min(poll.maxDelayMs, delayMs * 2);
    current = await getJob(current.id);
  }
}

function jobFailed(job: StorageJob): JobFailedError {
  const message = job.error?.message ?? 'no error message';
  const target = job.tableId ? ` of ${job.tableId}` : '';
  return new JobFailedError(
    `Storage job ${job.id} (${job.operationName}${target}) failed: ${message}`,
    job.id,
    job.error?.code,
  );
}

function deadlinePassed(job: StorageJob, timeoutMs: number): DeadlineError {
  const target = job.tableId ? ` of ${job.tableId}` : '';
  return new DeadlineError(
    `Storage job ${job.id} (${job.operationName}${target}) did not finish within ${Math.round(timeoutMs / 1000)} s; last status "${job.status}"`,
  );
}

function interrupted(job: StorageJob): InterruptedError {
  return new InterruptedError(
    `Interrupted while waiting for Storage job ${job.id} (${job.operationName}); last status "${job.status}"`,
  );
}
