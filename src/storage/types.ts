/**
 * Storage API payloads as the job uses them, after boundary parsing (docs/storage-api-notes.md).
 * PHP serialization quirks (`[]` for empty maps, string/int ids, timestamps without a colon in the
 * offset) are normalised by the client before values reach these types.
 */

export type FileProvider = 'aws' | 'azure' | 'gcp';

export interface TokenInfo {
  readonly id: string;
  readonly description: string;
  readonly isMasterToken: boolean;
  readonly canManageBuckets: boolean;
  readonly canManageTokens: boolean;
  readonly canReadAllFileUploads: boolean;
  /**
   * Components the token may use, and privileges the job never uses: only warned about
   * (docs/tokens.md, Run-time checks). An answer without them (older stacks leave them out, and
   * an empty `componentAccess` too) means none granted.
   */
  readonly componentAccess: readonly string[];
  readonly canCreateJobs: boolean;
  readonly canManageDevBranches: boolean;
  readonly canReadAllProjectEvents: boolean;
  readonly canPurgeTrash: boolean;
  readonly canManageProtectedDefaultBranch: boolean;
  /** ISO date, or null when the token never expires. */
  readonly expires: string | null;
  readonly isExpired: boolean;
  readonly isDisabled: boolean;
  readonly bucketPermissions: Readonly<Record<string, string>>;
  readonly owner: {
    readonly id: number;
    readonly name: string;
    readonly region: string;
    readonly fileStorageProvider: FileProvider;
    readonly defaultBackend?: string;
    /** Project features; `disable-legacy-bucket-prefix` changes how new buckets are named. */
    readonly features: readonly string[];
  };
  readonly admin?: unknown;
}

export interface MetadataItem {
  readonly id?: string;
  readonly key: string;
  readonly value: string;
  readonly provider: string;
  readonly timestamp?: string;
}

export interface ColumnDefinition {
  readonly name: string;
  readonly definition?: {
    readonly type: string;
    readonly nullable?: boolean;
    readonly length?: string | null;
    readonly default?: string | null;
  };
  readonly basetype?: string;
}

export interface TableDefinition {
  readonly primaryKeysNames: readonly string[];
  readonly columns: readonly ColumnDefinition[];
}

export interface TableDetail {
  readonly id: string;
  readonly name: string;
  readonly primaryKey: readonly string[];
  readonly columns: readonly string[];
  readonly rowsCount: number | null;
  readonly dataSizeBytes: number | null;
  readonly isTyped: boolean;
  readonly definition?: TableDefinition;
  readonly lastImportDate: string | null;
  readonly lastChangeDate: string | null;
  /**
   * When the table was created, as the API wrote it; a table dropped and created again under the
   * same id has a new one (docs/state-file.md, A re-created source table). Absent or null when
   * the answer has none.
   */
  readonly created?: string | null;
  readonly metadata: readonly MetadataItem[];
  /** Column name → items; `[]` from the API becomes `{}`. */
  readonly columnMetadata: Readonly<Record<string, readonly MetadataItem[]>>;
  readonly bucketId: string;
}

export interface BucketDetail {
  readonly id: string;
  readonly name: string;
  readonly stage: string;
  readonly backend?: string;
  readonly isReadOnly?: boolean;
  readonly isLinkedBucket?: boolean;
}

type JobStatus = 'waiting' | 'processing' | 'success' | 'error';

export interface StorageJob {
  readonly id: number;
  readonly status: JobStatus;
  readonly operationName: string;
  readonly tableId: string | null;
  /** ISO-8601 with offset, server clock. The export watermark comes from here (docs/standalone.md, Incremental windows). */
  readonly createdTime: string;
  readonly startTime: string | null;
  readonly endTime: string | null;
  readonly runId: string | null;
  /** Null until done; `[]` from the API becomes null. */
  readonly results: Readonly<Record<string, unknown>> | null;
  readonly error?: {
    readonly code?: string;
    readonly message: string;
    readonly exceptionId?: string;
  };
  readonly operationParams?: Readonly<Record<string, unknown>>;
}

