import { ServiceError, StorageApiError, TokenRevokedError, UserError } from '../errors.js';
import type { Logger } from '../logger.js';
import {
  carriedFacts,
  createRetrier,
  describeNetworkCode,
  isProvenNotStarted,
  isTlsCode,
  networkCodeOf,
  type AttemptFacts,
  type Retrier,
  type RetryContext,
  type SleepFn,
} from '../retry/retrier.js';
import {
  ABORTED_CODE,
  DEFAULT_RETRY_OPTIONS,
  parseRetryAfterSeconds,
  type RequestKind,
  type RetryOptions,
} from '../retry/retry-policy.js';
import type { SecretMasker } from '../secrets.js';
import { packageVersion } from '../version.js';
import { AnswerOverCapError, sendHttp, type TransportResponse } from './http-transport.js';

export { markProvenNotStarted, realSleep } from '../retry/retrier.js';
export type { SleepFn } from '../retry/retrier.js';

/**
 * The HTTP adapter of one Storage API project: its request headers (token, run id, user agent,
 * gzip), caps and deadlines over `sendHttp`, and one `withRetry` wrapper driven by the shared
 * retry loop.
 *
 * Every non-2xx answer becomes a {@link StorageApiError} here (built from the body's `error`,
 * `code`, `exceptionId`, or the maintenance body), every network failure a
 * {@link StorageNetworkError}; neither carries headers, the token or a query string.
 *
 * Caps (docs/limits.md): an answer's body, decompressed, may hold at most `maxAnswerBytes`; each
 * request has a total deadline (`requestTimeoutMs`, headers and body together). Until the stack has
 * answered once, a connection that cannot be made is a {@link StackUnreachableError}: at once when
 * refused, for an unknown host or a TLS failure; after a few attempts when the resolver, the route
 * or the network failed or no answer came within `firstContactTimeoutMs`. Only an answer proves
 * the URL right, and only then do network failures get the patient retry policy.
 */

/** Total deadline of one Storage API request, headers and body (env `KBC_TABLE_SYNC_REQUEST_TIMEOUT_S`). */
const REQUEST_TIMEOUT_MS = 120_000;
/** Deadline of the requests before the stack has answered once. */
const FIRST_CONTACT_TIMEOUT_MS = 10_000;
/** Cap of one JSON answer, decompressed (env `KBC_TABLE_SYNC_MAX_ANSWER_MB`). */
const MAX_ANSWER_BYTES = 32 * 1024 * 1024;

export interface StorageHttpOptions {
  /** Base URL without trailing slash. */
  readonly url: string;
  readonly token: string;
  /**
   * The config key the token came from (`parameters.#token`), named when the token stops
   * working in the middle of a run; without it the sentence says "The Storage API token".
   */
  readonly tokenKey?: string | undefined;
  /** Sent as `X-KBC-RunId` on every request. */
  readonly runId?: string | undefined;
  readonly masker: SecretMasker;
  readonly logger?: Logger | undefined;
  readonly retry?: Partial<RetryOptions> | undefined;
  readonly requestTimeoutMs?: number | undefined;
  readonly firstContactTimeoutMs?: number | undefined;
  readonly maxAnswerBytes?: number | undefined;
  /** Aborts every request and every wait of this client (SIGTERM/SIGINT). */
  readonly signal?: AbortSignal | undefined;
  readonly sleep?: SleepFn | undefined;
  readonly now?: (() => number) | undefined;
  /** A monotonic clock in ms (elapsed time only); `performance.now` unless given. */
  readonly monotonicMs?: (() => number) | undefined;
  readonly random?: (() => number) | undefined;
  /** Told each failed attempt that will be retried (the retry loop's `onRetry`). */
  readonly onRetry?: ((error: Error) => void) | undefined;
}

type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

