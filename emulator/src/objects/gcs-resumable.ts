/**
 * GCS resumable uploads (JSON API), as `@google-cloud/storage` and the Python client drive them:
 * `POST /upload/storage/v1/b/{bucket}/o?uploadType=resumable&name=…` (authorized by the bearer
 * token) opens a session whose URI (the `Location` header) is its own capability; `PUT`s to it
 * carry `Content-Range: bytes FIRST-LAST/TOTAL` chunks (`LAST` or `TOTAL` may be `*`), or ask for
 * the status with `bytes *\/TOTAL`. An incomplete session answers 308 with `Range: bytes=0-N`.
 * Each chunk streams into its own temp file; the last one joins them into the object.
 */
import { randomBytes } from 'node:crypto';
import {
  concatenate,
  type ObjectFiles,
  type PendingObject,
  type StoredObject,
} from './object-files.js';

/** A `Content-Range` of a session PUT (pure parse); undefined when malformed. */
export type UploadRange =
  | {
      readonly kind: 'chunk';
      readonly first: number;
      /** Inclusive; undefined for `*` (the body is the rest of the upload). */
      readonly last: number | undefined;
      readonly totalBytes: number | undefined;
    }
  | { readonly kind: 'status'; readonly totalBytes: number | undefined };

export function parseUploadRange(header: string | undefined): UploadRange | undefined {
  if (header === undefined)
    return { kind: 'chunk', first: 0, last: undefined, totalBytes: undefined };
  const status = /^\s*bytes\s+\*\/(\d+|\*)\s*$/.exec(header);
  if (status) {
    return { kind: 'status', totalBytes: status[1] === '*' ? undefined : Number(status[1]) };
  }
  const chunk = /^\s*bytes\s+(\d+)-(\d+|\*)\/(\d+|\*)\s*$/.exec(header);
  if (!chunk) return undefined;
  return {
    kind: 'chunk',
    first: Number(chunk[1]),
    last: chunk[2] === '*' ? undefined : Number(chunk[2]),
    totalBytes: chunk[3] === '*' ? undefined : Number(chunk[3]),
  };
}

interface Session {
  readonly bucket: string;
  readonly key: string;
  readonly contentType: string;
  readonly chunks: PendingObject[];
  receivedBytes: number;
  completed: StoredObject | undefined;
}

/** What a session PUT leads to. */
export type SessionAnswer =
  | { readonly kind: 'incomplete'; readonly receivedBytes: number }
  | { readonly kind: 'complete'; readonly object: StoredObject }
  | { readonly kind: 'notFound' };

export class GcsResumableUploads {
  readonly #sessions = new Map<string, Session>();

  constructor(private readonly files: ObjectFiles) {}

  /** Opens a session; returns its id (`upload_id` of the session URI). */
  open(bucket: string, key: string, contentType: string): string {
    const id = randomBytes(24).toString('base64url');
    this.#sessions.set(id, {
      bucket,
      key,
      contentType,
      chunks: [],
      receivedBytes: 0,
      completed: undefined,
    });
    return id;
  }

  has(id: string): boolean {
    return this.#sessions.has(id);
  }

  /** Where the session stands (a `bytes *\/…` PUT, or after a chunk). */
  async status(id: string, totalBytes: number | undefined, nowMs: number): Promise<SessionAnswer> {
    const session = this.#sessions.get(id);
    if (!session) return { kind: 'notFound' };
    if (session.completed) return { kind: 'complete', object: session.completed };
    if (totalBytes !== undefined && totalBytes === session.receivedBytes) {
      return { kind: 'complete', object: await this.#finish(session, nowMs) };
    }
    return { kind: 'incomplete', receivedBytes: session.receivedBytes };
  }

  /**
   * Adds a received chunk. A chunk that does not start where the session stands is dropped (the
   * client resumes from the 308's `Range`). The upload completes when the declared total is
   * reached, or with an open-ended chunk (`FIRST-*`), whose body is the rest of the upload.
   */
  async addChunk(
    id: string,
    range: Extract<UploadRange, { kind: 'chunk' }>,
    chunk: PendingObject,
    nowMs: number,
  ): Promise<SessionAnswer> {
    const session = this.#sessions.get(id);
    if (!session) {
      await this.files.discard(chunk);
      return { kind: 'notFound' };
    }
    if (session.completed) {
      await this.files.discard(chunk);
      return { kind: 'complete', object: session.completed };
    }
    if (range.first !== session.receivedBytes) {
      await this.files.discard(chunk);
      return { kind: 'incomplete', receivedBytes: session.receivedBytes };
    }
    session.chunks.push(chunk);
    session.receivedBytes += chunk.sizeBytes;
    const final =
      range.totalBytes !== undefined
        ? session.receivedBytes >= range.totalBytes
        : range.last === undefined;
    if (!final) return { kind: 'incomplete', receivedBytes: session.receivedBytes };
    return { kind: 'complete', object: await this.#finish(session, nowMs) };
  }

  async #finish(session: Session, nowMs: number): Promise<StoredObject> {
    const joined = await this.files.receive(concatenate(session.chunks.map((c) => c.tempPath)));
    await Promise.all(session.chunks.map((c) => this.files.discard(c)));
    session.chunks.length = 0;
    session.completed = await this.files.commit(joined, session.bucket, session.key, {
      sse: true,
      contentType: session.contentType,
      nowMs,
    });
    return session.completed;
  }
}
