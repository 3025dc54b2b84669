import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { LimitFunction } from 'p-limit';
import pLimit from 'p-limit';
import { setMaxListeners } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { InterruptedError, messageOf, ServiceError, UserError } from '../errors.js';
import { DEFAULT_LIMITS } from '../limits.js';
import { ObjectStoreError, UploadCredentialsRefusedError } from '../objects/errors.js';
import type { SliceRef, SliceSource } from '../objects/types.js';
import type { TableProgress } from './progress.js';
import type { OutputBufferLender } from './inflate-in-place.js';
import { GzipVerifier, SliceBombError, type InflateLimit, type SliceTally } from './verify-gzip.js';

/** How one slice is written: the verified byte stream goes to `write`, which resolves when stored. */
export type SliceWriter = (
  slice: SliceRef,
  body: Readable,
  contentLength: number | undefined,
  signal: AbortSignal,
) => Promise<void>;

export interface CopyOptions {
  /** Slices of one table in flight at once. */
  readonly sliceConcurrency: number;
  /** Shared by every table: bounds slices in flight across the whole run. */
  readonly globalLimit: LimitFunction;
  /** Attempts per slice (a broken or bad slice restarts from byte zero). */
  readonly attemptsPerSlice: number;
  /** First wait between attempts, doubling up to {@link MAX_SLICE_RETRY_WAIT_MS}. */
  readonly retryBaseMs?: number | undefined;
  readonly signal: AbortSignal;
  readonly progress: TableProgress;
  /** Told about each retried slice (for the log). */
  readonly onRetry?: (slice: SliceRef, attempt: number, reason: string) => void;
  /** Waits between attempts (ends early when the signal aborts); injected so tests do not sleep. */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Beyond this inflation a slice is refused as a gzip bomb. */
  readonly inflateLimit?: InflateLimit | undefined;
  /** The verifying gunzips' output buffers, shared by every table of the run. */
  readonly outputBuffers?: OutputBufferLender | undefined;
  /**
   * A full export has at most this many records (the source table's `rowsCount`): more is an
   * error thrown before the table is stored; fewer is fine (rows may be deleted meanwhile).
   */
  readonly maxRows?: number | undefined;
}

/** A full export held more records than the source table has: its answers cannot be trusted. */
class RowCountError extends ServiceError {
  override name = 'RowCountError';
}

export const DEFAULT_ATTEMPTS_PER_SLICE = 5;
const MAX_SLICE_RETRY_WAIT_MS = 5_000;
/** Listeners on a table's abort signal beyond one per slice in flight before Node warns. */
const LISTENER_HEADROOM = 10;

/**
 * Copies every slice of `source` through a gzip verifier into `write`, with bounded concurrency
 * per table and across tables. Returns one tally per slice, in manifest order, whatever order
 * the slices finished in.
 * @throws the last error of a slice that failed every attempt; InterruptedError when aborted
 */
export async function copySlices(
  source: SliceSource,
  write: SliceWriter,
  options: CopyOptions,
): Promise<SliceTally[]> {
  const tableLimit = pLimit(options.sliceConcurrency);
  options.progress.slicesTotal = source.slices.length;
  // Once one slice has failed for good the table has failed: stop the others, start no more.
  const tableFailed = new AbortController();
  const signal = AbortSignal.any([options.signal, tableFailed.signal]);
  // Each slice in flight listens on it once (its attempt, or its wait before the next attempt):
  // raise Node's leak warning from 10 to what this table can legitimately hold.
  setMaxListeners(options.sliceConcurrency + LISTENER_HEADROOM, signal);
  const sliceOptions = { ...options, signal };
  const tallies = await Promise.all(
    source.slices.map((slice) =>
      tableLimit(() =>
        options.globalLimit(() =>
          copySliceWithRetry(source, slice, write, sliceOptions).catch((error: unknown) => {
            tableFailed.abort();
            throw error;
          }),
        ),
      ),
    ),
  );
  const rows = tallies.reduce((sum, tally) => sum + tally.rows, 0);
  if (options.maxRows !== undefined && rows > options.maxRows) {
    throw new RowCountError(
      `the export holds ${rows} records, but the source table has only ${options.maxRows} rows; refusing to store it`,
    );
  }
  return tallies;
}