interface StorageRequest {
  readonly method: HttpMethod;
  /** Path from the base URL, e.g. `/v2/storage/tables/in.c-a.b` (no query string). */
  readonly path: string;
  readonly params?: Readonly<Record<string, string | number | boolean>>;
  readonly body?: unknown;
  readonly signal?: AbortSignal | undefined;
  /**
   * Clean-up of this run's own traces (deleting its claim): an attempt in flight is not aborted by
   * the client's stop signal, and after the signal the request still goes out once, within
   * {@link CLEANUP_AFTER_STOP_TIMEOUT_MS}, so that a stopped run leaves no claim behind.
   */
  readonly cleanup?: boolean;
  /**
   * A request whose answer must reach the user once it was sent (`POST tokens`: the server may
   * act on it, and shows what it minted only once): an attempt under way when the client's stop
   * signal fires is not aborted but runs to its answer or its own deadline, and that outcome is
   * the request's. No attempt starts after the signal (the request then rejects with the signal's
   * reason, as any other request does), and the wait between attempts ends at it.
   */
  readonly finishAfterStop?: boolean;
}

/** Deadline of a clean-up request sent after the stop signal (the process exits 1.5 s after it). */
const CLEANUP_AFTER_STOP_TIMEOUT_MS = 1_000;

export interface StorageHttp {
  /** One attempt, no retry. Resolves with the parsed JSON body (null for an empty body). */
  send(request: StorageRequest): Promise<unknown>;
  /** `send` retried by the policy for `kind` (default idempotent). */
  request(request: StorageRequest, kind?: RequestKind): Promise<unknown>;
  /** Runs `operation` (attempt number from 1) with the retry policy for `context.kind`. */
  withRetry<T>(operation: (attempt: number) => Promise<T>, context: RetryContext): Promise<T>;
  /** The effective retry options. */
  readonly retryOptions: RetryOptions;
  /** The server clock from the `Date` header of the latest answer, in ms; undefined before one. */
  lastServerDateMs(): number | undefined;
  /**
   * {@link lastServerDateMs} moved on by the monotonic time elapsed here since that answer
   * arrived: the server's clock now, without a request, as far as both clocks run at one rate.
   */
  serverClockMs(): number | undefined;
}

/** A Storage API request failed below HTTP (connection refused, reset, timeout, DNS). */
export class StorageNetworkError extends ServiceError {
  override name = 'StorageNetworkError';
  constructor(
    message: string,
    readonly details: { readonly method: string; readonly path: string; readonly code: string },
  ) {
    super(message);
  }

  get retryFacts(): AttemptFacts {
    return { networkCode: this.details.code };
  }

  /** Every network failure but a stop the run asked for: the retries are behind it. */
  override get unreachable(): boolean {
    return this.details.code !== ABORTED_CODE;
  }
}

/** A Storage API answer was larger than the cap: never read further, never retried. */
class AnswerTooLargeError extends ServiceError {
  override name = 'AnswerTooLargeError';
}

/** The stack could not be reached on the first contact: the URL or the network is wrong. */
class StackUnreachableError extends UserError {
  override name = 'StackUnreachableError';
}

/** Network codes that, before any answer, mean the URL cannot work (nothing to wait for). */
const FIRST_CONTACT_FATAL = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_FAIL', 'EPROTO']);
/**
 * Network codes that, before any answer, may pass: a resolver that did not answer, a route or a
 * network that comes back, a stack slow to accept. A scheduled run tries again a few times
 * before it blames the URL (docs/limits.md, First contact).
 */
const FIRST_CONTACT_TRANSIENT = new Set(['EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT']);
/** Attempts of the first contact that fail with a transient code before the URL is blamed. */
const FIRST_CONTACT_ATTEMPTS = 4;

/** The retry-relevant facts of an error thrown by this adapter (or by the object-store adapter). */
export function failureFactsOf(error: unknown): AttemptFacts {
  const proven = isProvenNotStarted(error);
  if (error instanceof StorageApiError) {
    const facts = {
      status: error.details.status,
      maintenance: error.details.maintenance,
      provenNotStarted: proven,
    };
    const retryAfterSeconds = error.details.retryAfterSeconds;
    return retryAfterSeconds === undefined ? facts : { ...facts, retryAfterSeconds };
  }
  return carriedFacts(error);
}

