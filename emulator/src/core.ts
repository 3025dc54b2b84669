/**
 * The emulator's Storage side wired together: catalogue, DuckDB tables, clock, faults, object store
 * and jobs, plus the shared lookups every route needs (authentication, bucket/table access with
 * the reference's error codes) and table creation from seed specs.
 */
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { EmulatorClock } from './clock.js';
import type { FaultRegistry } from './faults.js';
import type { EmulatedObjectStore } from './objects/object-store.js';
import {
  ApiError,
  accessDenied,
  bucketNotFound,
  tableNotFound,
  validationError,
} from './api-error.js';
import { DEFAULT_BACKEND } from './backend-types.js';
import { readCsvHeader } from './csv-format.js';
import { JobRunner } from './jobs.js';
import {
  EmulatorState,
  canRead,
  canWrite,
  splitTableId,
  type BucketState,
  type MetadataRecord,
  type ProjectState,
  type TableState,
  type TokenState,
} from './model.js';
import {
  checkTable,
  seedTableColumns,
  seedTablePrimaryKey,
  type SeedProject,
  type SeedTable,
  type SeedToken,
} from './seed.js';
import { physicalTableName } from './sql.js';
import type { TableDb } from './table-db.js';

/** Default rows per exported slice when neither the table nor the project sets `sliceRows`. */
const DEFAULT_SLICE_ROWS = 50_000;

export interface MaintenanceState {
  on: boolean;
  retryAfterSeconds: number;
  reason: string;
}

export type AccessNeed = 'read' | 'write';

export class EmulatorCore {
  readonly state = new EmulatorState();
  readonly jobs: JobRunner;
  readonly maintenance: MaintenanceState = {
    on: false,
    retryAfterSeconds: 30,
    reason: 'The system is down for maintenance',
  };
  /**
   * Whether the bucket's table list carries each typed table's `definition`, as the detail
   * always does. The real list need not (docs/storage-api-notes.md, Buckets, tables and the
   * token's view): tests turn it off to prove a client reads the definition from the detail.
   */
  tableListDefinitions = true;
  baseUrl = 'http://127.0.0.1';

  constructor(
    readonly db: TableDb,
    readonly clock: EmulatorClock,
    readonly faults: FaultRegistry,
    readonly objectStore: EmulatedObjectStore,
    onWorkError: (error: unknown) => void,
  ) {
    this.jobs = new JobRunner(this.state, clock, onWorkError);
  }

  // ---- seeding -------------------------------------------------------------------------------

  /** Adds a project with its buckets, tables (data loaded) and tokens. */
  async addProject(seed: SeedProject, baseDir: string): Promise<void> {
    const project: ProjectState = {
      id: seed.id,
      name: seed.name,
      region: seed.region,
      provider: seed.fileStorageProvider,
      defaultBackend: seed.defaultBackend ?? DEFAULT_BACKEND,
      sliceRows: seed.sliceRows,
      features: seed.features,
      createdMs: this.clock.nowMs(),
      buckets: new Map(),
    };
    this.state.projects.set(project.id, project);
    for (const bucket of seed.buckets) {
      this.addBucket(project, bucket.id, bucket.description ?? '');
      for (const table of bucket.tables)
        await this.createTable(project.id, bucket.id, table, baseDir);
    }
    for (const token of seed.tokens) this.addToken(project.id, token);
  }

  addBucket(project: ProjectState, bucketId: string, description: string): BucketState {
    const [stage = 'in', name = ''] = bucketId.split('.');
    const bucket: BucketState = {
      id: bucketId,
      name,
      stage,
      description,
      createdMs: this.clock.nowMs(),
      tables: new Map(),
    };
    project.buckets.set(bucketId, bucket);
    return bucket;
  }

