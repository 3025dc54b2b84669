import pLimit from 'p-limit';
import { authorizeSource } from './auth/authorize-source.js';
import type { SourceAuthorization } from './auth/check-token.js';
import type { ChangedSince, Config } from './config/types.js';
import {
  InterruptedError,
  TableSkippedError,
  UserError,
  exitCodeFor,
  messageOf,
  noteFailedTable,
} from './errors.js';
import { ObjectStoreError } from './objects/errors.js';
import { StorageNetworkError } from './storage/http.js';
import { StorageResponseError } from './storage/parse.js';
import { DEFAULT_LIMITS, type Limits } from './limits.js';
import type { Logger } from './logger.js';
import type { SliceSource } from './objects/types.js';
import type { OutputWriter, SyncContext, TableWriteResult } from './output/output-writer.js';
import {
  configuredTableCount,
  destinationLabel,
  destinationOfRecord,
  explainMissingTable,
  loadWarnings,
  planTables,
  type Selection,
  type TablePlan,
} from './plan/plan-tables.js';
import { formatShard } from './plan/shard.js';
import {
  exportWindow,
  nextTableState,
  refreshAfterOpenEndedLoad,
  refuseWatermarkAhead,
  replacesWithoutAppending,
  type ExportWindow,
  type TableState,
} from './state/cursor.js';
import { checkStateSource, readState, writeState, type JobState } from './state/state-file.js';
import { StateMirror } from './state/state-mirror.js';
import { entryForDestination } from './state/destination-move.js';
import { resumeFrom, startsOverReason, type SourceIdentity } from './state/sync-record.js';
import { checkIncarnation, createdSecondsOf } from './state/source-recreated.js';
import { decideSkip, skipInputOf } from './state/unchanged.js';
import type { FileDetail, StorageClient } from './storage/types.js';
import { DEFAULT_ATTEMPTS_PER_SLICE } from './transfer/copy-slices.js';
import { DEFAULT_INFLATE_THREADS, type OutputBufferLender } from './transfer/inflate-in-place.js';
import { TableProgress } from './transfer/progress.js';
import { createOutputBuffers } from './transfer/verify-gzip.js';
import type { ProgressView } from './progress/progress-bar.js';
import { startProgressReporter } from './progress/reporter.js';

/** Everything `runSync` needs, built by the composition root (main.ts). */
export interface RunDeps {
  readonly config: Config;
  readonly dataDir: string;
  readonly selection: Selection;
  readonly logger: Logger;
  /** Aborted on SIGTERM/SIGINT: nothing new is finished after that. */
  readonly signal: AbortSignal;
  readonly source: StorageClient;
  readonly writer: OutputWriter;
  readonly openSliceSource: (
    file: FileDetail,
    refetchFile: () => Promise<FileDetail>,
  ) => Promise<SliceSource>;
  readonly resolveChangedSince: (changedSince: ChangedSince, nowMs: number) => number;
  readonly nowMs: () => number;
  readonly tuning: Tuning;
  /** The interactive progress bar when stdout is a terminal. */
  readonly progressView?: ProgressView | undefined;
  /** Caps and rates (docs/limits.md); the defaults when absent. */
  readonly limits?: Limits | undefined;
  /** Filled as the run goes, so its result can be reported whatever the outcome (summary file). */
  readonly record?: RunRecord | undefined;
  /** The configuration row Keboola's runner runs (`KBC_CONFIGROWID`), for {@link rowAppendWarning}. */
  readonly configRowId?: string | undefined;
}

/** What the run got to before it ended: read after `runSync` returns or throws. */
export interface RunRecord {
  outcomes?: readonly TableOutcome[];
}

