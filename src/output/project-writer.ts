import { gzipSync } from 'node:zlib';
import { stringify } from 'csv-stringify/sync';
import {
  canSeeDestinationBucket,
  checkDestinationToken,
  destinationTokenWarnings,
  explainRejectedToken,
  type DestinationAuthorization,
} from '../auth/check-token.js';
import type { DestinationConfig } from '../config/types.js';
import {
  JobFailedError,
  ServiceError,
  StorageApiError,
  UnknownJobStartError,
  UserError,
  messageOf,
} from '../errors.js';
import type { Logger } from '../logger.js';
import type { SliceSink } from '../objects/types.js';
import { explainMissingTable, type TablePlan } from '../plan/plan-tables.js';
import { StorageResponseError, bucketIdOf } from '../storage/parse.js';
import type {
  BucketDetail,
  ColumnDefinition,
  MetadataWrite,
  PreparedFile,
  StorageClient,
  StorageJob,
  TableDefinition,
  TableDetail,
  TokenInfo,
} from '../storage/types.js';
import { copySlices, type CopyOptions } from '../transfer/copy-slices.js';
import {
  pendingImport,
  destinationTableFound,
  stateFromRecord,
  type PendingImport,
  type SourceIdentity,
  type SourceProject,
} from '../state/sync-record.js';
import { DestinationSyncStore } from './destination-sync.js';
import type {
  ExportedTable,
  OutputWriter,
  ResumePoint,
  SyncContext,
  TableWriteResult,
} from './output-writer.js';
import { metadataByProvider } from './table-manifest.js';

export interface ProjectWriterDeps {
  readonly destination: DestinationConfig;
  readonly client: StorageClient;
  /**
   * The source table's detail (`GET tables/{id}` of the source project): a missing table is
   * created from it, since only the detail carries a typed table's `definition` for sure.
   */
  readonly readSourceTable: (tableId: string) => Promise<TableDetail>;
  readonly openSliceSink: (
    prepared: PreparedFile,
    refreshFile: () => Promise<PreparedFile>,
  ) => SliceSink;
  readonly logger: Logger;
  readonly signal: AbortSignal;
  /** How long a claim on a destination table counts (docs/sync-record.md, Claims). */
  readonly claimLeaseMs: number;
  /** Local monotonic clock, ms: how long this run has held its claim. */
  readonly nowMs: () => number;
  /**
   * This machine's clock, epoch ms: how far the destination token's expiry is, read as the source
   * token's is.
   */
  readonly wallClockMs: () => number;
  readonly newClaimId: () => string;
}

/** A table create refused because the bucket has a table of that name (docs/storage-api-notes.md). */
const TABLE_EXISTS_CODE = 'storage.buckets.tableAlreadyExists';

/** Tag on every file the job uploads, so they can be found and expired. */
const UPLOAD_TAG = 'kbc-table-sync';

/**
 * Standalone mode (docs/architecture.md, The two modes): each exported slice streams from the source object store into a
 * sliced upload in the destination project (manifest last, no local disk), a missing table is
 * created (header-only file with the primary key, or the source definition for typed tables), and
 * `import-async` loads the file with `columns` and `incremental`.
 */
export class ProjectWriter implements OutputWriter {
  readonly #deps: ProjectWriterDeps;
  /**
   * Buckets whose write permission was checked, so it happens once per bucket; each resolves to
   * the bucket's backend when known.
   */
  readonly #checkedBuckets = new Map<string, Promise<string | undefined>>();
  readonly #records: DestinationSyncStore;

  constructor(deps: ProjectWriterDeps) {
    this.#deps = deps;
    this.#records = new DestinationSyncStore(deps);
  }

