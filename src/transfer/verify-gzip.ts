import { Transform, type TransformCallback } from 'node:stream';
import type { Gunzip } from 'node:zlib';
import { createInPlaceGunzip } from './inflate-in-place.js';
import { CsvRecordCounter } from './csv-records.js';
import { ServiceError } from '../errors.js';

/** What a verified slice held. */
export interface SliceTally {
  /** CSV records (quote-aware: newlines inside quoted values do not count). */
  readonly rows: number;
  readonly compressedBytes: number;
  readonly uncompressedBytes: number;
}

/** A slice whose gzip stream is broken (truncated, corrupt, not gzip). Retrying may help. */
export class BadSliceError extends ServiceError {
  override name = 'BadSliceError';
}

/** A slice inflated beyond the ratio limit: refused as a gzip bomb, never retried. */
export class SliceBombError extends ServiceError {
  override name = 'SliceBombError';
}

/** The inflation limit: judged once `floorBytes` of CSV came out (docs/limits.md). */
export interface InflateLimit {
  readonly maxRatio: number;
  readonly floorBytes: number;
}

const DEFAULT_INFLATE_LIMIT: InflateLimit = { maxRatio: 500, floorBytes: 64 * 1024 * 1024 };

/**
 * Output chunk of the verifying gunzip: one buffer per slice in flight, reused for every chunk
 * (src/transfer/inflate-in-place.ts). zlib's default (16 KiB) costs a thread-pool round trip and
 * a JS callback per 16 KiB of CSV (108 MB/s of gzip per core, against 192 at 128 KiB); with the
 * buffer reused, 64, 128 and 256 KiB measured the same within the noise (docs/performance.md).
 */
const GUNZIP_CHUNK_BYTES = 64 * 1024;

/**
 * Compressed bytes gathered before one gunzip write. Each write is a thread-pool round trip, and
 * over HTTPS the body arrives in TLS records of at most 16 KiB: verifying 16 KiB pieces one by one
 * cost about a quarter more CPU than gathering them (docs/performance.md). A chunk this large or
 * larger goes to the gunzip as it is, without a copy.
 */
const GUNZIP_INPUT_BYTES = 64 * 1024;
/**
 * Small chunks are gathered into buffers of this size, taken from {@link gatherBuffers}: a
 * gathering ends at the first chunk that brings it to {@link GUNZIP_INPUT_BYTES}, so it holds
 * less than twice that.
 */
const GATHER_BUFFER_BYTES = 2 * GUNZIP_INPUT_BYTES;
/** Free gather buffers kept for reuse: as many as slices in flight gather at once, at most this. */
const GATHER_BUFFERS_KEPT = 64;

/**
 * Gather buffers shared by all slices. A buffer is taken for one gunzip write and given back by
 * that write's callback, which zlib calls once it has consumed the input (also when the stream
 * was destroyed meanwhile). So a buffer is never written while zlib reads it, and the process
 * holds about one per slice in flight instead of making a fresh 64 to 128 KiB buffer per
 * gathering: over HTTPS, where every chunk is a TLS record of at most 16 KiB, that was one per
 * 64 KiB of gzip (docs/performance.md, Memory).
 */
const gatherBuffers = {
  free: [] as Buffer[],
  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafe(GATHER_BUFFER_BYTES);
  },
  give(buffer: Buffer): void {
    if (this.free.length < GATHER_BUFFERS_KEPT) this.free.push(buffer);
  },
};

/**
 * A pass-through that verifies the gzip stream flowing through it and counts CSV records.
 *
 * Bytes leave unchanged, but the last chunk is held back until a full gunzip pass has reached the
 * gzip trailer with a matching CRC: a truncated or corrupt slice therefore never reaches its
 * destination whole (a file write or an upload with Content-Length stays incomplete), and the
 * stream errors with {@link BadSliceError}.
 */
export class GzipVerifier extends Transform {
  readonly #gunzip: Gunzip;
  readonly #counter = new CsvRecordCounter();
  #held: Buffer | undefined;
  /** Compressed chunks not yet written to the gunzip (fewer than GUNZIP_INPUT_BYTES). */
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #compressedBytes = 0;
  #uncompressedBytes = 0;
  #gunzipError: Error | undefined;
  readonly #gunzipEnded: Promise<void>;