/** Concurrency and cadence; defaults chosen by the benchmark (README, Performance). */
export interface Tuning {
  readonly slicesPerTable: number;
  readonly slicesGlobal: number;
  readonly progressIntervalMs: number;
  /**
   * Skip `lastRun` tables unchanged since their watermark (on by default). Off only for the
   * benchmark's comparison run (`KBC_TABLE_SYNC_SKIP_UNCHANGED=0`).
   */
  readonly skipUnchanged: boolean;
  /**
   * libuv's thread pool size (`UV_THREADPOOL_SIZE`): at most that many slices inflate at once, so
   * as many output buffers are lent to the verifying gunzips (docs/performance.md).
   */
  readonly inflateThreads: number;
}

/**
 * Measured by `npm run bench` (docs/performance.md) on 2 cores with a modelled object store
 * (50 ms to first byte, 40 MB/s per connection): more slices in flight keep helping until every
 * slice of a typical table moves at once (1 GiB: 2 → 7.2 s, 4 → 5.6 s, 8 → 5.0 s in the first
 * run; 8 → 2.46 s, 16 → 2.13 s after the faster verification). The global bound keeps several
 * tables from running more slices than one table needs to keep the cores busy: four tables of
 * 0.5 GiB at once took as long with 16 in flight as with 32 and peaked 8 to 11 MB lower
 * (docs/performance.md, Memory).
 */
export const DEFAULT_TUNING: Tuning = {
  slicesPerTable: 16,
  slicesGlobal: 16,
  progressIntervalMs: 5_000,
  skipUnchanged: true,
  inflateThreads: DEFAULT_INFLATE_THREADS,
};

/**
 * Slices in flight in standalone mode, per table and across tables: half of platform mode's. A
 * standalone slice leaves more dead buffers and heap behind than one written to a file (the
 * cause is not found; its live buffers are as few). One 1 GiB table: 16 peaked at 102 to 104 MB
 * against 95 to 97 MB for 8; the transfer phase, in runs of 15 to 21 s that the destination's
 * import job dominates, took 3.1 to 3.4 s against 3.7 to 3.8 s in probe runs and no longer in
 * the benchmark. Four tables of 0.5 GiB: 98.7 to 101 MB across 16, 94 and 97 MB across 8, in runs
 * of the same length (docs/performance.md, Memory). `KBC_TABLE_SYNC_SLICES_PER_TABLE` and
 * `KBC_TABLE_SYNC_SLICES_GLOBAL` override them too.
 */
export const STANDALONE_SLICES_IN_FLIGHT = 8;

/**
 * `skipped`: not run because the run stopped first; `unchanged`: a `lastRun` table whose source
 * did not change since its watermark, so no export job was started and its state entry stays.
 */
type TableStatus = 'success' | 'unchanged' | 'failed' | 'skipped';

export interface TableOutcome {
  readonly plan: TablePlan;
  readonly status: TableStatus;
  readonly progress: TableProgress;
  /** The export window, once it was decided. */
  readonly window?: ExportWindow | undefined;
  readonly result?: TableWriteResult;
  readonly error?: unknown;
}

export interface RunReport {
  readonly outcomes: readonly TableOutcome[];
  /** The state that was written (or would have been). */
  readonly state: JobState;
}

/**
 * The `run` action: authorize, plan, export every selected table and hand it to the writer,
 * then write the state (docs/architecture.md, Pipeline).
 *
 * Platform mode stops at the first failed table (the platform imports nothing from a failed job).
 * Standalone mode isolates failures: the other tables finish and advance their watermarks.
 * @throws UserError for bad tokens, missing tables and columns (before any data moves);
 *   the first table error in platform mode; InterruptedError when aborted
 */
