import type { Readable } from 'node:stream';
import type { ObjectResponse } from './object-http.js';

/** What the slice source and sink need from one provider, bound to one file's credentials. */
export interface ProviderAccess {
  /** GET the object at the full `key` (S3/GCS key, ABS blob name); resolves on a 2xx answer. */
  get(key: string, signal?: AbortSignal): Promise<ObjectResponse>;
  /** PUT the object at the full `key`, streaming `body` of exactly `contentLength` bytes. */
  put(
    key: string,
    body: Readable | Buffer,
    contentLength: number,
    signal?: AbortSignal,
  ): Promise<void>;
}
