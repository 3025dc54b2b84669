/**
 * Whether a table's saved watermark still describes its source table (pure; docs/state-file.md,
 * A re-created source table). A watermark says which rows of one source table the destination
 * has. A table dropped and created again under the same id is another table: its rows may carry
 * `_timestamp` values from before the watermark (a restore, a load with timestamps from the data
 * file), which a window starting at the watermark never reads, and the ones it does read are
 * not the rows appended before. So a `lastRun` table whose source `created` differs from the one
 * its entry was made from does not go on from the entry: an upsert or full load copies every row
 * again (the key or the replace makes that right), an append is refused, naming `--full-refresh`.
 * The same holds for a table whose key came from the source (`primaryKey: "source"`) and is gone:
 * its copy was upserted by that key, and appending from now on would land each changed row
 * again.
 */
import type { ChangedSince, LoadMode } from '../config/types.js';
import { MAX_UNIX_SECONDS, type TableState } from './cursor.js';
import { parseStorageTimestampSeconds } from './unchanged.js';

/** What the check reads of a planned table. */
export interface IncarnationTable {
  readonly sourceId: string;
  readonly changedSince: ChangedSince | undefined;
  readonly fullRefresh: boolean;
  readonly configuredMode: LoadMode;
  /** `source`: the primary key is the source table's own (`primaryKey: "source"`). */
  readonly keyFrom?: string | undefined;
  readonly source: { readonly created?: string | null | undefined };
}

/** The entry to go on from, with what to log; or why the table is not copied (exit 1). */
export type IncarnationCheck =
  | { readonly previous: TableState | undefined; readonly warnings: readonly string[] }
  | { readonly refusal: string };

/**
 * The source table's `created` in unix seconds; undefined when missing, unreadable, or outside
 * what the state file and the sync record take (before 1970: a negative number would make the
 * job write what it cannot read back).
 */
export function createdSecondsOf(table: Pick<IncarnationTable, 'source'>): number | undefined {
  const seconds = parseStorageTimestampSeconds(table.source.created);
  return seconds !== undefined && seconds >= 0 && seconds <= MAX_UNIX_SECONDS ? seconds : undefined;
}

/**
 * The entry `previous` checked against the source table as planned now. Only a `lastRun` table
 * that goes on from a watermark is judged (another `changedSince`, `--full-refresh` or no
 * watermark reads the rows it needs anyway); an entry without `sourceCreated` (older versions)
 * or a table without a readable `created` is taken as it is.
 */
export function checkIncarnation(
  table: IncarnationTable,
  previous: TableState | undefined,
): IncarnationCheck {
  if (table.changedSince?.kind !== 'lastRun' || table.fullRefresh)
    return { previous, warnings: [] };
  if (previous?.watermark === undefined) return { previous, warnings: [] };
  const keyLost =
    table.keyFrom === 'source' && previous.mode === 'upsert' && table.configuredMode === 'append';
  if (keyLost) {
    return {
      refusal: `The source table "${table.sourceId}" no longer has a primary key, and its copy was upserted by that key until now (primaryKey "source"): appending from now on would copy each changed row again, so nothing was copied; give the table its primary key again, or set primaryKey in the configuration and run it with --full-refresh "${table.sourceId}" (in Keboola, where a run takes no flags: with "incremental": false once).`,
    };
  }
  const now = createdSecondsOf(table);
  const was = previous.sourceCreated;
  if (now === undefined || was === undefined || now === was) return { previous, warnings: [] };
  const what = `The source table "${table.sourceId}" was created again since its last run (created ${isoOf(now)}, the one copied before ${isoOf(was)})`;
  if (table.configuredMode === 'append') {
    return {
      refusal: `${what}: its rows cannot be told apart from the rows appended before, so nothing was copied; run it with --full-refresh "${table.sourceId}" to replace the destination with a full copy (in Keboola, where a run takes no flags: with "incremental": false once).`,
    };
  }
  return {
    previous: undefined,
    warnings: [`${what}: its watermark is not used, so every row is copied.`],
  };
}

function isoOf(seconds: number): string {
  return new Date(seconds * 1000).toISOString();
}