export interface S3Credentials {
  readonly AccessKeyId: string;
  readonly SecretAccessKey: string;
  readonly SessionToken: string;
  readonly Expiration: string;
}

/** `GET files/{id}?federationToken=1`: common fields plus exactly one provider block. */
export interface FileDetail {
  readonly id: number;
  readonly name: string;
  readonly isSliced: boolean;
  readonly isEncrypted: boolean;
  readonly sizeBytes: number;
  readonly provider: FileProvider;
  readonly region: string;
  /** Signed URL (to the manifest for sliced files). Its query is a secret. */
  readonly url: string;
  readonly s3Path?: { readonly bucket: string; readonly key: string };
  readonly credentials?: S3Credentials;
  readonly absPath?: { readonly container: string; readonly name: string };
  readonly absCredentials?: { readonly SASConnectionString: string; readonly expiration: string };
  readonly gcsPath?: { readonly bucket: string; readonly key: string };
  readonly gcsCredentials?: {
    readonly access_token: string;
    readonly expires_in: number;
    readonly token_type: string;
    readonly projectId: string;
  };
}

/** `POST files/prepare` answer: the file plus the provider's upload parameters. */
export interface PreparedFile {
  readonly id: number;
  readonly name: string;
  readonly provider: FileProvider;
  readonly region: string;
  readonly isSliced: boolean;
  readonly uploadParams?: {
    readonly key: string;
    readonly bucket: string;
    readonly acl: string;
    readonly 'x-amz-server-side-encryption'?: string;
    readonly credentials: S3Credentials;
  };
  readonly absUploadParams?: {
    readonly blobName: string;
    readonly accountName: string;
    readonly container: string;
    readonly absCredentials: { readonly SASConnectionString: string; readonly expiration: string };
  };
  readonly gcsUploadParams?: {
    readonly projectId: string;
    readonly bucket: string;
    readonly key: string;
    readonly access_token: string;
    readonly expires_in: number;
    readonly token_type: string;
  };
}

/** One entry of a sliced-file manifest: `{"url": "s3://bucket/key.gz0000_part_00.gz"}`. */
export interface ManifestEntry {
  readonly url: string;
  readonly mandatory?: boolean;
}

export interface ExportParams {
  /** Column order of the output; sent comma-joined. */
  readonly columns: readonly string[];
  readonly changedSince?: number;
  readonly changedUntil?: number;
}

export interface ImportParams {
  readonly dataFileId: number;
  readonly columns: readonly string[];
  readonly incremental: boolean;
}

export interface PrepareFileParams {
  readonly name: string;
  readonly sizeBytes?: number;
  readonly isSliced: boolean;
  readonly tags?: readonly string[];
}

export interface TableCreateParams {
  readonly name: string;
  readonly dataFileId: number;
  /** Sent as a comma-joined string, as the API requires. */
  readonly primaryKey: readonly string[];
}

export interface TableDefinitionCreateParams {
  readonly name: string;
  readonly primaryKeysNames: readonly string[];
  readonly columns: readonly ColumnDefinition[];
}

export interface MetadataWrite {
  readonly provider: string;
  readonly metadata: readonly { readonly key: string; readonly value: string }[];
  readonly columnsMetadata?: Readonly<
    Record<string, readonly { readonly key: string; readonly value: string }[]>
  >;
}

/** What a metadata write answers: every metadata item of the table after the write. */
export interface MetadataAnswer {
  readonly metadata: readonly MetadataItem[];
  /** The server's clock at the answer (its `Date`, 1 s resolution), epoch ms. */
  readonly serverTimeMs: number;
  /** The answer's own `Date` header, epoch ms, when it had one (`serverTimeMs` may be local). */
  readonly dateHeaderMs?: number;
  /**
   * An earlier attempt of this write failed with an unknown outcome (timed out, reset, 5xx): the
   * server may still apply that attempt later, after this answer (docs/sync-record.md, Claims).
   */
  readonly earlierAttemptMayLand?: boolean;
}

