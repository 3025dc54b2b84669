import pLimit from 'p-limit';
import {
  checkSourceToken,
  explainRejectedToken,
  type SourceAuthorization,
} from './auth/check-token.js';
import type { ChangedSince, Config } from './config/types.js';
import { InterruptedError, UserError, isUserError, messageOf } from './errors.js';
import { DEFAULT_LIMITS, type Limits } from './limits.js';
import type { Logger } from './logger.js';
import type { SliceSource } from './objects/types.js';
import { checkDataFolder } from './output/data-dir-check.js';
import { WORK_DIR_NAME } from './output/data-dir-writer.js';
import type { OutputWriter, TableWriteResult } from './output/output-writer.js';
import { planTables, type Selection, type TablePlan } from './plan/plan-tables.js';
import {
  exportWindow,
  nextTableState,
  type ExportWindow,
  type TableState,
} from './state/cursor.js';
import { readState, writeState, type JobState } from './state/state-file.js';
import type { FileDetail, StorageClient } from './storage/types.js';
import { DEFAULT_ATTEMPTS_PER_SLICE } from './transfer/copy-slices.js';
import { TableProgress } from './transfer/progress.js';
import type { ProgressView } from './progress/progress-bar.js';
import { startProgressReporter } from './progress/reporter.js';

export { formatProgressLine } from './progress/progress-line.js';

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
}

/** Concurrency and cadence; defaults chosen by the benchmark (README, Performance). */
export interface Tuning {
  readonly slicesPerTable: number;
  readonly slicesGlobal: number;
  readonly progressIntervalMs: number;
}

/**
 * Measured by `npm run bench` (docs/performance.md) on 2 cores with a modelled object store
 * (50 ms to first byte, 40 MB/s per connection): more slices in flight keep helping until every
 * slice of a typical table moves at once (1 GiB: 2 → 7.2 s, 4 → 5.6 s, 8 → 5.0 s in the first
 * run; 8 → 2.46 s, 16 → 2.13 s after the faster verification), and peak memory stays flat (each
 * slice in flight holds only stream buffers). The global bound keeps many tables from opening
 * hundreds of connections at once.
 */
export const DEFAULT_TUNING: Tuning = {
  slicesPerTable: 16,
  slicesGlobal: 32,
  progressIntervalMs: 5_000,
};

export type TableStatus = 'success' | 'failed' | 'skipped';

