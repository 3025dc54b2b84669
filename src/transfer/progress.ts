/** Where a table is in its pipeline. */
export type TablePhase =
  | 'queued'
  | 'export job'
  | 'transfer'
  | 'create table'
  | 'import job'
  | 'metadata'
  | 'done'
  | 'unchanged'
  | 'skipped'
  | 'failed';

/** Phases whose time is counted in {@link TableProgress.phaseSeconds}. */
const TIMED_PHASES: ReadonlySet<TablePhase> = new Set([
  'export job',
  'transfer',
  'create table',
  'import job',
  'metadata',
]);

/**
 * Live counters of one table, read by the progress reporter and the summary. Writers update it;
 * nothing here does I/O. Setting `phase` closes the time of the previous phase, read from the
 * injected clock (milliseconds).
 */
export class TableProgress {
  slicesTotal = 0;
  slicesDone = 0;
  /** Compressed bytes moved so far (a restarted slice takes its bytes back). */
  bytes = 0;
  /** Compressed size of the export (file detail `sizeBytes`), once known. */
  bytesTotal: number | undefined;
  rows = 0;
  startedAtMs: number | undefined;
  finishedAtMs: number | undefined;
  error: string | undefined;
  /** Seconds spent in each timed phase so far (export job, transfer, import job, …). */
  readonly phaseSeconds: Partial<Record<TablePhase, number>> = {};
  #phase: TablePhase = 'queued';
  #phaseStartedMs: number | undefined;

  constructor(
    /** Source table id. */
    readonly table: string,
    /** Where the table goes (file in out/tables, or destination table id). */
    readonly destination: string,
    private readonly clockMs: () => number = Date.now,
  ) {}

  get phase(): TablePhase {
    return this.#phase;
  }

  set phase(next: TablePhase) {
    const nowMs = this.clockMs();
    if (this.#phaseStartedMs !== undefined && TIMED_PHASES.has(this.#phase)) {
      const seconds = Math.max(0, nowMs - this.#phaseStartedMs) / 1000;
      this.phaseSeconds[this.#phase] = (this.phaseSeconds[this.#phase] ?? 0) + seconds;
    }
    this.#phase = next;
    this.#phaseStartedMs = nowMs;
  }

  start(nowMs: number): void {
    this.startedAtMs ??= nowMs;
  }

  finish(nowMs: number, phase: 'done' | 'unchanged' | 'skipped' | 'failed', error?: string): void {
    this.phase = phase;
    this.finishedAtMs = nowMs;
    if (error !== undefined) this.error = error;
  }

  /** Active: started and not finished. */
  get active(): boolean {
    return this.startedAtMs !== undefined && this.finishedAtMs === undefined;
  }

  elapsedSeconds(nowMs: number): number {
    if (this.startedAtMs === undefined) return 0;
    return ((this.finishedAtMs ?? nowMs) - this.startedAtMs) / 1000;
  }
}

/**
 * Wall seconds from the first table's start to the last table's end (`nowMs` for tables still
 * running): with tables overlapping, neither their sum nor the longest one is the run's time.
 */
export function spanSeconds(progresses: readonly TableProgress[], nowMs: number): number {
  const spans = progresses.flatMap((p) =>
    p.startedAtMs === undefined ? [] : [{ fromMs: p.startedAtMs, toMs: p.finishedAtMs ?? nowMs }],
  );
  if (spans.length === 0) return 0;
  const firstMs = Math.min(...spans.map((s) => s.fromMs));
  const lastMs = Math.max(...spans.map((s) => s.toMs));
  return Math.max(0, lastMs - firstMs) / 1000;
}
