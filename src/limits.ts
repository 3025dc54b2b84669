/**
 * The caps, deadlines and rates that bound what a server can make the job read or wait for, with
 * their environment overrides and the parser every override of the job shares. docs/limits.md
 * documents each one; the defaults suit production, tests set small values. The timing knobs
 * (retries, job polling, claim lease, signals, sync-action deadline, progress) and the slices in
 * flight have their defaults in the modules they tune, above this layer: their overrides are read
 * and checked in `src/env-knobs.ts`.
 */
export interface Limits {
  /** Total deadline of one Storage API or object-store request, headers and body. */
  readonly requestTimeoutMs: number;
  /** Deadline of each request before the stack has answered once (first contact). */
  readonly firstContactTimeoutMs: number;
  /** Cap of one Storage API answer, decompressed. */
  readonly maxAnswerBytes: number;
  /** Cap of one sliced file's manifest. */
  readonly maxManifestBytes: number;
  /** A slice attempt that moves fewer than this many bytes in one window is aborted and retried. */
  readonly minSliceBytesPerWindow: number;
  /** The window of the minimum progress rate. */
  readonly sliceProgressWindowMs: number;
  /** First wait before a failed slice restarts; it doubles per attempt up to 5 s. */
  readonly sliceRetryBaseMs: number;
  /** A slice inflating beyond this ratio (CSV bytes per gzip byte) is refused as a gzip bomb. */
  readonly maxInflateRatio: number;
  /** The ratio is only judged after this many CSV bytes (tiny slices have odd ratios). */
  readonly inflateRatioFloorBytes: number;
  /** Cap of config.json. */
  readonly maxConfigBytes: number;
  /** Cap of in/state.json. */
  readonly maxStateBytes: number;
}

const MIB = 1024 * 1024;

export const DEFAULT_LIMITS: Limits = {
  requestTimeoutMs: 120_000,
  firstContactTimeoutMs: 10_000,
  maxAnswerBytes: 32 * MIB,
  maxManifestBytes: 16 * MIB,
  minSliceBytesPerWindow: 16 * 1024,
  sliceProgressWindowMs: 60_000,
  sliceRetryBaseMs: 250,
  maxInflateRatio: 500,
  inflateRatioFloorBytes: 64 * MIB,
  maxConfigBytes: 4 * MIB,
  // About 100 000 tables' entries; parsing it takes several times its size in memory.
  maxStateBytes: 16 * MIB,
};

/**
 * The longest wait a Node.js timer keeps: 2^31 − 1 ms (about 24.8 days). A longer one fires after
 * 1 ms, so a duration above it would turn a deadline into an immediate timeout.
 */
export const MAX_TIMER_MS = 2_147_483_647;

/** An environment variable that overrides a default: its name and what one unit of it is worth. */
export interface EnvOverride {
  readonly name: string;
  /** The default's units per unit of the variable (1000 for seconds given to a millisecond value). */
  readonly unit: number;
  /** Whether 0 is a value (else only positive numbers are). */
  readonly zeroAllowed?: boolean;
  /** The smallest value, in the default's unit; 1 unless said (a value that rounds to 0 is refused). */
  readonly minScaled?: number;
  /** The largest value, in the default's unit: {@link MAX_TIMER_MS} for a duration. */
  readonly maxScaled?: number;
}

/** A duration given in seconds. */
const SECONDS: Pick<EnvOverride, 'unit' | 'maxScaled'> = { unit: 1000, maxScaled: MAX_TIMER_MS };
/**
 * A size given in MiB: at least 1, so that a cap is never 0 bytes and the sentences that name it
 * in whole MiB never say "0 MiB".
 */
const MEBIBYTES: Pick<EnvOverride, 'unit' | 'minScaled'> = { unit: MIB, minScaled: MIB };