  /**
   * Checks the destination token on every bucket the plans write to, then warns once about its
   * expiry and the privileges it holds that the job never uses (docs/tokens.md, Run-time checks).
   * @throws UserError for a copy onto itself or a bucket the token may not write or create
   */
  async prepare(plans: readonly TablePlan[], source: SourceProject): Promise<void> {
    const { destination, logger } = this.#deps;
    // A copy onto itself first: a refused run creates no bucket.
    const token = await this.#destinationToken();
    for (const plan of plans) {
      const refusal = selfCopyRefusal(plan, source, destination, token.owner.id);
      if (refusal !== undefined) throw new UserError(refusal);
    }
    const tableIds = plans.map((plan) => destinationTableId(plan, destination));
    // One at a time, in order: the first bucket at fault is the one named.
    for (const bucketId of new Set([destination.bucket, ...tableIds.map(bucketIdOf)])) {
      await this.#ensureBucket(bucketId);
    }
    for (const warning of destinationTokenWarnings(token, this.#deps.wallClockMs()))
      logger.warn(warning);
  }

  /** Write permission on the table's bucket and, for an existing table, the same primary key. */
  async checkTable(plan: TablePlan): Promise<void> {
    const tableId = destinationTableId(plan, this.#deps.destination);
    await this.#ensureBucket(bucketIdOf(tableId));
    const existing = await this.#deps.client.findTable(tableId);
    if (existing) checkExistingTable(plan, existing);
  }

  /**
   * `checkTable`, then the destination's sync record: a foreign one is refused, a pending import
   * is settled, and the committed watermark returned.
   */
  async resume(plan: TablePlan, source: SourceIdentity): Promise<ResumePoint> {
    const tableId = destinationTableId(plan, this.#deps.destination);
    await this.#ensureBucket(bucketIdOf(tableId));
    const { table, sync } = await this.#records.open(tableId, source);
    if (table) checkExistingTable(plan, table);
    const emptyColumns = table ? newColumnsWarning(plan, table) : undefined;
    return {
      ...destinationTableFound(table, sync),
      ...(sync.record && { committed: stateFromRecord(sync.record) }),
      revision: sync.revision,
      ...(emptyColumns !== undefined && { newColumnsWarning: emptyColumns }),
    };
  }

  /** Deletes lapsed claims of dead runs on a table found unchanged; a failure is only logged. */
  async tableUnchanged(plan: TablePlan, serverNowMs: number): Promise<void> {
    const tableId = destinationTableId(plan, this.#deps.destination);
    try {
      const deleted = await this.#records.sweepLapsedClaims(tableId, serverNowMs);
      if (deleted > 0) {
        this.#deps.logger.info(
          `Deleted ${deleted} lapsed claim(s) on "${tableId}", left by runs that stopped while they held it.`,
        );
      }
    } catch (error) {
      this.#deps.logger.warn(
        `Could not delete the lapsed claims on "${tableId}" (${messageOf(error)}); a later run tries again.`,
      );
    }
  }

  async writeTable(
    plan: TablePlan,
    exported: ExportedTable,
    copy: CopyOptions,
    sync?: SyncContext,
  ): Promise<TableWriteResult> {
    const { client } = this.#deps;
    const tableId = destinationTableId(plan, this.#deps.destination);
    const bucketId = bucketIdOf(tableId);
    await this.#ensureBucket(bucketId);
    copy.progress.phase = 'transfer';
    const upload = await this.#uploadSlices(plan, exported, copy);
    // Read again just before the import: the table may have been created or changed meanwhile,
    // and another run may have imported into it or hold a pending import (then this one skips).
    const current = sync
      ? await this.#records.recheck(tableId, sync.source, sync.revision)
      : { table: await client.findTable(tableId), sync: undefined };
    const existing = current.table;
    if (existing) checkExistingTable(plan, existing);
    if (!existing) {
      copy.progress.phase = 'create table';
      await this.#createTableUnlessCreated(plan, bucketId, tableId);
    }
    copy.progress.phase = 'import job';
    const job = sync
      ? await this.#importSynced(plan, tableId, upload, sync)
      : await this.#importUnrecorded(plan, tableId, upload);
    if (plan.extractMetadata) {
      copy.progress.phase = 'metadata';
      await this.#copyMetadata(plan, tableId);
    }
    this.#deps.logger.info(
      `Imported "${plan.sourceId}" into "${tableId}" (${plan.mode}, ${upload.rows} rows, job ${job.id}).`,
    );
    return { rows: upload.rows, bytes: upload.bytes };
  }

  async cleanup(): Promise<void> {
    // Nothing local: uploaded files expire in the destination project after 15 days.
  }

  /** Streams every slice into a prepared sliced file; the manifest is written last. */
  async #uploadSlices(
    plan: TablePlan,
    exported: ExportedTable,
    copy: CopyOptions,
  ): Promise<{ fileId: number; rows: number; bytes: number }> {
    const { client } = this.#deps;
    const prepared = await client.prepareFile({
      name: `${plan.destinationName}.csv.gz`,
      isSliced: true,
      tags: [UPLOAD_TAG],
    });
    const sink = this.#deps.openSliceSink(prepared, () => client.refreshFile(prepared.id));
    const names = exported.source.slices.map((s) => uploadSliceName(s.index));
    const tallies = await copySlices(
      exported.source,
      async (slice, body, contentLength, signal) => {
        if (contentLength === undefined) {
          // The object store's answer lacks what the upload needs: its fault, not a bug.
          throw new ServiceError(
            `The source object store sent slice ${slice.index + 1} of "${plan.sourceId}" without a Content-Length.`,
          );
        }
        await sink.put(uploadSliceName(slice.index), body, contentLength, signal);
      },
      copy,
    );
    if (names.length === 0) {
      // An empty export still imports as a file: one empty gzip slice.
      const empty = gzipSync('');
      await sink.putBytes(uploadSliceName(0), empty, copy.signal);
      names.push(uploadSliceName(0));
    }
    await sink.finish(names, copy.signal);
    return {
      fileId: prepared.id,
      rows: tallies.reduce((sum, t) => sum + t.rows, 0),
      bytes: tallies.reduce((sum, t) => sum + t.compressedBytes, 0),
    };
  }

  /**
   * Creates the table, unless another run created it since this run read it (two overlapping runs
   * on a new table): then the table must fit as an existing one, and the claim that follows
   * decides which run imports (docs/sync-record.md, Claims).
   */
  async #createTableUnlessCreated(plan: TablePlan, bucketId: string, tableId: string) {
    try {
      await this.#createTable(plan, bucketId, tableId);
    } catch (error) {
      if (errorCode(error) !== TABLE_EXISTS_CODE) throw error;
      const created = await this.#deps.client.findTable(tableId);
      if (!created) throw error;
      checkExistingTable(plan, created);
      this.#deps.logger.info(
        `"${tableId}" was created by another run meanwhile; this run uses it.`,
      );
    }
  }

