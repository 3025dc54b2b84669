import * as z from 'zod';
import { UserError } from '../errors.js';
import {
  DAYLIGHT_SAVING_MS,
  earliestMs,
  latestMs,
  parseStorageTime,
  type StorageTime,
} from '../storage/parse.js';
import type { MetadataItem, StorageJob } from '../storage/types.js';
import { sourceFileIdOf } from '../storage/job-start.js';
import {
  advancedWatermark,
  keepsOldWatermark,
  replacedOpenEnded,
  type ExportWindow,
  type TableState,
} from './cursor.js';

/**
 * The destination table's own sync record (standalone mode, docs/sync-record.md): table metadata
 * of our provider holding who feeds the table and up to where, plus a write-ahead intent for the
 * import in flight. Pure: parsing, identity checks, the metadata items to write, and finding the
 * intent's import job in a jobs list.
 */

/** Our metadata provider; Storage upserts items per (provider, key). */
export const RECORD_PROVIDER = 'kbc-table-sync';
/** The committed record: source identity, watermark, mode, run id. */
export const RECORD_KEY = 'kbc-table-sync.record';
/** The pending import (write-ahead intent), or {@link NO_PENDING}. */
export const PENDING_KEY = 'kbc-table-sync.pending';
/** The intent value once the import is settled (committed or dropped). */
const NO_PENDING = 'none';

/**
 * Prefix of a run's claim on a table it is about to import into: one item per claim, so that two
 * runs never overwrite each other's (docs/sync-record.md, Claims).
 */
export const CLAIM_KEY_PREFIX = 'kbc-table-sync.claim.';
/**
 * How long a claim counts once written (server clock). A run sends its writes and its import under
 * a claim within a third of it ({@link CLAIM_WRITES_WITHIN_SHARE}), leaving two thirds for such a
 * request: its retry budget is 10 minutes and its last attempt at most 2 more (docs/limits.md).
 * An older claim is a dead run's, or one that gave up, and is deleted.
 */
export const CLAIM_LEASE_MS = 30 * 60_000;
export const CLAIM_WRITES_WITHIN_SHARE = 1 / 3;

/** The source project of a run: stack URL (as configured) and project id. */
export interface SourceProject {
  readonly stack: string;
  readonly projectId: number;
}

/**
 * Which source table feeds a destination table: stack URL, project id, table id; and when that
 * table was created (unix seconds), which tells a table dropped and created again under the same
 * id (docs/sync-record.md). Records of older versions have no `tableCreated`.
 */
export interface SourceIdentity extends SourceProject {
  readonly tableId: string;
  readonly tableCreated?: number | undefined;
}

/** What the destination table says about its sync. */
export interface DestinationSync {
  readonly record?: SyncRecord;
  readonly pending?: PendingImport;
  /** Server time the intent was written (its metadata `timestamp`; maybe without a zone). */
  readonly pendingWritten?: StorageTime;
  /**
   * The raw record and intent values: a run compares it just before its import to notice that
   * another run has committed or started an import meanwhile.
   */
  readonly revision: string;
  /** Claims of runs about to write the record or the intent (ours among them once written). */
  readonly claims: readonly Claim[];
}

/**
 * What a claim guards: `import` (intent, then `import-async`), `commit` (this run's record after
 * its import), `settle` (promoting or dropping another run's intent).
 */
const claimPurposeSchema = z.enum(['import', 'commit', 'settle']);
export type ClaimPurpose = z.infer<typeof claimPurposeSchema>;

/** A run's claim on the table, as read from the table's metadata. */
export interface Claim {
  readonly key: string;
  /** Absent when the value is not what this job writes: such a claim is never taken as done. */
  readonly purpose?: ClaimPurpose;
  /** The metadata item's id (needed to delete it). */
  readonly metadataId?: string;
  /** The claiming run; absent when the value is not what this job writes. */
  readonly runId?: string;
  /** Server time the claim was written (its metadata `timestamp`; maybe without a zone). */
  readonly written?: StorageTime;
}

/** Other runs' claims seen at one server time. */
export interface ClaimsSeen {
  /** Within the lease (or of unknown age): their runs may be about to write. */
  readonly live: readonly Claim[];
  /** Past the lease: their runs died or gave up before writing; to be deleted. */
  readonly stale: readonly Claim[];
}