export async function runSync(deps: RunDeps): Promise<RunReport> {
  const { config, logger } = deps;
  const auth = await authorizeSource(deps.source, config, deps.nowMs(), logger);
  const plans = await planRun(deps, auth);
  const saved = await readState(deps.dataDir, (deps.limits ?? DEFAULT_LIMITS).maxStateBytes);
  const source = { stack: config.source.url, projectId: auth.projectId };
  checkStateSource(saved, source);
  // The state written by this run names its source project (docs/state-file.md).
  const previous: JobState = { ...saved, source };
  await deps.writer.prepare(plans, source);
  // Standalone: out/state.json mirrors each table as soon as its import is recorded.
  const mirror = config.destination ? new StateMirror(deps.dataDir, previous) : undefined;
  let serverSeconds: Promise<number> | undefined;
  const run: TableRun = {
    previous,
    mirror,
    source: { stack: config.source.url, auth },
    serverSecondsAtSkip: () =>
      (serverSeconds ??= deps.source.serverTimeMs().then((ms) => Math.floor(ms / 1000))),
  };
  let outcomes: TableOutcome[];
  try {
    outcomes = await runTables(plans, run, deps);
  } finally {
    await deps.writer.cleanup();
    await mirror?.settled();
  }
  const state = mergeState(previous, outcomes);
  const failed = outcomes.filter((o) => o.status === 'failed');
  if (failed.length === 0 || config.destination) {
    const leftovers = await writeState(deps.dataDir, state);
    if (leftovers.length > 0) {
      logger.warn(
        `Removed ${leftovers.length} leftover state file(s) of an interrupted run: ${leftovers.join(', ')}.`,
      );
    }
  }
  return { outcomes, state };
}

/** Resolves the configured tables against the bucket (every table must exist). */
async function planRun(
  deps: Pick<RunDeps, 'config' | 'source' | 'selection' | 'logger'>,
  auth: SourceAuthorization,
): Promise<TablePlan[]> {
  const bucketTables = await deps.source.listTables(auth.bucketId);
  const plans = planTables(deps.config, auth.bucketId, bucketTables, deps.selection, (warning) =>
    deps.logger.warn(warning),
  );
  if (plans.length === 0 && deps.selection.shard) {
    // With more shards than tables some shards are empty; that is no error (docs/scaling.md).
    deps.logger.info(`Shard ${formatShard(deps.selection.shard)} has none of the tables.`);
    return plans;
  }
  // Only disabled tables, or patterns that matched nothing (each already warned about): a run that
  // copies nothing, not an error, so a row switched off or an empty bucket does not fail the job.
  if (plans.length === 0) deps.logger.warn('No enabled table matched: nothing to copy.');
  for (const plan of plans) {
    const warnings = [...loadWarnings(plan), rowAppendWarning(plan, deps)].filter(
      (warning) => warning !== undefined,
    );
    for (const warning of warnings) deps.logger.warn(`"${plan.sourceId}": ${warning}`);
  }
  // Counted over the tables the items stand for (patterns expanded), not over the items.
  const skipped = configuredTableCount(deps.config, auth.bucketId, bucketTables) - plans.length;
  const why = deps.selection.shard
    ? 'not selected, disabled or in other shards'
    : 'not selected or disabled';
  deps.logger.info(
    `Copying ${plans.length} table(s)${shardNote(deps.selection)}${skipped > 0 ? `, ${skipped} ${why}` : ''}.`,
  );
  const lagSeconds = deps.config.lagSeconds;
  const lagged = (plan: TablePlan) =>
    plan.changedSince?.kind === 'lastRun' && !replacesWithoutAppending(plan);
  if (lagSeconds > 0 && plans.some(lagged)) {
    deps.logger.info(
      `lastRun windows end ${lagSeconds} s before the Storage server's time (lagSeconds): changes newer than that are copied by the next run.`,
    );
  }
  return plans.map((plan) => ({ ...plan, sourceBackend: auth.backend }));
}

/** ` of shard 2/3` in a shard's run, so its log says which share it copies; else nothing. */
function shardNote(selection: Selection): string {
  return selection.shard ? ` of shard ${formatShard(selection.shard)}` : '';
}

/** What every table of a run shares. */
interface TableRun {
  readonly previous: JobState;
  readonly mirror: StateMirror | undefined;
  readonly source: { readonly stack: string; readonly auth: SourceAuthorization };
  /** The Storage server's time, asked once per run, when a table is first about to be skipped. */
  readonly serverSecondsAtSkip: () => Promise<number>;
}

