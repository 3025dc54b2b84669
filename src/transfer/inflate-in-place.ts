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
 *   its first buffer: the loop's later assignments of a fresh one are ignored. Node still
 *   allocates that replacement per `chunkBytes`, but it is dropped at once and never written, so
 *   no inflated CSV waits in it for a collection.
 *
 * Both rely on how Node's zlib stream works inside (the same on Node 20 and 24). Where the field
 * is not there the buffer is not kept and Node allocates as usual; where `push` were not the way
 * out, `onChunk` would see nothing and the record counts of every test would fail. zlib checks
 * the CRC on its own side of the buffer, before `onChunk` sees the bytes.
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

function keepOutputBuffer(gunzip: Gunzip, chunkBytes: number): void {
  const internal = gunzip as unknown as { _outBuffer?: unknown };
  const first = internal._outBuffer;
  if (!Buffer.isBuffer(first) || first.length !== chunkBytes) return;
  Object.defineProperty(gunzip, '_outBuffer', {
    configurable: true,
    get: () => first,
    set: () => undefined,
  });
}
