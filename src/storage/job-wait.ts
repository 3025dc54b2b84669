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
 * The wait before the second poll (the first is at once): short, so that a short job ends after
 * a few polls, as Go's client waits 50 ms; cap at 5 s, within the range of Keboola's clients, a
 * few seconds to 20 s (docs/storage-api-notes.md, Waiting for a job).
 */
const POLL_INITIAL_DELAY_MS = 50;
const POLL_MAX_DELAY_MS = 5_000;
const JOB_TIMEOUT_MS = 2 * 60 * 60_000;

export const DEFAULT_POLL_OPTIONS: PollOptions = {
  initialDelayMs: POLL_INITIAL_DELAY_MS,
  maxDelayMs: POLL_MAX_DELAY_MS,
  timeoutMs: JOB_TIMEOUT_MS,
};

export interface JobWaitDeps {
  /** `signal` aborts the request in flight: a poll the server holds must not hold the run's stop. */
  readonly getJob: (jobId: number, signal?: AbortSignal) => Promise<StorageJob>;
  readonly now: () => number;
  readonly sleep: SleepFn;
  readonly poll: PollOptions;
}

/**
 * Polls a job until it ends: once at once, as Keboola's clients do, then after doubling waits
 * from `poll.initialDelayMs` up to `poll.maxDelayMs`, within an overall deadline, stopping when
 * `signal` aborts.
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
  let delayMs = 0;
  for (;;) {
    if (current.status === 'success') return current;
    if (current.status === 'error') throw jobFailed(current);
    const { signal } = waitOptions;
    if (signal?.aborted) throw interrupted(current);
    const remainingMs = deadlineMs - now();
    if (remainingMs <= 0) throw deadlinePassed(current, timeoutMs);
    if (delayMs > 0) await pause(Math.min(delayMs, remainingMs), current, sleep, signal);
    delayMs = delayMs === 0 ? poll.initialDelayMs : Math.min(poll.maxDelayMs, delayMs * 2);
    current = await pollOnce(current, getJob, signal);
  }
}

/** One poll; an abort while it is in flight ends the wait as interrupted. */
async function pollOnce(
  current: StorageJob,
  getJob: JobWaitDeps['getJob'],
  signal: AbortSignal | undefined,
): Promise<StorageJob> {
  try {
    return await getJob(current.id, signal);
  } catch (error) {
    if (signal?.aborted) throw interrupted(current);
    throw error;
  }
}

/** Sleeps before the next poll; an abort meanwhile ends the wait as interrupted. */
async function pause(
  delayMs: number,
  current: StorageJob,
  sleep: SleepFn,
  signal: AbortSignal | undefined,
): Promise<void> {
  try {
    await sleep(delayMs, signal);
  } catch (error) {
    if (signal?.aborted) throw interrupted(current);
    throw error;
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
