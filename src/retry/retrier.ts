import { setTimeout as delay } from 'node:timers/promises';
import pRetry from 'p-retry';
import {
  DEFAULT_RETRY_OPTIONS,
  delayMs,
  isRetryable,
  type FailureFacts,
  type RequestKind,
  type RetryOptions,
  withinBudget,
} from './retry-policy.js';

/**
 * The one retry loop of the job, shared by the Storage API client (`src/storage/`) and the
 * object-store transfers (`src/objects/`). It knows nothing about either: an error tells the loop
 * what happened through its `retryFacts` (see {@link RetryFactsCarrier}), or through the
 * `factsOf` function the caller passes. Leaf module: imports only the pure policy and p-retry.
 */

export type SleepFn = (ms: number, signal?: AbortSignal) => Promise<void>;

/** Facts plus the server's Retry-After, as read from one failed attempt. */
export type AttemptFacts = FailureFacts & { readonly retryAfterSeconds?: number | undefined };

/** An error that states its own retry facts (object-store errors, Storage API errors). */
interface RetryFactsCarrier {
  readonly retryFacts: AttemptFacts;
}

/** The few logger methods the retrier uses (pino's signature). */
interface RetryLogger {
  warn(object: object, message: string): void;
  debug(object: object, message: string): void;
}

export interface RetryContext {
  readonly kind: RequestKind;
  /** `METHOD /path`, for log lines (no query string). */
  readonly description: string;
  readonly signal?: AbortSignal | undefined;
  /**
   * Ends the waits between attempts, and with them the retries, but unlike `signal` neither an
   * attempt under way nor its answer: for a request whose answer must reach the caller once it was
   * sent. The loop then throws the last attempt's error.
   */
  readonly waitSignal?: AbortSignal | undefined;
}

export interface RetrierOptions {
  readonly retry?: Partial<RetryOptions> | undefined;
  /** Masks a log line before it is written (secret values, token shapes). */
  readonly mask: (text: string) => string;
  readonly logger?: RetryLogger | undefined;
  readonly sleep?: SleepFn | undefined;
  readonly now?: (() => number) | undefined;
  readonly random?: (() => number) | undefined;
  /** Reads the facts of a failure; by default the error's own `retryFacts`. */
  readonly factsOf?: ((error: unknown) => AttemptFacts) | undefined;
  /** Told each failed attempt that will be retried (a sync action names it at its deadline). */
  readonly onRetry?: ((error: Error) => void) | undefined;
}

export type Retrier = <T>(
  operation: (attempt: number) => Promise<T>,
  context: RetryContext,
) => Promise<T>;

/** Default abortable sleep. */
export const realSleep: SleepFn = async (ms, signal) => {
  await delay(ms, undefined, signal ? { signal } : undefined);
};

const provenNotStarted = new WeakSet<object>();

/** Marks a job-start failure whose job was looked up and not found: posting again is safe. */
export function markProvenNotStarted(error: unknown): void {
  if (typeof error === 'object' && error !== null) provenNotStarted.add(error);
}

/** Whether {@link markProvenNotStarted} was called for this error. */
export function isProvenNotStarted(error: unknown): boolean {
  return typeof error === 'object' && error !== null && provenNotStarted.has(error);
}

/** The facts an error carries in `retryFacts`, or none (a bug, a user error: permanent). */
export function carriedFacts(error: unknown): AttemptFacts {
  const carrier = error as Partial<RetryFactsCarrier> | null;
  const facts = carrier && typeof carrier === 'object' ? carrier.retryFacts : undefined;
  return { ...facts, provenNotStarted: isProvenNotStarted(error) };
}

/**
 * Builds the retry loop (p-retry without its own timers): after each failure the pure policy
 * decides whether to retry, how long to wait (honouring Retry-After) and whether the budget allows
 * it; the wait uses the injected `sleep` and ends at once when `context.signal` aborts. Errors are
 * rethrown unchanged. Each decision is logged at debug level, each retry as a warning.
 */