  /**
   * Typed source → `tables-definition` with the source's native types, or with its base types
   * when the destination bucket has another backend; else a header-only file + key. Whether the
   * source is typed, and its definition, come from the source table's detail read here: the
   * bucket's table list the plan was made from need not carry `definition`
   * (docs/storage-api-notes.md, Typed tables).
   */
  async #createTable(plan: TablePlan, bucketId: string, tableId: string): Promise<void> {
    const { client, logger } = this.#deps;
    const name = tableId.split('.')[2] ?? plan.destinationName;
    const source = await this.#deps.readSourceTable(plan.sourceId).catch((error: unknown) => {
      throw explainMissingTable(error, plan.sourceId);
    });
    const definition = source.definition;
    if (source.isTyped && definition) {
      const destinationBackend = await this.#ensureBucket(bucketId);
      const crossBackend = otherBackend(plan.sourceBackend, destinationBackend);
      await this.#wait(
        await client.startTableDefinitionCreate(bucketId, {
          name,
          primaryKeysNames: plan.primaryKey,
          columns: typedColumns(
            plan.columns,
            definition,
            crossBackend !== undefined,
            plan.primaryKey,
          ),
        }),
      );
      logger.info(
        crossBackend
          ? `Created typed table "${tableId}" with the source's base types (${crossBackend}).`
          : `Created typed table "${tableId}" from the source definition.`,
      );
      return;
    }
    const headerFileId = await this.#uploadHeaderFile(plan);
    await this.#wait(
      await client.startTableCreate(bucketId, {
        name,
        dataFileId: headerFileId,
        primaryKey: plan.primaryKey,
      }),
    );
    const key =
      plan.primaryKey.length > 0 ? `primary key [${plan.primaryKey.join(', ')}]` : 'no primary key';
    logger.info(`Created table "${tableId}" with ${key}.`);
  }

  /** A one-line, non-sliced CSV holding the column names (how Keboola's restore tool creates tables). */
  async #uploadHeaderFile(plan: TablePlan): Promise<number> {
    const { client } = this.#deps;
    const header = Buffer.from(stringify([plan.columns], { quoted: true }));
    const prepared = await client.prepareFile({
      name: `${plan.destinationName}.header.csv`,
      isSliced: false,
      sizeBytes: header.length,
      tags: [UPLOAD_TAG],
    });
    const sink = this.#deps.openSliceSink(prepared, () => client.refreshFile(prepared.id));
    await sink.putBytes('', header, this.#deps.signal);
    return prepared.id;
  }

  async #copyMetadata(plan: TablePlan, tableId: string): Promise<void> {
    for (const [provider, group] of metadataByProvider(plan.source, plan.columns)) {
      for (const write of metadataWrites(provider, group)) {
        await this.#deps.client.setTableMetadata(tableId, write);
      }
    }
  }

  /**
   * The import of a table with a sync record (docs/sync-record.md, One table's sync): claim, intent,
   * `import-async` within the claim's time, claim released once the job exists (or surely will
   * not), wait, check, commit.
   * @throws TableSkippedError when another run holds the table, or this run's claim ran out
   */
  async #importSynced(
    plan: TablePlan,
    tableId: string,
    upload: { fileId: number; rows: number },
    sync: SyncContext,
  ): Promise<StorageJob> {
    const records = this.#records;
    const held = await records.claim(tableId, sync.revision);
    const pending = pendingImport({
      source: sync.source,
      fileId: upload.fileId,
      runId: this.#deps.client.runId,
      mode: plan.mode,
      rows: upload.rows,
      window: sync.window,
    });
    let started: StorageJob;
    let mayStillStart = false;
    try {
      await records.writeIntent(tableId, held, pending);
      // Too old: the intent stays; once this claim is deleted the next run finds no job and drops it.
      records.checkFresh(tableId, held, 'start an import under it');
      started = await this.#startImport(plan, tableId, upload.fileId);
    } catch (error) {
      mayStillStart = error instanceof UnknownJobStartError;
      throw error;
    } finally {
      // An import that may still start (its POST failed, timed out or was aborted after it was
      // sent, and no job is listed) keeps the claim until its lease passes, so that no run settles
      // the intent (finds no job, exports the window again) before the job can be listed. An
      // intent write that may still land keeps it too (`release` knows).
      if (!mayStillStart) await records.release(tableId, held);
    }
    const job = await this.#waitImport(started, tableId, pending);
    try {
      checkImport(plan, tableId, job, upload.rows);
    } catch (error) {
      // A job whose results contradict the load is never committed, by this run or, through the
      // intent it would find, by the next one (which then exports the window again).
      await records.dropIntentQuietly(tableId, pending);
      throw error;
    }
    await records.commitOwn(tableId, pending, job.id);
    return job;
  }

  /** The import of a table without a sync record (no `SyncContext`): start, wait, check. */
  async #importUnrecorded(
    plan: TablePlan,
    tableId: string,
    upload: { fileId: number; rows: number },
  ): Promise<StorageJob> {
    const started = await this.#startImport(plan, tableId, upload.fileId);
    const job = await this.#waitImport(started, tableId);
    checkImport(plan, tableId, job, upload.rows);
    return job;
  }

  #startImport(plan: TablePlan, tableId: string, fileId: number): Promise<StorageJob> {
    return this.#deps.client.startImport(tableId, {
      dataFileId: fileId,
      columns: plan.columns,
      incremental: plan.incremental,
    });
  }

  /**
   * Waits for an import. With an intent written, a failed import drops it at once; an interrupted
   * or timed-out wait leaves it for the next run to settle against the job.
   */
  async #waitImport(
    started: StorageJob,
    tableId: string,
    pending?: PendingImport,
  ): Promise<StorageJob> {
    try {
      return await this.#wait(started);
    } catch (error) {
      if (pending && error instanceof JobFailedError) {
        await this.#records.dropIntentQuietly(tableId, pending);
      }
      throw explainRejectedImport(error, tableId);
    }
  }

  #wait(job: StorageJob): Promise<StorageJob> {
    return this.#deps.client.waitForJob(job, { signal: this.#deps.signal });
  }

  /**
   * Checks write permission once per bucket, creating the bucket when allowed.
   * @returns the bucket's backend (an existing bucket's own, else the project's default), if known
   */
  #ensureBucket(bucketId: string): Promise<string | undefined> {
    let check = this.#checkedBuckets.get(bucketId);
    if (!check) {
      check = this.#checkBucket(bucketId);
      this.#checkedBuckets.set(bucketId, check);
    }
    return check;
  }

  #destinationToken(): Promise<TokenInfo> {
    return this.#deps.client.verifyToken().catch((error: unknown) => {
      throw explainRejectedToken(error, 'destination', this.#deps.destination.url);
    });
  }

  async #checkBucket(bucketId: string): Promise<string | undefined> {
    const { client, logger } = this.#deps;
    const token = await this.#destinationToken();
    const { existing, auth } = await readBucketAccess(client, token, bucketId);
    if (auth.bucketToCreate) {
      const { stage, name } = auth.bucketToCreate;
      const created = await client.createBucket(stage, name);
      // A project that names new buckets differently than docs/storage-api-notes.md says: the
      // tables must not go to a bucket the configuration does not name.
      if (created.id !== bucketId) {
        throw new UserError(
          `The destination bucket "${bucketId}" could not be created under that id: the destination project created "${created.id}" instead; use that bucket id, or create the bucket "${bucketId}" first.`,
        );
      }
      logger.info(`Created the destination bucket "${bucketId}" in project "${auth.projectName}".`);
      return created.backend ?? token.owner.defaultBackend;
    }
    logger.info(
      `Destination project "${auth.projectName}" (${auth.projectId}), bucket "${bucketId}", write access.`,
    );
    return existing?.backend ?? token.owner.defaultBackend;
  }
}

