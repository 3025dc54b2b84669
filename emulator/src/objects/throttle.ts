import { Transform } from 'node:stream';
import type { TransformCallback } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

/** Running totals of every throttled stream of a store (read by tests and the benchmark). */
export interface ThrottleAccounting {
  /** Bytes that went through a throttle. */
  throttledBytes: number;
  /** Sum over streams of the pacing schedule: (bytes beyond the burst) / rate, in ms. */
  scheduledMs: number;
  /** Times a throttle paused its stream. */
  pauses: number;
}

export function emptyThrottleAccounting(): ThrottleAccounting {
  return { throttledBytes: 0, scheduledMs: 0, pauses: 0 };
}

/** Burst allowance of one stream: 1/20 s of traffic, between 1 KiB and 64 KiB. */
export function burstBytesFor(bytesPerSecond: number): number {
  return Math.max(1024, Math.min(64 * 1024, Math.floor(bytesPerSecond / 20)));
}

/**
 * A token bucket for one request: the first `burstBytesFor(rate)` bytes pass at once, then byte n
 * may leave no earlier than `start + (n - burst) / rate`. It holds at most one chunk and does not
 * call back until that chunk may leave, so the stream's backpressure reaches the socket or file
 * instead of buffering. Chunks are split into pieces no larger than the burst so pauses are short.
 */
export class Throttle extends Transform {
  readonly #bytesPerMs: number;
  readonly #burstBytes: number;
  readonly #accounting: ThrottleAccounting;
  #startMs: number | undefined;
  #sentBytes = 0;

  constructor(bytesPerSecond: number, accounting: ThrottleAccounting) {
    super();
    this.#bytesPerMs = bytesPerSecond / 1000;
    this.#burstBytes = burstBytesFor(bytesPerSecond);
    this.#accounting = accounting;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.#pace(chunk).then(
      () => done(),
      (error: unknown) => done(error as Error),
    );
  }

  async #pace(chunk: Buffer): Promise<void> {
    this.#startMs ??= performance.now();
    for (let offset = 0; offset < chunk.length; offset += this.#burstBytes) {
      const piece = chunk.subarray(offset, offset + this.#burstBytes);
      const beyondBurst = Math.max(0, this.#sentBytes + piece.length - this.#burstBytes);
      const beforeBeyond = Math.max(0, this.#sentBytes - this.#burstBytes);
      this.#accounting.scheduledMs += (beyondBurst - beforeBeyond) / this.#bytesPerMs;
      const dueMs = this.#startMs + beyondBurst / this.#bytesPerMs;
      const waitMs = dueMs - performance.now();
      if (waitMs >= 1) {
        this.#accounting.pauses += 1;
        await sleep(waitMs);
      }
      if (this.destroyed) return;
      this.#sentBytes += piece.length;
      this.#accounting.throttledBytes += piece.length;
      this.push(piece);
    }
  }
}
