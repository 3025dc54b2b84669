import { describe, expect, it } from 'vitest';
import { formatProgressLine } from '../../../src/progress/progress-line.js';
import { TableProgress } from '../../../src/transfer/progress.js';

function progressAt(clock: { ms: number }): TableProgress {
  const p = new TableProgress('in.c-sales.orders', 'out/tables/orders.csv', () => clock.ms);
  p.start(clock.ms);
  return p;
}

describe('formatProgressLine', () => {
  it('has the stable format: phase, slices done/total, MB, MB/s, seconds', () => {
    const clock = { ms: 1_000_000 };
    const p = progressAt(clock);
    p.phase = 'transfer';
    p.slicesTotal = 30;
    p.slicesDone = 12;
    p.bytes = 312_800_000;
    clock.ms += 8_000;
    expect(formatProgressLine(p, clock.ms)).toBe(
      'progress in.c-sales.orders: transfer, slices 12/30, 312.8 MB, 39.1 MB/s, 8.0 s',
    );
  });

  it('shows each phase by name and a zero rate before time has passed', () => {
    const clock = { ms: 5 };
    const p = progressAt(clock);
    p.phase = 'export job';
    expect(formatProgressLine(p, clock.ms)).toBe(
      'progress in.c-sales.orders: export job, slices 0/0, 0.0 MB, 0.0 MB/s, 0.0 s',
    );
    p.phase = 'import job';
    expect(formatProgressLine(p, clock.ms + 1500)).toMatch(/: import job, slices 0\/0, .* 1\.5 s$/);
  });

  it('freezes the elapsed time of a finished table', () => {
    const clock = { ms: 0 };
    const p = progressAt(clock);
    p.bytes = 2_000_000;
    p.finish(2_000, 'failed', 'boom');
    expect(formatProgressLine(p, 60_000)).toBe(
      'progress in.c-sales.orders: failed, slices 0/0, 2.0 MB, 1.0 MB/s, 2.0 s',
    );
  });

  it('matches the documented pattern for any counters', () => {
    const pattern =
      /^progress \S+: [a-z ]+, slices \d+\/\d+, \d+\.\d MB, \d+\.\d MB\/s, \d+\.\d s$/;
    const clock = { ms: 0 };
    for (let i = 0; i < 50; i++) {
      const p = progressAt(clock);
      p.slicesTotal = i * 7;
      p.slicesDone = i * 3;
      p.bytes = i * 123_456_789;
      expect(formatProgressLine(p, i * 997)).toMatch(pattern);
    }
  });
});