/**
 * Columns whose metadata one write carries. Keboola's own project restore writes at most 50 per
 * request, to stay within the message size limits of the stack's queue; a wide table's metadata
 * in one request can be hundreds of kilobytes (docs/storage-api-notes.md, Table metadata).
 */
export const COLUMNS_PER_METADATA_WRITE = 50;

/**
 * One provider's copied metadata as writes of at most {@link COLUMNS_PER_METADATA_WRITE} columns
 * each; the table's own items go with the first (pure).
 */
export function metadataWrites(
  provider: string,
  group: {
    readonly table: MetadataWrite['metadata'];
    readonly columns: Readonly<Record<string, MetadataWrite['metadata']>>;
  },
  columnsPerWrite = COLUMNS_PER_METADATA_WRITE,
): MetadataWrite[] {
  const columns = Object.entries(group.columns);
  const writes: MetadataWrite[] = [];
  for (let start = 0; start === 0 || start < columns.length; start += columnsPerWrite) {
    const chunk = columns.slice(start, start + columnsPerWrite);
    writes.push({
      provider,
      metadata: start === 0 ? group.table : [],
      columnsMetadata: Object.fromEntries(chunk),
    });
  }
  return writes;
}

/** `source → destination` when both backends are known and differ, else undefined. */
export function otherBackend(
  sourceBackend: string | undefined,
  destinationBackend: string | undefined,
): string | undefined {
  if (!sourceBackend || !destinationBackend || sourceBackend === destinationBackend)
    return undefined;
  return `${sourceBackend} → ${destinationBackend}`;
}

