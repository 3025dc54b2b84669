import { Transform } from 'node:stream';
import type { TransformCallback } from 'node:stream';

/** Length of the gzip trailer (CRC-32 and ISIZE); `truncateGzip` serves the object without it. */
export const GZIP_TRAILER_BYTES = 8;

/** How many bytes `corruptGzip` flips, centred on the middle of the object. */
const CORRUPT_SPAN_BYTES = 4;

/** Extra bytes `contentLengthMismatch` declares beyond the real body. */
export const MISMATCH_EXTRA_BYTES = 1024;

/** Offsets [start, end) that `corruptGzip` flips for an object of `sizeBytes`. */
export function corruptSpan(sizeBytes: number): { start: number; end: number } {
  const start = Math.max(0, Math.floor(sizeBytes / 2) - CORRUPT_SPAN_BYTES / 2);
  return { start, end: Math.min(sizeBytes, start + CORRUPT_SPAN_BYTES) };
}

/** Inverts every byte whose stream offset is in [start, end); the length is unchanged. */
export class FlipBytes extends Transform {
  #offset = 0;
  readonly #from: number;
  readonly #to: number;

  constructor(start: number, end: number) {
    super();
    this.#from = start;
    this.#to = end;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    const chunkStart = this.#offset;
    this.#offset += chunk.length;
    const from = Math.max(this.#from, chunkStart);
    const to = Math.min(this.#to, this.#offset);
    if (from >= to) {
      done(null, chunk);
      return;
    }
    const copy = Buffer.from(chunk);
    for (let i = from; i < to; i += 1) copy[i - chunkStart] = (copy[i - chunkStart] ?? 0) ^ 0xff;
    done(null, copy);
  }
}

/** Counts bytes passing through into a callback (store accounting). */
export class ByteCounter extends Transform {
  constructor(private readonly onBytes: (bytes: number) => void) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.onBytes(chunk.length);
    done(null, chunk);
  }
}
