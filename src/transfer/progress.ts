/** Where a table is in its pipeline. */
export type TablePhase =
  | 'queued'
  | 'export job'
  | 'transfer'
  | 'create table'
  | 'import job'
  | 'metadata'
  | 'done'
  | 'failed';

/**
 * Live counters of one table, read by the progress reporter and the summary. Writers update it;
 * nothing here does I/O.
 */
export class TableProgress {
  phase: TablePhase = 'queued';
  slicesTotal = 0;
  slicesDone = 0;
  bytes = 0;
  rows = 0;
  startedAtMs: number | undefined;
  finishedAtMs: number | undefined;
  error: string | undefined;

  constructor(
    /** Source table id. */
    readonly table: string,
    /** Where the table goes (file in out/tables, or destination table id). */
    readonly destination: string,
  ) {}

  start(nowMs: number): void {
    this.startedAtMs ??= nowMs;
  }

  finish(nowMs: number, phase: 'done' | 'failed', error?: string): void {
    this.phase = phase;
    this.finishedAtMs = nowMs;
    if (error !== undefined) this.error = error;
  }

  elapsedSeconds(nowMs: number): number {
    if (this.startedAtMs === undefined) return 0;
    return ((this.finishedAtMs ?? nowMs) - this.startedAtMs) / 1000;
  }
}