/** What the slices of all tables of a run share. */
interface SharedBySlices {
  /** Slices in flight across tables ({@link Tuning.slicesGlobal}). */
  readonly globalLimit: ReturnType<typeof pLimit>;
  /** The verifying gunzips' output buffers (src/transfer/inflate-in-place.ts). */
  readonly outputBuffers: OutputBufferLender;
}

async function runTables(
  plans: readonly TablePlan[],
  run: TableRun,
  deps: RunDeps,
): Promise<TableOutcome[]> {
  const standalone = deps.config.destination !== undefined;
  const tableLimit = pLimit(deps.config.parallelism);
  const shared: SharedBySlices = {
    globalLimit: pLimit(deps.tuning.slicesGlobal),
    outputBuffers: createOutputBuffers(deps.tuning.inflateThreads),
  };
  // Platform mode: the first failure stops the rest; standalone: every table runs on its own.
  const firstFailure = new AbortController();
  // The failure that stopped the others: theirs only say they were interrupted.
  let stoppingFailure: TableOutcome | undefined;
  const signal = AbortSignal.any([deps.signal, firstFailure.signal]);
  const progresses = plans.map(
    (p) => new TableProgress(p.sourceId, destinationLabel(p, deps.config.destination), deps.nowMs),
  );
  const reporter = startProgressReporter({
    progresses,
    logger: deps.logger,
    nowMs: deps.nowMs,
    intervalMs: deps.tuning.progressIntervalMs,
    view: deps.progressView,
  });
  try {
    const settled = await Promise.allSettled(
      plans.map((plan, i) =>
        tableLimit(async () => {
          const progress = progresses[i] as TableProgress;
          if (signal.aborted) return skipped(plan, progress);
          let window: ExportWindow | undefined;
          try {
            const result = await syncTable(
              plan,
              run,
              progress,
              shared,
              { ...deps, signal },
              (decided) => (window = decided),
            );
            if (result.nextState) await run.mirror?.record(plan.sourceId, result.nextState);
            reporter.tableFinished(progress);
            return result;
          } catch (error) {
            if (error instanceof TableSkippedError) {
              deps.logger.warn(error.message);
              progress.finish(deps.nowMs(), 'skipped', error.message);
              reporter.tableFinished(progress);
              return skipped(plan, progress);
            }
            if (signal.aborted && isInterruption(error)) {
              // Stopped by the signal or by another table's failure (platform mode), not failed
              // itself: nothing of it was finished (docs/summary-file.md).
              const why = stoppedBecause(deps.signal, stoppingFailure);
              progress.finish(deps.nowMs(), 'skipped', why);
              reporter.tableFinished(progress);
              return skipped(plan, progress);
            }
            progress.finish(deps.nowMs(), 'failed', messageOf(error));
            reporter.tableFinished(progress);
            const outcome = { plan, status: 'failed', progress, window, error } as const;
            const stopsRun = !standalone && !firstFailure.signal.aborted;
            // Platform mode: the first failure ends the run and is its final sentence (stderr),
            // so it is not logged as well; any other failure is logged once, as it happens.
            if (!stopsRun) logTableFailure(deps.logger, plan, error);
            if (stopsRun) {
              stoppingFailure = outcome;
              firstFailure.abort();
            }
            return outcome satisfies TableOutcome;
          }
        }),
      ),
    );
    const outcomes = settled.map((s) => (s.status === 'fulfilled' ? s.value : unreachable(s)));
    if (deps.record) deps.record.outcomes = outcomes;
    if (deps.signal.aborted) throw new InterruptedError(interruptedMessage(deps.signal));
    if (stoppingFailure) throwTableFailure(stoppingFailure);
    return outcomes;
  } finally {
    reporter.stop();
  }
}