  /** Adds a token; its history starts with a `storage.tokenCreated` event, as in the real API. */
  addToken(
    projectId: number,
    spec: SeedToken,
    creator: TokenState['creator'] = { id: 1, description: 'emulator' },
  ): TokenState {
    const nowMs = this.clock.nowMs();
    const isMasterToken = spec.isMasterToken ?? false;
    const token: TokenState = {
      id: spec.token.split('-')[1] ?? '0',
      token: spec.token,
      projectId,
      description: spec.description ?? 'token',
      isMasterToken,
      role: isMasterToken ? (spec.role ?? 'admin') : undefined,
      canManageBuckets: spec.canManageBuckets ?? false,
      canReadAllFileUploads: spec.canReadAllFileUploads ?? false,
      componentAccess: spec.componentAccess ?? [],
      canCreateJobs: spec.canCreateJobs ?? false,
      canPurgeTrash: spec.canPurgeTrash ?? false,
      canManageDevBranches: spec.canManageDevBranches,
      canReadAllProjectEvents: spec.canReadAllProjectEvents,
      bucketPermissions: spec.bucketPermissions ?? {},
      expiresMs: spec.expires ? Date.parse(spec.expires) : null,
      isDisabled: spec.isDisabled ?? false,
      revoked: false,
      createdMs: nowMs,
      refreshedMs: nowMs,
      creator,
    };
    this.state.tokens.set(token.token, token);
    this.state.addTokenEvent(token, 'storage.tokenCreated', `Token ${token.id} created`, nowMs);
    return token;
  }

  /** A fresh token string `<projectId>-<tokenId>-<40 hex>`. */
  newTokenString(projectId: number): string {
    return `${projectId}-${this.state.nextTokenId()}-${randomBytes(20).toString('hex')}`;
  }

  /**
   * Creates a table from a seed spec and loads its rows (CSV with header, inline rows or
   * generated), stamped with `spec.timestamp` or the clock.
   * @throws ApiError 400 when the spec is invalid or the table exists.
   */
  async createTable(
    projectId: number,
    bucketId: string,
    spec: SeedTable,
    baseDir: string,
  ): Promise<TableState> {
    const project = this.requireProject(projectId);
    const problems = checkTable(spec, 'table', project.defaultBackend);
    if (problems.length > 0)
      throw validationError('storage.tables.validation', problems.join('; '));
    const bucket = project.buckets.get(bucketId);
    if (!bucket) throw bucketNotFound(bucketId, projectId);
    if (bucket.tables.has(spec.name)) throw tableExists(spec.name);
    const csvPath = spec.csv === undefined ? undefined : join(baseDir, spec.csv);
    const columns = csvPath ? await csvColumns(csvPath, spec) : seedTableColumns(spec);
    const primaryKey = seedTablePrimaryKey(spec);
    const missingKey = primaryKey.filter((c) => !columns.includes(c));
    if (missingKey.length > 0) throw invalidPrimaryKey(missingKey);
    const table = this.registerTable(project, bucket, spec.name, columns, primaryKey, spec);
    await this.db.createTable(table.physical, columns);
    const ts = spec.timestamp ?? this.clock.nowSeconds();
    const loaded = await this.#loadSeedRows(table, spec, csvPath, ts);
    if (loaded) this.markChanged(table, ts * 1000);
    await this.refreshStats(table);
    return table;
  }

