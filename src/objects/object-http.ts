import type { ClientRequest, IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { httpRequest, httpsRequest, readCapped, readIntoSharedBuffer } from '../node-http.js';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describeNetworkCode, networkCodeOf } from '../retry/retrier.js';
import { ABORTED_CODE, isRetryable } from '../retry/retry-policy.js';
import { ServiceError } from '../errors.js';
import type { Logger } from '../logger.js';
import {
  CredentialsExpiredError,
  describeTarget,
  ObjectStoreError,
  type ObjectTarget,
} from './errors.js';

/**
 * The object-store transport: one request over node:http(s), streaming both ways, no retries and
 * no decompression (slices are stored gzip bytes and must stay byte-identical).
 */

/** Per-request inactivity timeout: a socket silent this long is destroyed. */
const OBJECT_SOCKET_TIMEOUT_MS = 120_000;
/** How much of an error body is read to find the store's error code. */
const ERROR_BODY_LIMIT_BYTES = 16_384;

export interface ObjectRequest {
  readonly method: 'GET' | 'PUT' | 'POST';
  /** Full URL, signed query included (never logged). */
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Readable | Buffer | undefined;
  readonly signal?: AbortSignal | undefined;
  /**
   * How long the answer may take once the request (its body included) is sent: its headers, and
   * for a failure its error body. Unset: only the socket's inactivity timeout, which a server
   * trickling a byte at a time never meets.
   */
  readonly answerTimeoutMs?: number | undefined;
  /** What the request is about, for error messages. */
  readonly target: ObjectTarget;
}

export interface ObjectResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: IncomingMessage;
  /**
   * What an error met while reading `body` stands for: the body's own failure (the connection
   * reset, closed or timed out after the headers) as an {@link ObjectStoreError} that names the
   * target and host, as for a request that got no answer; any other error (one of the job's own,
   * a {@link ServiceError}) unchanged.
   */
  readonly explainBodyFailure: (error: unknown) => unknown;
}

/** Sends one request; resolves on response headers. Injectable for tests (`deps.http`). */
export type ObjectHttp = (request: ObjectRequest) => Promise<ObjectResponse>;

export const sendObjectRequest: ObjectHttp = (request) =>
  new Promise<ObjectResponse>((resolve, reject) => {
    const url = new URL(request.url);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(url, {
      method: request.method,
      headers: request.headers,
      timeout: OBJECT_SOCKET_TIMEOUT_MS,
      ...(request.signal && { signal: request.signal }),
      // Downloads are the job's bulk: their sockets read into one shared buffer.
      ...(request.method === 'GET' && { onread: readIntoSharedBuffer }),
    });
    req.on('timeout', () =>
      req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })),
    );
    const answer = answerDeadline(req, request.answerTimeoutMs);
    req.on('error', (error) => reject(networkError(request, error)));
    req.on('response', (res) => {
      // A success's body is the caller's to time (a slice may take long); a failure's error body
      // stays within the deadline.
      if (isSuccess(res.statusCode ?? 0)) answer.disarm();
      else res.once('close', answer.disarm);
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        body: res,
        explainBodyFailure: (error) =>
          error === res.errored && !(error instanceof ServiceError)
            ? networkError(request, error, 'body')
            : error,
      });
    });
    const body = request.body;
    if (body === undefined) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else pipeline(body, req).catch((error: unknown) => req.destroy(error as Error));
  });

/** The answer deadline of {@link ObjectRequest.answerTimeoutMs} passed. */
class AnswerTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
}

/**
 * Destroys `req` as timed out when `timeoutMs` pass after it was sent whole (`finish`: the body
 * handed to the socket) without being disarmed; a request that closed disarms it.
 */
function answerDeadline(
  req: ClientRequest,
  timeoutMs: number | undefined,
): { readonly disarm: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const disarm = () => clearTimeout(timer);
  if (timeoutMs === undefined) return { disarm };
  req.once('finish', () => {
    timer = setTimeout(() => req.destroy(new AnswerTimeoutError()), timeoutMs);
  });
  req.once('close', disarm);
  return { disarm };
}

/**
 * `debug: true`: one line per object-store request, as for the Storage API: method, provider,
 * bucket and key (never the signed query), status or network code, and duration.
 */
export function withDebugLog(http: ObjectHttp, logger: Logger | undefined): ObjectHttp {
  if (!logger?.isLevelEnabled('debug')) return http;
  return async (request) => {
    const startMs = Date.now();
    const line = (status: number | string) =>
      logger.debug(
        { method: request.method, status, durationMs: Date.now() - startMs },
        `${request.method} ${describeTarget(request.target)} → ${status}`,
      );
    try {
      const response = await http(request);
      line(response.status);
      return response;
    } catch (error) {
      line(
        error instanceof ObjectStoreError ? (error.retryFacts.networkCode ?? 'failed') : 'failed',
      );
      throw error;
    }
  };
}

/**
 * The request got no answer (`phase` request), or its answer broke off after the headers (`phase`
 * body): the message names the host (never the query, which holds the signature) and the cause in
 * words, with the code. Retryable unless this job aborted it; a body that broke off always is,
 * as the slice copy restarts a slice from byte zero whatever broke it.
 */
