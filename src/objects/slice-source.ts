import { DEFAULT_LIMITS } from '../limits.js';
import type { Logger } from '../logger.js';
import type { SecretMasker } from '../secrets.js';
import { registerFileSecrets } from '../storage/file-secrets.js';
import { createRetrier, type Retrier, type SleepFn } from '../retry/retrier.js';
import type { RetryOptions } from '../retry/retry-policy.js';
import type { FileDetail } from '../storage/types.js';
import { readAccessFor } from './access.js';
import {
  CredentialsExpiredError,
  describeTarget,
  ObjectStoreError,
  type ObjectTarget,
} from './errors.js';
import {
  locationOfFile,
  ManifestError,
  parseManifest,
  prefixUrl,
  sliceNamesOf,
  type FileLocation,
} from './manifest.js';
import {
  contentLengthOf,
  failedResponse,
  isSuccess,
  readBody,
  sendObjectRequest,
  withDebugLog,
  watchProgress,
  type ProgressRate,
  type ObjectHttp,
  type ObjectRequest,
} from './object-http.js';
import type { ProviderAccess } from './provider.js';
import type { ObjectStoreEndpoints, SliceRef, SliceSource, SliceStream } from './types.js';

export interface SliceSourceDeps {
  /** `GET files/{id}?federationToken=1` again: fresh credentials and a fresh signed `url`. */
  readonly refetchFile: () => Promise<FileDetail>;
  readonly endpoints: ObjectStoreEndpoints;
  readonly masker: SecretMasker;
  /** Transport override (tests); node:http(s) by default. */
  readonly http?: ObjectHttp | undefined;
  readonly retry?: Partial<RetryOptions> | undefined;
  readonly sleep?: SleepFn | undefined;
  readonly logger?: Logger | undefined;
  /** Cap of the manifest (default 16 MiB). */
  readonly maxManifestBytes?: number | undefined;
  /** Total deadline of the manifest request, headers and body (default 120 s). */
  readonly requestTimeoutMs?: number | undefined;
  /** Minimum progress of a slice body (default 16 KiB per 60 s). */
  readonly progressRate?: ProgressRate | undefined;
  /** The run's abort signal (SIGTERM/SIGINT): ends the manifest request and its retry waits. */
  readonly signal?: AbortSignal | undefined;
}

const DEFAULT_MANIFEST_CAP_BYTES = 16 * 1024 * 1024;
const DEFAULT_PROGRESS_RATE: ProgressRate = { minBytes: 16 * 1024, windowMs: 60_000 };

/**
 * Opens the read side of an exported file: fetches the manifest with a plain GET of the signed
 * `url` (no Storage token), derives each slice's opaque name, and returns a source whose `open`
 * streams one slice from the provider. Transient failures are retried with the shared policy
 * before the body starts; a refused credential (S3 ExpiredToken/403, ABS 403, GCS 401, or the
 * signed manifest URL answering 400/401/403) triggers one `refetchFile()` and one more try.
 *
 * A non-sliced file becomes one slice named after the last segment of its key, read from the key.
 * @throws ManifestError for a malformed manifest or an entry outside the file's prefix
 */