type TableResult = TableOutcome & { readonly nextState?: TableState };

async function syncTable(
  planned: TablePlan,
  run: TableRun,
  progress: TableProgress,
  shared: SharedBySlices,
  deps: RunDeps,
  onWindow: (window: ExportWindow) => void,
): Promise<TableResult> {
  progress.start(deps.nowMs());
  const created = createdSecondsOf(planned);
  const identity: SourceIdentity = {
    stack: run.source.stack,
    projectId: run.source.auth.projectId,
    tableId: planned.sourceId,
    ...(created !== undefined && { tableCreated: created }),
  };
  const resumed = await resumeTable(planned, identity, run, deps);
  const { revision } = resumed;
  const previous = goOnFrom(planned, resumed.previous, deps);
  // After resuming: in standalone mode the watermark is the destination's sync record.
  const unchanged = await skipUnchangedTable(planned, previous, run, progress, deps);
  if (unchanged) return unchanged;
  const refresh = refreshAfterOpenEndedLoad(planned, previous);
  if (refresh) deps.logger.warn(openEndedRefreshWarning(planned.sourceId, previous));
  // Only a window that starts at the watermark leaves the rows copied before as they are.
  if (resumed.newColumnsWarning && previous?.watermark !== undefined && !refresh) {
    deps.logger.warn(resumed.newColumnsWarning);
  }
  const plan = refresh ?? planned;
  progress.phase = 'export job';
  const window = exportWindow({
    changedSince: plan.changedSince,
    fullRefresh: plan.fullRefresh,
    previous,
    serverNowSeconds: Math.floor((await deps.source.serverTimeMs()) / 1000),
    lagSeconds: deps.config.lagSeconds,
    mode: plan.mode,
    configuredMode: plan.configuredMode,
    resolve: deps.resolveChangedSince,
    tableId: plan.sourceId,
  });
  onWindow(window);
  const sync: SyncContext | undefined =
    revision === undefined ? undefined : { source: identity, window, revision };
  deps.logger.info(`Exporting "${plan.sourceId}" (${plan.mode}${describeWindow(window)}).`);
  const file = await exportFile(plan, window, deps);
  const maxRows = window.since === undefined ? await fullExportRowCap(plan, deps) : undefined;
  progress.bytesTotal = file.sizeBytes;
  const source = await deps.openSliceSource(file, () => deps.source.getFile(file.id));
  const result = await deps.writer.writeTable(
    plan,
    { file, source },
    writeOptionsFor(plan, maxRows, progress, shared, deps),
    sync,
  );
  progress.rows = result.rows;
  // A window with an upper bound leaves the newest rows out by design: fewer rows say nothing.
  if (maxRows !== undefined && window.until === undefined && result.rows < maxRows) {
    deps.logger.warn(
      `"${plan.sourceId}": the full export held ${result.rows} rows, fewer than the table's ${maxRows} (rows deleted while it ran?).`,
    );
  }
  progress.finish(deps.nowMs(), 'done');
  // Only reported (lastSuccessAt), so no request of its own: one round trip less per table.
  const finishedMs = deps.source.approxServerTimeMs() ?? (await deps.source.serverTimeMs());
  const finishedAtIso = new Date(finishedMs).toISOString();
  return {
    plan,
    status: 'success',
    progress,
    window,
    result,
    nextState: nextTableState(previous, {
      window,
      finishedAtIso,
      mode: plan.mode,
      rows: result.rows,
      destination: destinationOfRecord(plan, deps.config),
      sourceCreated: createdSecondsOf(plan),
    }),
  };
}

/**
 * The entry a table goes on from, once checked against its source table as it is now
 * (checkIncarnation): a source table created again, or one that lost the key its copy was
 * upserted by, does not go on from it; warnings are logged.
 * @throws UserError when the table cannot be copied without landing rows twice
 */
