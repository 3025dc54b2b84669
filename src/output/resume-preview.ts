import { UserError } from '../errors.js';
import type { TablePlan } from '../plan/plan-tables.js';
import type { TableState } from '../state/cursor.js';
import {
  destinationTableFound,
  stateFromRecord,
  type Claim,
  type PendingImport,
  type SourceIdentity,
} from '../state/sync-record.js';
import { bucketIdOf } from '../storage/parse.js';
import type { StorageClient, TokenInfo } from '../storage/types.js';
import type { DestinationConfig } from '../config/types.js';
import { checkedSync } from './destination-sync.js';
import {
  checkExistingTable,
  destinationTableId,
  readBucketAccess,
  selfCopyRefusal,
} from './project-writer.js';

/** What a standalone run would resume a table from, as read without writing anything. */
export interface ResumePreview {
  readonly tableId: string;
  readonly tableExists: boolean;
  /** It exists with no rows, no sync record and no pending import: a run copies it in full. */
  readonly emptyWithoutRecord?: boolean;
  /** The destination's committed sync record, as state. */
  readonly committed?: TableState;
  /** An import an earlier run left pending: a run settles it before anything else. */
  readonly pending?: PendingImport;
  /** Claims of runs on the table (docs/sync-record.md, Claims): a run skips it while one holds. */
  readonly claims: readonly Claim[];
  /** Why a run would fail the table (a foreign or unreadable record, another key or columns). */
  readonly refusal?: string;
  /** The refusal stops a run before any table is copied (a bucket or a copy onto itself). */
  readonly stopsRun?: boolean;
}

/**
 * The read-only half of `ProjectWriter.resume` for the `plan` action (docs/standalone.md): reads
 * the destination table and its sync record and runs the same checks, but creates no bucket and
 * leaves a pending import as it is (a run settles it: docs/sync-record.md).
 */
export async function previewResume(
  client: StorageClient,
  destination: DestinationConfig,
  plan: TablePlan,
  source: SourceIdentity,
  access: DestinationAccess,
): Promise<ResumePreview> {
  const tableId = destinationTableId(plan, destination);
  const refusal =
    (await access.bucketRefusal(bucketIdOf(tableId))) ??
    selfCopyRefusal(plan, source, destination, access.projectId);
  if (refusal !== undefined) {
    return { tableId, tableExists: false, refusal, stopsRun: true, claims: [] };
  }
  const table = await client.findTable(tableId);
  if (!table) return { tableId, tableExists: false, claims: [] };
  try {
    const sync = checkedSync(tableId, table, source);
    checkExistingTable(plan, table);
    return {
      tableId,
      ...destinationTableFound(table, sync),
      ...(sync.record && { committed: stateFromRecord(sync.record) }),
      ...(sync.pending && { pending: sync.pending }),
      claims: sync.claims,
    };
  } catch (error) {
    if (error instanceof UserError) {
      return { tableId, tableExists: true, refusal: error.message, claims: [] };
    }
    throw error;
  }
}

/** What the destination token may do, asked once per plan. */
export interface DestinationAccess {
  /** The destination token's project. */
  readonly projectId: number;
  /** Why a run would refuse to write to the bucket (`prepare` of a run), or undefined. */
  readonly bucketRefusal: (bucketId: string) => Promise<string | undefined>;
}

/** The destination token's access, each bucket checked once, as a run's `prepare` checks it. */
export function destinationAccess(client: StorageClient, token: TokenInfo): DestinationAccess {
  const checked = new Map<string, Promise<string | undefined>>();
  const check = async (bucketId: string) => {
    try {
      await readBucketAccess(client, token, bucketId);
      return undefined;
    } catch (error) {
      if (error instanceof UserError) return error.message;
      throw error;
    }
  };
  return {
    projectId: token.owner.id,
    bucketRefusal: (bucketId) => {
      let refusal = checked.get(bucketId);
      if (!refusal) {
        refusal = check(bucketId);
        checked.set(bucketId, refusal);
      }
      return refusal;
    },
  };
}