function networkError(
  request: ObjectRequest,
  error: unknown,
  phase: 'request' | 'body' = 'request',
): ObjectStoreError {
  const code = request.signal?.aborted ? ABORTED_CODE : networkCodeOf(error);
  const facts = { networkCode: code };
  const answerTimeoutMs = error instanceof AnswerTimeoutError ? request.answerTimeoutMs : undefined;
  const cause =
    answerTimeoutMs === undefined
      ? describeNetworkCode(code, OBJECT_SOCKET_TIMEOUT_MS)
      : `${describeNetworkCode(code, answerTimeoutMs)} (KBC_TABLE_SYNC_REQUEST_TIMEOUT_S)`;
  const what = phase === 'body' ? 'failed mid-answer' : 'failed';
  const failed = cause === code ? `${what}: ${code}` : `${what} (${code}): ${cause}`;
  return new ObjectStoreError(
    `${request.method} ${describeTarget(request.target)} at ${new URL(request.url).host} ${failed}`,
    { ...request.target },
    facts,
    code !== ABORTED_CODE && (phase === 'body' || isRetryable(facts, 'idempotent')),
  );
}

/**
 * Reads at most `ERROR_BODY_LIMIT_BYTES` of a response body as text; the body is destroyed there
 * (leaving the loop does that), as an endless error body would otherwise be read for ever.
 */
async function readSmallBody(body: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  let sizeBytes = 0;
  for await (const chunk of body) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    chunks.push(buffer);
    sizeBytes += buffer.length;
    if (sizeBytes >= ERROR_BODY_LIMIT_BYTES) break;
  }
  return Buffer.concat(chunks).toString('utf8').slice(0, ERROR_BODY_LIMIT_BYTES);
}

/** A body passed its size cap: reading stopped there. Not retried (the store would repeat it). */
class BodyTooLargeError extends ServiceError {
  override name = 'BodyTooLargeError';
}

/**
 * Reads a whole small body (a manifest) against a cap: past `maxBytes` the body is destroyed and
 * {@link BodyTooLargeError} names `what`. Never holds more than the cap plus one chunk.
 */
export function readBody(body: Readable, maxBytes: number, what: string): Promise<Buffer> {
  return readCapped(
    body,
    maxBytes,
    () =>
      new BodyTooLargeError(
        `${what} is larger than ${Math.round(maxBytes / 1024 / 1024)} MiB, its cap (KBC_TABLE_SYNC_MAX_MANIFEST_MB); it was not read further.`,
      ),
  );
}

/** A slice moved too slowly: fewer than the minimum bytes in one progress window. Retryable. */
class SlowTransferError extends ObjectStoreError {
  override name = 'SlowTransferError';
}

export interface ProgressRate {
  /** Fewer bytes than this in one window aborts the transfer. */
  readonly minBytes: number;
  readonly windowMs: number;
}

/**
 * Watches a response body: when fewer than `rate.minBytes` arrive in any `rate.windowMs` window
 * before the body ends, the body is destroyed with a retryable {@link SlowTransferError}. A
 * trickling server therefore costs one window per attempt, not the body's whole length.
 *
 * The bytes are read off the socket's `bytesRead` once per window, so the body flows to its
 * consumer untouched: no stream hop and no work per chunk.
 */
export function watchProgress(
  body: IncomingMessage,
  rate: ProgressRate,
  target: ObjectTarget,
): IncomingMessage {
  const { socket } = body;
  let lastBytesRead = socket.bytesRead;
  const timer = setInterval(() => {
    const moved = socket.bytesRead - lastBytesRead;
    lastBytesRead = socket.bytesRead;
    if (moved < rate.minBytes) body.destroy(slowTransfer(target, moved, rate));
  }, rate.windowMs);
  timer.unref();
  body.once('close', () => clearInterval(timer));
  return body;
}

function slowTransfer(target: ObjectTarget, movedBytes: number, rate: ProgressRate) {
  return new SlowTransferError(
    `GET ${describeTarget(target)} moved ${movedBytes} bytes in ${Math.round(rate.windowMs / 1000)} s, below the minimum of ${rate.minBytes} (KBC_TABLE_SYNC_MIN_SLICE_BYTES per KBC_TABLE_SYNC_SLICE_PROGRESS_WINDOW_S)`,
    { ...target },
    { networkCode: 'ETIMEDOUT' },
    true,
  );
}

/** The store's error code: S3/ABS XML `<Code>`, GCS JSON `error.status`/`error.message` head. */
export function storeErrorCode(text: string): string | undefined {
  const xml = /<Code>([^<]{1,100})<\/Code>/.exec(text)?.[1];
  if (xml) return xml;
  try {
    const json = JSON.parse(text) as { error?: { status?: unknown; code?: unknown } };
    const status = json.error?.status ?? json.error?.code;
    return typeof status === 'string' || typeof status === 'number' ? String(status) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Turns a non-2xx answer into an ObjectStoreError after reading the error body's code; a
 * {@link CredentialsExpiredError} when `isCredentialFailure` says the credentials were refused.
 */
export async function failedResponse(
  request: ObjectRequest,
  response: ObjectResponse,
  isCredentialFailure: (status: number, code: string | undefined) => boolean,
): Promise<ObjectStoreError> {
  const text = await readSmallBody(response.body).catch(() => '');
  const code = storeErrorCode(text);
  const facts = { status: response.status };
  const shownCode = code && code !== String(response.status) ? ` ${code}` : '';
  const message = `${request.method} ${describeTarget(request.target)} answered ${response.status}${shownCode}`;
  const details = { ...request.target, status: response.status, code };
  if (isCredentialFailure(response.status, code)) {
    return new CredentialsExpiredError(message, details, facts, true);
  }
  return new ObjectStoreError(message, details, facts, isRetryable(facts, 'idempotent'));
}

export function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}

/** Content-Length of a response, or undefined. */
export function contentLengthOf(headers: IncomingHttpHeaders): number | undefined {
  const raw = headers['content-length'];
  if (raw === undefined) return undefined;
  const value = Number(raw);
  return Number.isFinite(value) && value >= 0 ? value : undefined;
}
