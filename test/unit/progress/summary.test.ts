import { describe, expect, it } from 'vitest';
import type { TablePlan } from '../../../src/plan/plan-tables.js';
import type { TableOutcome } from '../../../src/run.js';
import { formatBytes, formatSummaryTable, summarize } from '../../../src/summary.js';
import { TableProgress } from '../../../src/transfer/progress.js';

function outcome(
  sourceId: string,
  status: TableOutcome['status'],
  fill: (p: TableProgress) => void,
  extra: Partial<TableOutcome> = {},
): TableOutcome {
  const clock = { ms: 0 };
  const progress = new TableProgress(sourceId, `out/tables/${sourceId}.csv`, () => clock.ms);
  fill(progress);
  return { plan: { sourceId } as TablePlan, status, progress, ...extra };
}

describe('summary', () => {
  const outcomes: TableOutcome[] = [
    outcome(
      'in.c-s.orders',
      'success',
      (p) => {
        p.start(0);
        p.finish(4_000, 'done');
      },
      { result: { rows: 1_000, bytes: 8_000_000 } },
    ),
    outcome(
      'in.c-s.broken',
      'failed',
      (p) => {
        p.start(1_000);
        p.bytes = 1_000_000;
        p.rows = 10;
        p.finish(3_000, 'failed', 'slice 2 failed');
      },
      { error: new Error('slice 2 failed') },
    ),
    outcome('in.c-s.later', 'skipped', () => undefined),
    outcome('in.c-s.claimed', 'skipped', (p) => {
      p.start(2_000);
      p.bytes = 500_000;
      p.rows = 20;
      p.finish(3_000, 'skipped', 'another run holds its destination table');
    }),
  ];

  it('has a row for every table, failed and skipped included, and the totals', () => {
    const summary = summarize(outcomes, 10_000);
    expect(summary.rows.map((r) => [r.table, r.status])).toEqual([
      ['in.c-s.orders', 'success'],
      ['in.c-s.broken', 'failed'],
      ['in.c-s.later', 'skipped'],
      ['in.c-s.claimed', 'skipped'],
    ]);
    expect(summary.rows[0]).toMatchObject({
      rows: 1_000,
      bytes: 8_000_000,
      seconds: 4,
      megabytesPerSecond: 2,
    });
    // Rows count what landed; a failed or skipped table landed nothing, whatever it had read.
    expect(summary.rows[1]).toMatchObject({
      rows: 0,
      bytes: 1_000_000,
      seconds: 2,
      error: 'slice 2 failed',
    });
    expect(summary.rows[2]).toMatchObject({ rows: 0, bytes: 0, seconds: 0, megabytesPerSecond: 0 });
    expect(summary.rows[3]).toMatchObject({
      rows: 0,
      bytes: 500_000,
      error: 'another run holds its destination table',
    });
    expect(summary.totals).toEqual({
      rows: 1_000,
      bytes: 9_500_000,
      seconds: 4,
      megabytesPerSecond: 2.38,
    });
  });

  it('totals the wall time of overlapping tables, not their sum or the longest one', () => {
    const overlapping = [
      outcome('in.c-s.a', 'success', (p) => {
        p.start(0);
        p.finish(4_000, 'done');
      }),
      outcome('in.c-s.b', 'success', (p) => {
        p.start(3_000);
        p.finish(9_000, 'done');
      }),
    ];
    expect(summarize(overlapping, 20_000).totals.seconds).toBe(9);
  });

  it('formats a fixed-width table with one line per table plus the total', () => {
    const text = formatSummaryTable(summarize(outcomes, 10_000));
    expect(text.split('\n')).toEqual([
      'table           destination                    status   rows     size  seconds  MB/s  error',
      'in.c-s.orders   out/tables/in.c-s.orders.csv   success  1000  8.00 MB     4.00  2.00',
      'in.c-s.broken   out/tables/in.c-s.broken.csv   failed      0  1.00 MB     2.00  0.50  slice 2 failed',
      'in.c-s.later    out/tables/in.c-s.later.csv    skipped     0      0 B     0.00  0.00',
      'in.c-s.claimed  out/tables/in.c-s.claimed.csv  skipped     0   500 kB     1.00  0.50  another run holds its destination table',
      'total                                                   1000  9.50 MB     4.00  2.38',
    ]);
  });

  it.each([
    [0, '0 B'],
    [999, '999 B'],
    [1_000, '1.00 kB'],
    [12_345_678, '12.3 MB'],
    [376_600_000, '377 MB'],
    [1_508_000_000, '1.51 GB'],
  ])('formats %d bytes as %s', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });
});
