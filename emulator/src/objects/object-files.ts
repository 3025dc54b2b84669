import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Transform } from 'node:stream';
import type { TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** One stored object: a file on disk plus what the stores report about it. */
export interface StoredObject {
  readonly bucket: string;
  readonly key: string;
  readonly path: string;
  readonly sizeBytes: number;
  readonly md5Hex: string;
  readonly lastModifiedMs: number;
  /** Stored with server-side encryption requested (S3 `x-amz-server-side-encryption`). */
  readonly sse: boolean;
  readonly contentType: string;
  /** Increases on every write (GCS `generation`). */
  readonly generation: number;
}

/** A fully received body in a temp file, not yet visible as an object. */
export interface PendingObject {
  readonly tempPath: string;
  readonly sizeBytes: number;
  readonly md5Hex: string;
  readonly sha256Hex: string;
}

export interface CommitMeta {
  readonly sse: boolean;
  readonly contentType: string;
  readonly nowMs: number;
}

/**
 * Objects as files under `rootDir`, with an in-memory index. Writes stream into a temp file and
 * are renamed into place only when complete, so a broken upload never leaves a partial object.
 * File names are a hash of bucket and key plus a readable tail, so no key can escape `rootDir`.
 */
export class ObjectFiles {
  readonly #objectsDir: string;
  readonly #tempDir: string;
  readonly #index = new Map<string, StoredObject>();
  #generation = 0;

  constructor(rootDir: string) {
    this.#objectsDir = join(rootDir, 'objects');
    this.#tempDir = join(rootDir, 'tmp');
    mkdirSync(this.#objectsDir, { recursive: true });
    mkdirSync(this.#tempDir, { recursive: true });
  }

  get(bucket: string, key: string): StoredObject | undefined {
    return this.#index.get(indexKey(bucket, key));
  }

  /** Keys of `bucket` starting with `prefix`, sorted by code unit. */
  keys(bucket: string, prefix: string): string[] {
    const keys: string[] = [];
    for (const object of this.#index.values()) {
      if (object.bucket === bucket && object.key.startsWith(prefix)) keys.push(object.key);
    }
    return keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /**
   * Streams `source` through `transforms` into a temp file, hashing what arrives. Rejects (and
   * removes the temp file) when any stream fails, e.g. the client went away.
   */
  async receive(
    source: NodeJS.ReadableStream,
    transforms: readonly NodeJS.ReadWriteStream[] = [],
  ): Promise<PendingObject> {
    const tempPath = join(this.#tempDir, randomBytes(12).toString('hex'));
    const hasher = new HashingPassThrough();
    try {
      await pipeline([source, ...transforms, hasher, createWriteStream(tempPath)]);
    } catch (error) {
      await rm(tempPath, { force: true });
      throw error;
    }
    return { tempPath, ...hasher.result() };
  }

  /** Makes a received body visible as `bucket/key`, replacing any previous object. */
  async commit(
    pending: PendingObject,
    bucket: string,
    key: string,
    meta: CommitMeta,
  ): Promise<StoredObject> {
    const path = join(this.#objectsDir, fileName(bucket, key));
    await rename(pending.tempPath, path);
    this.#generation += 1;
    const object: StoredObject = {
      bucket,
      key,
      path,
      sizeBytes: pending.sizeBytes,
      md5Hex: pending.md5Hex,
      lastModifiedMs: meta.nowMs,
      sse: meta.sse,
      contentType: meta.contentType,
      generation: meta.nowMs * 1000 + (this.#generation % 1000),
    };
    this.#index.set(indexKey(bucket, key), object);
    return object;
  }

  async discard(pending: PendingObject): Promise<void> {
    await rm(pending.tempPath, { force: true });
  }
}

/** Passes bytes through unchanged while computing their MD5, SHA-256 and count. */
class HashingPassThrough extends Transform {
  readonly #md5 = createHash('md5');
  readonly #sha256 = createHash('sha256');
  #bytes = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.#md5.update(chunk);
    this.#sha256.update(chunk);
    this.#bytes += chunk.length;
    done(null, chunk);
  }

  result(): Omit<PendingObject, 'tempPath'> {
    return {
      sizeBytes: this.#bytes,
      md5Hex: this.#md5.digest('hex'),
      sha256Hex: this.#sha256.digest('hex'),
    };
  }
}

function indexKey(bucket: string, key: string): string {
  return `${bucket}\u0000${key}`;
}

function fileName(bucket: string, key: string): string {
  const hash = createHash('sha256').update(indexKey(bucket, key)).digest('hex').slice(0, 32);
  const tail = key
    .slice(-60)
    .replace(/[^A-Za-z0-9._-]/g, '_')
    .replace(/^\.+/, '');
  return tail ? `${hash}-${tail}` : hash;
}

/** One stream of the files' bytes, in order (multipart parts, resumable chunks). */
export function concatenate(paths: readonly string[]): NodeJS.ReadableStream {
  const out = new PassThrough();
  const next = (index: number): void => {
    const path = paths[index];
    if (path === undefined) {
      out.end();
      return;
    }
    const source = createReadStream(path);
    source.once('error', (error) => out.destroy(error));
    source.once('end', () => next(index + 1));
    source.pipe(out, { end: false });
  };
  next(0);
  return out;
}
