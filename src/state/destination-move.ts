import type { ChangedSince, LoadMode } from '../config/types.js';
import type { TableState } from './cursor.js';

/** What the rule reads of a planned table. */
export interface MovingTable {
  readonly sourceId: string;
  readonly changedSince: ChangedSince | undefined;
  readonly fullRefresh: boolean;
  readonly mode: LoadMode;
}

/**
 * The destination a `lastRun` table's saved watermark was made for, when the table now goes
 * elsewhere (pure). Undefined when nothing moved, when the entry predates the field, or when the
 * window does not start at the watermark anyway (another `changedSince`, `--full-refresh`).
 */
export function movedDestinationOf(
  entry: TableState | undefined,
  destination: string,
  table: Pick<MovingTable, 'changedSince' | 'fullRefresh'>,
): string | undefined {
  if (table.changedSince?.kind !== 'lastRun' || table.fullRefresh) return undefined;
  if (entry?.watermark === undefined || entry.destination === undefined) return undefined;
  return entry.destination === destination ? undefined : entry.destination;
}

/**
 * The in/state.json entry a table may resume from, given where it goes now (pure;
 * docs/state-file.md, A moved destination). The entry of a `lastRun` table whose destination
 * moved since its watermark is not used: the watermark would leave the new destination without
 * the rows copied before, so every row is copied, in the configured load mode (a full load could
 * drop rows the destination kept). In platform mode, where the job cannot see the destination, an
 * append of a `lastRun` table without a watermark for it is announced too: a destination that
 * already holds rows of an earlier copy gets them again. (Standalone mode decides that from the
 * destination table's own sync record.)
 */
export function entryForDestination<E extends TableState>(
  table: MovingTable,
  entry: E | undefined,
  destination: string,
  platform: boolean,
): { readonly entry: E | undefined; readonly warnings: string[] } {
  const movedFrom = movedDestinationOf(entry, destination, table);
  // A kept entry after a full load makes this run a full load itself (refreshAfterOpenEndedLoad).
  const refreshes = movedFrom === undefined && entry?.openEnded === true;
  const appendsAll =
    platform &&
    table.changedSince?.kind === 'lastRun' &&
    table.mode === 'append' &&
    !refreshes &&
    (movedFrom !== undefined || entry?.watermark === undefined);
  const warnings = [
    ...(movedFrom === undefined
      ? []
      : [
          `The destination of "${table.sourceId}" moved since its last run (from ${movedFrom} to ${destination}): its watermark, made for ${movedFrom}, is not used, so every row is copied.`,
        ]),
    ...(appendsAll
      ? [
          `"${table.sourceId}" has no watermark for ${destination}, so this run appends every row to it: if that table already holds rows of an earlier copy (ex-storage, another configuration), they are appended again.`,
        ]
      : []),
  ];
  return { entry: movedFrom === undefined ? entry : undefined, warnings };
}
