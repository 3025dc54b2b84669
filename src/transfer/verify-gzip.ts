import { Transform, type TransformCallback } from 'node:stream';
import { DEFAULT_INFLATE_THREADS, InPlaceGunzip, OutputBufferLender } from './inflate-in-place.js';
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
 * Output buffer of one verifying gunzip write (src/transfer/inflate-in-place.ts). Every inflate
 * step that fills its output buffer costs a thread-pool round trip and a JS callback; at 512 KiB
 * one write of {@link GUNZIP_INPUT_BYTES} of gzip (about 190 KiB of CSV) is one step, where 64 KiB
 * took three. The buffers are lent per write, so their number follows the thread pool, not the
 * slices in flight (docs/performance.md, Lent output buffers).
 */
const OUTPUT_BUFFER_BYTES = 512 * 1024;

/**
 * Compressed bytes gathered before one gunzip write. Each write is a thread-pool round trip, and
 * over HTTPS the body arrives in TLS records of at most 16 KiB: verifying 16 KiB pieces one by one
 * cost about a quarter more CPU than gathering them (docs/performance.md). A chunk this large or
 * larger goes to the gunzip as it is, without a copy. 128 KiB saved a little more CPU but held
 * 6 MB more at 16 slices in flight.
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
 * Output buffers for the verifying gunzips of one run: one per thread-pool thread, as at most
 * that many inflate steps run at once.
 */
export function createOutputBuffers(inflateThreads: number): OutputBufferLender {
  return new OutputBufferLender(OUTPUT_BUFFER_BYTES, inflateThreads);
}

/** For verifiers given none: libuv's default thread pool. */
const defaultOutputBuffers = createOutputBuffers(DEFAULT_INFLATE_THREADS);

/**
 * Gather buffers shared by all slices. A buffer is taken for one gunzip write and given back when
 * that write ended, zlib having consumed the input; a write whose stream was destroyed keeps its
 * buffer, which is then left to the collector. So a buffer is never written while zlib reads it,
 * and the process holds about one per slice in flight instead of making a fresh 64 to 128 KiB
 * buffer per gathering: over HTTPS, where every chunk is a TLS record of at most 16 KiB, that was
 * one per 64 KiB of gzip (docs/performance.md, Memory).
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
  readonly #gunzip: InPlaceGunzip;
  readonly #counter = new CsvRecordCounter();
  #held: Buffer | undefined;
  /** Compressed chunks not yet written to the gunzip (fewer than GUNZIP_INPUT_BYTES). */
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #compressedBytes = 0;
  #uncompressedBytes = 0;

  /**
   * @param onBytes told about every compressed chunk as it passes (progress counters).
   * @param inflateLimit beyond it the slice is refused as a gzip bomb ({@link SliceBombError}).
   * @param outputBuffers lends the gunzip its output buffers, shared by the slices of a run.
   */
  constructor(
    private readonly onBytes?: (bytes: number) => void,
    private readonly inflateLimit: InflateLimit = DEFAULT_INFLATE_LIMIT,
    outputBuffers: OutputBufferLender = defaultOutputBuffers,
  ) {
    super();
    this.#gunzip = new InPlaceGunzip(outputBuffers, (chunk) => {
      this.#uncompressedBytes += chunk.length;
      this.#counter.feed(chunk);
      if (this.#inflatesTooMuch()) this.#gunzip.destroy(this.#bomb());
    });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#compressedBytes += chunk.length;
    this.onBytes?.(chunk.length);
    if (this.#held) this.push(this.#held);
    this.#held = chunk;
    if (this.#gunzip.error) {
      callback(this.#badSlice());
      return;
    }
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    if (this.#pendingBytes < GUNZIP_INPUT_BYTES) {
      callback();
      return;
    }
    // One write at a time: the next chunk comes once this one is inflated (or the gunzip failed).
    void this.#writePending().then(() => {
      callback(this.#gunzip.error ? this.#badSlice() : undefined);
    });
  }

  override _flush(callback: TransformCallback): void {
    void this.#finish().then(() => {
      if (this.#gunzip.error || this.#compressedBytes === 0) {
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

  /** Writes what is pending to the gunzip and waits for it, or for the gunzip's failure. */
  async #writePending(): Promise<void> {
    const { input, written } = this.#takePending();
    await this.#gunzip.write(input);
    if (!this.#gunzip.destroyed) written?.();
  }

  /** Writes the rest, ends the gunzip (the trailer's CRC check) and waits for its end. */
  async #finish(): Promise<void> {
    if (this.#pendingBytes > 0 && !this.#gunzip.error) await this.#writePending();
    await this.#gunzip.end();
  }

  /**
   * The pending chunks as one buffer, and none pending: the chunk itself when there is one, else
   * a copy into a gather buffer ({@link gatherBuffers}), to give back once the write ended.
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
    const error = this.#gunzip.error;
    if (error instanceof SliceBombError) return error;
    const reason = error?.message ?? 'the slice is empty, not even a gzip header';
    return new BadSliceError(`the slice is not a complete gzip stream (${reason})`);
  }
}
