import { createGunzip, type Gunzip } from 'node:zlib';

/**
 * A gunzip whose output is read in place and then dropped: `onChunk` sees every inflated chunk,
 * synchronously, as a view of one output buffer that the next inflate step overwrites.
 *
 * Why: a verifying copy inflates only to check the CRC and count records; the CSV itself is never
 * kept. Node's zlib stream allocates a fresh output buffer per `chunkBytes` of output and queues
 * each chunk through the readable side, so a 1 GiB table made 16 000 dead 64 KiB buffers that
 * stayed resident until V8 collected their owners (docs/performance.md, Memory). Here:
 *
 * - each output chunk goes straight to `onChunk` from the stream's own `push` (the one call the
 *   zlib binding makes per output chunk), never into the readable queue: `onChunk` must be done
 *   with the bytes when it returns;
 * - the stream's output buffer (`_outBuffer`, the one field its inflate loop writes into) keeps
 *   its first buffer: the loop's later assignments of a fresh one are ignored;
 * - and that fresh one is not even allocated at its full size (see {@link keepOutputBuffer}).
 *
 * All of it relies on how Node's zlib stream works inside (the same on Node 20 and 24). Where the
 * fields are not as expected nothing is changed and Node allocates as usual; where `push` were not
 * the way out, `onChunk` would see nothing and the record counts of every test would fail; the
 * unit test checks that no output-sized buffer is allocated. zlib checks the CRC on its own side
 * of the buffer, before `onChunk` sees the bytes.
 *
 * The stream still ends ('end') and fails ('error') as any gunzip; it is put in flowing mode here.
 */
export function createInPlaceGunzip(chunkBytes: number, onChunk: (chunk: Buffer) => void): Gunzip {
  const gunzip = createGunzip({ chunkSize: chunkBytes });
  const push = gunzip.push.bind(gunzip);
  gunzip.push = (chunk: unknown): boolean => {
    if (chunk === null || chunk === undefined) return push(chunk);
    onChunk(chunk as Buffer);
    return true;
  };
  keepOutputBuffer(gunzip, chunkBytes);
  gunzip.resume();
  return gunzip;
}

/** What the replacement output buffer is allocated with: a slice of Node's small-buffer pool. */
const REPLACEMENT_BYTES = 1;

/**
 * Keeps the zlib stream's first output buffer for good. When its output buffer is full, the
 * stream's callback runs, in this order: `_outOffset = 0`, then
 * `_outBuffer = Buffer.allocUnsafe(_chunkSize)`. So the first read of `_chunkSize` after
 * `_outOffset` is set to 0 is that allocation, and it is answered with
 * {@link REPLACEMENT_BYTES}; every other read (the output length of each inflate step) gets
 * `chunkBytes`. The replacement is then ignored, as the output buffer keeps its first value.
 * Without this, Node allocated a 64 KiB buffer per 64 KiB of CSV only to drop it: 16 000 dead
 * buffers per GiB, most of the job's dead memory at its peak (docs/performance.md, Memory).
 */
function keepOutputBuffer(gunzip: Gunzip, chunkBytes: number): void {
  const internal = gunzip as unknown as Record<'_outBuffer' | '_outOffset' | '_chunkSize', unknown>;
  const first = internal._outBuffer;
  if (!Buffer.isBuffer(first) || first.length !== chunkBytes) return;
  if (internal._outOffset !== 0 || internal._chunkSize !== chunkBytes) return;
  let offsetBytes = 0;
  let replacing = false;
  Object.defineProperty(gunzip, '_outBuffer', {
    configurable: true,
    get: () => first,
    set: () => undefined,
  });
  Object.defineProperty(gunzip, '_outOffset', {
    configurable: true,
    get: () => offsetBytes,
    set: (value: number) => {
      offsetBytes = value;
      replacing = value === 0;
    },
  });
  Object.defineProperty(gunzip, '_chunkSize', {
    configurable: true,
    get: () => {
      if (!replacing) return chunkBytes;
      replacing = false;
      return REPLACEMENT_BYTES;
    },
  });
}
