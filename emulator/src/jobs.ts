/**
 * Storage jobs: created `waiting`, their work runs in the background at once, and each poll
 * (`GET jobs/{id}`) advances them one step: `waiting` → `processing` → `success`/`error` (the
 * terminal step only once the work has finished, and no sooner than the job duration after the
 * job's creation). Faults `jobStuck` / `jobError` apply per job.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EmulatorClock } from './clock.js';
import { JobError } from './api-error.js';
import type { FaultSpec } from './faults.js';
import type { EmulatorState, JobOutcome, JobState, TokenState } from './model.js';

export interface JobSpec {
  readonly projectId: number;
  readonly operationName: string;
  readonly tableId: string | null;
  /**
   * The table a job that lists no `tableId` works on (a table creation names it only in its
   * parameters, or not at all): `control.stats().jobStarts` counts the job for it.
   */
  readonly countedTableId?: string;
  readonly operationParams: Record<string, unknown>;
  readonly token: TokenState;
  readonly runId: string | null;
  /** A `jobStuck` or `jobError` fault taken for the starting request. */
  readonly fault: FaultSpec | undefined;
}

/** A random `exceptionId` in the style of the real service. */
export function newExceptionId(): string {
  return `keboola-emulator-${randomBytes(8).toString('hex')}`;
}

export class JobRunner {
  readonly #state: EmulatorState;
  readonly #clock: EmulatorClock;
  readonly #running = new Set<Promise<void>>();
  readonly #onWorkError: (error: unknown) => void;
  #durationMs = 0;
  /** Aborted by {@link stop}: a job still waiting out its duration ends at once. */
  readonly #stopping = new AbortController();

  constructor(state: EmulatorState, clock: EmulatorClock, onWorkError: (error: unknown) => void) {
    this.#state = state;
    this.#clock = clock;
    this.#onWorkError = onWorkError;
  }

  /**
   * The least time, in milliseconds of this machine's monotonic clock (not the emulator clock,
   * which tests freeze), from a job's creation to its outcome: the real service's queue and
   * processing time, which is seconds for the smallest table (docs/storage-api.md, Jobs). Applies
   * to jobs created from now on; 0 (the default) ends a job as soon as its work is done.
   */
  setDurationMs(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) {
      throw new RangeError(`The job duration must be a number of milliseconds ≥ 0, not ${ms}.`);
    }
    this.#durationMs = ms;
  }

  /**
   * Creates a `waiting` job and starts `work` (unless a `jobError` fault replaces it). The work's
   * value becomes `results`; a thrown {@link JobError} becomes the job's `error`.
   */
  start(spec: JobSpec, work: () => Promise<unknown>): JobState {
    const job: JobState = {
      id: this.#state.nextJobId(),
      projectId: spec.projectId,
      operationName: spec.operationName,
      tableId: spec.tableId,
      operationParams: spec.operationParams,
      createdMs: this.#clock.nowMs(),
      runId: spec.runId,
      creatorTokenId: spec.token.id,
      creatorDescription: spec.token.description,
      status: 'waiting',
      startMs: undefined,
      endMs: undefined,
      outcome: undefined,
      stuck: spec.fault?.kind === 'jobStuck',
      results: null,
      error: undefined,
    };
    this.#state.jobs.set(job.id, job);
    this.#state.countJobStart(spec.operationName, spec.countedTableId ?? spec.tableId);
    // The job is activity of its token: it shows in the token's own events (last activity).
    this.#state.addTokenEvent(
      spec.token,
      `storage.${spec.operationName}`,
      `Job ${job.id} (${spec.operationName}) created`,
      job.createdMs,
      spec.runId,
    );
    const fault = spec.fault;
    if (fault?.kind === 'jobError') {
      job.outcome = failure(new JobError(fault.code, fault.message));
    } else {
      this.#track(job, work);
    }
    return job;
  }

  #track(job: JobState, work: () => Promise<unknown>): void {
    const durationMs = this.#durationMs;
    const run = (async () => {
      const wait =
        durationMs > 0 && sleep(durationMs, undefined, { signal: this.#stopping.signal });
      // Only the work's outcome counts: a wait cut short by stop() rejects, and is ignored.
      const [done] = await Promise.allSettled([work(), wait]);
      if (done.status === 'fulfilled') {
        job.outcome = { results: done.value };
      } else {
        if (!(done.reason instanceof JobError)) this.#onWorkError(done.reason);
        job.outcome = failure(done.reason);
      }
    })();
    this.#running.add(run);
    void run.finally(() => this.#running.delete(run));
  }

  /** One poll: advances the job by at most one step. */
  advance(job: JobState): void {
    if (job.status === 'waiting') {
      job.status = 'processing';
      job.startMs = this.#clock.nowMs();
      return;
    }
    if (job.status !== 'processing' || job.stuck || !job.outcome) return;
    job.endMs = this.#clock.nowMs();
    job.results = job.outcome.results;
    job.error = job.outcome.error;
    job.status = job.outcome.error ? 'error' : 'success';
  }

  /** Resolves when every background work started so far has finished. */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
  }

  /**
   * For closing: ends the waits for job durations at once, then waits for the work still running.
   * A closed emulator answers no poll, so no client sees a job that ended early.
   */
  async stop(): Promise<void> {
    this.#stopping.abort();
    await this.idle();
  }
}

function failure(error: unknown): JobOutcome {
  if (error instanceof JobError) {
    return {
      results: error.results,
      error: { code: error.code, message: error.message, exceptionId: newExceptionId() },
    };
  }
  return {
    results: null,
    error: {
      code: 'APPLICATION_ERROR',
      message: 'Internal error in the emulator job.',
      exceptionId: newExceptionId(),
    },
  };
}