/**
 * The columns of a typed table to create, in export order: the source's native definitions, or
 * only their base types when the destination has another backend (its native type names differ:
 * docs/storage-api-notes.md, Typed tables across backends). A column without a definition is a
 * `STRING`. A primary-key column is never sent as nullable, which the API refuses; without a
 * native definition the API makes it not nullable itself (docs/storage-api-notes.md, Creating a
 * table and loading a file).
 */
export function typedColumns(
  columns: readonly string[],
  definition: TableDefinition,
  baseTypesOnly: boolean,
  primaryKey: readonly string[],
): ColumnDefinition[] {
  return columns.map((column) => {
    const source = definition.columns.find((c) => c.name === column);
    if (!source) return { name: column, basetype: 'STRING' };
    if (baseTypesOnly) return { name: column, basetype: source.basetype ?? 'STRING' };
    if (!source.definition) return source;
    const { length, default: defaultValue, ...sent } = source.definition;
    return {
      ...source,
      // The API describes `length` and `default` as optional strings: a null one is left out.
      definition: {
        ...sent,
        ...(length != null && { length }),
        ...(defaultValue != null && { default: defaultValue }),
        ...(primaryKey.includes(column) && { nullable: false }),
      },
    };
  });
}

/**
 * The destination bucket as the token sees it, and what the token may do there: write to it, or
 * create it. A limited token gets 403 for a bucket it has no permission to, so only a visible
 * bucket is looked up.
 * @throws UserError naming the bucket and the missing permission
 */