export interface TableOutcome {
  readonly plan: TablePlan;
  readonly status: TableStatus;
  readonly progress: TableProgress;
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
 * then write the state (design §4–§6).
 *
 * Platform mode stops at the first failed table (the platform imports nothing from a failed job).
 * Standalone mode isolates failures: the other tables finish and advance their watermarks.
 * @throws UserError for bad tokens, missing tables and columns (before any data moves);
 *   the first table error in platform mode; InterruptedError when aborted
 */
export async function runSync(deps: RunDeps): Promise<RunReport> {
  const { config, logger } = deps;
  // Environment faults are found before any request: one sentence naming the path.
  await checkDataFolder(deps.dataDir, { tables: !config.destination, workDirName: WORK_DIR_NAME });
  const auth = await authorizeSource(deps.source, config, deps.nowMs(), logger);
  const plans = await planRun(deps, auth);
  const previous = await readState(deps.dataDir);
  await deps.writer.prepare();
  let outcomes: TableOutcome[];
  try {
    outcomes = await runTables(plans, previous, deps);
  } finally {
    await deps.writer.cleanup();
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

/**
 * Verifies the source token and applies the token rules (design §4), logging the warnings.
 * @throws UserError naming what is wrong with the token
 */
export async function authorizeSource(
  source: StorageClient,
  config: Pick<Config, 'source'>,
  nowMs: number,
  logger: Logger,
): Promise<SourceAuthorization> {
  const token = await source.verifyToken().catch((error: unknown) => {
    throw explainRejectedToken(error, 'source');
  });
  const auth = checkSourceToken(token, {
    nowMs,
    ...(config.source.region ? { configuredRegion: config.source.region } : {}),
  });
  for (const warning of auth.warnings) logger.warn(warning);
  logger.info(
    `Source project "${auth.projectName}" (${auth.projectId}), bucket "${auth.bucketId}", read-only token.`,
  );
  return auth;
}

/** Resolves the configured tables against the bucket (every table must exist). */
export async function planRun(
  deps: Pick<RunDeps, 'config' | 'source' | 'selection' | 'logger'>,
  auth: SourceAuthorization,
): Promise<TablePlan[]> {
  const bucketTables = await deps.source.listTables(auth.bucketId);
  const plans = planTables(deps.config, auth.bucketId, bucketTables, deps.selection);
  if (plans.length === 0) throw new UserError('No enabled table is selected: nothing to copy.');
  const skipped = deps.config.tables.length - plans.length;
  deps.logger.info(
    `Copying ${plans.length} table(s)${skipped > 0 ? `, ${skipped} not selected or disabled` : ''}.`,
  );
  return plans;
}

async function runTables(
  plans: readonly TablePlan[],
  previous: JobState,
  deps: RunDeps,
): Promise<TableOutcome[]> {
  const standalone = deps.config.destination !== undefined;
  const tableLimit = pLimit(deps.config.parallelism);
  const globalLimit = pLimit(deps.tuning.slicesGlobal);
  // Platform mode: the first failure stops the rest; standalone: every table runs on its own.
  const firstFailure = new AbortController();
  const signal = AbortSignal.any([deps.signal, firstFailure.signal]);
  const progresses = plans.map(
    (p) => new TableProgress(p.sourceId, describeDestination(p, deps), deps.nowMs),
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
          try {
            const result = await syncTable(
              plan,
              previous.tables[plan.sourceId],
              progress,
              globalLimit,
              { ...deps, signal },
            );
            reporter.tableFinished(progress);
            return result;
          } catch (error) {
            progress.finish(deps.nowMs(), 'failed', messageOf(error));
            reporter.tableFinished(progress);
            logTableFailure(deps.logger, plan, error);
            if (!standalone) firstFailure.abort();
            return { plan, status: 'failed', progress, error } satisfies TableOutcome;
          }
        }),
      ),
    );
    const outcomes = settled.map((s) => (s.status === 'fulfilled' ? s.value : unreachable(s)));
    if (deps.signal.aborted)
      throw new InterruptedError('The run was interrupted: nothing new was finished.');
    if (!standalone) throwFirstFailure(outcomes);
    return outcomes;
  } finally {
    reporter.stop();
  }
}

type TableResult = TableOutcome & { readonly nextState?: TableState };

async function syncTable(
  plan: TablePlan,
  previous: TableState | undefined,
  progress: TableProgress,
  globalLimit: ReturnType<typeof pLimit>,
  deps: RunDeps,
): Promise<TableResult> {
  progress.start(deps.nowMs());
  await deps.writer.checkTable?.(plan);
  progress.phase = 'export job';
  const window = exportWindow({
    changedSince: plan.changedSince,
    fullRefresh: plan.fullRefresh,
    previous,
    serverNowSeconds: Math.floor((await deps.source.serverTimeMs()) / 1000),
    resolve: deps.resolveChangedSince,
  });
  deps.logger.info(`Exporting "${plan.sourceId}" (${plan.mode}${describeWindow(window)}).`);
  const file = await exportFile(plan, window, deps);
  const maxRows = window.since === undefined ? await fullExportRowCap(plan, deps) : undefined;
  progress.bytesTotal = file.sizeBytes;
  const source = await deps.openSliceSource(file, () => deps.source.getFile(file.id));
  const result = await deps.writer.writeTable(
    plan,
    { file, source },
    {
      sliceConcurrency: deps.tuning.slicesPerTable,
      globalLimit,
      attemptsPerSlice: DEFAULT_ATTEMPTS_PER_SLICE,
      signal: deps.signal,
      maxRows,
      inflateLimit: {
        maxRatio: (deps.limits ?? DEFAULT_LIMITS).maxInflateRatio,
        floorBytes: (deps.limits ?? DEFAULT_LIMITS).inflateRatioFloorBytes,
      },
      progress,
      onRetry: (slice, attempt, reason) =>
        deps.logger.warn(
          `Slice ${slice.index + 1} of "${plan.sourceId}" failed (attempt ${attempt}): ${reason}. Restarting it.`,
        ),
    },
  );
  progress.rows = result.rows;
  if (maxRows !== undefined && result.rows < maxRows) {
    deps.logger.warn(
      `"${plan.sourceId}": the full export held ${result.rows} rows, fewer than the table's ${maxRows} (rows deleted while it ran?).`,
    );
  }
  progress.finish(deps.nowMs(), 'done');
  const finishedAtIso = new Date(await deps.source.serverTimeMs()).toISOString();
  return {
    plan,
    status: 'success',
    progress,
    result,
    nextState: nextTableState(previous, {
      window,
      finishedAtIso,
      mode: plan.mode,
      rows: result.rows,
    }),
  };
}