const identitySchema = z.object({
  stack: z.string().min(1),
  projectId: z.number().int().nonnegative(),
  tableId: z.string().min(1),
  tableCreated: z.number().int().nonnegative().optional(),
});
const seconds = z.number().int().nonnegative();
/** The committed record. `watermark` (unix seconds, server clock) is absent unless `lastRun`. */
const recordSchema = z.object({
  source: identitySchema,
  watermark: seconds.optional(),
  mode: z.string(),
  runId: z.string(),
  fileId: z.number().int().optional(),
  importJobId: z.number().int().optional(),
  rows: z.number().int().nonnegative().optional(),
  /** The import replaced the table without an upper bound (TableState's `openEnded`). */
  openEnded: z.literal(true).optional(),
});
/**
 * An import about to start (or started): enough to find its job (file id, run id) and to promote
 * its window (`nextWatermark`) once it succeeded.
 */
const pendingSchema = z.object({
  source: identitySchema,
  fileId: z.number().int(),
  runId: z.string().min(1),
  mode: z.string(),
  rows: z.number().int().nonnegative(),
  since: seconds.optional(),
  until: seconds.optional(),
  nextWatermark: seconds.optional(),
  /**
   * The key of the import claim the intent was written under: once the intent's job is found,
   * that claim (and no other claim of the same run id) has done its work.
   */
  claimKey: z.string().min(1).optional(),
});

export type SyncRecord = z.infer<typeof recordSchema>;
export type PendingImport = z.infer<typeof pendingSchema>;

/**
 * Reads our items from a table's metadata.
 * @throws UserError when one of our items is not what this job writes (hand-edited or foreign)
 */
export function readDestinationSync(
  tableId: string,
  metadata: readonly MetadataItem[],
): DestinationSync {
  const ours = metadata.filter((m) => m.provider === RECORD_PROVIDER);
  const recordItem = ours.find((m) => m.key === RECORD_KEY);
  const pendingItem = ours.find((m) => m.key === PENDING_KEY);
  const revision = `${recordItem?.value ?? ''}|${pendingItem?.value ?? ''}`;
  const record = recordItem ? parseItem(tableId, recordItem, recordSchema) : undefined;
  const pending =
    pendingItem && pendingItem.value !== NO_PENDING
      ? parseItem(tableId, pendingItem, pendingSchema)
      : undefined;
  const written = parseStorageTime(pendingItem?.timestamp);
  return {
    ...(record && { record }),
    ...(pending && { pending }),
    ...(pending && written && { pendingWritten: written }),
    revision,
    claims: readClaims(ours),
  };
}

/** Our claims among a table's metadata items; never throws (a claim's age decides, not its value). */
export function readClaims(metadata: readonly MetadataItem[]): Claim[] {
  return metadata
    .filter((m) => m.provider === RECORD_PROVIDER && m.key.startsWith(CLAIM_KEY_PREFIX))
    .map(readClaim);
}

const claimSchema = z.object({
  runId: z.string().min(1),
  purpose: claimPurposeSchema.optional(),
});

/** A claim item; one that is not ours to read still counts (its age decides, never its value). */
function readClaim(item: MetadataItem): Claim {
  const parsed = claimSchema.safeParse(jsonOf(item.value));
  const written = parseStorageTime(item.timestamp);
  return {
    key: item.key,
    ...(item.id !== undefined && { metadataId: item.id }),
    ...(parsed.success && { runId: parsed.data.runId }),
    ...(parsed.success && parsed.data.purpose && { purpose: parsed.data.purpose }),
    ...(written && { written }),
  };
}

/** The metadata item of a claim by run `runId` under `key` (`CLAIM_KEY_PREFIX` + a fresh id). */
export function claimItems(
  key: string,
  runId: string,
  purpose: ClaimPurpose,
): { key: string; value: string }[] {
  return [{ key, value: JSON.stringify({ runId, purpose }) }];
}

/**
 * Sorts the claims other than `ownKey` by age at `now` (server clock): stale only when surely
 * older than the lease ({@link leastAgeMs}). A claim without a timestamp counts as live: guessing
 * it dead could let two runs import the same window.
 */
export function claimsOfOthers(
  claims: readonly Claim[],
  ownKey: string | undefined,
  now: StorageTime,
  leaseMs: number,
): ClaimsSeen {
  const others = claims.filter((c) => c.key !== ownKey);
  const isStale = (c: Claim) => c.written !== undefined && leastAgeMs(c.written, now) > leaseMs;
  return { live: others.filter((c) => !isStale(c)), stale: others.filter(isStale) };
}

