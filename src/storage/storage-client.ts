import { randomBytes } from 'node:crypto';
import { AbortError } from 'p-retry';
import {
  DeadlineError,
  InterruptedError,
  JobFailedError,
  ServiceError,
  StorageApiError,
} from '../errors.js';
import type { Logger } from '../logger.js';
import type { SecretMasker } from '../secrets.js';
import {
  createStorageHttp,
  failureFactsOf,
  markProvenNotStarted,
  realSleep,
  type SleepFn,
} from './http.js';
import { registerFileSecrets } from './file-secrets.js';
import {
  parseBucket,
  parseFileDetail,
  parseJob,
  parseJobList,
  parsePreparedFile,
  parseTable,
  parseTableList,
  parseTokenInfo,
  providerBlockPresent,
  StorageResponseError,
  timestampMs,
} from './parse.js';
import { classifyFailure, type RetryOptions } from '../retry/retry-policy.js';
import type {
  BucketDetail,
  ExportParams,
  FileDetail,
  ImportParams,
  MetadataWrite,
  PreparedFile,
  PrepareFileParams,
  StorageClient,
  StorageJob,
  TableCreateParams,
  TableDefinitionCreateParams,
  TableDetail,
  TokenInfo,
  WaitOptions,
} from './types.js';

/** Job polling: first wait, growth and cap (reference §4.3: start small, double, cap). */
export interface PollOptions {
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** Default overall deadline of one `waitForJob`; `WaitOptions.timeoutMs` overrides it. */
  readonly timeoutMs: number;
}

/** Like the Go SDK (50 ms doubling to 3 s): short jobs finish in a few polls. */
export const POLL_INITIAL_DELAY_MS = 100;
export const POLL_MAX_DELAY_MS = 5_000;
export const JOB_TIMEOUT_MS = 2 * 60 * 60_000;
/** How far the server clock may lag ours when matching a job created by an unknown-outcome POST. */
export const CLOCK_SKEW_ALLOWANCE_MS = 5 * 60_000;
/**
 * How far ahead of this machine's clock the server's `Date` may be. Further is refused: it would
 * become a watermark in the future, and the rows changed until then would never be copied. A
 * server clock behind ours is harmless (a window read again), so it is not bounded.
 */
export const MAX_SERVER_CLOCK_LEAD_MS = 24 * 60 * 60_000;
/** How many recent jobs the unknown-outcome lookup reads. */
export const JOB_LOOKUP_LIMIT = 100;

export const DEFAULT_POLL_OPTIONS: PollOptions = {
  initialDelayMs: POLL_INITIAL_DELAY_MS,
  maxDelayMs: POLL_MAX_DELAY_MS,
  timeoutMs: JOB_TIMEOUT_MS,
};

export interface StorageClientOptions {
  /** Storage API base URL (a trailing slash is removed). */
  readonly url: string;
  readonly token: string;
  /** Sent as `X-KBC-RunId`; a unique `kts-<random>` is generated when absent. */
  readonly runId?: string | undefined;
  readonly masker: SecretMasker;
  readonly logger?: Logger | undefined;
  readonly retry?: Partial<RetryOptions> | undefined;
  readonly poll?: Partial<PollOptions> | undefined;
  readonly sleep?: SleepFn | undefined;
  readonly now?: (() => number) | undefined;
  readonly random?: (() => number) | undefined;
  readonly requestTimeoutMs?: number | undefined;
  readonly maxAnswerBytes?: number | undefined;
  readonly firstContactTimeoutMs?: number | undefined;
  /** Aborts every request, retry wait and job poll of this client (SIGTERM/SIGINT). */
  readonly signal?: AbortSignal | undefined;
}

/** How to recognise the job a POST may have started. */
interface JobMatch {
  readonly operationName: string;
  readonly tableId: string;
  /** For table creation the job may carry no table id yet; then its params name the table. */
  readonly tableName?: string;
}

const STORAGE = '/v2/storage';

/** One URL path segment: every id and name placed in a path is percent-encoded. */
function seg(value: string | number): string {
  return encodeURIComponent(String(value));
}

/**
 * Creates the Storage API client of one project. See {@link StorageClient} for the contract and
 * docs/storage-client.md for the retry policy and the unknown-outcome recovery of job starts.
 */
