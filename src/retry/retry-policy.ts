/**
 * The one retry policy of the Storage API client and the object-store transfers (pure: no I/O, no
 * clock, no randomness of its own). Used by src/retry/retrier.ts. Facts: docs/storage-api-notes.md,
 * Maintenance, rate limits and retries; behaviour: docs/storage-client.md.
 *
 * Which failures are transient:
 * - network errors (ECONNRESET, ECONNREFUSED, ETIMEDOUT, ECONNABORTED, EPIPE, EAI_AGAIN, socket
 *   hang up), 408, 429, every 5xx except 501, and 503 (maintenance or not);
 * - a request this job aborted itself while it was in flight (`ABORTED`: SIGTERM, SIGINT) is never
 *   retried, but its outcome is unknown like a timeout's: the server may already hold it;
 * - everything else (4xx, 501, ENOTFOUND = the host does not exist) is permanent.
 *
 * For which requests:
 * - idempotent requests (GET, PUT of an object, a lookup) retry every transient failure;
 * - job-starting POSTs retry only when the request surely never reached the server: connection
 *   refused, DNS lookup failure (EAI_AGAIN), 429, or 503 with the maintenance body. Any other
 *   transient failure has an unknown outcome (the job may exist); the Storage client then looks the
 *   job up instead of posting again, and marks the failure `provenNotStarted` when it is not found.
 */

/** What kind of request failed; decides which transient failures may be retried. */
export type RequestKind = 'idempotent' | 'jobStart';

/** Facts about one failed attempt, extracted by the adapter from the error. */
export interface FailureFacts {
  /** HTTP status of the answer; undefined for a network error. */
  readonly status?: number | undefined;
  /** Node's error code of a network error (`ECONNRESET`, …) or `socket hang up`. */
  readonly networkCode?: string | undefined;
  /** True for the 503 `{"status":"maintenance"}` body. */
  readonly maintenance?: boolean | undefined;
  /** The job lookup after an unknown outcome found no job: posting again cannot duplicate it. */
  readonly provenNotStarted?: boolean | undefined;
}

/** Where a failed request stands. */
export type FailureOutcome =
  /** Not worth retrying (4xx, 501, unknown host, a bug). */
  | 'permanent'
  /** Transient, and the server surely did not act on it. */
  | 'notReached'
  /** Transient, but the server may have acted on it (a job may have started). */
  | 'unknown';

export interface RetryOptions {
  /** First backoff step before jitter. */
  readonly baseDelayMs: number;
  /** Cap of one backoff step (before a Retry-After). */
  readonly maxDelayMs: number;
  /** Cap of an honoured `Retry-After`. */
  readonly maxRetryAfterMs: number;
  /** Total time one request may spend, attempts and waits included, before giving up. */
  readonly budgetMs: number;
  /** Attempts in total, the first one included. */
  readonly maxAttempts: number;
  /** `full`: uniform in [0, step]; `equal`: step/2 + uniform in [0, step/2]. */
  readonly jitter: 'full' | 'equal';
}

const BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 20_000;
const REQUEST_BUDGET_MS = 10 * 60_000;
const MAX_ATTEMPTS = 12;

export const DEFAULT_RETRY_OPTIONS: RetryOptions = {
  baseDelayMs: BASE_DELAY_MS,
  maxDelayMs: MAX_DELAY_MS,
  // A `Retry-After` is waited in full up to the request's whole budget: asking again sooner only
  // meets the same 503 or 429. A longer one leaves no attempt within the budget, so the request
  // gives up at once instead of asking early (docs/faults.md).
  maxRetryAfterMs: REQUEST_BUDGET_MS,
  budgetMs: REQUEST_BUDGET_MS,
  maxAttempts: MAX_ATTEMPTS,
  jitter: 'equal',
};

/**
 * The code of a request aborted by this job while in flight (the adapters set it). Retry loops
 * never start an attempt once the stop signal has fired, so an `ABORTED` attempt was under way.
 */