/**
 * The least time that can have passed from `written` to `now` (negative: maybe none). Two
 * times without a zone are wall-clock times of one server in one zone: their difference, less a
 * daylight-saving change of that (unnamed) zone between the two ({@link DAYLIGHT_SAVING_MS}). A
 * time without a zone against one with a zone (a `Date` header) could be in any zone: 14 hours
 * either way.
 */
export function leastAgeMs(written: StorageTime, now: StorageTime): number {
  if (written.zoned === now.zoned) {
    return now.ms - written.ms - (written.zoned ? 0 : DAYLIGHT_SAVING_MS);
  }
  return earliestMs(now) - latestMs(written);
}

/** Jobs created this long before the intent was written are surely older than its import. */
const INTENT_CLOCK_MARGIN_MS = 5 * 60_000;

/**
 * Whether a job created at `createdTime` surely came before the intent written at `written`, so
 * that no older job can be the intent's import and the search may stop there. An intent without a
 * timestamp, or a job whose time cannot be read, never ends the search; a time without a zone is
 * taken at its earliest (intent) or latest (job) possible instant.
 */
export function createdSurelyBefore(
  createdTime: string,
  written: StorageTime | undefined,
): boolean {
  if (written === undefined) return false;
  const created = parseStorageTime(createdTime);
  if (created === undefined) return false;
  return latestMs(created) < earliestMs(written) - INTENT_CLOCK_MARGIN_MS;
}

function parseItem<T>(tableId: string, item: MetadataItem, schema: z.ZodType<T>): T {
  const parsed = schema.safeParse(jsonOf(item.value));
  if (!parsed.success) {
    throw new UserError(
      `The destination table "${tableId}" has a "${item.key}" metadata item of provider "${RECORD_PROVIDER}" that this job cannot read: remove that item (or the table) to start the table over with a full copy.`,
    );
  }
  return parsed.data;
}

