import { createRequire } from 'node:module';
import type * as Http from 'node:http';
import type * as Https from 'node:https';
import type { Readable } from 'node:stream';

/**
 * `request` of node:http and node:https, loaded with `require` rather than `import`.
 *
 * On Node 22.5 and later (the image runs Node 24), importing node:http as an ES module reads every
 * one of its exports, among them the lazy `WebSocket`, `CloseEvent` and `MessageEvent`, and that
 * loads Node's bundled undici: about 13 MB of resident memory for classes the job never uses
 * (docs/performance.md, Memory). `require` reads nothing but what is used.
 * `test/process/startup-footprint.test.ts` keeps it that way.
 */
const load = createRequire(import.meta.url);

export const httpRequest: typeof Http.request = (load('node:http') as typeof Http).request;
export const httpsRequest: typeof Https.request = (load('node:https') as typeof Https).request;

/**
 * Reads a whole body into one buffer against a cap: past `maxBytes` the body is destroyed and
 * `tooLarge()` is thrown. Never holds more than the cap plus one chunk.
 */
export async function readCapped(
  body: Readable,
  maxBytes: number,
  tooLarge: () => Error,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let sizeBytes = 0;
  for await (const chunk of body) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    sizeBytes += buffer.length;
    if (sizeBytes > maxBytes) {
      body.destroy();
      throw tooLarge();
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

/** Bytes of the one buffer that every download socket reads into (libuv's usual read size). */
const SOCKET_READ_BYTES = 64 * 1024;

/**
 * A request option (`onread`, of `net.connect` and `tls.connect`, which `http.request` passes on
 * when it opens a socket): the socket reads into one shared buffer and hands each read to the
 * HTTP parser at once, instead of allocating a fresh buffer per read and copying short reads
 * into another. The parser copies a response body out of the bytes it is given before it
 * returns, so the buffer is free again when the next read, on any socket, fills it: libuv runs
 * one read and its callback at a time on the main thread. One 64 KiB buffer for the process
 * instead of two allocations per read (docs/performance.md, Memory).
 */
export const readIntoSharedBuffer = {
  buffer: Buffer.allocUnsafe(SOCKET_READ_BYTES),
  callback(this: { emit(event: 'data', chunk: Buffer): boolean }, bytes: number, buffer: Buffer) {
    this.emit('data', buffer.subarray(0, bytes));
    return true;
  },
};