/** Options for waiting on a job. */
export interface WaitOptions {
  /** Overall deadline for this job in ms. */
  readonly timeoutMs?: number;
  /** Aborts the wait (SIGTERM). */
  readonly signal?: AbortSignal;
}

/**
 * The Storage API as the job uses it. One instance per project (source or destination).
 *
 * Contract for every method:
 * - retries transient faults (network errors, 429, 5xx, 503 maintenance) with the one retry policy;
 * - job-starting POSTs (`start*`) are retried only when the request surely never reached the
 *   server (connection refused, 429, 503 maintenance);
 * - a non-2xx answer becomes a {@link import('../errors.js').StorageApiError} (401 on a token that
 *   worked before becomes a TokenRevokedError);
 * - never logs or throws with the token or a signed URL in the text.
 */
export interface StorageClient {
  /** Base URL without trailing slash. */
  readonly url: string;
  /** Sent as `X-KBC-RunId` on every request, so Storage stores it on the jobs and files. */
  readonly runId: string;
  verifyToken(): Promise<TokenInfo>;
  /**
   * The Storage server's clock now, in ms: from the `Date` header of a fresh answer (1 s
   * resolution, so at most a second behind). Watermarks come from here, never the local clock.
   */
  serverTimeMs(): Promise<number>;
  /**
   * The Storage server's clock now without a request: the latest answer's `Date` header plus the
   * time elapsed here since it arrived (this machine's monotonic clock, not its wall clock);
   * undefined before an answer with one, or when that is a day or more ahead of this machine's
   * clock (see {@link serverTimeMs}). Only for times that are reported, such as
   * `lastSuccessAt`; windows and watermarks take {@link serverTimeMs} (docs/state-file.md).
   */
  approxServerTimeMs(): number | undefined;
  getBucket(bucketId: string): Promise<BucketDetail>;
  /** Null when the bucket does not exist (404). */
  findBucket(bucketId: string): Promise<BucketDetail | null>;
  createBucket(stage: string, name: string): Promise<BucketDetail>;
  /** Tables of a bucket with columns, metadata and column metadata. */
  listTables(bucketId: string): Promise<TableDetail[]>;
  getTable(tableId: string): Promise<TableDetail>;
  /** Null when the table does not exist (404). */
  findTable(tableId: string): Promise<TableDetail | null>;
  startExport(tableId: string, params: ExportParams): Promise<StorageJob>;
  startImport(tableId: string, params: ImportParams): Promise<StorageJob>;
  startTableCreate(bucketId: string, params: TableCreateParams): Promise<StorageJob>;
  startTableDefinitionCreate(
    bucketId: string,
    params: TableDefinitionCreateParams,
  ): Promise<StorageJob>;
  /** `signal` aborts the request (the run's stop). */
  getJob(jobId: number, signal?: AbortSignal): Promise<StorageJob>;
  /**
   * Recent jobs, newest first, one page (`limit`, `offset`). Used to find a job whose start
   * request had an unknown outcome, and the import job of a pending import.
   */
  listJobs(limit?: number, offset?: number): Promise<StorageJob[]>;
  /**
   * Polls until the job is terminal, with capped backoff and an overall deadline.
   * @returns the successful job
   * @throws JobFailedError when it ends in `error`; DeadlineError naming the job id and last status.
   */
  waitForJob(job: StorageJob, options?: WaitOptions): Promise<StorageJob>;
  /** File detail with provider credentials (`federationToken=1`). */
  getFile(fileId: number): Promise<FileDetail>;
  prepareFile(params: PrepareFileParams): Promise<PreparedFile>;
  /** GCS only: fresh upload credentials for a prepared file. */
  refreshFile(fileId: number): Promise<PreparedFile>;
  /** Upserts items by (provider, key); the answer lists all of the table's metadata after it. */
  setTableMetadata(tableId: string, write: MetadataWrite): Promise<MetadataAnswer>;
  /**
   * Deletes one table metadata item by its id; one already gone counts as deleted. Sent even when
   * the client's stop signal has fired (one attempt of at most a second): it removes claims.
   */
  deleteTableMetadata(tableId: string, metadataId: string): Promise<void>;
}
