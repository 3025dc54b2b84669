/**
 * What the per-provider object APIs (s3.ts, azure.ts, gcs.ts) use of the shared object store
 * (object-store.ts): its files, clock, base URL and counters.
 */
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Provider } from './credentials.js';
import type { ObjectFiles, PendingObject } from './object-files.js';
import { readCappedBody } from '../request-body.js';

export interface StoreContext {
  readonly files: ObjectFiles;
  /** `http://127.0.0.1:PORT`, no trailing slash. */
  baseUrl(): string;
  /** Emulator time. */
  nowMs(): number;
  /**
   * Receives a request body into a pending object, counting its bytes. On a broken body the
   * socket is destroyed and the result is undefined: the caller answers nothing.
   */
  receiveBody(req: IncomingMessage): Promise<PendingObject | undefined>;
  countPut(provider: Provider): void;
  /** Records a value handed to a client that tests must never find in logs or outputs. */
  addIssuedSecret(secret: string): void;
}

/** The ETag every API reports for an object: its MD5, quoted. */
export function etagOf(object: { readonly md5Hex: string }): string {
  return `"${object.md5Hex}"`;
}

/** Headers every API sends on an object GET/HEAD. */
export function commonObjectHeaders(object: {
  readonly contentType: string;
  readonly md5Hex: string;
  readonly lastModifiedMs: number;
}): Record<string, string> {
  return {
    'Content-Type': object.contentType,
    ETag: etagOf(object),
    'Last-Modified': new Date(object.lastModifiedMs).toUTCString(),
    'Accept-Ranges': 'bytes',
  };
}

/** The cap of a small object-store request body (XML or JSON metadata). */
const MAX_TEXT_BYTES = 1024 * 1024;

/** A small request body (XML or JSON metadata) as text; at most {@link MAX_TEXT_BYTES}. */
export function readText(req: NodeJS.ReadableStream): Promise<string> {
  return readCappedBody(
    req as AsyncIterable<Buffer>,
    MAX_TEXT_BYTES,
    () => new Error('request body too large'),
  );
}

/** Reads and drops a request body, so that the answer can follow on the same connection. */
export async function drain(req: NodeJS.ReadableStream): Promise<void> {
  req.resume();
  await once(req, 'end');
}