/** `kbc-table-sync/<version>` (src/version.ts). */
function userAgent(): string {
  return `kbc-table-sync/${packageVersion()}`;
}

/** Creates the adapter; registers the token with the masker first. */
export function createStorageHttp(options: StorageHttpOptions): StorageHttp {
  options.masker.add(options.token);
  const retryOptions: RetryOptions = { ...DEFAULT_RETRY_OPTIONS, ...options.retry };
  const now = options.now ?? Date.now;
  const baseUrl = options.url.replace(/\/+$/, '');
  const headers = requestHeaders(options);
  const maxAnswerBytes = options.maxAnswerBytes ?? MAX_ANSWER_BYTES;
  const requestTimeoutMs = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  const firstContactTimeoutMs = Math.min(
    requestTimeoutMs,
    options.firstContactTimeoutMs ?? FIRST_CONTACT_TIMEOUT_MS,
  );
  let tokenWorked = false;
  let answered = false;
  let firstContactFailures = 0;
  let serverDateMs: number | undefined;
  /** When the answer that set `serverDateMs` arrived, on the monotonic clock. */
  let serverDateArrivedMs = 0;
  const monotonicMs = options.monotonicMs ?? (() => performance.now());

  /**
   * The deadline of the next attempt and what set it, for the sentence of a timeout: the
   * first-contact deadline until the stack has answered (docs/limits.md, First contact), then the
   * request timeout; `timeoutCapMs` when it is shorter.
   */
  function deadlineOf(timeoutCapMs: number): Deadline {
    const phase: Deadline =
      answered || firstContactTimeoutMs >= requestTimeoutMs
        ? { timeoutMs: requestTimeoutMs, setBy: 'KBC_TABLE_SYNC_REQUEST_TIMEOUT_S' }
        : { timeoutMs: firstContactTimeoutMs, setBy: 'KBC_TABLE_SYNC_FIRST_CONTACT_TIMEOUT_S' };
    return timeoutCapMs < phase.timeoutMs
      ? { timeoutMs: timeoutCapMs, setBy: 'the deadline of a clean-up request after the stop' }
      : phase;
  }

  async function send(request: StorageRequest, timeoutCapMs = Infinity): Promise<unknown> {
    const startMs = now();
    const deadlineOfAttempt = deadlineOf(timeoutCapMs);
    const { timeoutMs } = deadlineOfAttempt;
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), timeoutMs);
    const stop = request.cleanup || request.finishAfterStop ? undefined : options.signal;
    const signals = [deadline.signal, request.signal, stop].filter(
      (signal): signal is AbortSignal => signal !== undefined,
    );
    let response: TransportResponse;
    try {
      response = await sendHttp({
        method: request.method,
        url: requestUrl(baseUrl, request),
        headers,
        json: request.body,
        signal: AbortSignal.any(signals),
        maxAnswerBytes,
      });
    } catch (error) {
      const failure = toNetworkError(
        error,
        request,
        options,
        deadline.signal.aborted ? deadlineOfAttempt : undefined,
      );
      logRequest(request, failure.details.code, startMs);
      if (!answered && blamesUrl(failure.details.code, ++firstContactFailures)) {
        throw unreachable(options.url, failure.details.code, error, timeoutMs);
      }
      throw failure;
    } finally {
      clearTimeout(timer);
    }
    answered = true;
    logRequest(request, response.status, startMs);
    const dateHeader = response.headers['date'] as unknown;
    const parsedDate = typeof dateHeader === 'string' ? Date.parse(dateHeader) : Number.NaN;
    // The latest answer's, even when it has none: an earlier answer's clock is not this one's.
    serverDateMs = Number.isFinite(parsedDate) ? parsedDate : undefined;
    serverDateArrivedMs = monotonicMs();
    if (response.status >= 200 && response.status < 300) {
      tokenWorked = true;
      return parseBody(response.text);
    }
    const apiError = toApiError(response, request, options.masker, now(), baseUrl);
    if (response.status === 401 && tokenWorked) {
      const which =
        options.tokenKey === undefined ? 'Storage API token' : `token in ${options.tokenKey}`;
      throw new TokenRevokedError(
        `The ${which} was revoked or expired during the run: ${apiError.message}`,
      );
    }
    throw apiError;
  }

  /** Debug line per request: method, path without the query, status (or network code), duration. */
  function logRequest(request: StorageRequest, status: number | string, startMs: number): void {
    options.logger?.debug(
      { method: request.method, path: request.path, status, durationMs: now() - startMs },
      options.masker.mask(`${request.method} ${request.path} → ${status}`),
    );
  }

  const withRetry: Retrier = createRetrier({
    ...options,
    retry: retryOptions,
    mask: (text) => options.masker.mask(text),
    factsOf: failureFactsOf,
  });

  return {
    send,
    withRetry: (operation, context) =>
      withRetry(operation, { ...context, signal: anySignal(context.signal, options.signal) }),
    retryOptions,
    lastServerDateMs: () => serverDateMs,
    serverClockMs: () =>
      serverDateMs === undefined ? undefined : serverDateMs + (monotonicMs() - serverDateArrivedMs),
    request: (request, kind = 'idempotent') => {
      if (request.cleanup && options.signal?.aborted) {
        return send(request, CLEANUP_AFTER_STOP_TIMEOUT_MS);
      }
      if (request.finishAfterStop) {
        options.signal?.throwIfAborted();
        return withRetry(() => send(request), {
          kind,
          description: `${request.method} ${request.path}`,
          signal: request.signal,
          waitSignal: options.signal,
        });
      }
      return withRetry(() => send(request), {
        kind,
        description: `${request.method} ${request.path}`,
        signal: anySignal(request.signal, options.signal),
      });
    },
  };
}