  /**
   * @param onBytes told about every compressed chunk as it passes (progress counters).
   * @param inflateLimit beyond it the slice is refused as a gzip bomb ({@link SliceBombError}).
   */
  constructor(
    private readonly onBytes?: (bytes: number) => void,
    private readonly inflateLimit: InflateLimit = DEFAULT_INFLATE_LIMIT,
  ) {
    super();
    this.#gunzip = createInPlaceGunzip(GUNZIP_CHUNK_BYTES, (chunk) => {
      this.#uncompressedBytes += chunk.length;
      this.#counter.feed(chunk);
      if (this.#inflatesTooMuch()) this.#gunzip.destroy(this.#bomb());
    });
    this.#gunzipEnded = new Promise((resolve) => {
      this.#gunzip.once('end', resolve);
      this.#gunzip.once('error', (error) => {
        this.#gunzipError = error;
        resolve();
      });
    });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#compressedBytes += chunk.length;
    this.onBytes?.(chunk.length);
    if (this.#held) this.push(this.#held);
    this.#held = chunk;
    if (this.#gunzipError) {
      callback(this.#badSlice());
      return;
    }
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    if (this.#pendingBytes < GUNZIP_INPUT_BYTES) {
      callback();
      return;
    }
    const { input, written } = this.#takePending();
    if (this.#gunzip.write(input, written)) {
      callback();
      return;
    }
    // Wait for the gunzip to drain, or to fail (a bomb destroys it: no drain will come then).
    let called = false;
    const done = () => {
      if (called) return;
      called = true;
      this.#gunzip.off('drain', done);
      callback(this.#gunzipError ? this.#badSlice() : undefined);
    };
    this.#gunzip.once('drain', done);
    void this.#gunzipEnded.then(() => {
      if (this.#gunzipError) done();
    });
  }

  override _flush(callback: TransformCallback): void {
    if (this.#pendingBytes > 0 && !this.#gunzipError) {
      const { input, written } = this.#takePending();
      this.#gunzip.write(input, written);
    }
    this.#gunzip.end();
    void this.#gunzipEnded.then(() => {
      if (this.#gunzipError || this.#compressedBytes === 0) {
        callback(this.#badSlice());
        return;
      }
      if (this.#held) this.push(this.#held);
      callback();
    });
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#gunzip.destroy();
    callback(error);
  }

  /** Counts, valid once the stream has finished without error. */
  get tally(): SliceTally {
    return {
      rows: this.#counter.records,
      compressedBytes: this.#compressedBytes,
      uncompressedBytes: this.#uncompressedBytes,
    };
  }

  /**
   * The pending chunks as one buffer, and none pending: the chunk itself when there is one, else
   * a copy into a gather buffer ({@link gatherBuffers}), given back by the write's callback.
   * @returns the input, and the callback to pass with its gunzip write
   */
  #takePending(): { input: Buffer; written?: () => void } {
    const chunks = this.#pending;
    const bytes = this.#pendingBytes;
    this.#pending = [];
    this.#pendingBytes = 0;
    const [first] = chunks;
    if (chunks.length === 1 && first) return { input: first };
    if (bytes > GATHER_BUFFER_BYTES) return { input: Buffer.concat(chunks, bytes) };
    const gather = gatherBuffers.take();
    let at = 0;
    for (const chunk of chunks) at += chunk.copy(gather, at);
    return { input: gather.subarray(0, bytes), written: () => gatherBuffers.give(gather) };
  }

  #inflatesTooMuch(): boolean {
    const { maxRatio, floorBytes } = this.inflateLimit;
    if (this.#uncompressedBytes <= floorBytes) return false;
    return this.#uncompressedBytes > maxRatio * Math.max(1, this.#compressedBytes);
  }

  #bomb(): SliceBombError {
    return new SliceBombError(
      `the slice inflates beyond ${this.inflateLimit.maxRatio} bytes of CSV per gzip byte (${this.#uncompressedBytes} from ${this.#compressedBytes}): refused as a gzip bomb (KBC_TABLE_SYNC_MAX_INFLATE_RATIO)`,
    );
  }

  #badSlice(): Error {
    if (this.#gunzipError instanceof SliceBombError) return this.#gunzipError;
    const reason = this.#gunzipError?.message ?? 'the slice is empty, not even a gzip header';
    return new BadSliceError(`the slice is not a complete gzip stream (${reason})`);
  }
}
