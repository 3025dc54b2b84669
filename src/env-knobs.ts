/**
 * Every environment override of the job and the checks that refuse a bad one (exit 1 naming the
 * variable, before anything runs): the limits' overrides (`src/limits.ts`, docs/limits.md), the
 * timing knobs (docs/faults.md, Timing knobs (for tests)) and the slices in flight
 * (docs/performance.md). The knobs' defaults live with the modules they tune, above the layer of
 * `limits.ts`, so they are read here; all are pure functions of the environment the composition
 * root passes in.
 */
import { SYNC_ACTION_DEADLINE_MS } from './actions/deadline.js';
import { UserError } from './errors.js';
import {
  LIMIT_OVERRIDES,
  MAX_TIMER_MS,
  limitsFromEnv,
  overrideFromEnv,
  overrideProblem,
  type EnvOverride,
  type Limits,
} from './limits.js';
import type { RetryOptions } from './retry/retry-policy.js';
import { DEFAULT_TUNING, STANDALONE_SLICES_IN_FLIGHT, type Tuning } from './run.js';
import { CLAIM_LEASE_MS } from './state/sync-record.js';
import type { PollOptions } from './storage/job-wait.js';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * A timing knob of docs/faults.md ("Timing knobs"): `KBC_TABLE_SYNC_<name>`, in milliseconds, at
 * most what a Node.js timer can wait ({@link MAX_TIMER_MS}).
 */
function timingKnob(name: string, zeroAllowed = false): EnvOverride {
  return { name: `KBC_TABLE_SYNC_${name}`, unit: 1, zeroAllowed, maxScaled: MAX_TIMER_MS };
}

const RETRY_KNOBS = {
  baseDelayMs: timingKnob('RETRY_BASE_MS'),
  maxDelayMs: timingKnob('RETRY_MAX_MS'),
  maxRetryAfterMs: timingKnob('RETRY_AFTER_CAP_MS'),
  budgetMs: timingKnob('RETRY_BUDGET_MS'),
} as const;
const POLL_KNOBS = {
  initialDelayMs: timingKnob('POLL_INITIAL_MS'),
  maxDelayMs: timingKnob('POLL_MAX_MS'),
  timeoutMs: timingKnob('JOB_TIMEOUT_MS'),
} as const;
const CLAIM_LEASE_KNOB = timingKnob('CLAIM_LEASE_MS');
const REPEAT_SIGNAL_KNOB = timingKnob('REPEAT_SIGNAL_MS', true);
const ACTION_DEADLINE_KNOB = timingKnob('ACTION_DEADLINE_MS');
const PROGRESS_KNOB = timingKnob('PROGRESS_MS');

/** Slices in flight (docs/performance.md), counted in slices. */
const SLICE_KNOBS = {
  slicesPerTable: { name: 'KBC_TABLE_SYNC_SLICES_PER_TABLE', unit: 1 },
  slicesGlobal: { name: 'KBC_TABLE_SYNC_SLICES_GLOBAL', unit: 1 },
} as const satisfies Record<string, EnvOverride>;

/**
 * `0` turns off skipping unchanged tables: the benchmark's "export everything" comparison run
 * only; never needed in production.
 */
const SKIP_UNCHANGED_VARIABLE = 'KBC_TABLE_SYNC_SKIP_UNCHANGED';

/**
 * A signal this soon after the first is the same stop delivered twice, not a second one: whoever
 * signals both the process and its process group (GNU `timeout`, `kill 0`, npm or npx passing on
 * a terminal's Ctrl-C that the whole group got) delivers one stop twice, microseconds apart. Only
 * a later signal exits at once with 130. Tests set it with `KBC_TABLE_SYNC_REPEAT_SIGNAL_MS`.
 */
const REPEAT_SIGNAL_MS = 500;

/**
 * Refuses a timing knob set to what is not a number of milliseconds (positive; 0 or more for
 * `KBC_TABLE_SYNC_REPEAT_SIGNAL_MS`; at most {@link MAX_TIMER_MS}), as the limits' overrides are
 * refused (same parser).
 * @throws UserError naming the variable, without its value
 */
export function checkTimingKnobs(env: Env): void {
  const knobs = [
    ...Object.values(RETRY_KNOBS),
    ...Object.values(POLL_KNOBS),
    CLAIM_LEASE_KNOB,
    REPEAT_SIGNAL_KNOB,
    ACTION_DEADLINE_KNOB,
    PROGRESS_KNOB,
  ];
  refuseInvalidOverrides(env, knobs, 'give one in milliseconds (docs/faults.md, Timing knobs)');
}

/**
 * Refuses a slice-concurrency override set to what is not a positive number of slices, with the
 * same parser as the timing knobs.
 * @throws UserError naming the variable, without its value
 */
export function checkSliceKnobs(env: Env): void {
  refuseInvalidOverrides(
    env,
    Object.values(SLICE_KNOBS),
    'give the number of slices in flight (docs/performance.md)',
  );
}

/**
 * The limits with their environment overrides (docs/limits.md).
 * @throws UserError naming an override that is not a positive number in its bounds
 */
