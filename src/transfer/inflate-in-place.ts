import { createGunzip, type Gunzip } from 'node:zlib';

/**
 * Output buffers for the verifying gunzips, lent for one write at a time.
 *
 * Why lent: an output buffer is in use only while zlib inflates into it, on the thread pool, and
 * the thread pool runs at most `UV_THREADPOOL_SIZE` steps at once. A buffer per slice in flight
 * would make larger buffers (fewer thread-pool round trips per byte, docs/performance.md) cost
 * memory per slice; lent ones cost `maxBuffers` × `bufferBytes` whatever the slices in flight.
 * A write waits while all buffers are out; nothing else does, so this never deadlocks: every
 * write ends without waiting for another.
 */
export class OutputBufferLender {
  readonly #free: Buffer[] = [];
  readonly #waiting: ((buffer: Buffer) => void)[] = [];
  #made = 0;

  constructor(
    readonly bufferBytes: number,
    readonly maxBuffers: number,
  ) {}

  /** A buffer for one write: at once when one is free or may still be made, else in turn. */
  borrow(): Buffer | Promise<Buffer> {
    const free = this.#free.pop();
    if (free) return free;
    if (this.#made < this.maxBuffers) return this.#make();
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /** A buffer back from a write that ended: zlib no longer writes into it. */
  giveBack(buffer: Buffer): void {
    const next = this.#waiting.shift();
    if (next) next(buffer);
    else this.#free.push(buffer);
  }

  /**
   * A buffer lent to a gunzip destroyed during its write: a thread may still inflate into it,
   * so it is never lent again; one new buffer may be made in its place.
   */
  writeOff(): void {
    this.#made -= 1;
    const next = this.#waiting.shift();
    if (next) next(this.#make());
  }

  #make(): Buffer {
    this.#made += 1;
    return Buffer.allocUnsafe(this.bufferBytes);
  }
}

/** libuv's thread pool when `UV_THREADPOOL_SIZE` is not set: at most this many inflate at once. */
export const DEFAULT_INFLATE_THREADS = 4;

/** zlib's smallest output chunk: the gunzip's own buffer, used only without a lent one. */
const OWN_BUFFER_BYTES = 64;
/** What a replacement output buffer is allocated with: a slice of Node's small-buffer pool. */
const REPLACEMENT_BYTES = 1;

/**
 * A gunzip whose output is read in place and then dropped: `onChunk` sees every inflated chunk,
 * synchronously, as a view of a lent output buffer that the next inflate step overwrites.
 *
 * Why: a verifying copy inflates only to check the CRC and count records; the CSV itself is never
 * kept. Node's zlib stream allocates a fresh output buffer per chunk of output and queues each
 * chunk through the readable side, so a 1 GiB table made 16 000 dead 64 KiB buffers that stayed
 * resident until V8 collected their owners (docs/performance.md, Memory). Here:
 *
 * - each output chunk goes straight to `onChunk` from the stream's own `push` (the one call the
 *   zlib binding makes per output chunk), never into the readable queue: `onChunk` must be done
 *   with the bytes when it returns;
 * - during a {@link write} or {@link end} the stream's output buffer (`_outBuffer`, the one field
 *   its inflate loop writes into) is a buffer borrowed from the lender, given back when the write
 *   ends; the loop's assignments of a fresh buffer are ignored, and that fresh one is not even
 *   allocated at its full size (see {@link keepOutputBuffer});
 * - writes go one at a time: each {@link write} resolves once zlib consumed its input and handed
 *   out all its output, or the stream failed or was destroyed.
 *
 * All of it relies on how Node's zlib stream works inside (the same on Node 20 and 24). Where the
 * fields are not as expected nothing is changed and Node allocates as usual; where `push` were not
 * the way out, `onChunk` would see nothing and the record counts of every test would fail; the
 * unit test checks that only lent buffers are inflated into. Outside a lent write the stream's
 * fields describe its own small buffer, so a step zlib took without one would still stay within
 * that buffer. zlib checks the CRC on its own side of the buffer, before `onChunk` sees the bytes.
 */
export class InPlaceGunzip {
  readonly #gunzip: Gunzip;
  #lent: Buffer | undefined;
  #offsetBytes = 0;
  /** Resolves when the stream ended, failed or closed ({@link error} says whether it failed). */
  readonly #finished: Promise<void>;

  constructor(
    private readonly lender: OutputBufferLender,
    onChunk: (chunk: Buffer) => void,
  ) {
    this.#gunzip = this.#createGunzip();
    const push = this.#gunzip.push.bind(this.#gunzip);
    this.#gunzip.push = (chunk: unknown): boolean => {
      if (chunk === null || chunk === undefined) return push(chunk);
      onChunk(chunk as Buffer);
      return true;
    };
    this.#gunzip.resume();
    this.#finished = new Promise((resolve) => {
      this.#gunzip.once('end', resolve);
      this.#gunzip.once('error', () => resolve());
      this.#gunzip.once('close', resolve);
    });
  }

  /** Inflates `input`; resolves when it is consumed, or the stream failed or was destroyed. */
  async write(input: Buffer): Promise<void> {
    await this.#lending((done) => this.#gunzip.write(input, () => done()));
  }

  /**
   * Inflates what zlib still holds and checks the trailer; resolves once the stream ended, failed
   * or was destroyed ({@link error} then says whether it failed).
   */
  async end(): Promise<void> {
    await this.#lending((done) => this.#gunzip.end(() => done()));
    await this.#finished;
  }

  destroy(error?: Error): void {
    this.#gunzip.destroy(error);
  }

  get destroyed(): boolean {
    return this.#gunzip.destroyed;
  }

  /** Why the stream failed (set as it fails, before its 'error' event), if it did. */
  get error(): Error | undefined {
    return this.#gunzip.errored ?? undefined;
  }

  /**
   * Borrows a buffer, runs `start` with it as the output buffer, and waits for the write's own
   * end (the callback `start` was given) or the stream's. The buffer goes back when the write
   * ended normally, and is written off when the stream was destroyed during it: Node calls the
   * destroyed stream's `close` handlers while a thread may still inflate into the buffer.
   */
  async #lending(start: (done: () => void) => unknown): Promise<void> {
    const borrowed = this.lender.borrow();
    const buffer = borrowed instanceof Promise ? await borrowed : borrowed;
    if (this.#gunzip.destroyed) {
      this.lender.giveBack(buffer);
      return;
    }
    this.#lent = buffer;
    this.#offsetBytes = 0;
    await new Promise<void>((resolve) => {
      let ended = false;
      const done = () => {
        if (ended) return;
        ended = true;
        this.#gunzip.off('error', done).off('close', done);
        this.#offsetBytes = 0;
        if (this.#gunzip.destroyed) {
          // Still referenced by #lent: zlib's handle keeps this object alive while a thread
          // inflates, and the buffer must stay alive as long.
          this.lender.writeOff();
        } else {
          this.#lent = undefined;
          this.lender.giveBack(buffer);
        }
        resolve();
      };
      // Removed again by done: a handler kept until the stream ends would keep every write's
      // input alive that long.
      this.#gunzip.once('error', done).once('close', done);
      start(done);
    });
  }

  /**
   * A gunzip that inflates into the lent buffers; where Node's zlib stream is not as expected, a
   * plain one with output chunks of the lent size, which Node allocates itself.
   */
  #createGunzip(): Gunzip {
    const gunzip = createGunzip({ chunkSize: OWN_BUFFER_BYTES });
    if (this.#keepOutputBuffer(gunzip)) return gunzip;
    gunzip.destroy();
    return createGunzip({ chunkSize: this.lender.bufferBytes });
  }

  /**
   * Points the stream's output fields at the lent buffer; false, changing nothing, where they are
   * not as expected. When an output buffer is full, the
   * stream's callback runs, in this order: `_outOffset = 0`, then
   * `_outBuffer = Buffer.allocUnsafe(_chunkSize)`. So the first read of `_chunkSize` after
   * `_outOffset` is set to 0 is that allocation, and it is answered with
   * {@link REPLACEMENT_BYTES}; every other read gets the lent buffer's size (or, between writes,
   * the stream's own). The replacement is then ignored, as the output buffer is the lent one.
   * Without this, Node allocated an output-sized buffer per output chunk only to drop it: 16 000
   * dead buffers per GiB at 64 KiB, most of the job's dead memory at its peak
   * (docs/performance.md, Memory).
   */
  #keepOutputBuffer(gunzip: Gunzip): boolean {
    const internal = gunzip as unknown as Record<
      '_outBuffer' | '_outOffset' | '_chunkSize',
      unknown
    >;
    const own = internal._outBuffer;
    if (!Buffer.isBuffer(own) || own.length !== OWN_BUFFER_BYTES) return false;
    if (internal._outOffset !== 0 || internal._chunkSize !== OWN_BUFFER_BYTES) return false;
    let replacing = false;
    Object.defineProperty(gunzip, '_outBuffer', {
      configurable: true,
      get: () => this.#lent ?? own,
      set: () => undefined,
    });
    Object.defineProperty(gunzip, '_outOffset', {
      configurable: true,
      get: () => this.#offsetBytes,
      set: (value: number) => {
        this.#offsetBytes = value;
        replacing = value === 0;
      },
    });
    Object.defineProperty(gunzip, '_chunkSize', {
      configurable: true,
      get: () => {
        if (!replacing) return (this.#lent ?? own).length;
        replacing = false;
        return REPLACEMENT_BYTES;
      },
    });
    return true;
  }
}
