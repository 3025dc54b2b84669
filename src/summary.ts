import { messageOf } from './errors.js';
import type { TableOutcome } from './run.js';
import { spanSeconds } from './transfer/progress.js';

export interface SummaryRow {
  readonly table: string;
  readonly destination: string;
  readonly status: string;
  readonly rows: number;
  readonly bytes: number;
  readonly seconds: number;
  readonly megabytesPerSecond: number;
  /** Seconds per phase (export job, transfer, import job, …), for the phases the table went through. */
  readonly phases: Readonly<Record<string, number>>;
  readonly error?: string;
}

export type SummaryTotals = Omit<SummaryRow, 'table' | 'destination' | 'status' | 'phases'>;

/**
 * One row per table (failed and skipped tables included) plus the run's totals. `rows` counts
 * the rows of tables that succeeded: a table that failed or was skipped counts 0 whatever it
 * read. Mostly nothing of it stayed (platform mode removes its work folder; standalone mode
 * imported nothing), but a standalone table that failed after its import job succeeded (its
 * record or metadata not written) did land its rows, which the next run's record accounts for.
 * `bytes` counts what was moved, landed or not. `error` says why a table failed or was skipped.
 */
export function summarize(
  outcomes: readonly TableOutcome[],
  nowMs: number,
): { rows: SummaryRow[]; totals: SummaryTotals } {
  const rows = outcomes.map((o): SummaryRow => {
    const seconds = round(o.progress.elapsedSeconds(nowMs), 2);
    const bytes = o.result?.bytes ?? o.progress.bytes;
    return {
      table: o.plan.sourceId,
      destination: o.progress.destination,
      status: o.status,
      rows: o.status === 'success' ? (o.result?.rows ?? o.progress.rows) : 0,
      bytes,
      seconds,
      megabytesPerSecond: seconds > 0 ? round(bytes / 1e6 / seconds, 2) : 0,
      phases: Object.fromEntries(
        Object.entries(o.progress.phaseSeconds).map(([phase, s]) => [phase, round(s, 2)]),
      ),
      ...(o.error !== undefined
        ? { error: messageOf(o.error) }
        : o.status === 'skipped' && o.progress.error !== undefined
          ? { error: o.progress.error }
          : {}),
    };
  });
  const bytes = rows.reduce((s, r) => s + r.bytes, 0);
  const progresses = outcomes.map((o) => o.progress);
  const seconds = round(spanSeconds(progresses, nowMs), 2);
  return {
    rows,
    totals: {
      rows: rows.reduce((s, r) => s + r.rows, 0),
      bytes,
      seconds,
      megabytesPerSecond: seconds > 0 ? round(bytes / 1e6 / seconds, 2) : 0,
    },
  };
}

/**
 * A fixed-width text table of the summary, for people reading the log: source table, destination,
 * status, rows, human-readable size, seconds, MB/s and the error (last, so it may be long).
 */
export function formatSummaryTable(summary: ReturnType<typeof summarize>): string {
  const header = ['table', 'destination', 'status', 'rows', 'size', 'seconds', 'MB/s', 'error'];
  const lines = summary.rows.map((r) => [
    r.table,
    r.destination,
    r.status,
    String(r.rows),
    formatBytes(r.bytes),
    r.seconds.toFixed(2),
    r.megabytesPerSecond.toFixed(2),
    r.error ?? '',
  ]);
  const t = summary.totals;
  lines.push([
    'total',
    '',
    '',
    String(t.rows),
    formatBytes(t.bytes),
    t.seconds.toFixed(2),
    t.megabytesPerSecond.toFixed(2),
    '',
  ]);
  const left = new Set([0, 1, 2, 7]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
  const format = (cells: readonly string[]) =>
    cells
      .map((c, i) => (left.has(i) ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [format(header), ...lines.map(format)].join('\n');
}

/** Bytes in decimal units with three significant digits: `950 B`, `8.00 MB`, `1.51 GB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  if (unit === 0) return `${bytes} B`;
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${value.toFixed(digits)} ${units[unit] ?? ''}`;
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