export function checkedLimits(env: Env): Limits {
  refuseInvalidOverrides(env, LIMIT_OVERRIDES, 'give one in its unit (docs/limits.md)');
  return limitsFromEnv(env);
}

/**
 * The one sentence for the first of `overrides` that `env` sets to a value the parser refuses
 * (not a number in its unit, or out of its bounds); `howToSet` says what to give instead.
 * @throws UserError naming the variable, without its value
 */
function refuseInvalidOverrides(
  env: Env,
  overrides: readonly EnvOverride[],
  howToSet: string,
): void {
  for (const override of overrides) {
    const problem = overrideProblem(env, override);
    if (problem === undefined) continue;
    throw new UserError(
      `The environment variable ${override.name} ${problem}: ${howToSet}, or leave it unset for the default.`,
    );
  }
}

/**
 * Retry and job-polling overrides (fault-injection tests use small values; production keeps the
 * defaults of docs/storage-client.md), checked by {@link checkTimingKnobs} first.
 */
export function timingFrom(env: Env): {
  retry?: Partial<RetryOptions>;
  poll?: Partial<PollOptions>;
} {
  const pick = <K extends string>(
    knobs: Readonly<Record<K, EnvOverride>>,
  ): Partial<Record<K, number>> => {
    const out: Partial<Record<K, number>> = {};
    for (const [key, knob] of Object.entries(knobs) as [K, EnvOverride][]) {
      const value = overrideFromEnv(env, knob);
      if (value !== undefined) out[key] = value;
    }
    return out;
  };
  const retry = pick(RETRY_KNOBS);
  const poll = pick(POLL_KNOBS);
  return {
    ...(Object.keys(retry).length > 0 ? { retry } : {}),
    ...(Object.keys(poll).length > 0 ? { poll } : {}),
  };
}

/**
 * Concurrency overrides for benchmarks and tests, checked by {@link checkSliceKnobs} and
 * {@link checkTimingKnobs} first; the defaults come from the benchmark, with fewer slices in
 * flight in standalone mode (`STANDALONE_SLICES_IN_FLIGHT`).
 */
export function tuningFrom(env: Env, standalone: boolean): Tuning {
  const slicesDefault = (fallback: number) => (standalone ? STANDALONE_SLICES_IN_FLIGHT : fallback);
  return {
    slicesPerTable:
      overrideFromEnv(env, SLICE_KNOBS.slicesPerTable) ??
      slicesDefault(DEFAULT_TUNING.slicesPerTable),
    slicesGlobal:
      overrideFromEnv(env, SLICE_KNOBS.slicesGlobal) ?? slicesDefault(DEFAULT_TUNING.slicesGlobal),
    progressIntervalMs: overrideFromEnv(env, PROGRESS_KNOB) ?? DEFAULT_TUNING.progressIntervalMs,
    skipUnchanged: env[SKIP_UNCHANGED_VARIABLE] !== '0',
    inflateThreads: threadPoolSize(env.UV_THREADPOOL_SIZE),
  };
}

/** C's `isspace` characters and an optional sign, then decimal digits: what `atoi` reads. */
const ATOI_PREFIX = /^[ \t\n\v\f\r]*([+-]?\d+)/;
const LONG_MIN = -(2n ** 63n);
const LONG_MAX = 2n ** 63n - 1n;
const MAX_THREADPOOL_SIZE = 1024;

/**
 * libuv's thread pool size, read as libuv reads it: `atoi(UV_THREADPOOL_SIZE)` (leading whitespace,
 * a sign and digits; `strtol`'s range, then cut to 32 bits) kept in an unsigned int, where 0 means
 * 1 and anything above 1024 (a negative number too) means 1024; without the variable, libuv's
 * default of 4. Not a knob of the job: it only follows what the runtime does with the variable.
 */
export function threadPoolSize(value: string | undefined): number {
  if (value === undefined) return DEFAULT_TUNING.inflateThreads;
  const digits = ATOI_PREFIX.exec(value)?.[1];
  if (digits === undefined) return 1;
  const long = BigInt(digits);
  const clamped = long < LONG_MIN ? LONG_MIN : long > LONG_MAX ? LONG_MAX : long;
  const threads = Number(BigInt.asUintN(32, clamped));
  if (threads === 0) return 1;
  return Math.min(MAX_THREADPOOL_SIZE, threads);
}

/** The lease of a claim on a destination table (docs/sync-record.md, Claims). */
export function claimLeaseMsFrom(env: Env): number {
  return overrideFromEnv(env, CLAIM_LEASE_KNOB) ?? CLAIM_LEASE_MS;
}

/** The deadline of a sync action (docs/sync-actions.md, Deadline). */
export function actionDeadlineMsFrom(env: Env): number {
  return overrideFromEnv(env, ACTION_DEADLINE_KNOB) ?? SYNC_ACTION_DEADLINE_MS;
}

/** How soon after the first a signal counts as the same stop ({@link REPEAT_SIGNAL_MS}). */
export function repeatSignalMsFrom(env: Env): number {
  return overrideFromEnv(env, REPEAT_SIGNAL_KNOB) ?? REPEAT_SIGNAL_MS;
}
