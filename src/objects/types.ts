import type { Readable } from 'node:stream';

/**
 * Object-store transfer contracts (docs/storage-api-notes.md, Reading an exported file; Writing a file into the destination). The provider is chosen per file
 * from the file detail's `provider`; callers never branch on it.
 */

/** One slice of a sliced file, in manifest order. */
export interface SliceRef {
  /** Position in the manifest, from 0. */
  readonly index: number;
  /** Opaque suffix of the file's key (`0000_part_00.gz`); reused as the name of the copy. */
  readonly name: string;
  /** The manifest entry URL (`s3://…`, `azure://…`, `gs://…`). Not a secret. */
  readonly url: string;
}

export interface SliceStream {
  readonly body: Readable;
  /** From the response's Content-Length; undefined when the store did not send one. */
  readonly contentLength: number | undefined;
  /**
   * The error a failure while reading `body` stands for: the connection lost after the headers as
   * an `ObjectStoreError` naming the provider, bucket, key and host (an outage once the slice's
   * attempts are spent: docs/architecture.md, Errors); any other error unchanged.
   */
  readonly explainFailure: (error: unknown) => unknown;
}

/** Read side of an exported (sliced) file. */
export interface SliceSource {
  /** Slices in manifest order; empty for an empty table (a manifest with zero entries). */
  readonly slices: readonly SliceRef[];
  /**
   * Opens one slice for streaming. When the provider credentials have expired it fetches fresh
   * ones (file detail again) and tries once more. A stream that breaks later is the caller's to
   * restart: it reopens the slice from byte zero.
   */
  open(slice: SliceRef, signal?: AbortSignal): Promise<SliceStream>;
}

/** Write side: a sliced upload into a prepared file. */
export interface SliceSink {
  /** Stores one slice under the file's key + `name`. Resolves when the store acknowledged it. */
  put(name: string, body: Readable, contentLength: number, signal?: AbortSignal): Promise<void>;
  /**
   * Stores a small object held in memory (a header file, an empty slice) under key + `name`,
   * retried like the manifest: unlike a slice stream, the bytes can be sent again.
   */
  putBytes(name: string, bytes: Buffer, signal?: AbortSignal): Promise<void>;
  /** Writes the manifest last, listing the slices in the given order, in the provider's URL scheme. */
  finish(names: readonly string[], signal?: AbortSignal): Promise<void>;
}

/**
 * Where object-store requests go. Real clouds by default; the cloud SDKs' own environment
 * variables point them at emulators (docs/providers.md, Endpoint overrides).
 */
export interface ObjectStoreEndpoints {
  /** `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`: path-style addressing at this base URL. */
  readonly s3?: string;
  /** `STORAGE_EMULATOR_HOST`: GCS JSON API base URL instead of https://storage.googleapis.com. */
  readonly gcs?: string;
}