export async function openSliceSource(
  file: FileDetail,
  deps: SliceSourceDeps,
): Promise<SliceSource> {
  const http = withDebugLog(deps.http ?? sendObjectRequest, deps.logger);
  const retrying = createRetrier({ ...deps, mask: (text) => deps.masker.mask(text) });
  const credentials = new CredentialHolder(file, deps, http);
  const location = locationOfFile(file);

  const keys: string[] = [];
  const slices: SliceRef[] = [];
  if (file.isSliced) {
    const manifestText = await credentials.withRefetch((current) =>
      fetchManifest(current, location, http, retrying, deps),
    );
    const entries = parseManifest(manifestText, file.id);
    if (entries.length === 0 && file.sizeBytes > 0) {
      // A full load of nothing would empty the destination: an empty list must match an empty file.
      throw new ManifestError(
        `The manifest of file ${file.id} lists no slices, but the file holds ${file.sizeBytes} bytes; refusing to treat it as an empty table.`,
      );
    }
    const names = sliceNamesOf(entries, location, file.id);
    entries.forEach((entry, index) => {
      const name = names[index] ?? '';
      slices.push({ index, name, url: entry.url });
      keys.push(location.key + name);
    });
  } else {
    const name = location.key.split('/').pop() ?? location.key;
    slices.push({ index: 0, name, url: prefixUrl(location) });
    keys.push(location.key);
  }

  return {
    slices,
    async open(slice: SliceRef, signal?: AbortSignal): Promise<SliceStream> {
      const key = keys[slice.index];
      if (key === undefined || slices[slice.index]?.name !== slice.name) {
        throw new Error(`Slice ${slice.index} ("${slice.name}") is not part of file ${file.id}`);
      }
      const target = { provider: location.provider, bucket: location.bucket, key };
      const timeoutMs = deps.requestTimeoutMs ?? DEFAULT_LIMITS.requestTimeoutMs;
      const response = await credentials.withRefetch((_current, access) =>
        retrying(
          () => answeredWithin(timeoutMs, target, signal, (bounded) => access.get(key, bounded)),
          {
            kind: 'idempotent',
            description: `GET ${location.provider} ${location.bucket}/${key}`,
            signal,
          },
        ),
      );
      const body = watchProgress(response.body, deps.progressRate ?? DEFAULT_PROGRESS_RATE, target);
      return {
        body,
        contentLength: contentLengthOf(response.headers),
        explainFailure: response.explainBodyFailure,
      };
    },
  };
}

/**
 * Holds the current file detail and its provider access; refetches at most once per failure, and
 * only once for concurrent failures of the same generation.
 */
class CredentialHolder {
  #file: FileDetail;
  #access: ProviderAccess;
  #generation = 0;
  #refetching: Promise<void> | undefined;

  constructor(
    file: FileDetail,
    private readonly deps: SliceSourceDeps,
    private readonly http: ObjectHttp,
  ) {
    this.#file = file;
    this.#access = this.#accessFor(file);
  }

  /**
   * Access for a file detail that enters the source (the first one, or a refetched one). Its
   * credentials are registered as secrets first: the Storage client did so when it parsed the
   * answer, and a source opened on a detail from elsewhere must not leak them either.
   */
  #accessFor(file: FileDetail): ProviderAccess {
    registerFileSecrets(this.deps.masker, file);
    return readAccessFor(file, this.deps.endpoints, this.http);
  }

  async withRefetch<T>(
    operation: (file: FileDetail, access: ProviderAccess) => Promise<T>,
  ): Promise<T> {
    const generation = this.#generation;
    try {
      return await operation(this.#file, this.#access);
    } catch (error) {
      if (!(error instanceof CredentialsExpiredError)) throw error;
      this.deps.logger?.info(
        `${error.message}; fetching fresh credentials for file ${this.#file.id}`,
      );
      await this.#refetch(generation);
      return operation(this.#file, this.#access);
    }
  }

  async #refetch(failedGeneration: number): Promise<void> {
    if (this.#generation !== failedGeneration) return;
    this.#refetching ??= (async () => {
      const fresh = await this.deps.refetchFile();
      this.#access = this.#accessFor(fresh);
      this.#file = fresh;
      this.#generation += 1;
    })().finally(() => {
      this.#refetching = undefined;
    });
    await this.#refetching;
  }
}

/**
 * A slice GET's answer within `timeoutMs` (KBC_TABLE_SYNC_REQUEST_TIMEOUT_S): its headers, and
 * for a failure status the error body the store's code is read from. A body that follows a success
 * has no total deadline (a large slice may take long) but its minimum progress
 * ({@link watchProgress}); without this, headers trickled a byte at a time, or an endless error
 * body, held the slice, and the run, for ever. The deadline fails the attempt as a retryable
 * timeout; an abort of `signal` stays the caller's.
 */
