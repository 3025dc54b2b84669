import { randomBytes } from 'node:crypto';
import { ServiceError, StorageApiError, noteNotApplied } from '../errors.js';
import { createFileCalls } from './file-client.js';
import {
  anySignal,
  createStorageHttp,
  failureFactsOf,
  realSleep,
  type StorageHttpOptions,
} from './http.js';
import {
  createJobStarter,
  createsTableNamed,
  exportParamsMatch,
  JOB_LOOKUP_LIMIT,
  loadsFile,
} from './job-start.js';
import { DEFAULT_POLL_OPTIONS, waitForJob, type PollOptions } from './job-wait.js';
import {
  parseBucket,
  parseJob,
  parseJobList,
  parseMetadataAnswer,
  parseTable,
  parseTableList,
  parseTokenInfo,
} from './parse.js';
import { classifyFailure } from '../retry/retry-policy.js';
import type {
  BucketDetail,
  ExportParams,
  ImportParams,
  MetadataAnswer,
  MetadataWrite,
  StorageClient,
  StorageJob,
  TableCreateParams,
  TableDefinitionCreateParams,
  TableDetail,
  TokenInfo,
} from './types.js';

/**
 * The HTTP adapter's options (base URL, token, masking, retries, deadlines, signal), plus the job
 * polling. A base URL with a trailing slash is accepted; a run id `kts-<random>` is generated when
 * none is given.
 */
export interface StorageClientOptions extends StorageHttpOptions {
  readonly poll?: Partial<PollOptions> | undefined;
}

const STORAGE = '/v2/storage';

/**
 * How far ahead of this machine's clock the server's `Date` may be. Further is refused: it would
 * become a watermark in the future, and the rows changed until then would never be copied. A
 * server clock behind ours is harmless (a window read again), so it is not bounded.
 */