export async function readBucketAccess(
  client: StorageClient,
  token: TokenInfo,
  bucketId: string,
): Promise<{ existing: BucketDetail | null; auth: DestinationAuthorization }> {
  const existing = canSeeDestinationBucket(token, bucketId)
    ? await client.findBucket(bucketId)
    : null;
  return { existing, auth: checkDestinationToken(token, bucketId, existing !== null) };
}

/**
 * Why the table would be copied onto itself (the destination project is the source project, on
 * the same stack, and the destination table is the source table), or undefined. Such a run would
 * replace or append the source table with its own export and write the sync record onto it.
 */
export function selfCopyRefusal(
  plan: TablePlan,
  source: SourceProject,
  destination: DestinationConfig,
  destinationProjectId: number,
): string | undefined {
  const host = (url: string) => new URL(url).host.toLowerCase();
  const sameProject =
    host(source.stack) === host(destination.url) && source.projectId === destinationProjectId;
  if (!sameProject || destinationTableId(plan, destination) !== plan.sourceId) return undefined;
  return `The table "${plan.sourceId}" would be copied onto itself: the destination token belongs to the source project (${source.projectId}) and the destination table is the source table; set "destination.bucket" (or the table's "destination") to another bucket.`;
}

/** The destination table id: a configured full id, or the short name in the destination bucket. */
export function destinationTableId(plan: TablePlan, destination: DestinationConfig): string {
  return plan.destinationId ?? `${destination.bucket}.${plan.destinationName}`;
}

/** The Storage error code of a failed job or request, if any. */
function errorCode(error: unknown): string | undefined {
  if (error instanceof JobFailedError) return error.code;
  if (error instanceof StorageApiError) return error.details.code;
  return undefined;
}

/** Slice names of the upload, by manifest position. */
function uploadSliceName(index: number): string {
  return `.part-${String(index).padStart(5, '0')}.gz`;
}

/**
 * An existing destination table must have the configured primary key, and every one of its
 * columns must be in the export: an import fails on table columns missing from the file
 * (docs/storage-api-notes.md, Creating a table and loading a file). Extra exported columns are fine (added to untyped tables).
 * @throws UserError showing both keys, or naming the missing columns
 */
export function checkExistingTable(plan: TablePlan, existing: TableDetail): void {
  checkPrimaryKey(plan, existing);
  const missing = existing.columns.filter((c) => !plan.columns.includes(c));
  if (missing.length > 0) {
    // Only columns the source still has can be added to `columns`; others were dropped there.
    const inSource = missing.filter((c) => plan.source.columns.includes(c));
    const fix =
      inSource.length === missing.length
        ? "add them to the table's columns, or drop them from the destination table"
        : `${missing.length === 1 ? 'it is' : 'some are'} no longer in the source table: drop ${missing.length === 1 ? 'it' : 'them'} from the destination table, or copy into another one`;
    throw new UserError(
      `The destination table "${existing.id}" has the columns ${missing.map((c) => `"${c}"`).join(', ')} that the export of "${plan.sourceId}" does not contain (it exports ${plan.columns.join(', ')}): ${fix}.`,
    );
  }
  // An import adds the file's new columns to an untyped table only; a typed one refuses the
  // load, after the whole export was copied (docs/storage-api-notes.md, Creating a table and
  // loading a file), so this is said before any export.
  const extra = existing.isTyped ? plan.columns.filter((c) => !existing.columns.includes(c)) : [];
  if (extra.length > 0) {
    throw new UserError(
      `The typed destination table "${existing.id}" has no columns ${extra.map((c) => `"${c}"`).join(', ')}, which the export of "${plan.sourceId}" contains, and an import adds no columns to a typed table: add them to the destination table, or leave them out with the table's "columns".`,
    );
  }
}