  async #loadSeedRows(
    table: TableState,
    spec: SeedTable,
    csvPath: string | undefined,
    ts: number,
  ): Promise<boolean> {
    if (csvPath) {
      await this.db.seedFromCsv(table.physical, csvPath, table.columns, ts);
      return true;
    }
    if (spec.rows) {
      await this.db.insertRows(table.physical, table.columns, spec.rows, ts);
      return true;
    }
    if (spec.generate) {
      const keyColumn = table.primaryKey[0] ?? table.columns[0] ?? '';
      await this.db.insertGenerated(
        table.physical,
        table.columns,
        keyColumn,
        spec.generate.rows,
        ts,
      );
      return true;
    }
    return false;
  }

  /** Adds an empty table description (no DuckDB table yet). */
  registerTable(
    project: ProjectState,
    bucket: BucketState,
    name: string,
    columns: readonly string[],
    primaryKey: readonly string[],
    extras: Pick<SeedTable, 'definition' | 'metadata' | 'columnMetadata' | 'sliceRows'> = {},
  ): TableState {
    const nowMs = this.clock.nowMs();
    const id = `${bucket.id}.${name}`;
    const toRecord = (item: { key: string; value: string; provider: string }): MetadataRecord => ({
      id: this.state.nextMetadataId(),
      key: item.key,
      value: item.value,
      provider: item.provider,
      timestampMs: nowMs,
    });
    const table: TableState = {
      id,
      name,
      bucketId: bucket.id,
      projectId: project.id,
      physical: physicalTableName(project.id, id),
      columns: [...columns],
      primaryKey: [...primaryKey],
      definition: extras.definition,
      metadata: (extras.metadata ?? []).map(toRecord),
      columnMetadata: new Map(
        Object.entries(extras.columnMetadata ?? {}).map(([c, items]) => [c, items.map(toRecord)]),
      ),
      sliceRows: extras.sliceRows,
      createdMs: nowMs,
      lastImportMs: undefined,
      lastChangeMs: undefined,
      version: 0,
      rowsCount: 0,
      dataSizeBytes: 0,
    };
    bucket.tables.set(name, table);
    return table;
  }

  /** Records a data change: new cache version, `lastImportDate`/`lastChangeDate`. */
  markChanged(table: TableState, atMs: number = this.clock.nowMs()): void {
    table.version += 1;
    table.lastImportMs = atMs;
    table.lastChangeMs = atMs;
  }

  async refreshStats(table: TableState): Promise<void> {
    const stats = await this.db.stats(table.physical, table.columns);
    table.rowsCount = stats.rowsCount;
    table.dataSizeBytes = stats.dataSizeBytes;
  }

  sliceRowsFor(table: TableState): number {
    return table.sliceRows ?? this.requireProject(table.projectId).sliceRows ?? DEFAULT_SLICE_ROWS;
  }

  // ---- lookups with API errors -------------------------------------------------------------

  requireProject(projectId: number): ProjectState {
    const project = this.state.project(projectId);
    if (!project) throw new ApiError(404, 'notFound', `Project ${projectId} not found`);
    return project;
  }

  /**
   * The token for an `X-StorageApi-Token` value.
   * @throws ApiError 401: missing (`Access token must be set`, code ""), unknown, revoked,
   *   disabled or expired by the emulator clock (`storage.tokenInvalid`: Storage has no distinct
   *   code for an expired token, docs/storage-api-notes.md, Error answers and codes).
   */
  authenticate(header: string | string[] | undefined): TokenState {
    const value = Array.isArray(header) ? header[0] : header;
    if (!value) throw new ApiError(401, '', 'Access token must be set');
    const token = this.state.tokens.get(value);
    const expired = token?.expiresMs != null && token.expiresMs <= this.clock.nowMs();
    if (!token || token.revoked || token.isDisabled || expired) {
      throw new ApiError(401, 'storage.tokenInvalid', 'Invalid access token');
    }
    return token;
  }

  /** A bucket the token may `need`; 404 when missing, 403 `accessDenied` without permission. */
  bucketFor(token: TokenState, bucketId: string, need: AccessNeed): BucketState {
    const project = this.requireProject(token.projectId);
    const bucket = project.buckets.get(bucketId);
    if (!bucket) throw bucketNotFound(bucketId, project.id);
    const allowed = need === 'read' ? canRead(token, bucketId) : canWrite(token, bucketId);
    if (!allowed) throw accessDenied();
    return bucket;
  }

  /** A table the token may `need`; 404 `storage.tables.notFound`, 403 `accessDenied`. */
  tableFor(token: TokenState, tableId: string, need: AccessNeed): TableState {
    const parts = splitTableId(tableId);
    const project = this.requireProject(token.projectId);
    if (!parts) throw tableNotFound(tableId, '', project.id);
    const bucket = project.buckets.get(parts.bucketId);
    const table = bucket?.tables.get(parts.name);
    if (!bucket || !table) throw tableNotFound(parts.name, parts.bucketId, project.id);
    const allowed = need === 'read' ? canRead(token, bucket.id) : canWrite(token, bucket.id);
    if (!allowed) throw accessDenied();
    return table;
  }

  bucketOf(table: TableState): BucketState {
    const bucket = this.requireProject(table.projectId).buckets.get(table.bucketId);
    if (!bucket) throw bucketNotFound(table.bucketId, table.projectId);
    return bucket;
  }
}

export function tableExists(name: string): ApiError {
  return validationError(
    'storage.buckets.tableAlreadyExists',
    `The table "${name}" in the bucket already has the same display name "${name}".`,
  );
}

export function invalidPrimaryKey(columns: readonly string[]): ApiError {
  return validationError(
    'storage.tables.validation.invalidPrimaryKeyColumns',
    `Primary key columns "${columns.join(', ')}" do not exist in the table columns.`,
  );
}

async function csvColumns(path: string, spec: SeedTable): Promise<string[]> {
  const header = await readCsvHeader(path);
  if (spec.columns && spec.columns.join(',') !== header.join(',')) {
    throw validationError(
      'storage.tables.validation',
      `The header of "${spec.csv ?? path}" does not match the declared columns.`,
    );
  }
  return header;
}