/** A metadata value as JSON; undefined when it is not JSON (the schema then rejects it). */
function jsonOf(value: string): unknown {
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * A destination table fed by another source table, project or stack is never written.
 * @throws UserError naming both sources
 */
export function checkSameSource(
  tableId: string,
  sync: DestinationSync,
  ours: SourceIdentity,
): void {
  for (const theirs of [sync.record?.source, sync.pending?.source]) {
    if (theirs && !sameSource(theirs, ours)) {
      throw new UserError(
        `The destination table "${tableId}" is synced from ${describeSource(theirs)} (its "${RECORD_KEY}" metadata), not from ${describeSource(ours)}: refusing to write into it; pick another destination table, or drop that table to hand it over.`,
      );
    }
  }
}

function sameSource(a: SourceIdentity, b: SourceIdentity): boolean {
  return a.stack === b.stack && a.projectId === b.projectId && a.tableId === b.tableId;
}

function describeSource(source: SourceIdentity): string {
  return `"${source.tableId}" of project ${source.projectId} on ${source.stack}`;
}

/** The watermark entry a record stands for (what `in/state.json` would have said). */
export function stateFromRecord(record: SyncRecord): TableState {
  return {
    ...(record.watermark !== undefined && {
      watermark: record.watermark,
      watermarkIso: new Date(record.watermark * 1000).toISOString(),
    }),
    mode: record.mode,
    ...(record.rows !== undefined && { rows: record.rows }),
    ...(record.openEnded && { openEnded: true as const }),
    ...(record.source.tableCreated !== undefined && { sourceCreated: record.source.tableCreated }),
  };
}

/** The intent to write before `import-async`. */
export function pendingImport(input: {
  readonly source: SourceIdentity;
  readonly fileId: number;
  readonly runId: string;
  readonly mode: string;
  readonly rows: number;
  readonly window: ExportWindow;
}): PendingImport {
  const { window } = input;
  return {
    source: input.source,
    fileId: input.fileId,
    runId: input.runId,
    mode: input.mode,
    rows: input.rows,
    ...(window.since !== undefined && { since: window.since }),
    ...(window.until !== undefined && { until: window.until }),
    ...(window.nextWatermark !== undefined && { nextWatermark: window.nextWatermark }),
  };
}

/**
 * The record after the pending import succeeded: its window's end becomes the watermark, never
 * moving it backwards after an incremental window; without a new watermark the old one is kept.
 * A full copy (no `since`) replaced the destination with the rows up to its end, so its end is the
 * watermark even when earlier than the old one (a refresh of an append table, bounded by a lag
 * raised since): keeping the old one would skip the rows between (docs/sync-record.md, The watermark and
 * the server clock).
 */
export function promote(
  previous: SyncRecord | undefined,
  pending: PendingImport,
  importJobId: number,
): SyncRecord {
  const watermark = advancedWatermark(previous?.watermark, pending.nextWatermark, pending.since);
  // The source table the watermark describes (nextTableState does the same for in/state.json).
  const { tableCreated: created, ...source } = pending.source;
  const tableCreated = keepsOldWatermark(pending, previous?.watermark)
    ? previous?.source.tableCreated
    : (created ?? previous?.source.tableCreated);
  return {
    source: { ...source, ...(tableCreated !== undefined && { tableCreated }) },
    ...(watermark !== undefined && { watermark }),
    mode: pending.mode,
    runId: pending.runId,
    fileId: pending.fileId,
    importJobId,
    rows: pending.rows,
    ...(replacedOpenEnded(pending.mode, pending) && { openEnded: true as const }),
  };
}

/** Metadata items that write the committed record and settle the intent in one upsert. */
export function commitItems(record: SyncRecord): { key: string; value: string }[] {
  return [
    { key: RECORD_KEY, value: JSON.stringify(record) },
    { key: PENDING_KEY, value: NO_PENDING },
  ];
}

export function intentItems(pending: PendingImport): { key: string; value: string }[] {
  return [{ key: PENDING_KEY, value: JSON.stringify(pending) }];
}

export function dropIntentItems(): { key: string; value: string }[] {
  return [{ key: PENDING_KEY, value: NO_PENDING }];
}

/**
 * The import job of a pending import in a jobs list: Storage has no filter by run or table, so
 * it is matched here on the operation, the table, `operationParams.source.fileId` and `runId`.
 */
export function findImportJob(
  jobs: readonly StorageJob[],
  tableId: string,
  pending: PendingImport,
): StorageJob | undefined {
  return jobs.find(
    (job) =>
      job.operationName === 'tableImport' &&
      job.tableId === tableId &&
      job.runId === pending.runId &&
      sourceFileIdOf(job.operationParams) === pending.fileId,
  );
}

/** Where a standalone table goes on from, and whether that ignores a watermark in the state file. */
export interface ResumeFrom {
  readonly previous: TableState | undefined;
  /** `destination`: its sync record; `state`: in/state.json; null: nothing (a full window). */
  readonly from: 'destination' | 'state' | null;
  /** The destination table starts over, so in/state.json's watermark is not used. */
  readonly ignoresStateWatermark: boolean;
  /** Why the table is copied in full whatever in/state.json says: missing, or empty and unrecorded. */
  readonly startsOver?: 'missing' | 'empty';
}

/** Why a standalone table is copied in full, for the warning that in/state.json is ignored. */
export function startsOverReason(startsOver: 'missing' | 'empty' | undefined): string {
  return startsOver === 'empty' ? 'is empty and has no sync record' : 'does not exist';
}

/** What the destination table is, as far as resuming goes. */
export interface DestinationTableFound {
  readonly tableExists: boolean;
  /** It exists with no rows, no sync record and no pending import (`rowsCount` 0). */
  readonly emptyWithoutRecord?: boolean;
}

/** {@link DestinationTableFound} of a destination table as read (null: missing) and its sync. */
export function destinationTableFound(
  table: { readonly rowsCount: number | null } | null,
  sync: DestinationSync,
): DestinationTableFound {
  return {
    tableExists: table !== null,
    emptyWithoutRecord: table?.rowsCount === 0 && !sync.record && !sync.pending,
  };
}

/**
 * docs/sync-record.md, One table's sync, Open: a missing destination table is copied in full, and
 * so is an empty one without a sync record (a re-creation that was interrupted before its import:
 * in/state.json's watermark predates it, and going on from it would never copy the older rows;
 * into an empty table a full copy cannot repeat a row). Otherwise the committed record, or
 * in/state.json's entry for a table without one. A run and the `plan` preview decide through it.
 */
export function resumeFrom(
  found: DestinationTableFound,
  committed: TableState | undefined,
  fromState: TableState | undefined,
): ResumeFrom {
  const startsOver = !found.tableExists
    ? 'missing'
    : found.emptyWithoutRecord === true
      ? 'empty'
      : undefined;
  if (startsOver) {
    return {
      previous: undefined,
      from: null,
      ignoresStateWatermark: fromState?.watermark !== undefined,
      startsOver,
    };
  }
  const previous = committed ?? fromState;
  const from = committed ? 'destination' : previous ? 'state' : null;
  return { previous, from, ignoresStateWatermark: false };
}