const MAX_SERVER_CLOCK_LEAD_MS = 24 * 60 * 60_000;

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
  /** A server clock less than a day ahead of ours (the rest would skip rows until then). */
  const plausibleServerTime = (serverMs: number) => serverMs <= now() + MAX_SERVER_CLOCK_LEAD_MS;
  const sleep = options.sleep ?? realSleep;
  const poll: PollOptions = { ...DEFAULT_POLL_OPTIONS, ...options.poll };
  const http = createStorageHttp({ ...options, url, runId });
  const startJob = createJobStarter({ http, runId, now, logger: options.logger });

  const get = (path: string, params?: Record<string, string | number>, signal?: AbortSignal) =>
    http.request({ method: 'GET', path, ...(params && { params }), signal });

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

  async function getJob(jobId: number, signal?: AbortSignal): Promise<StorageJob> {
    const path = `${STORAGE}/jobs/${seg(jobId)}`;
    return parseJob(await get(path, undefined, signal), `GET ${path}`);
  }

  async function listJobs(limit = JOB_LOOKUP_LIMIT, offset = 0): Promise<StorageJob[]> {
    const path = `${STORAGE}/jobs`;
    return parseJobList(await get(path, { limit, ...(offset > 0 && { offset }) }), `GET ${path}`);
  }

  return {
    url,
    runId,
    async verifyToken(): Promise<TokenInfo> {
      const path = `${STORAGE}/tokens/verify`;
      return parseTokenInfo(await get(path), `GET ${path}`);
    },
    async serverTimeMs(): Promise<number> {
      // A fresh answer's Date header is the server clock (1 s resolution); verify is cheap and
      // allowed for every token. Windows are never taken from this machine's clock (docs/state-file.md).
      await get(`${STORAGE}/tokens/verify`);
      const serverMs = http.lastServerDateMs();
      if (serverMs === undefined) throw missingDate();
      if (!plausibleServerTime(serverMs)) throw implausibleDate(serverMs, now());
      return serverMs;
    },
    approxServerTimeMs() {
      const serverMs = http.serverClockMs();
      // An implausible one is refused as serverTimeMs refuses it: the caller asks afresh.
      return serverMs !== undefined && plausibleServerTime(serverMs) ? serverMs : undefined;
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
        params: exportParamsMatch(params),
      }),
    startImport: (tableId, params) =>
      startJob(`${STORAGE}/tables/${seg(tableId)}/import-async`, importBody(params), {
        operationName: 'tableImport',
        tableId,
        // An earlier import of the same table under the same run id is not this one: taking it
        // would record a window whose file was never loaded.
        params: loadsFile(params.dataFileId),
        // A second import of the same file would load its rows twice.
        postAgainAfterMiss: false,
      }),
    startTableCreate: (bucketId, params) =>
      startJob(`${STORAGE}/buckets/${seg(bucketId)}/tables-async`, tableCreateBody(params), {
        operationName: 'tableCreate',
        tableId: `${bucketId}.${params.name}`,
        // A job that lists this table id creates it (an id is created once); one that lists none
        // is this POST's when it loads this POST's header file.
        withoutTableId: loadsFile(params.dataFileId),
      }),
    startTableDefinitionCreate: (bucketId, params) =>
      startJob(`${STORAGE}/buckets/${seg(bucketId)}/tables-definition`, definitionBody(params), {
        operationName: 'tableDefinitionCreate',
        tableId: `${bucketId}.${params.name}`,
        withoutTableId: createsTableNamed(params.name),
      }),
    getJob,
    listJobs,
    waitForJob: (job, waitOptions = {}) => {
      // The client's own signal (SIGTERM/SIGINT) ends every poll too.
      const signal = anySignal(waitOptions.signal, options.signal);
      return waitForJob(
        job,
        { ...waitOptions, ...(signal && { signal }) },
        {
          getJob,
          now,
          sleep,
          poll,
        },
      );
    },
    ...createFileCalls(http, options.masker),
    async setTableMetadata(tableId: string, write: MetadataWrite): Promise<MetadataAnswer> {
      const path = `${STORAGE}/tables/${seg(tableId)}/metadata`;
      const request = { method: 'POST', path, body: metadataBody(write) } as const;
      // Metadata writes are upserts by (provider, key): repeating one is harmless, but an attempt
      // with an unknown outcome may still be applied after the answer to a later one.
      let unknownAttempts = 0;
      const raw = await http
        .withRetry(
          async () => {
            try {
              return await http.send(request);
            } catch (error) {
              if (classifyFailure(failureFactsOf(error)) === 'unknown') unknownAttempts += 1;
              throw error;
            }
          },
          { kind: 'idempotent', description: `POST ${path}` },
        )
        .catch((error: unknown) => {
          // Every attempt refused or never reached: nothing of this write can land later.
          if (unknownAttempts === 0) noteNotApplied(error);
          throw error;
        });
      const metadata = parseMetadataAnswer(raw, `POST ${path}`);
      const dateHeaderMs = http.lastServerDateMs();
      return {
        metadata,
        ...(dateHeaderMs !== undefined && { dateHeaderMs }),
        serverTimeMs: dateHeaderMs ?? now(),
        earlierAttemptMayLand: unknownAttempts > 0,
      };
    },
    async deleteTableMetadata(tableId: string, metadataId: string): Promise<void> {
      const path = `${STORAGE}/tables/${seg(tableId)}/metadata/${seg(metadataId)}`;
      // A DELETE repeated after a lost answer finds the item gone (404): that is the outcome wanted.
      // It only ever deletes claims, so it goes out even when the run is being stopped.
      const request = { method: 'DELETE', path, cleanup: true } as const;
      await find(() => http.request(request), ['storage.metadata.notFound']);
    },
  };
}

function missingDate(): ServiceError {
  return new ServiceError(
    `The Storage API's answer to GET ${STORAGE}/tokens/verify carried no readable Date header; the export windows are taken from the server's clock, never this machine's, so nothing is exported (a proxy between the job and Storage may drop the header).`,
  );
}

function implausibleDate(serverMs: number, localMs: number): ServiceError {
  const days = Math.round((serverMs - localMs) / 86_400_000);
  return new ServiceError(
    `The Storage API's Date header (${new Date(serverMs).toISOString()}) is ${days} day(s) ahead of this machine's clock; refusing to use it as a watermark, which would skip every row changed until then.`,
  );
}

export function exportBody(params: ExportParams): Record<string, unknown> {
  return {
    columns: params.columns.join(','),
    gzip: true,
    ...(params.changedSince !== undefined && { changedSince: Math.floor(params.changedSince) }),
    ...(params.changedUntil !== undefined && { changedUntil: Math.floor(params.changedUntil) }),
  };
}

function importBody(params: ImportParams): Record<string, unknown> {
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

function definitionBody(params: TableDefinitionCreateParams): Record<string, unknown> {
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
    // Indexed form with columnName on every item (the name-keyed form is deprecated: docs/storage-api-notes.md, Buckets, tables and the token's view).
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
