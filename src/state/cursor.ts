import type { ChangedSince, LoadMode } from '../config/types.js';
import { UserError } from '../errors.js';

/** One table's entry in out/state.json, keyed by source table id (docs/standalone.md, Incremental windows). */
export interface TableState {
  /** Upper bound (unix seconds, Storage server clock) of the last successful `lastRun` export. */
  readonly watermark?: number;
  /** The same instant, readable. */
  readonly watermarkIso?: string;
  /** When the table last finished successfully (server clock, ISO). */
  readonly lastSuccessAt?: string;
  readonly mode?: string;
  readonly rows?: number;
  /**
   * The last run replaced the destination with a window without an upper bound (a full load):
   * the rows changed in the lag before the watermark may already be in it, so the next `lastRun`
   * append loads the table in full once more instead ({@link refreshAfterOpenEndedLoad};
   * docs/state-file.md, After a full load). Absent otherwise and in entries of older versions.
   */
  readonly openEnded?: true;
  /**
   * The destination the watermark was made for: its table id, or `out/tables/<name>.csv` for a
   * short name in platform mode when the default bucket is unknown (docs/state-file.md, Shape).
   * Absent in entries of older versions.
   */
  readonly destination?: string;
  /**
   * When the source table the watermark was made from was created (unix seconds, its `created`):
   * a table created again since does not go on from it (docs/state-file.md, A re-created source
   * table). Absent in entries of older versions and when the answer had no readable `created`.
   */
  readonly sourceCreated?: number;
}

/**
 * The latest instant the state file and the sync record take: 9999-12-31T23:59:59Z in unix
 * seconds. A larger number is not a date in seconds; from 1e11 up it is most likely milliseconds
 * (1.7e12 is the year 2023 in ms).
 */
export const MAX_UNIX_SECONDS = 253_402_300_799;

/** The export window in unix seconds: `[since, until)`, either bound optional. */
export interface ExportWindow {
  readonly since?: number;
  readonly until?: number;
  /** What to save as the watermark once the table is fully written or imported. */
  readonly nextWatermark?: number;
}

/**
 * Decides the export window (pure).
 * - `lastRun`: from the saved watermark (none → everything) up to `serverNowSeconds − lagSeconds`
 *   (never before the watermark), which becomes the next watermark. The same instant bounds this
 *   export and starts the next, so a row is read by exactly one of the two runs. The lag leaves
 *   the newest seconds to the next run: Storage stamps a load's rows with the time the load
 *   started, and they become visible only when it commits, so a row stamped just before "now" may
 *   not be exportable yet (docs/standalone.md, Incremental windows; docs/storage-api-notes.md,
 *   Exporting a table).
 * - a fixed or relative `changedSince`: from that instant, unbounded, no watermark.
 * - `--full-refresh`: no lower bound; a `lastRun` table still gets its next watermark.
 * - A `lastRun` window whose load replaces the destination table (a full load, or the
 *   `--full-refresh` of an upsert table) has no upper bound either: a bound would leave the
 *   destination without the rows changed in the lag until the next run, and the next window
 *   reading them again is harmless there (a full load replaces, an upsert keys them). A table
 *   whose runs append keeps the bound, also on a refresh: a row read twice would land twice.
 *
 * A window never starts after the server's now: a saved watermark later than it (see
 * {@link refuseWatermarkAhead}) stops the run, and so does a fixed `changedSince` later than it,
 * which would export nothing (and a full load would empty the destination table).
 * @throws UserError naming the table, the watermark or changedSince, and the server's time
 */
export function exportWindow(input: {
  readonly changedSince: ChangedSince | undefined;
  readonly fullRefresh: boolean;
  readonly previous: TableState | undefined;
  readonly serverNowSeconds: number;
  /** How far behind the server's now a `lastRun` window ends (`parameters.lagSeconds`). */
  readonly lagSeconds: number;
  /** How this window is loaded into the destination (the plan's `mode`). */
  readonly mode: LoadMode;
  /** How the runs without `--full-refresh` load it (the plan's `configuredMode`). */
  readonly configuredMode: LoadMode;
  /** Resolves absolute and relative forms to unix seconds at the server's now. */
  readonly resolve: (changedSince: ChangedSince, nowMs: number) => number;
  /** Names the table in errors. */
  readonly tableId?: string;
}): ExportWindow {
  const { changedSince, fullRefresh, previous, serverNowSeconds } = input;
  if (changedSince?.kind === 'lastRun') {
    const since = fullRefresh ? undefined : previous?.watermark;
    refuseWatermarkAhead(since, serverNowSeconds, input.tableId);
    // A lag raised since the last run would end the window before it starts: it stays empty.
    const until = Math.max(serverNowSeconds - input.lagSeconds, since ?? -Infinity);
    const openEnded = replacesWithoutAppending(input);
    return {
      ...(since !== undefined ? { since } : {}),
      ...(openEnded ? {} : { until }),
      nextWatermark: until,
    };
  }
  if (!changedSince || fullRefresh) return {};
  const since = input.resolve(changedSince, serverNowSeconds * 1000);
  if (since > serverNowSeconds) {
    throw new UserError(
      `The changedSince of "${input.tableId ?? 'the table'}" is ${since} (${isoOf(since)}), later than the Storage server's time ${serverNowSeconds} (${isoOf(serverNowSeconds)}): nothing would be exported; set a changedSince in the past.`,
    );
  }
  return { since };
}

/**
 * Whether a `lastRun` window's load replaces the destination table and the table's other runs do
 * not append: its window then has no upper bound (see {@link exportWindow}).
 */