export function createRetrier(options: RetrierOptions): Retrier {
  const retryOptions: RetryOptions = { ...DEFAULT_RETRY_OPTIONS, ...options.retry };
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? realSleep;
  const random = options.random ?? Math.random;
  const factsOf = options.factsOf ?? carriedFacts;
  return async (operation, context) => {
    const startMs = now();
    return pRetry(operation, {
      retries: Math.max(0, retryOptions.maxAttempts - 1),
      minTimeout: 0,
      maxTimeout: 0,
      factor: 1,
      signal: context.signal,
      shouldRetry: async ({ error, attemptNumber }) => {
        if (context.signal?.aborted || context.waitSignal?.aborted) return false;
        const facts = factsOf(error);
        const retryable = isRetryable(facts, context.kind);
        const waitMs = delayMs(attemptNumber, facts.retryAfterSeconds, random, retryOptions);
        const fits = withinBudget(attemptNumber, now() - startMs, waitMs, retryOptions);
        const decision = !retryable ? 'permanent' : fits ? 'retry' : 'budget spent';
        options.logger?.debug(
          { attempt: attemptNumber, decision, ...(decision === 'retry' && { waitMs }) },
          options.mask(`retry decision for ${context.description}: ${decision}`),
        );
        if (decision !== 'retry') return false;
        options.onRetry?.(error);
        options.logger?.warn(
          { attempt: attemptNumber, waitMs },
          options.mask(`${context.description} failed (${error.message}); retrying`),
        );
        return waitUnlessStopped(sleep, waitMs, context);
      },
    });
  };
}

/**
 * The wait before the next attempt: true once it has passed; false when `context.waitSignal` ended
 * it (no further attempt). An abort by `context.signal` rejects, as the loop's own signal does.
 */
async function waitUnlessStopped(
  sleep: SleepFn,
  waitMs: number,
  context: RetryContext,
): Promise<boolean> {
  const { signal, waitSignal } = context;
  const either =
    signal && waitSignal ? AbortSignal.any([signal, waitSignal]) : (signal ?? waitSignal);
  try {
    await sleep(waitMs, either);
    return true;
  } catch (error) {
    if (waitSignal?.aborted && signal?.aborted !== true) return false;
    throw error;
  }
}

/**
 * A network failure's code in words, for the sentence that names the host: `the host name does
 * not exist` for ENOTFOUND. `timeoutMs` is the wait an ETIMEDOUT stands for. A code without
 * words (ECONNRESET, ABORTED, …) is returned as it is.
 */
export function describeNetworkCode(code: string, timeoutMs: number): string {
  const causes: Record<string, string> = {
    ECONNREFUSED: 'the connection was refused (nothing listens there)',
    ENOTFOUND: 'the host name does not exist',
    EAI_AGAIN: 'the host name could not be resolved (DNS)',
    EAI_FAIL: 'the host name could not be resolved (DNS)',
    EHOSTUNREACH: 'the host is unreachable',
    ENETUNREACH: 'the network is unreachable',
    ETIMEDOUT: `it did not answer within ${Math.round(timeoutMs / 1000)} s`,
    EPROTO: 'the TLS handshake failed',
  };
  return causes[code] ?? (isTlsCode(code) ? `the TLS connection failed (${code})` : code);
}

/** Node's TLS and certificate error codes (`CERT_HAS_EXPIRED`, `ERR_TLS_CERT_ALTNAME_INVALID`, …). */
export function isTlsCode(code: string): boolean {
  return /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/i.test(code);
}

/** The error code of a network failure, as the retry policy knows them. */
export function networkCodeOf(error: unknown): string {
  const record = error as { code?: unknown; message?: unknown; cause?: unknown } | null;
  if (record && typeof record === 'object') {
    if (typeof record.code === 'string') return record.code;
    if (typeof record.message === 'string' && record.message.includes('socket hang up')) {
      return 'socket hang up';
    }
    if (record.cause) return networkCodeOf(record.cause);
  }
  return 'UNKNOWN';
}
