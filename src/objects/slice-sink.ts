import type { Readable } from 'node:stream';
import { DEFAULT_LIMITS } from '../limits.js';
import type { Logger } from '../logger.js';
import type { SecretMasker } from '../secrets.js';
import { registerFileSecrets } from '../storage/file-secrets.js';
import { createRetrier, type SleepFn } from '../retry/retrier.js';
import type { RetryOptions } from '../retry/retry-policy.js';
import type { PreparedFile } from '../storage/types.js';
import { writeAccessFor } from './access.js';
import { CredentialsExpiredError, UploadCredentialsRefusedError } from './errors.js';
import { locationOfPrepared, manifestBody, manifestKey } from './manifest.js';
import { sendObjectRequest, withDebugLog, type ObjectHttp } from './object-http.js';
import type { ProviderAccess } from './provider.js';
import type { ObjectStoreEndpoints, SliceSink } from './types.js';

/** GCS: refresh the upload token this long before its `expires_in` runs out. */
const GCS_REFRESH_MARGIN_MS = 5 * 60_000;

export interface SliceSinkDeps {
  /** GCS only: `PUT files/{id}/refresh`, fresh upload credentials for the prepared file. */
  readonly refreshFile: () => Promise<PreparedFile>;
  readonly endpoints: ObjectStoreEndpoints;
  readonly masker: SecretMasker;
  readonly http?: ObjectHttp | undefined;
  readonly retry?: Partial<RetryOptions> | undefined;
  readonly sleep?: SleepFn | undefined;
  readonly now?: (() => number) | undefined;
  readonly logger?: Logger | undefined;
  /**
   * How long an upload's answer may take once its body is sent (KBC_TABLE_SYNC_REQUEST_TIMEOUT_S;
   * default 120 s): a store that took the body and then trickles or withholds its answer would
   * otherwise hold the run.
   */
  readonly requestTimeoutMs?: number | undefined;
}

/**
 * Opens the write side of a sliced upload into a prepared file: `put` streams one slice to
 * `key + name`, `finish` writes the manifest LAST at `key + "manifest"` with entries in the
 * provider's scheme, each `mandatory: true`.
 *
 * Retries: a slice body is a stream and cannot be replayed, so `put` never retries by itself. It
 * throws an {@link ObjectStoreError} whose `retryable` says whether the caller may reopen the
 * slice's source stream and call `put` again. GCS upload tokens live about an hour: `put` refreshes
 * them proactively (before sending any byte) when fewer than {@link GCS_REFRESH_MARGIN_MS} remain;
 * if GCS still answers 401, the sink refreshes and throws {@link CredentialsExpiredError}
 * (retryable). S3 and ABS upload credentials cannot be refreshed (they last ~12 h), so a refusal
 * there is a non-retryable {@link UploadCredentialsRefusedError}: the table fails, nothing is
 * imported. `finish` sends a buffer and retries on its own.
 */
export function openSliceSink(prepared: PreparedFile, deps: SliceSinkDeps): SliceSink {
  const transport = deps.http ?? sendObjectRequest;
  const answerTimeoutMs = deps.requestTimeoutMs ?? DEFAULT_LIMITS.requestTimeoutMs;
  const http = withDebugLog((request) => transport({ ...request, answerTimeoutMs }), deps.logger);
  const now = deps.now ?? Date.now;
  const retrying = createRetrier({ ...deps, mask: (text) => deps.masker.mask(text) });
  const location = locationOfPrepared(prepared);
  let current = prepared;
  let issuedAtMs = now();
  let refreshing: Promise<void> | undefined;
  /**
   * Takes a prepared file (the first one, or a refreshed one): its credentials are registered as
   * secrets first, as the Storage client did when it parsed the answer.
   */
  const use = (file: PreparedFile): ProviderAccess => {
    registerFileSecrets(deps.masker, file);
    current = file;
    return writeAccessFor(() => current, deps.endpoints, http);
  };
  let access = use(prepared);

  async function refresh(): Promise<void> {
    refreshing ??= (async () => {
      const fresh = await deps.refreshFile();
      access = use(fresh);
      issuedAtMs = now();
      deps.logger?.info(`Refreshed the upload credentials of file ${prepared.id}`);
    })().finally(() => {
      refreshing = undefined;
    });
    await refreshing;
  }

  async function refreshIfNearExpiry(): Promise<void> {
    const expiresInSeconds = current.gcsUploadParams?.expires_in;
    if (current.provider !== 'gcp' || expiresInSeconds === undefined) return;
    if (now() >= issuedAtMs + expiresInSeconds * 1000 - GCS_REFRESH_MARGIN_MS) await refresh();
  }

  async function send(key: string, body: Readable | Buffer, length: number, signal?: AbortSignal) {
    await refreshIfNearExpiry();
    try {
      await access.put(key, body, length, signal);
    } catch (error) {
      if (!(error instanceof CredentialsExpiredError)) throw error;
      if (current.provider === 'gcp') {
        await refresh();
        throw error;
      }
      throw new UploadCredentialsRefusedError(
        `${error.message}: the upload credentials of file ${prepared.id} were refused (expired or not allowed); ${current.provider === 'aws' ? 'S3' : 'Azure Blob'} upload credentials cannot be refreshed, so this table stops here without importing anything. Run it again.`,
        error.details,
        error.retryFacts,
        false,
      );
    }
  }

  return {
    async put(name, body, contentLength, signal) {
      if (!Number.isInteger(contentLength) || contentLength < 0) {
        throw new Error(
          `Slice "${name}": contentLength must be a byte count, got ${contentLength}`,
        );
      }
      await send(location.key + name, body, contentLength, signal);
    },
    async putBytes(name, bytes, signal) {
      await sendRetrying(
        location.key + name,
        bytes,
        `PUT ${location.provider} ${location.bucket}/${location.key}${name}`,
        signal,
      );
    },
    async finish(names, signal) {
      const body = manifestBody(location, names);
      const key = manifestKey(location);
      await sendRetrying(
        key,
        body,
        `PUT manifest ${location.provider} ${location.bucket}/${key}`,
        signal,
      );
    },
  };

  /** Sends bytes held in memory, retried as an idempotent request. */
  async function sendRetrying(
    key: string,
    body: Buffer,
    description: string,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    await retrying(
      async (attempt) => {
        try {
          await send(key, body, body.length, signal);
        } catch (error) {
          // A GCS token refreshed by `send` makes the next attempt succeed; one extra try only.
          if (error instanceof CredentialsExpiredError && attempt === 1) {
            await send(key, body, body.length, signal);
            return;
          }
          throw error;
        }
      },
      { kind: 'idempotent', description, signal },
    );
  }
}