/** One signal aborted when any of `signals` is; undefined when none is given. */
export function anySignal(...signals: (AbortSignal | undefined)[]): AbortSignal | undefined {
  const present = signals.filter((signal): signal is AbortSignal => signal !== undefined);
  return present.length <= 1 ? present[0] : AbortSignal.any(present);
}

/** Names the URL and the cause of a failed first contact, in one sentence. */
function unreachable(
  url: string,
  code: string,
  cause: unknown,
  timeoutMs: number,
): StackUnreachableError {
  return new StackUnreachableError(
    `Cannot reach the Storage API at ${url}: ${describeNetworkCode(code, timeoutMs)}; check "url" or "region" in the configuration (or --url or --region of token create).`,
    { cause },
  );
}

/**
 * Whether a network failure before any answer ends the run as a wrong URL: at once for a code
 * nothing can cure, after {@link FIRST_CONTACT_ATTEMPTS} failures for one that may pass, and
 * otherwise left to the retry policy.
 */
function blamesUrl(code: string, failuresSoFar: number): boolean {
  if (FIRST_CONTACT_FATAL.has(code) || isTlsCode(code)) return true;
  return FIRST_CONTACT_TRANSIENT.has(code) && failuresSoFar >= FIRST_CONTACT_ATTEMPTS;
}

function requestHeaders(options: StorageHttpOptions): Record<string, string> {
  const headers: Record<string, string> = {
    'X-StorageApi-Token': options.token,
    'User-Agent': userAgent(),
    'Accept-Encoding': 'gzip',
    Accept: 'application/json',
  };
  if (options.runId !== undefined) headers['X-KBC-RunId'] = options.runId;
  return headers;
}

/** The base URL, the request's path and its query parameters (form-encoded). */
function requestUrl(baseUrl: string, request: StorageRequest): URL {
  const url = new URL(baseUrl + request.path);
  for (const [key, value] of Object.entries(request.params ?? {})) {
    url.searchParams.append(key, String(value));
  }
  return url;
}