export function createStorageClient(options: StorageClientOptions): StorageClient {
  const url = options.url.replace(/\/+$/, '');
  const runId = options.runId ?? `kts-${randomBytes(8).toString('hex')}`;
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? realSleep;
  const poll: PollOptions = { ...DEFAULT_POLL_OPTIONS, ...options.poll };
  const http = createStorageHttp({ ...options, url, runId });
  const startedJobIds = new Set<number>();
  const { masker } = options;

  const get = (path: string, params?: Record<string, string | number>) =>
    http.request({ method: 'GET', path, ...(params && { params }) });

  async function find<T>(load: () => Promise<T>, notFoundCodes: readonly string[]) {
    try {
      return await load();
    } catch (error) {
      if (error instanceof StorageApiError && error.details.status === 404) return null;
      if (error instanceof StorageApiError && notFoundCodes.includes(error.details.code ?? '')) {
        return null;
      }
      throw error;
    }
  }

  async function getTable(tableId: string): Promise<TableDetail> {
    const path = `${STORAGE}/tables/${seg(tableId)}`;
    return parseTable(await get(path), `GET ${path}`);
  }

  async function getBucket(bucketId: string): Promise<BucketDetail> {
    const path = `${STORAGE}/buckets/${seg(bucketId)}`;
    return parseBucket(await get(path), `GET ${path}`);
  }

  async function getJob(jobId: number): Promise<StorageJob> {
    const path = `${STORAGE}/jobs/${seg(jobId)}`;
    return parseJob(await get(path), `GET ${path}`);
  }

  async function listJobs(limit = JOB_LOOKUP_LIMIT): Promise<StorageJob[]> {
    const path = `${STORAGE}/jobs`;
    return parseJobList(await get(path, { limit }), `GET ${path}`);
  }

  /**
   * POSTs a job start without ever queueing a second job: surely-not-reached failures are
   * retried; after an unknown outcome the job is looked up (run id, operation, table, created at
   * or after the attempt minus clock skew, not one this client already has) and used when found;
   * when not found the POST is retried. When the lookup itself fails, the original error is thrown.
   */
  async function startJob(path: string, body: unknown, match: JobMatch): Promise<StorageJob> {
    const description = `POST ${path}`;
    const job = await http.withRetry(
      async () => {
        const attemptStartMs = now();
        try {
          return parseJob(await http.send({ method: 'POST', path, body }), description);
        } catch (error) {
          if (classifyFailure(failureFactsOf(error)) !== 'unknown') throw error;
          const existing = await lookUpStartedJob(match, attemptStartMs, error);
          if (existing) return existing;
          markProvenNotStarted(error);
          throw error;
        }
      },
      { kind: 'jobStart', description },
    );
    startedJobIds.add(job.id);
    return job;
  }

  async function lookUpStartedJob(
    match: JobMatch,
    attemptStartMs: number,
    original: unknown,
  ): Promise<StorageJob | undefined> {
    let jobs: StorageJob[];
    try {
      jobs = parseJobList(
        await http.send({
          method: 'GET',
          path: `${STORAGE}/jobs`,
          params: { limit: JOB_LOOKUP_LIMIT },
        }),
        `GET ${STORAGE}/jobs`,
      );
    } catch {
      // The outcome stays unknown: posting again could duplicate the job, so give up with the cause.
      throw new AbortError(original instanceof Error ? original : String(original));
    }
    const found = jobs.find((job) => jobMatches(job, match, runId, attemptStartMs, startedJobIds));
    options.logger?.warn(
      { operationName: match.operationName, tableId: match.tableId, jobId: found?.id },
      found
        ? `Job start had an unknown outcome; found the job it started (${found.id})`
        : 'Job start had an unknown outcome; no job was started, posting again',
    );
    return found;
  }

  async function waitForJob(job: StorageJob, waitOptions: WaitOptions = {}): Promise<StorageJob> {
    const timeoutMs = waitOptions.timeoutMs ?? poll.timeoutMs;
    const deadlineMs = now() + timeoutMs;
    let current = job;
    let delayMs = poll.initialDelayMs;
    for (;;) {
      if (current.status === 'success') return current;
      if (current.status === 'error') throw jobFailed(current);
      const signal = anySignal(waitOptions.signal, options.signal);
      if (signal?.aborted) throw interrupted(current);
      const remainingMs = deadlineMs - now();
      if (remainingMs <= 0) throw deadlinePassed(current, timeoutMs);
      try {
        await sleep(Math.min(delayMs, remainingMs), signal);
      } catch (error) {
        if (signal?.aborted) throw interrupted(current);
        throw error;
      }
      delayMs = Math.min(poll.maxDelayMs, delayMs * 2);
      current = await getJob(current.id);
    }
  }

  async function getFile(fileId: number): Promise<FileDetail> {
    const path = `${STORAGE}/files/${seg(fileId)}`;
    const raw = await get(path, { federationToken: 1 });
    registerFileSecrets(masker, raw);
    const file = parseFileDetail(raw, `GET ${path}`);
    if (!providerBlockPresent(file)) {
      throw new StorageResponseError(
        `File ${fileId} came without ${file.provider} path or credentials (GET ${path}?federationToken=1)`,
      );
    }
    return file;
  }

  async function prepareFile(params: PrepareFileParams): Promise<PreparedFile> {
    const path = `${STORAGE}/files/prepare`;
    const body = {
      name: params.name,
      federationToken: true,
      isEncrypted: true,
      isSliced: params.isSliced,
      ...(params.sizeBytes !== undefined && { sizeBytes: params.sizeBytes }),
      ...(params.tags !== undefined && { tags: params.tags }),
    };
    // Not a job: a duplicated prepare only leaves an unused file record, so it retries as usual.
    const raw = await http.request({ method: 'POST', path, body });
    registerFileSecrets(masker, raw);
    return parsePreparedFile(raw, `POST ${path}`);
  }

  async function refreshFile(fileId: number): Promise<PreparedFile> {
    const path = `${STORAGE}/files/${seg(fileId)}/refresh`;
    const raw = await http.request({ method: 'PUT', path });
    registerFileSecrets(masker, raw);
    return parsePreparedFile(raw, `PUT ${path}`);
  }

  return {
    url,
    async verifyToken(): Promise<TokenInfo> {
      const path = `${STORAGE}/tokens/verify`;
      return parseTokenInfo(await get(path), `GET ${path}`);
    },
    async serverTimeMs(): Promise<number> {
      // A fresh answer's Date header is the server clock (1 s resolution); verify is cheap and
      // allowed for every token. Without a Date header the local clock is the only fallback.
      await get(`${STORAGE}/tokens/verify`);
      const serverMs = http.lastServerDateMs() ?? now();
      if (serverMs > now() + MAX_SERVER_CLOCK_LEAD_MS) throw implausibleDate(serverMs, now());
      return serverMs;
    },
    getBucket,
    findBucket: (bucketId) => find(() => getBucket(bucketId), ['storage.buckets.notFound']),
    async createBucket(stage, name) {
      const path = `${STORAGE}/buckets`;
      const raw = await http.request({ method: 'POST', path, body: { name, stage } }, 'jobStart');
      return parseBucket(raw, `POST ${path}`);
    },
    async listTables(bucketId) {
      const path = `${STORAGE}/buckets/${seg(bucketId)}/tables`;
      const raw = await get(path, { include: 'columns,metadata,columnMetadata' });
      return parseTableList(raw, `GET ${path}`, bucketId);
    },
    getTable,
    findTable: (tableId) => find(() => getTable(tableId), ['storage.tables.notFound']),
    startExport: (tableId, params) =>
      startJob(`${STORAGE}/tables/${seg(tableId)}/export-async`, exportBody(params), {
        operationName: 'tableExport',
        tableId,
      }),
    startImport: (tableId, params) =>
      startJob(`${STORAGE}/tables/${seg(tableId)}/import-async`, importBody(params), {
        operationName: 'tableImport',
        tableId,
      }),
    startTableCreate: (bucketId, params) =>
      startJob(`${STORAGE}/buckets/${seg(bucketId)}/tables-async`, tableCreateBody(params), {
        operationName: 'tableCreate',
        tableId: `${bucketId}.${params.name}`,
        tableName: params.name,
      }),
    startTableDefinitionCreate: (bucketId, params) =>
      startJob(`${STORAGE}/buckets/${seg(bucketId)}/tables-definition`, definitionBody(params), {
        operationName: 'tableDefinitionCreate',
        tableId: `${bucketId}.${params.name}`,
        tableName: params.name,
      }),
    getJob,
    listJobs,
    waitForJob,
    getFile,
    prepareFile,
    refreshFile,
    async setTableMetadata(tableId: string, write: MetadataWrite): Promise<void> {
      const path = `${STORAGE}/tables/${seg(tableId)}/metadata`;
      // Metadata writes are upserts by (provider, key): repeating one is harmless.
      await http.request({ method: 'POST', path, body: metadataBody(write) });
    },
  };
}

