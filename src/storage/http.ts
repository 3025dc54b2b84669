import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import axios, { type AxiosInstance, type AxiosResponse } from 'axios';
import pRetry from 'p-retry';
import { StorageApiError, TokenRevokedError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { SecretMasker } from '../secrets.js';
import {
  DEFAULT_RETRY_OPTIONS,
  delayMs,
  isRetryable,
  parseRetryAfterSeconds,
  withinBudget,
  type FailureFacts,
  type RequestKind,
  type RetryOptions,
} from './retry-policy.js';

/**
 * The HTTP adapter of one Storage API project: one axios instance (base URL, token, run id,
 * user agent, gzip, timeouts) and one `withRetry` wrapper driven by the pure retry policy.
 *
 * Every non-2xx answer becomes a {@link StorageApiError} here (built from the body's `error`,
 * `code`, `exceptionId`, or the maintenance body), every network failure a
 * {@link StorageNetworkError}; neither carries axios config, headers, the token or a query string.
 */

/** Per-attempt timeout of one Storage API request (PHP client: 120 s). */
export const REQUEST_TIMEOUT_MS = 120_000;

export type SleepFn = (ms: number, signal?: AbortSignal) => Promise<void>;

export interface StorageHttpOptions {
  /** Base URL without trailing slash. */
  readonly url: string;
  readonly token: string;
  /** Sent as `X-KBC-RunId` on every request. */
  readonly runId?: string | undefined;
  readonly masker: SecretMasker;
  readonly logger?: Logger | undefined;
  readonly retry?: Partial<RetryOptions> | undefined;
  readonly requestTimeoutMs?: number | undefined;
  readonly sleep?: SleepFn | undefined;
  readonly now?: (() => number) | undefined;
  readonly random?: (() => number) | undefined;
}

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface StorageRequest {
  readonly method: HttpMethod;
  /** Path from the base URL, e.g. `/v2/storage/tables/in.c-a.b` (no query string). */
  readonly path: string;
  readonly params?: Readonly<Record<string, string | number | boolean>>;
  readonly body?: unknown;
  readonly signal?: AbortSignal | undefined;
}

export interface RetryContext {
  readonly kind: RequestKind;
  /** `METHOD /path`, for log lines. */
  readonly description: string;
  readonly signal?: AbortSignal | undefined;
}

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
}

/** A Storage API request failed below HTTP (connection refused, reset, timeout, DNS). */
export class StorageNetworkError extends Error {
  override name = 'StorageNetworkError';
  constructor(
    message: string,
    readonly details: { readonly method: string; readonly path: string; readonly code: string },
  ) {
    super(message);
  }
}

const provenNotStarted = new WeakSet<object>();

/** Marks a job-start failure whose job was looked up and not found: posting again is safe. */
export function markProvenNotStarted(error: unknown): void {
  if (typeof error === 'object' && error !== null) provenNotStarted.add(error);
}

/** The retry-relevant facts of an error thrown by this adapter (or by the object-store adapter). */
export function failureFactsOf(error: unknown): FailureFacts & { retryAfterSeconds?: number } {
  const proven = typeof error === 'object' && error !== null && provenNotStarted.has(error);
  if (error instanceof StorageApiError) {
    const facts = {
      status: error.details.status,
      maintenance: error.details.maintenance,
      provenNotStarted: proven,
    };
    const retryAfter = error.details.retryAfterSeconds;
    return retryAfter === undefined ? facts : { ...facts, retryAfterSeconds: retryAfter };
  }
  if (error instanceof StorageNetworkError) {
    return { networkCode: error.details.code, provenNotStarted: proven };
  }
  const withFacts = error as { retryFacts?: FailureFacts & { retryAfterSeconds?: number } } | null;
  if (withFacts && typeof withFacts === 'object' && withFacts.retryFacts) {
    return { ...withFacts.retryFacts, provenNotStarted: proven };
  }
  return {};
}

/** `kbc-table-sync/<version>` from the package.json next to `src/` or `dist/`. */
export function userAgent(): string {
  return `kbc-table-sync/${packageVersion()}`;
}

let cachedVersion: string | undefined;
function packageVersion(): string {
  if (cachedVersion !== undefined) return cachedVersion;
  try {
    const raw = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
    const parsed = JSON.parse(raw) as { version?: unknown };
    cachedVersion = typeof parsed.version === 'string' ? parsed.version : 'unknown';
  } catch {
    cachedVersion = 'unknown';
  }
  return cachedVersion;
}

/** Default abortable sleep. */
export const realSleep: SleepFn = async (ms, signal) => {
  await delay(ms, undefined, signal ? { signal } : undefined);
};

export interface RetrierOptions {
  readonly retry?: Partial<RetryOptions> | undefined;
  readonly masker: SecretMasker;
  readonly logger?: Logger | undefined;
  readonly sleep?: SleepFn | undefined;
  readonly now?: (() => number) | undefined;
  readonly random?: (() => number) | undefined;
}

export type Retrier = <T>(
  operation: (attempt: number) => Promise<T>,
  context: RetryContext,
) => Promise<T>;

/**
 * The one retry loop (p-retry without its own timers): after each failure the pure policy decides
 * whether to retry, how long to wait (honouring Retry-After) and whether the budget allows it;
 * the wait uses the injected `sleep`. Errors are rethrown unchanged.
 */