/**
 * The most records a full export may hold: the table's `rowsCount` before the export (the plan)
 * or after it, whichever is larger, so rows added or deleted meanwhile never fail a good export.
 * Undefined when the backend does not report a count.
 */
async function fullExportRowCap(plan: TablePlan, deps: RunDeps): Promise<number | undefined> {
  const before = plan.source.rowsCount;
  const after = (await deps.source.getTable(plan.sourceId)).rowsCount;
  if (before === null || after === null) return undefined;
  return Math.max(before, after);
}

/** Starts the export job, waits for it and returns the exported file's detail. */
async function exportFile(
  plan: TablePlan,
  window: ExportWindow,
  deps: RunDeps,
): Promise<FileDetail> {
  const started = await deps.source.startExport(plan.sourceId, {
    columns: plan.columns,
    ...(window.since !== undefined ? { changedSince: window.since } : {}),
    ...(window.until !== undefined ? { changedUntil: window.until } : {}),
  });
  const job = await deps.source.waitForJob(started, { signal: deps.signal });
  const fileId = exportedFileId(job.results);
  if (fileId === undefined) {
    throw new Error(`Export job ${job.id} of "${plan.sourceId}" finished without a file id.`);
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

function throwFirstFailure(outcomes: readonly TableOutcome[]): void {
  const failed = outcomes.find((o) => o.status === 'failed');
  if (!failed) return;
  const error = failed.error;
  if (isUserError(error)) {
    throw new UserError(`Table "${failed.plan.sourceId}" failed: ${error.message}`);
  }
  throw error instanceof Error ? error : new Error(messageOf(error));
}

function logTableFailure(logger: Logger, plan: TablePlan, error: unknown): void {
  const kind = isUserError(error) ? 'user error' : ((error as Error | undefined)?.name ?? 'error');
  logger.error(`Table "${plan.sourceId}" failed (${kind}): ${messageOf(error)}`);
}

function describeDestination(plan: TablePlan, deps: Pick<RunDeps, 'config'>): string {
  const destination = deps.config.destination;
  if (!destination) return `out/tables/${plan.fileName}`;
  return plan.destinationId ?? `${destination.bucket}.${plan.destinationName}`;
}

function describeWindow(window: ExportWindow): string {
  const parts: string[] = [];
  if (window.since !== undefined)
    parts.push(`since ${new Date(window.since * 1000).toISOString()}`);
  if (window.until !== undefined)
    parts.push(`until ${new Date(window.until * 1000).toISOString()}`);
  return parts.length > 0 ? `, changed ${parts.join(' ')}` : ', all rows';
}

function unreachable(result: PromiseRejectedResult): never {
  throw result.reason instanceof Error ? result.reason : new Error(messageOf(result.reason));
}