/**
 * The columns a window from a watermark adds to an untyped destination table that holds rows
 * already (`columns` widened, or a column added at the source): the import adds them empty to
 * every row, and a row keeps them empty until it changes at the source (an append: for good).
 * Undefined when nothing is added, the table is typed (refused above) or empty, or the load
 * replaces the table anyway (docs/standalone.md).
 */
export function newColumnsWarning(plan: TablePlan, existing: TableDetail): string | undefined {
  if (existing.isTyped || plan.mode === 'full' || plan.changedSince?.kind !== 'lastRun') {
    return undefined;
  }
  const rows = existing.rowsCount ?? 0;
  const added = plan.columns.filter((c) => !existing.columns.includes(c));
  if (rows === 0 || added.length === 0) return undefined;
  // An upsert rewrites a row when it changes at the source; an append never rewrites one.
  const until = plan.mode === 'append' ? 'for good' : 'until they change at the source';
  return `The destination table "${existing.id}" gets the new column(s) ${added.map((c) => `"${c}"`).join(', ')}: its ${rows} row(s) copied before keep them empty ${until}; run "${plan.sourceId}" with --full-refresh to fill them.`;
}

function checkPrimaryKey(plan: TablePlan, existing: TableDetail): void {
  const configured = [...plan.primaryKey].sort().join(',');
  const actual = [...existing.primaryKey].sort().join(',');
  if (configured === actual) return;
  const has = `The destination table "${existing.id}" has the primary key [${existing.primaryKey.join(', ')}]`;
  // A key taken from the source changed there, which no configured primaryKey mends.
  if (plan.keyFrom === 'source' || plan.keyFrom === 'fullSync') {
    const setting = plan.keyFrom === 'source' ? 'primaryKey "source"' : 'fullSync';
    throw new UserError(
      `${has} but the source table "${plan.sourceId}" now has [${plan.primaryKey.join(', ')}] (${setting} takes its key): give the source table its key again, or drop the destination table to copy it anew with the new key.`,
    );
  }
  throw new UserError(
    `${has} but the configuration asks for [${plan.primaryKey.join(', ')}]: change the configured primaryKey or the destination table's key.`,
  );
}

/**
 * An import job that failed with a `csvImport.*` code was refused because of the data or the
 * table's schema (columns that do not match, a bad primary key): the user fixes the configuration
 * or the destination table (exit 1). Other job errors stay as they are (exit 2).
 */
export function explainRejectedImport(error: unknown, tableId: string): unknown {
  if (!(error instanceof JobFailedError) || !error.code?.startsWith('csvImport.')) return error;
  return new UserError(
    `The destination table "${tableId}" refused the import (${error.code}): ${error.message}`,
  );
}

/**
 * Sanity checks on the import job's results (docs/storage-api-notes.md, Creating a table and loading a file).
 * @throws StorageResponseError when the results contradict the load (the service's fault, exit 2)
 */
function checkImport(
  plan: TablePlan,
  tableId: string,
  job: StorageJob,
  exportedRows: number,
): void {
  const results = job.results ?? {};
  const imported = Array.isArray(results.importedColumns)
    ? (results.importedColumns as unknown[])
    : [];
  const missing = plan.columns.filter((c) => !imported.includes(c));
  if (imported.length > 0 && missing.length > 0) {
    throw new StorageResponseError(
      `Import job ${job.id} into "${tableId}" did not import the columns ${missing.join(', ')}.`,
    );
  }
  const total = typeof results.totalRowsCount === 'number' ? results.totalRowsCount : undefined;
  if (total === undefined) return;
  const tooFew = plan.mode === 'full' && plan.primaryKey.length === 0 && total !== exportedRows;
  const tooMany = plan.mode === 'full' && total > exportedRows;
  if (tooFew || tooMany) {
    throw new StorageResponseError(
      `Import job ${job.id} into "${tableId}" reports ${total} rows after a full load of ${exportedRows} exported rows.`,
    );
  }
}