/** The environment variable of each limit and the unit it is given in. */
const OVERRIDES: Record<keyof Limits, EnvOverride> = {
  requestTimeoutMs: { name: 'KBC_TABLE_SYNC_REQUEST_TIMEOUT_S', ...SECONDS },
  firstContactTimeoutMs: { name: 'KBC_TABLE_SYNC_FIRST_CONTACT_TIMEOUT_S', ...SECONDS },
  maxAnswerBytes: { name: 'KBC_TABLE_SYNC_MAX_ANSWER_MB', ...MEBIBYTES },
  maxManifestBytes: { name: 'KBC_TABLE_SYNC_MAX_MANIFEST_MB', ...MEBIBYTES },
  minSliceBytesPerWindow: { name: 'KBC_TABLE_SYNC_MIN_SLICE_BYTES', unit: 1 },
  sliceProgressWindowMs: { name: 'KBC_TABLE_SYNC_SLICE_PROGRESS_WINDOW_S', ...SECONDS },
  sliceRetryBaseMs: {
    name: 'KBC_TABLE_SYNC_SLICE_RETRY_BASE_MS',
    unit: 1,
    maxScaled: MAX_TIMER_MS,
  },
  maxInflateRatio: { name: 'KBC_TABLE_SYNC_MAX_INFLATE_RATIO', unit: 1 },
  inflateRatioFloorBytes: { name: 'KBC_TABLE_SYNC_INFLATE_FLOOR_MB', ...MEBIBYTES },
  maxConfigBytes: { name: 'KBC_TABLE_SYNC_MAX_CONFIG_MB', ...MEBIBYTES },
  maxStateBytes: { name: 'KBC_TABLE_SYNC_MAX_STATE_MB', ...MEBIBYTES },
};

/**
 * The limits with the overrides found in `env`; an invalid one is ignored here, so the composition
 * root refuses those first ({@link overrideProblem} of each of {@link LIMIT_OVERRIDES}).
 */
export function limitsFromEnv(env: Readonly<Record<string, string | undefined>>): Limits {
  const limits: Record<string, number> = { ...DEFAULT_LIMITS };
  for (const [key, override] of Object.entries(OVERRIDES)) {
    const scaled = overrideFromEnv(env, override);
    if (scaled !== undefined) limits[key] = scaled;
  }
  return limits as unknown as Limits;
}

/** Every limit's override variable, for the composition root's check. */
export const LIMIT_OVERRIDES: readonly EnvOverride[] = Object.values(OVERRIDES);

/**
 * What is wrong with the override's value, as the end of a sentence that starts with the
 * variable's name (`is not a positive number`), or undefined when it is unset, empty or valid:
 * valid is a number of the variable's unit that is positive (or 0, where allowed), at least
 * `minScaled` and at most `maxScaled` once scaled and rounded to the default's unit. The value
 * itself is never quoted.
 */
export function overrideProblem(
  env: Readonly<Record<string, string | undefined>>,
  override: EnvOverride,
): string | undefined {
  const text = env[override.name]?.trim();
  if (text === undefined || text === '') return undefined;
  const value = Number(text);
  const scaled = Math.round(value * override.unit);
  const { unit, zeroAllowed = false, minScaled = 1, maxScaled } = override;
  if (maxScaled !== undefined && value > 0 && scaled > maxScaled) {
    const timer =
      maxScaled === MAX_TIMER_MS ? ` (a Node.js timer waits at most ${MAX_TIMER_MS} ms)` : '';
    return `is above ${maxScaled / unit}, the largest value it takes${timer}`;
  }
  if (!Number.isFinite(scaled) || !(value > 0 || (zeroAllowed && value === 0))) {
    return zeroAllowed ? 'is not a number of 0 or more' : 'is not a positive number';
  }
  if (!zeroAllowed && scaled < minScaled) {
    return `is below ${minScaled / unit}, the smallest value it takes`;
  }
  return undefined;
}

/** The override's value in the default's unit; undefined when unset, empty or not valid. */
export function overrideFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  override: EnvOverride,
): number | undefined {
  const text = env[override.name]?.trim();
  if (text === undefined || text === '' || overrideProblem(env, override) !== undefined) {
    return undefined;
  }
  return Math.round(Number(text) * override.unit);
}