export const ABORTED_CODE = 'ABORTED';

/** Network error codes meaning the connection was never made: nothing reached the server. */
const NOT_REACHED_CODES: ReadonlySet<string> = new Set(['ECONNREFUSED', 'EAI_AGAIN']);

/** Network error codes after which the request may have been received and acted on. */
const UNKNOWN_OUTCOME_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ETIMEDOUT',
  // Unreachable host or network: also what an open (kept-alive) connection reports when its
  // retransmissions give up after the request went out, so the server may have it.
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
  'EPIPE',
  'ESOCKETTIMEDOUT',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
  'UND_ERR_SOCKET',
  'socket hang up',
  ABORTED_CODE,
]);

/** Classifies one failed attempt. */
export function classifyFailure(facts: FailureFacts): FailureOutcome {
  if (facts.status === undefined) return classifyNetworkCode(facts.networkCode);
  const status = facts.status;
  if (status === 429) return 'notReached';
  if (status === 503 && facts.maintenance === true) return 'notReached';
  if (status === 408) return 'unknown';
  if (status >= 500 && status !== 501) return 'unknown';
  return 'permanent';
}

function classifyNetworkCode(code: string | undefined): FailureOutcome {
  if (code === undefined) return 'permanent';
  if (NOT_REACHED_CODES.has(code)) return 'notReached';
  if (UNKNOWN_OUTCOME_CODES.has(code)) return 'unknown';
  return 'permanent';
}

/** Whether this failure of this kind of request may be retried. */
export function isRetryable(facts: FailureFacts, kind: RequestKind): boolean {
  if (facts.networkCode === ABORTED_CODE) return false;
  const outcome = classifyFailure(facts);
  if (outcome === 'permanent') return false;
  if (kind === 'idempotent') return true;
  return outcome === 'notReached' || facts.provenNotStarted === true;
}

/**
 * Wait before attempt `attempt + 1`, where `attempt` counts the attempts made so far (from 1).
 * Exponential from `baseDelayMs`, capped at `maxDelayMs`, jittered with `random()` in [0, 1).
 * A `Retry-After` from the server wins when it is longer, capped at `maxRetryAfterMs`.
 */
export function delayMs(
  attempt: number,
  retryAfterSeconds: number | undefined,
  random: () => number,
  options: RetryOptions = DEFAULT_RETRY_OPTIONS,
): number {
  const exponent = Math.max(0, attempt - 1);
  const stepMs = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** exponent);
  const jitteredMs =
    options.jitter === 'full' ? stepMs * random() : stepMs / 2 + (stepMs / 2) * random();
  const backoffMs = Math.round(jitteredMs);
  if (retryAfterSeconds === undefined || !Number.isFinite(retryAfterSeconds)) return backoffMs;
  const retryAfterMs = Math.min(options.maxRetryAfterMs, Math.max(0, retryAfterSeconds * 1000));
  return Math.max(backoffMs, Math.round(retryAfterMs));
}

/**
 * Whether another attempt fits: attempts left, and the wait plus the time already spent stays
 * within the budget.
 */
export function withinBudget(
  attemptsMade: number,
  elapsedMs: number,
  nextDelayMs: number,
  options: RetryOptions = DEFAULT_RETRY_OPTIONS,
): boolean {
  if (attemptsMade >= options.maxAttempts) return false;
  return elapsedMs + nextDelayMs < options.budgetMs;
}

/**
 * Parses a `Retry-After` header: delta seconds, or an HTTP date relative to `nowMs`.
 * Undefined when absent or unreadable.
 */
export function parseRetryAfterSeconds(
  header: string | undefined,
  nowMs: number,
): number | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  const trimmed = header.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
  const dateMs = Date.parse(trimmed);
  if (Number.isNaN(dateMs)) return undefined;
  return Math.max(0, (dateMs - nowMs) / 1000);
}
