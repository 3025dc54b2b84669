import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { httpRequest, httpsRequest, readCapped } from '../node-http.js';
import type { Readable } from 'node:stream';
import { createGunzip, createInflate } from 'node:zlib';

/**
 * The Storage API transport: one JSON request over node:http(s), the same stack the object stores
 * use. No retries, no redirects, no status judgement: the adapter in `http.ts` does all that.
 *
 * Why not an HTTP client library: the job needs one request shape (JSON in, text out, a cap on
 * the decompressed answer, an abort signal), and the client it used before (axios) probes the
 * global `fetch` when it is imported, which loads Node's bundled undici: about 30 MB of resident
 * memory on Node 24 for a feature the job never uses (docs/performance.md, Memory).
 */

export interface TransportRequest {
  readonly method: string;
  /** Full URL, query included. */
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  /** Sent as `application/json`. */
  readonly json?: unknown;
  /** Ends the request (connect, headers or body) when it aborts. */
  readonly signal: AbortSignal;
  /** Cap of the answer's body after decompression. */
  readonly maxAnswerBytes: number;
}

export interface TransportResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The body as UTF-8 text, decompressed, without a byte-order mark. */
  readonly text: string;
}

/** The answer's body passed `maxAnswerBytes`: reading stopped there. */
export class AnswerOverCapError extends Error {
  override name = 'AnswerOverCapError';
}

/**
 * Sends one request and reads the whole answer (any status) as text.
 * @throws the socket's or zlib's error (with its `code`), AnswerOverCapError, or an AbortError
 */
export function sendHttp(request: TransportRequest): Promise<TransportResponse> {
  return new Promise((resolve, reject) => {
    const body = request.json === undefined ? undefined : Buffer.from(JSON.stringify(request.json));
    const headers = body
      ? {
          ...request.headers,
          'Content-Type': 'application/json',
          'Content-Length': String(body.length),
        }
      : request.headers;
    const send = request.url.protocol === 'https:' ? httpsRequest : httpRequest;
    const outgoing = send(request.url, { method: request.method, headers, signal: request.signal });
    outgoing.once('error', reject);
    outgoing.once('response', (response) => {
      readAnswer(response, request.maxAnswerBytes).then(
        (text) => resolve({ status: response.statusCode ?? 0, headers: response.headers, text }),
        reject,
      );
    });
    outgoing.end(body);
  });
}

/** Reads a body to text, decompressing gzip or deflate, destroying it past the cap. */
async function readAnswer(response: IncomingMessage, maxBytes: number): Promise<string> {
  const body = decoded(response);
  let bytes: Buffer;
  try {
    bytes = await readCapped(
      body,
      maxBytes,
      () => new AnswerOverCapError(`the answer passed ${maxBytes} bytes`),
    );
  } finally {
    if (body !== response) response.destroy();
  }
  const text = bytes.toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** The body as sent, or through the inflater its `Content-Encoding` names. */
function decoded(response: IncomingMessage): Readable {
  const encoding = response.headers['content-encoding']?.trim().toLowerCase();
  const empty = response.statusCode === 204 || response.headers['content-length'] === '0';
  const inflater = empty
    ? undefined
    : encoding === 'gzip' || encoding === 'x-gzip'
      ? createGunzip()
      : encoding === 'deflate'
        ? createInflate()
        : undefined;
  if (inflater === undefined) return response;
  response.once('error', (error) => inflater.destroy(error));
  return response.pipe(inflater);
}
