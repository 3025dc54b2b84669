/**
 * Fault-matrix helpers (issue: fault tolerance): read what a run produced, compare it with the
 * expected row set (rows lost, duplicated, unexpected), and keep the tally that
 * `npm run test:faults` prints.
 */

/** How a produced row set differs from the expected one (rows compared as whole value lists). */
export interface RowComparison {
  readonly expected: number;
  readonly actual: number;
  /** Expected rows missing from the output (counted with multiplicity). */
  readonly lost: number;
  /** Extra copies of expected rows. */
  readonly duplicated: number;
  /** Rows that are not in the expected set at all. */
  readonly unexpected: number;
}

/** Compares two row multisets; each row is a list of values in the same column order. */
export function compareRows(
  expected: readonly (readonly string[])[],
  actual: readonly (readonly string[])[],
): RowComparison {
  const counts = new Map<string, number>();
  for (const row of expected) {
    const key = JSON.stringify(row);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  let duplicated = 0;
  let unexpected = 0;
  for (const row of actual) {
    const key = JSON.stringify(row);
    const left = counts.get(key);
    if (left === undefined) {
      unexpected += 1;
    } else if (left === 0) {
      duplicated += 1;
    } else {
      counts.set(key, left - 1);
    }
  }
  const lost = [...counts.values()].reduce((sum, n) => sum + n, 0);
  return { expected: expected.length, actual: actual.length, lost, duplicated, unexpected };
}

/** Rows of one sliced table folder of `out/tables` (`<name>.csv/`). */
export { readSliceRecords as readSlicedTable } from './output.js';

/** Projects row objects (as `control.tableRows` returns them) onto `columns`, as strings. */
export function rowValues(
  rows: readonly Readonly<Record<string, unknown>>[],
  columns: readonly string[],
): string[][] {
  return rows.map((row) =>
    columns.map((column) => {
      const value = row[column];
      if (typeof value === 'string') return value;
      return value === undefined || value === null ? '' : JSON.stringify(value);
    }),
  );
}

/** The running totals of the matrix. */
export class FaultTally {
  scenarios = 0;
  faultsInjected = 0;
  runsCorrect = 0;
  rowsLost = 0;
  rowsDuplicated = 0;
  /** Job-starting POSTs seen more than once for the same operation and table within one run. */
  duplicatedJobStarts = 0;
  readonly names: string[] = [];

  /** Adds one verified correct run. */
  addCorrectRun(comparison: RowComparison): void {
    this.runsCorrect += 1;
    this.rowsLost += comparison.lost;
    this.rowsDuplicated += comparison.duplicated + comparison.unexpected;
  }

  /** The line `npm run test:faults` ends with. */
  line(): string {
    return `faults: ${this.scenarios} scenarios, ${this.faultsInjected} faults injected, ${this.runsCorrect} runs ended correct, ${this.rowsLost} rows lost, ${this.rowsDuplicated} rows duplicated`;
  }
}

/** Counts job starts above one per `"<operation> <table>"` key (one run's `stats().jobStarts`). */
export function duplicatedStarts(jobStarts: Readonly<Record<string, number>>): number {
  return Object.values(jobStarts).reduce((sum, n) => sum + Math.max(0, n - 1), 0);
}
