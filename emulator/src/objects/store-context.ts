/**
 * What the per-provider object APIs (s3.ts, azure.ts, gcs.ts) use of the shared object store
 * (object-store.ts): its files, clock, base URL and counters.
 */
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Provider } from './credentials.js';
import type { ObjectFiles, PendingObject } from './object-files.js';

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

/** A small request body (XML or JSON metadata) as text; at most 1 MiB. */
export async function readText(req: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > 1024 * 1024) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads and drops a request body, so that the answer can follow on the same connection. */
export async function drain(req: NodeJS.ReadableStream): Promise<void> {
  req.resume();
  await once(req, 'end');
}
