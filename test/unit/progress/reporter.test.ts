import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ProgressView } from '../../../src/progress/progress-bar.js';
import { startProgressReporter } from '../../../src/progress/reporter.js';
import { TableProgress } from '../../../src/transfer/progress.js';

describe('startProgressReporter', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  function twoTables(clock: { ms: number }) {
    const active = new TableProgress('in.c-s.a', 'x', () => clock.ms);
    active.start(0);
    active.phase = 'transfer';
    const queued = new TableProgress('in.c-s.b', 'y', () => clock.ms);
    return { active, queued };
  }

  it('logs one line per active table each interval and one when a table finishes', () => {
    const lines: string[] = [];
    const clock = { ms: 0 };
    const { active, queued } = twoTables(clock);
    const reporter = startProgressReporter({
      progresses: [active, queued],
      logger: { info: (msg: string) => lines.push(msg) },
      nowMs: () => clock.ms,
      intervalMs: 5_000,
    });
    clock.ms = 10_000;
    vi.advanceTimersByTime(10_000);
    expect(lines).toEqual([
      'progress in.c-s.a: transfer, slices 0/0, 0.0 MB, 0.0 MB/s, 10.0 s',
      'progress in.c-s.a: transfer, slices 0/0, 0.0 MB, 0.0 MB/s, 10.0 s',
    ]);
    active.finish(10_000, 'done');
    reporter.tableFinished(active);
    expect(lines.at(-1)).toBe('progress in.c-s.a: done, slices 0/0, 0.0 MB, 0.0 MB/s, 10.0 s');
    reporter.stop();
    vi.advanceTimersByTime(60_000);
    expect(lines).toHaveLength(3);
  });

  it('on a terminal the bar shows progress: only each table’s final line is logged', () => {
    const lines: string[] = [];
    const clock = { ms: 0 };
    const { active, queued } = twoTables(clock);
    const updates: number[] = [];
    const stop = vi.fn();
    const view: ProgressView = { update: (_p, now) => updates.push(now), stop };
    const reporter = startProgressReporter({
      progresses: [active, queued],
      logger: { info: (msg: string) => lines.push(msg) },
      nowMs: () => clock.ms,
      intervalMs: 5_000,
      view,
    });
    clock.ms = 10_000;
    vi.advanceTimersByTime(10_000);
    expect(lines).toEqual([]);
    expect(updates.length).toBe(40);
    active.finish(10_000, 'done');
    reporter.tableFinished(active);
    expect(lines).toEqual(['progress in.c-s.a: done, slices 0/0, 0.0 MB, 0.0 MB/s, 10.0 s']);
    reporter.stop();
    vi.advanceTimersByTime(60_000);
    expect(lines).toHaveLength(1);
    expect(stop).toHaveBeenCalledOnce();
  });
});