function anySignal(...signals: (AbortSignal | undefined)[]): AbortSignal | undefined {
  const present = signals.filter((signal): signal is AbortSignal => signal !== undefined);
  return present.length <= 1 ? present[0] : AbortSignal.any(present);
}

/** Whether `job` is the one a POST with an unknown outcome may have started. */
export function jobMatches(
  job: StorageJob,
  match: JobMatch,
  runId: string,
  attemptStartMs: number,
  excludedIds: ReadonlySet<number> = new Set(),
): boolean {
  if (excludedIds.has(job.id)) return false;
  if (job.runId !== runId || job.operationName !== match.operationName) return false;
  const createdMs = timestampMs(job.createdTime);
  if (Number.isNaN(createdMs) || createdMs < attemptStartMs - CLOCK_SKEW_ALLOWANCE_MS) return false;
  if (job.tableId === match.tableId) return true;
  if (job.tableId !== null || match.tableName === undefined) return false;
  return job.operationParams?.['name'] === match.tableName;
}

export function exportBody(params: ExportParams): Record<string, unknown> {
  return {
    columns: params.columns.join(','),
    gzip: true,
    ...(params.changedSince !== undefined && { changedSince: Math.floor(params.changedSince) }),
    ...(params.changedUntil !== undefined && { changedUntil: Math.floor(params.changedUntil) }),
  };
}