export function replacesWithoutAppending(load: {
  readonly mode: LoadMode;
  readonly configuredMode: LoadMode;
}): boolean {
  return load.mode === 'full' && load.configuredMode !== 'append';
}

/**
 * A saved watermark later than the server's clock (a hand-edited value, milliseconds instead of
 * seconds, a server clock that went back) would give an empty export and then move the watermark
 * backwards, or skip the table as unchanged until that time: it stops the run instead.
 * @throws UserError naming the table, the watermark and the server's time
 */
export function refuseWatermarkAhead(
  watermark: number | undefined,
  serverNowSeconds: number,
  tableId: string | undefined,
): void {
  if (watermark === undefined || watermark <= serverNowSeconds) return;
  throw new UserError(
    `The watermark of "${tableId ?? 'the table'}" is ${watermark} (${isoOf(watermark)}), later than the Storage server's time ${serverNowSeconds} (${isoOf(serverNowSeconds)}): nothing was exported; fix the watermark (unix seconds) or run the table with --full-refresh.`,
  );
}

/**
 * Whether a written window left the destination holding every row read at the export's instant
 * rather than up to a bound: a load that replaced it (`full`) without an upper bound.
 */
export function replacedOpenEnded(
  mode: string,
  window: { readonly until?: number | undefined },
): boolean {
  return mode === 'full' && window.until === undefined;
}

/**
 * After an open-ended full load the watermark is no exact boundary for appending: the rows changed
 * in the lag before it were written if they were visible at the export's instant, and are not
 * otherwise, and the export cannot tell which. A window that starts at it could append some of
 * them twice, one that starts at the export's instant could miss the others. So the first
 * `lastRun` append after one (a switch from a full load to append, or another configuration's
 * full load of the same destination table in standalone mode) is a refresh: a full load bounded
 * as every append window is, whose end is an exact watermark (docs/state-file.md, After a full
 * load). The destination held a full copy already, so replacing it loses nothing of the source.
 * Returns the plan to run instead, or undefined when the plan stands.
 */
export function refreshAfterOpenEndedLoad<
  P extends {
    readonly changedSince: ChangedSince | undefined;
    readonly mode: LoadMode;
    readonly configuredMode: LoadMode;
    readonly incremental: boolean;
    readonly fullRefresh: boolean;
  },
>(plan: P, previous: TableState | undefined): P | undefined {
  if (plan.changedSince?.kind !== 'lastRun' || plan.fullRefresh) return undefined;
  if (plan.mode !== 'append' || previous?.openEnded !== true) return undefined;
  return { ...plan, mode: 'full', incremental: false, fullRefresh: true };
}

/**
 * The watermark after a window was written, in the state file and in the sync record alike: the
 * old one when the window made none; the window's end after a full copy (no `since`), which
 * wrote every row up to it, even when earlier than the old one (a refresh bounded by a lag raised
 * since); else the later of the two, never moving backwards after an incremental window.
 */
export function advancedWatermark(
  old: number | undefined,
  next: number | undefined,
  since: number | undefined,
): number | undefined {
  if (next === undefined) return old;
  if (old === undefined || since === undefined) return next;
  return Math.max(old, next);
}

function isoOf(unixSeconds: number): string {
  const date = new Date(unixSeconds * 1000);
  return Number.isNaN(date.getTime()) ? 'not a date' : date.toISOString();
}

/**
 * The state entry after a successful table. Keeps the old watermark when this run made none, and
 * never moves it backwards after an incremental window (only a full copy, which read every row,
 * may set an earlier one).
 */
export function nextTableState(
  previous: TableState | undefined,
  result: {
    readonly window: ExportWindow;
    readonly finishedAtIso: string;
    readonly mode: string;
    readonly rows: number;
    readonly destination: string;
    /** The source table's `created` in unix seconds, when readable. */
    readonly sourceCreated?: number | undefined;
  },
): TableState {
  const { window } = result;
  const watermark = advancedWatermark(previous?.watermark, window.nextWatermark, window.since);
  // The destination the watermark was made for: a window that made none and copied only part of
  // the table (a fixed changedSince) changes neither. One without a start copied every row, so the
  // destination it went to holds them all: the watermark is as good for it.
  const keepsOldDestination = keepsOldWatermark(window, previous?.watermark);
  const destination = keepsOldDestination ? previous?.destination : result.destination;
  // The same for the source table the watermark was made from; an answer without a readable
  // `created` keeps the one known, so that a later re-creation is still noticed.
  const sourceCreated = keepsOldDestination
    ? previous?.sourceCreated
    : (result.sourceCreated ?? previous?.sourceCreated);
  return {
    ...(watermark !== undefined
      ? { watermark, watermarkIso: new Date(watermark * 1000).toISOString() }
      : {}),
    lastSuccessAt: result.finishedAtIso,
    mode: result.mode,
    rows: result.rows,
    ...(replacedOpenEnded(result.mode, window) ? { openEnded: true as const } : {}),
    ...(destination !== undefined ? { destination } : {}),
    ...(sourceCreated !== undefined ? { sourceCreated } : {}),
  };
}

/**
 * Whether a written window leaves the old watermark describing the destination: it made none and
 * copied only part of the table (a fixed `changedSince` after a `lastRun` watermark). A window
 * without a start copied every row, so what it read is as good as the watermark.
 */
export function keepsOldWatermark(
  window: { readonly since?: number | undefined; readonly nextWatermark?: number | undefined },
  previousWatermark: number | undefined,
): boolean {
  return (
    window.nextWatermark === undefined &&
    window.since !== undefined &&
    previousWatermark !== undefined
  );
}