function goOnFrom(
  plan: TablePlan,
  previous: TableState | undefined,
  deps: RunDeps,
): TableState | undefined {
  const checked = checkIncarnation(plan, previous);
  if ('refusal' in checked) throw new UserError(checked.refusal);
  for (const warning of checked.warnings) deps.logger.warn(warning);
  return checked.previous;
}

/**
 * A table whose source has not changed since its watermark is not exported (docs/performance.md,
 * Skipping unchanged tables): its result, or undefined when the table must be exported.
 * @throws UserError naming the table when its watermark is ahead of the server's clock
 */
async function skipUnchangedTable(
  planned: TablePlan,
  previous: TableState | undefined,
  run: TableRun,
  progress: TableProgress,
  deps: RunDeps,
): Promise<TableResult | undefined> {
  const skip = deps.tuning.skipUnchanged
    ? decideSkip(skipInputOf(planned, previous?.watermark))
    : undefined;
  if (!skip?.skip) return undefined;
  // A watermark ahead of the server's clock would skip every change until that time.
  const serverSeconds = await run.serverSecondsAtSkip();
  refuseWatermarkAhead(previous?.watermark, serverSeconds, planned.sourceId);
  deps.logger.info(
    `"${planned.sourceId}" is unchanged: last changed ${new Date(skip.lastChangeSeconds * 1000).toISOString()}, before its watermark ${describeWatermark(previous)}. No export job.`,
  );
  await deps.writer.tableUnchanged?.(planned, serverSeconds * 1000);
  progress.finish(deps.nowMs(), 'unchanged');
  return { plan: planned, status: 'unchanged', progress };
}

/**
 * How a table's slices are copied: the slices in flight, the retries and the gzip-bomb limit of
 * the limits, the row cap of a full export, and a warning per restarted slice.
 */
function writeOptionsFor(
  plan: TablePlan,
  maxRows: number | undefined,
  progress: TableProgress,
  shared: SharedBySlices,
  deps: RunDeps,
): Parameters<OutputWriter['writeTable']>[2] {
  const limits = deps.limits ?? DEFAULT_LIMITS;
  return {
    sliceConcurrency: deps.tuning.slicesPerTable,
    globalLimit: shared.globalLimit,
    outputBuffers: shared.outputBuffers,
    attemptsPerSlice: DEFAULT_ATTEMPTS_PER_SLICE,
    retryBaseMs: limits.sliceRetryBaseMs,
    signal: deps.signal,
    maxRows,
    inflateLimit: { maxRatio: limits.maxInflateRatio, floorBytes: limits.inflateRatioFloorBytes },
    progress,
    onRetry: (slice, attempt, reason) =>
      deps.logger.warn(
        `Slice ${slice.index + 1} of "${plan.sourceId}" failed (attempt ${attempt}): ${reason}. Restarting it.`,
      ),
  };
}

/** Why an append table is loaded in full ({@link refreshAfterOpenEndedLoad}). */
export function openEndedRefreshWarning(
  sourceId: string,
  previous: TableState | undefined,
): string {
  const why =
    previous?.watermark === undefined
      ? 'and has no watermark to append from'
      : 'without an upper bound, so its watermark is no exact start for appending';
  return `"${sourceId}" was last loaded in full ${why}: this run loads it in full once more, up to the bound of an append window, and the runs after it append from there (docs/state-file.md, After a full load).`;
}

function describeWatermark(previous: TableState | undefined): string {
  const watermark = previous?.watermark;
  return watermark === undefined ? '(none)' : new Date(watermark * 1000).toISOString();
}

/**
 * Where the table goes on from. Standalone: the destination's sync record is the source of truth
 * (a missing table → a full copy; a table without a record → `in/state.json`, as before records
 * existed). Platform: `in/state.json`. Either way an entry of in/state.json whose watermark was
 * made for another destination is not used ({@link entryForDestination}).
 */
