/**
 * Splits a stream of row chunks into export slices of at most `sliceRows` rows, each written as
 * one object (gzip level 1 when asked, headerless, every value quoted) with backpressure: memory
 * holds at most one DuckDB chunk plus the stream buffers.
 */
import { once } from 'node:events';
import { PassThrough, type Readable, type Transform } from 'node:stream';
import { createGzip } from 'node:zlib';
import { formatCsvLine } from './csv-format.js';

/** Stores one slice body under a suffix of the file key; resolves to bytes stored. */
export type PutSlice = (suffix: string, body: Readable) => Promise<number>;

export interface SlicedWriteResult {
  /** Slice suffixes in order (`0000_part_00.gz`, …); empty when there were no rows. */
  readonly suffixes: readonly string[];
  readonly bytes: number;
  readonly rows: number;
}

/** `0000_part_00.gz` for slice 0 (gzip) / `0000_part_00` (plain). */
export function sliceSuffix(index: number, gzip: boolean): string {
  return `${String(index).padStart(4, '0')}_part_00${gzip ? '.gz' : ''}`;
}

class OpenSlice {
  readonly #input: Transform;
  readonly #stored: Promise<number>;
  rows = 0;

  constructor(gzip: boolean, suffix: string, put: PutSlice) {
    this.#input = gzip ? createGzip({ level: 1 }) : new PassThrough();
    this.#stored = put(suffix, this.#input);
    this.#stored.catch(() => undefined);
  }

  async write(text: string): Promise<void> {
    if (this.#input.write(text)) return;
    await Promise.race([once(this.#input, 'drain'), this.#stored]);
  }

  async close(): Promise<number> {
    this.#input.end();
    return this.#stored;
  }
}

export async function writeSlices(
  chunks: AsyncIterable<readonly (readonly string[])[]>,
  sliceRows: number,
  gzip: boolean,
  put: PutSlice,
): Promise<SlicedWriteResult> {
  const suffixes: string[] = [];
  let bytes = 0;
  let rows = 0;
  let slice: OpenSlice | undefined;
  for await (const chunk of chunks) {
    let offset = 0;
    while (offset < chunk.length) {
      if (!slice) {
        const suffix = sliceSuffix(suffixes.length, gzip);
        suffixes.push(suffix);
        slice = new OpenSlice(gzip, suffix, put);
      }
      const take = Math.min(chunk.length - offset, sliceRows - slice.rows);
      const text = chunk
        .slice(offset, offset + take)
        .map(formatCsvLine)
        .join('');
      await slice.write(text);
      slice.rows += take;
      offset += take;
      rows += take;
      if (slice.rows >= sliceRows) {
        bytes += await slice.close();
        slice = undefined;
      }
    }
  }
  if (slice) bytes += await slice.close();
  return { suffixes, bytes, rows };
}