export function importBody(params: ImportParams): Record<string, unknown> {
  return {
    dataFileId: params.dataFileId,
    columns: [...params.columns],
    incremental: params.incremental,
  };
}

export function tableCreateBody(params: TableCreateParams): Record<string, unknown> {
  return {
    name: params.name,
    dataFileId: params.dataFileId,
    primaryKey: params.primaryKey.join(','),
  };
}

export function definitionBody(params: TableDefinitionCreateParams): Record<string, unknown> {
  return {
    name: params.name,
    primaryKeysNames: [...params.primaryKeysNames],
    columns: params.columns.map((column) => ({
      name: column.name,
      ...(column.definition !== undefined && { definition: column.definition }),
      ...(column.definition === undefined &&
        column.basetype !== undefined && { basetype: column.basetype }),
    })),
  };
}

function metadataBody(write: MetadataWrite): Record<string, unknown> {
  const body: Record<string, unknown> = { provider: write.provider, metadata: write.metadata };
  if (write.columnsMetadata && Object.keys(write.columnsMetadata).length > 0) {
    // Indexed form with columnName on every item (the name-keyed form is deprecated, §3.5).
    const indexed: Record<string, unknown[]> = {};
    let index = 0;
    for (const [columnName, items] of Object.entries(write.columnsMetadata)) {
      indexed[String(index)] = items.map((item) => ({ columnName, ...item }));
      index += 1;
    }
    body['columnsMetadata'] = indexed;
  }
  return body;
}

function jobFailed(job: StorageJob): JobFailedError {
  const message = job.error?.message ?? 'no error message';
  const target = job.tableId ? ` of ${job.tableId}` : '';
  return new JobFailedError(
    `Storage job ${job.id} (${job.operationName}${target}) failed: ${message}`,
    job.id,
    job.error?.code,
  );
}

function deadlinePassed(job: StorageJob, timeoutMs: number): DeadlineError {
  const target = job.tableId ? ` of ${job.tableId}` : '';
  return new DeadlineError(
    `Storage job ${job.id} (${job.operationName}${target}) did not finish within ${Math.round(timeoutMs / 1000)} s; last status "${job.status}"`,
  );
}

function implausibleDate(serverMs: number, localMs: number): ServiceError {
  const days = Math.round((serverMs - localMs) / 86_400_000);
  return new ServiceError(
    `The Storage API's Date header (${new Date(serverMs).toISOString()}) is ${days} day(s) ahead of this machine's clock; refusing to use it as a watermark, which would skip every row changed until then.`,
  );
}

function interrupted(job: StorageJob): InterruptedError {
  return new InterruptedError(
    `Interrupted while waiting for Storage job ${job.id} (${job.operationName}); last status "${job.status}"`,
  );
}