async function resumeTable(
  plan: TablePlan,
  source: SourceIdentity,
  run: TableRun,
  deps: RunDeps,
): Promise<{ previous: TableState | undefined; revision?: string; newColumnsWarning?: string }> {
  const fromState = run.previous.tables[plan.sourceId];
  if (!deps.writer.resume) {
    await deps.writer.checkTable?.(plan);
    return { previous: stateEntryFor(plan, fromState, true, deps) };
  }
  const point = await deps.writer.resume(plan, source);
  const resumed = resumeFrom(point, point.committed, fromState);
  const { newColumnsWarning } = point;
  if (resumed.ignoresStateWatermark) {
    deps.logger.warn(
      `The destination table of "${plan.sourceId}" ${startsOverReason(resumed.startsOver)}: copying it in full (the watermark in in/state.json is ignored).`,
    );
  }
  const previous =
    resumed.from === 'state' ? stateEntryFor(plan, fromState, false, deps) : resumed.previous;
  return {
    previous,
    revision: point.revision,
    ...(newColumnsWarning !== undefined && { newColumnsWarning }),
  };
}

/** The in/state.json entry, unless made for another destination; logs why (entryForDestination). */
function stateEntryFor(
  plan: TablePlan,
  fromState: TableState | undefined,
  platform: boolean,
  deps: RunDeps,
): TableState | undefined {
  const destination = destinationOfRecord(plan, deps.config);
  const kept = entryForDestination(plan, fromState, destination, platform);
  for (const warning of kept.warnings) deps.logger.warn(warning);
  return kept.entry;
}

/**
 * The most records a full export may hold: the table's `rowsCount` before the export (the plan)
 * or after it, whichever is larger, so rows added or deleted meanwhile never fail a good export.
 * Undefined when the backend does not report a count.
 */
async function fullExportRowCap(plan: TablePlan, deps: RunDeps): Promise<number | undefined> {
  const rowsBefore = plan.source.rowsCount;
  const rowsAfter = (
    await deps.source.getTable(plan.sourceId).catch((error: unknown) => {
      throw explainMissingTable(error, plan.sourceId);
    })
  ).rowsCount;
  if (rowsBefore === null || rowsAfter === null) return undefined;
  return Math.max(rowsBefore, rowsAfter);
}

/** Starts the export job, waits for it and returns the exported file's detail. */
async function exportFile(
  plan: TablePlan,
  window: ExportWindow,
  deps: RunDeps,
): Promise<FileDetail> {
  const started = await deps.source
    .startExport(plan.sourceId, {
      columns: plan.columns,
      ...(window.since !== undefined ? { changedSince: window.since } : {}),
      ...(window.until !== undefined ? { changedUntil: window.until } : {}),
    })
    .catch((error: unknown) => {
      throw explainMissingTable(error, plan.sourceId);
    });
  const job = await deps.source.waitForJob(started, { signal: deps.signal });
  const fileId = exportedFileId(job.results);
  if (fileId === undefined) {
    // The service's answer, not our request: exit 2 without a stack trace (docs/architecture.md, Errors).
    throw new StorageResponseError(
      `Export job ${job.id} of "${plan.sourceId}" finished without a file id in its results.`,
    );
  }
  return deps.source.getFile(fileId);
}

function exportedFileId(results: Readonly<Record<string, unknown>> | null): number | undefined {
  const file = results?.file;
  if (!file || typeof file !== 'object') return undefined;
  const id = (file as { id?: unknown }).id;
  return typeof id === 'number'
    ? id
    : typeof id === 'string' && /^\d+$/.test(id)
      ? Number(id)
      : undefined;
}

/** New state: previous entries carried forward, successful tables replaced. */
function mergeState(previous: JobState, outcomes: readonly TableOutcome[]): JobState {
  const tables: Record<string, TableState> = { ...previous.tables };
  for (const outcome of outcomes as readonly TableResult[]) {
    if (outcome.status === 'success' && outcome.nextState)
      tables[outcome.plan.sourceId] = outcome.nextState;
  }
  return { ...previous, tables };
}

