import { ServiceRequestError } from '../errors.js';
import { ABORTED_CODE, type FailureFacts } from '../retry/retry-policy.js';
import type { FileProvider } from '../storage/types.js';

/** Where an object-store request went: provider, bucket (or container) and object key. No query. */
export interface ObjectTarget {
  readonly provider: FileProvider;
  readonly bucket: string;
  readonly key: string;
}

/**
 * An object-store request failed. The message names provider, bucket/container and key, plus the
 * store's error code; never a query string, signature or credential. `retryable` says whether the
 * same request may be sent again (the retry policy for idempotent requests); a slice upload is
 * retried by the caller with a reopened body stream.
 */
export class ObjectStoreError extends ServiceRequestError {
  override name = 'ObjectStoreError';
  constructor(
    message: string,
    readonly details: ObjectTarget & {
      readonly status?: number | undefined;
      readonly code?: string | undefined;
    },
    /** Facts for the retry policy (read by `failureFactsOf`). */
    readonly retryFacts: FailureFacts,
    readonly retryable: boolean,
  ) {
    super(message, details.status);
  }

  /**
   * No answer came, or it broke off, for any reason but a stop the run asked for (connections
   * refused, reset or timed out, a deadline passed): the retries are behind it.
   */
  override get unreachable(): boolean {
    const code = this.retryFacts.networkCode;
    return this.details.status === undefined && code !== undefined && code !== ABORTED_CODE;
  }
}

/**
 * The provider refused the credentials (expired session token, SAS past its expiry, GCS token
 * past `expires_in`). For a slice upload the sink has already fetched fresh credentials when it
 * throws this: reopen the slice's source stream and call `put` again.
 */
export class CredentialsExpiredError extends ObjectStoreError {
  override name = 'CredentialsExpiredError';
}

/**
 * S3 or Azure refused the upload credentials of a prepared file (expired, or not allowed). Only
 * GCS upload credentials can be refreshed (`PUT files/{id}/refresh`); S3/ABS ones last about 12 h
 * and cannot be renewed, and slices already written under the file's key cannot be moved into a
 * newly prepared file. So the table fails at once with this error: no slice retry, no manifest,
 * no import. The message says what happened and that running the table again is the fix.
 */
export class UploadCredentialsRefusedError extends ObjectStoreError {
  override name = 'UploadCredentialsRefusedError';
}

/** `aws s3 bucket/key`: how errors name an object. */
export function describeTarget(target: ObjectTarget): string {
  return `${target.provider} ${target.bucket}/${target.key}`;
}