function parseBody(text: unknown): unknown {
  if (typeof text !== 'string' || text.trim() === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function toApiError(
  response: TransportResponse,
  request: StorageRequest,
  masker: SecretMasker,
  nowMs: number,
  baseUrl: string,
): StorageApiError {
  const body = parseBody(response.text);
  const fields = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  const maintenance = response.status === 503 && fields['status'] === 'maintenance';
  const retryAfterHeader = response.headers['retry-after'] as unknown;
  const retryAfterSeconds = parseRetryAfterSeconds(
    typeof retryAfterHeader === 'string' ? retryAfterHeader : undefined,
    nowMs,
  );
  const code = stringField(fields, 'code');
  const exceptionId = stringField(fields, 'exceptionId');
  const text = maintenance
    ? `Storage API is down for maintenance${describeMaintenance(fields)}`
    : (stringField(fields, 'error') ?? `HTTP ${response.status}`);
  const suffix = [code, exceptionId ? `exceptionId ${exceptionId}` : undefined]
    .filter((part) => part !== undefined && part !== '')
    .join(', ');
  const message = masker.mask(
    `Storage API ${request.method} ${request.path} answered ${response.status}: ${text}${suffix ? ` (${suffix})` : ''}`,
  );
  return new StorageApiError(message, {
    method: request.method,
    host: new URL(baseUrl).host,
    path: request.path,
    status: response.status,
    code: code === '' ? undefined : code,
    exceptionId,
    retryAfterSeconds,
    maintenance,
  });
}

function describeMaintenance(fields: Record<string, unknown>): string {
  const reason = stringField(fields, 'reason');
  const end = stringField(fields, 'estimatedEndTime');
  const parts = [reason, end ? `estimated end ${end}` : undefined].filter(Boolean);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

function stringField(fields: Record<string, unknown>, key: string): string | undefined {
  const value = fields[key];
  return typeof value === 'string' ? value : undefined;
}

/** A request's deadline and what set it: the environment variable, or a sentence. */
interface Deadline {
  readonly timeoutMs: number;
  readonly setBy: string;
}

/** `passed`: the deadline of the attempt, when it is what ended it. */
function toNetworkError(
  error: unknown,
  request: StorageRequest,
  options: StorageHttpOptions,
  passed: Deadline | undefined,
): StorageNetworkError {
  const details = { method: request.method, path: request.path };
  if (passed !== undefined) {
    return new StorageNetworkError(
      `Storage API ${request.method} ${request.path} did not finish within ${passed.timeoutMs / 1000} s (${passed.setBy})`,
      { ...details, code: 'ETIMEDOUT' },
    );
  }
  // A request that runs on after the stop fails for its own reasons (finishAfterStop).
  if (request.signal?.aborted || (!request.finishAfterStop && options.signal?.aborted)) {
    return new StorageNetworkError(`Storage API ${request.method} ${request.path} was aborted`, {
      ...details,
      code: ABORTED_CODE,
    });
  }
  if (error instanceof AnswerOverCapError) {
    const capMb = (options.maxAnswerBytes ?? MAX_ANSWER_BYTES) / 1024 / 1024;
    throw new AnswerTooLargeError(
      `Storage API ${request.method} ${request.path} answered more than ${capMb} MiB, the cap of one answer (KBC_TABLE_SYNC_MAX_ANSWER_MB); the answer was not read further.`,
    );
  }
  const code = networkCodeOf(error);
  const message = options.masker.mask(
    `Storage API ${request.method} ${request.path} failed: ${code} (${describeNetworkError(error)})`,
  );
  return new StorageNetworkError(message, { ...details, code });
}

function describeNetworkError(error: unknown): string {
  const message = (error as { message?: unknown } | null)?.message;
  if (typeof message !== 'string') return 'network error';
  // Node's network messages name no URL, but keep only the first line and drop any URL to be safe.
  return message.split('\n')[0]?.replace(/https?:\/\/\S+/g, '<url>') ?? 'network error';
}