function skipped(plan: TablePlan, progress: TableProgress): TableOutcome {
  return { plan, status: 'skipped', progress };
}

/** Why a table in flight was stopped: the run's signal, or the failure that ends a platform run. */
function stoppedBecause(runSignal: AbortSignal, stoppingFailure: TableOutcome | undefined): string {
  if (runSignal.aborted || stoppingFailure === undefined) return interruptedMessage(runSignal);
  return `stopped when "${stoppingFailure.plan.sourceId}" failed (platform mode ends the run at its first failure).`;
}

/**
 * Whether a table's error is the run's own stop reaching it (an aborted request, wait or slice),
 * not a failure of the table: anything else that ends a table after the stop is still a failure.
 */
function isInterruption(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 5; depth++) {
    if (current instanceof InterruptedError || current.name === 'AbortError') return true;
    if (current instanceof StorageNetworkError && current.details.code === 'ABORTED') return true;
    if (current instanceof ObjectStoreError && current.retryFacts.networkCode === 'ABORTED') {
      return true;
    }
    current = current.cause;
  }
  return false;
}

/**
 * A `lastRun` append without a primary key in a configuration row, platform mode: the runner runs
 * a configuration's rows one after another in one job, starts each row's loads right after it, and
 * saves the rows' states only when every row and load succeeded (docs/standalone.md, Scaling
 * out). So when a later row fails, this row's rows are loaded but its watermark stays, and the next
 * run appends the same window again. The job cannot see whether `runtime.parallelism` (each row its
 * own job) is set, so the sentence says when it applies. Standalone mode keeps its watermarks in
 * the destination (docs/sync-record.md), which no other row affects.
 */
function rowAppendWarning(
  plan: TablePlan,
  deps: Pick<RunDeps, 'config' | 'configRowId'>,
): string | undefined {
  if (deps.configRowId === undefined || deps.configRowId === '' || deps.config.destination) {
    return undefined;
  }
  if (plan.mode !== 'append' || plan.changedSince?.kind !== 'lastRun') return undefined;
  return "Appended without a primary key in a configuration row: when the configuration runs its rows in one job (no runtime.parallelism), Keboola saves this row's watermark only if every row succeeds, so after another row fails the next run appends this window again. Set runtime.parallelism on the configuration, or a primary key.";
}

/** The run's final sentence names the table; an exit-2 error keeps its class and cause. */
function throwTableFailure(failed: TableOutcome): never {
  const error = failed.error;
  const sentence = `Table "${failed.plan.sourceId}" failed: ${messageOf(error)}`;
  if (exitCodeFor(error) === 1) throw new UserError(sentence);
  if (!(error instanceof Error)) throw new Error(sentence);
  noteFailedTable(error, failed.plan.sourceId);
  throw error;
}

function logTableFailure(logger: Logger, plan: TablePlan, error: unknown): void {
  const kind =
    exitCodeFor(error) === 1 ? 'user error' : ((error as Error | undefined)?.name ?? 'error');
  logger.error(`Table "${plan.sourceId}" failed (${kind}): ${messageOf(error)}`);
}

function describeWindow(window: ExportWindow): string {
  const parts: string[] = [];
  if (window.since !== undefined)
    parts.push(`since ${new Date(window.since * 1000).toISOString()}`);
  if (window.until !== undefined)
    parts.push(`until ${new Date(window.until * 1000).toISOString()}`);
  return parts.length > 0 ? `, changed ${parts.join(' ')}` : ', all rows';
}

/** The run's final sentence after a signal; the abort reason is the signal's name (main.ts). */
export function interruptedMessage(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  const received = typeof reason === 'string' ? `Received ${reason}: ` : '';
  return `${received}the run was interrupted; nothing new was finished.`;
}

function unreachable(result: PromiseRejectedResult): never {
  throw result.reason instanceof Error ? result.reason : new Error(messageOf(result.reason));
}