async function copySliceWithRetry(
  source: SliceSource,
  slice: SliceRef,
  write: SliceWriter,
  options: CopyOptions,
): Promise<SliceTally> {
  for (let attempt = 1; ; attempt++) {
    throwIfAborted(options.signal);
    try {
      const tally = await copySliceOnce(source, slice, write, options);
      options.progress.slicesDone += 1;
      options.progress.rows += tally.rows;
      return tally;
    } catch (error) {
      if (options.signal.aborted) throw new InterruptedError('The run was interrupted.');
      if (attempt >= options.attemptsPerSlice || !isRetryableSliceError(error)) throw error;
      options.onRetry?.(slice, attempt, messageOf(error));
      const baseMs = options.retryBaseMs ?? DEFAULT_LIMITS.sliceRetryBaseMs;
      const waitMs = Math.min(baseMs * 2 ** (attempt - 1), MAX_SLICE_RETRY_WAIT_MS);
      await (options.sleep ?? defaultSleep)(waitMs, options.signal).catch(() => undefined);
      throwIfAborted(options.signal);
    }
  }
}

async function copySliceOnce(
  source: SliceSource,
  slice: SliceRef,
  write: SliceWriter,
  options: CopyOptions,
): Promise<SliceTally> {
  const attemptAbort = new AbortController();
  const onAbort = () => attemptAbort.abort();
  options.signal.addEventListener('abort', onAbort, { once: true });
  try {
    const opened = await source.open(slice, attemptAbort.signal);
    let counted = 0;
    const verifier = new GzipVerifier(
      (bytes) => {
        counted += bytes;
        options.progress.bytes += bytes;
      },
      options.inflateLimit,
      options.outputBuffers,
    );
    // The verifier is read by `write`; pipe the response into it and fail both on any error.
    const feeding = pipeline(opened.body, verifier as unknown as Writable).catch(
      (error: unknown) => {
        // Explained before the abort: a body the attempt's own abort ended is the job's doing.
        const explained = opened.explainFailure(error);
        attemptAbort.abort();
        throw explained;
      },
    );
    try {
      let firstError: Error | undefined;
      const first = (error: unknown) => {
        firstError ??= error instanceof Error ? error : new Error(messageOf(error));
        // Release the other side at once, so that it settles too (as Promise.all never waited).
        attemptAbort.abort();
        verifier.destroy();
        throw error;
      };
      const [written] = await Promise.allSettled([
        write(slice, verifier, opened.contentLength, attemptAbort.signal).catch(first),
        feeding.catch(first),
      ]);
      // A local fault of the writer (a full disk) names the path while the feed only echoes it;
      // otherwise the first failure is the cause, as the other side fails because of it.
      if (written.status === 'rejected' && written.reason instanceof UserError)
        throw written.reason;
      if (firstError !== undefined) throw firstError;
    } catch (error) {
      options.progress.bytes -= counted;
      opened.body.destroy();
      verifier.destroy();
      throw error;
    }
    return verifier.tally;
  } finally {
    options.signal.removeEventListener('abort', onAbort);
  }
}

/**
 * Credential, network and content errors are worth another attempt; programming errors are not,
 * nor an object-store refusal the store will repeat (`retryable: false`, e.g. refused S3/Azure
 * upload credentials, which cannot be refreshed).
 */
function isRetryableSliceError(error: unknown): boolean {
  if (error instanceof UploadCredentialsRefusedError) return false;
  // A bomb inflates the same way every time; a local disk or permission fault is the user's.
  if (error instanceof SliceBombError || error instanceof UserError) return false;
  if (error instanceof ObjectStoreError) return error.retryable;
  return !(error instanceof TypeError || error instanceof RangeError);
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new InterruptedError('The run was interrupted.');
}

async function defaultSleep(ms: number, signal: AbortSignal): Promise<void> {
  await delay(ms, undefined, { signal });
}