async function answeredWithin<T>(
  timeoutMs: number,
  target: ObjectTarget,
  signal: AbortSignal | undefined,
  send: (bounded: AbortSignal) => Promise<T>,
): Promise<T> {
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), timeoutMs);
  const bounded = signal ? AbortSignal.any([deadline.signal, signal]) : deadline.signal;
  try {
    return await send(bounded);
  } catch (error) {
    if (!deadline.signal.aborted || signal?.aborted) throw error;
    throw new ObjectStoreError(
      `GET ${describeTarget(target)} sent no answer within ${Math.round(timeoutMs / 1000)} s (KBC_TABLE_SYNC_REQUEST_TIMEOUT_S)`,
      { ...target },
      { networkCode: 'ETIMEDOUT' },
      true,
    );
  } finally {
    // Disarmed once answered: the body that follows must not be cut off by it.
    clearTimeout(timer);
  }
}

/**
 * A sliced file's `url` (its signed manifest URL) must be an absolute http(s) URL; anything else
 * is a broken answer, said in one sentence instead of failing inside the request as an internal
 * error. The URL itself is never shown: it holds a signature.
 * @throws ManifestError naming the file
 */
function checkManifestUrl(file: FileDetail): void {
  let protocol: string | undefined;
  try {
    protocol = new URL(file.url).protocol;
  } catch {
    protocol = undefined;
  }
  if (protocol === 'https:' || protocol === 'http:') return;
  const what = file.url === '' ? 'no "url"' : 'a "url" that is not an http(s) URL';
  throw new ManifestError(
    `The Storage API's detail of sliced file ${file.id} has ${what} for its manifest: refusing to guess where its slices are.`,
  );
}

/** Plain GET of the signed manifest URL (no Storage token), retried on transient failures. */
async function fetchManifest(
  file: FileDetail,
  location: FileLocation,
  http: ObjectHttp,
  retrying: Retrier,
  deps: SliceSourceDeps,
): Promise<string> {
  checkManifestUrl(file);
  const manifestKey = `${location.key}manifest`;
  const target = { provider: location.provider, bucket: location.bucket, key: manifestKey };
  const timeoutMs = deps.requestTimeoutMs ?? DEFAULT_LIMITS.requestTimeoutMs;
  const capBytes = deps.maxManifestBytes ?? DEFAULT_MANIFEST_CAP_BYTES;
  return retrying(
    async () => {
      // The deadline covers the headers and the whole body: a trickling store cannot hold us.
      const deadline = AbortSignal.timeout(timeoutMs);
      const signal = deps.signal ? AbortSignal.any([deadline, deps.signal]) : deadline;
      const request: ObjectRequest = { method: 'GET', url: file.url, headers: {}, target, signal };
      try {
        const response = await http(request);
        if (!isSuccess(response.status)) {
          throw await failedResponse(request, response, (status) =>
            [400, 401, 403].includes(status),
          );
        }
        const what = `The manifest of file ${file.id}`;
        const manifest = await readBody(response.body, capBytes, what).catch((error: unknown) => {
          throw response.explainBodyFailure(error);
        });
        return manifest.toString('utf8');
      } catch (error) {
        if (!deadline.aborted || deps.signal?.aborted) throw error;
        throw new ObjectStoreError(
          `GET manifest ${describeTarget(target)} did not finish within ${Math.round(timeoutMs / 1000)} s (KBC_TABLE_SYNC_REQUEST_TIMEOUT_S)`,
          { ...target },
          { networkCode: 'ETIMEDOUT' },
          true,
        );
      }
    },
    {
      kind: 'idempotent',
      description: `GET manifest ${location.provider} ${location.bucket}/${manifestKey}`,
      signal: deps.signal,
    },
  );
}