export function createRetrier(options: RetrierOptions): Retrier {
  const retryOptions: RetryOptions = { ...DEFAULT_RETRY_OPTIONS, ...options.retry };
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? realSleep;
  const random = options.random ?? Math.random;
  return async (operation, context) => {
    const startMs = now();
    return pRetry(operation, {
      retries: Math.max(0, retryOptions.maxAttempts - 1),
      minTimeout: 0,
      maxTimeout: 0,
      factor: 1,
      signal: context.signal,
      shouldRetry: async ({ error, attemptNumber }) => {
        const facts = failureFactsOf(error);
        if (!isRetryable(facts, context.kind)) return false;
        const waitMs = delayMs(attemptNumber, facts.retryAfterSeconds, random, retryOptions);
        if (!withinBudget(attemptNumber, now() - startMs, waitMs, retryOptions)) return false;
        options.logger?.warn(
          { attempt: attemptNumber, waitMs },
          options.masker.mask(`${context.description} failed (${error.message}); retrying`),
        );
        await sleep(waitMs, context.signal);
        return true;
      },
    });
  };
}

/** Creates the adapter; registers the token with the masker first. */
export function createStorageHttp(options: StorageHttpOptions): StorageHttp {
  options.masker.add(options.token);
  const retryOptions: RetryOptions = { ...DEFAULT_RETRY_OPTIONS, ...options.retry };
  const now = options.now ?? Date.now;
  const instance = createAxios(options);
  let tokenWorked = false;
  let serverDateMs: number | undefined;

  async function send(request: StorageRequest): Promise<unknown> {
    let response: AxiosResponse<string>;
    try {
      response = await instance.request<string>({
        method: request.method,
        url: request.path,
        params: request.params,
        data: request.body,
        ...(request.signal && { signal: request.signal }),
      });
    } catch (error) {
      throw toNetworkError(error, request, options.masker);
    }
    const dateHeader = response.headers['date'] as unknown;
    const parsedDate = typeof dateHeader === 'string' ? Date.parse(dateHeader) : Number.NaN;
    if (Number.isFinite(parsedDate)) serverDateMs = parsedDate;
    if (response.status >= 200 && response.status < 300) {
      tokenWorked = true;
      return parseBody(response.data);
    }
    const apiError = toApiError(response, request, options.masker, now());
    if (response.status === 401 && tokenWorked) {
      throw new TokenRevokedError(
        `The Storage API token was revoked or expired during the run (${request.method} ${request.path}: ${apiError.message})`,
      );
    }
    throw apiError;
  }

  const withRetry = createRetrier({ ...options, retry: retryOptions });

  return {
    send,
    withRetry,
    retryOptions,
    lastServerDateMs: () => serverDateMs,
    request: (request, kind = 'idempotent') =>
      withRetry(() => send(request), {
        kind,
        description: `${request.method} ${request.path}`,
        signal: request.signal,
      }),
  };
}

function createAxios(options: StorageHttpOptions): AxiosInstance {
  const headers: Record<string, string> = {
    'X-StorageApi-Token': options.token,
    'User-Agent': userAgent(),
    'Accept-Encoding': 'gzip',
    Accept: 'application/json',
  };
  if (options.runId !== undefined) headers['X-KBC-RunId'] = options.runId;
  return axios.create({
    baseURL: options.url.replace(/\/+$/, ''),
    headers,
    timeout: options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS,
    validateStatus: () => true,
    responseType: 'text',
    transformResponse: [(data: unknown) => data],
    maxRedirects: 0,
    decompress: true,
  });
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
  response: AxiosResponse<string>,
  request: StorageRequest,
  masker: SecretMasker,
  nowMs: number,
): StorageApiError {
  const body = parseBody(response.data);
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

function toNetworkError(error: unknown, request: StorageRequest, masker: SecretMasker): Error {
  if (request.signal?.aborted) {
    return new StorageNetworkError(`Storage API ${request.method} ${request.path} was aborted`, {
      method: request.method,
      path: request.path,
      code: 'ABORTED',
    });
  }
  const code = networkCodeOf(error);
  const message = masker.mask(
    `Storage API ${request.method} ${request.path} failed: ${code} (${describeNetworkError(error)})`,
  );
  return new StorageNetworkError(message, { method: request.method, path: request.path, code });
}

/** The error code of a network failure, as the retry policy knows them. */
export function networkCodeOf(error: unknown): string {
  const record = error as { code?: unknown; message?: unknown; cause?: unknown } | null;
  if (record && typeof record === 'object') {
    if (typeof record.code === 'string' && record.code !== 'ERR_BAD_RESPONSE') return record.code;
    if (typeof record.message === 'string' && record.message.includes('socket hang up')) {
      return 'socket hang up';
    }
    if (record.cause) return networkCodeOf(record.cause);
  }
  return 'UNKNOWN';
}

function describeNetworkError(error: unknown): string {
  const message = (error as { message?: unknown } | null)?.message;
  if (typeof message !== 'string') return 'network error';
  // Axios messages never contain the URL query, but keep only the first line to be safe.
  return message.split('\n')[0]?.replace(/https?:\/\/\S+/g, '<url>') ?? 'network error';
}
