import { describe, expect, it } from 'vitest';
import { parseChangedSince, resolveChangedSince } from '../../../src/config/changed-since.js';
import type { ChangedSince } from '../../../src/config/types.js';
import {
  exportWindow,
  nextTableState,
  refreshAfterOpenEndedLoad,
} from '../../../src/state/cursor.js';

const resolve = resolveChangedSince;

/** A configured changedSince as the config parser leaves it. */
function parsed(text: string): ChangedSince {
  const result = parseChangedSince(text);
  if (!result.ok || result.value === undefined) throw new Error(`expected ${text} to parse`);
  return result.value;
}

describe('exportWindow', () => {
  const base = {
    fullRefresh: false,
    previous: undefined,
    serverNowSeconds: 1_000_000,
    lagSeconds: 0,
    mode: 'append' as const,
    configuredMode: 'append' as const,
    resolve,
  };

  it('exports everything up to server now on the first lastRun, and saves that instant', () => {
    expect(exportWindow({ ...base, changedSince: { kind: 'lastRun' } })).toEqual({
      until: 1_000_000,
      nextWatermark: 1_000_000,
    });
  });

  it('ends a lastRun window lagSeconds before server now, and saves that instant', () => {
    expect(
      exportWindow({
        ...base,
        lagSeconds: 300,
        changedSince: { kind: 'lastRun' },
        previous: { watermark: 900_000 },
      }),
    ).toEqual({ since: 900_000, until: 999_700, nextWatermark: 999_700 });
    expect(exportWindow({ ...base, lagSeconds: 300, changedSince: { kind: 'lastRun' } })).toEqual({
      until: 999_700,
      nextWatermark: 999_700,
    });
  });

  it('never ends a lastRun window before its watermark (a lag raised since the last run): it stays empty', () => {
    expect(
      exportWindow({
        ...base,
        lagSeconds: 600,
        changedSince: { kind: 'lastRun' },
        previous: { watermark: 999_700 },
      }),
    ).toEqual({ since: 999_700, until: 999_700, nextWatermark: 999_700 });
  });

  it('does not lag a fixed or relative changedSince (no upper bound)', () => {
    expect(
      exportWindow({
        ...base,
        lagSeconds: 300,
        changedSince: parsed('-1 hour'),
      }),
    ).toEqual({ since: 996_400 });
  });

  it('continues from the saved watermark to server now', () => {
    const window = exportWindow({
      ...base,
      changedSince: { kind: 'lastRun' },
      previous: { watermark: 900_000 },
    });
    expect(window).toEqual({ since: 900_000, until: 1_000_000, nextWatermark: 1_000_000 });
  });

  it('ignores the watermark on a full refresh but still saves the next one', () => {
    const window = exportWindow({
      ...base,
      changedSince: { kind: 'lastRun' },
      fullRefresh: true,
      previous: { watermark: 900_000 },
    });
    expect(window).toEqual({ until: 1_000_000, nextWatermark: 1_000_000 });
  });

  it('gives a window that replaces the destination no upper bound, so no changed row vanishes from it', () => {
    const lastRun = { ...base, lagSeconds: 300, changedSince: { kind: 'lastRun' } as const };
    const refresh = { ...lastRun, fullRefresh: true, previous: { watermark: 900_000 } };
    const upsertRefresh = { ...refresh, mode: 'full', configuredMode: 'upsert' } as const;
    expect(exportWindow(upsertRefresh)).toEqual({ nextWatermark: 999_700 });
    const fullLoad = { mode: 'full', configuredMode: 'full' } as const;
    expect(exportWindow({ ...lastRun, ...fullLoad, previous: { watermark: 900_000 } })).toEqual({
      since: 900_000,
      nextWatermark: 999_700,
    });
    // A table whose runs append keeps the bound on a refresh: the next window starts there, and
    // a row read by both would land twice.
    expect(exportWindow({ ...refresh, mode: 'full', configuredMode: 'append' })).toEqual({
      until: 999_700,
      nextWatermark: 999_700,
    });
    // An upsert window keeps its bound too (it replaces nothing).
    const upsert = { mode: 'upsert', configuredMode: 'upsert' } as const;
    expect(exportWindow({ ...lastRun, ...upsert, previous: { watermark: 900_000 } })).toEqual({
      since: 900_000,
      until: 999_700,
      nextWatermark: 999_700,
    });
  });

  it('resolves relative windows at the server clock, unbounded', () => {
    expect(
      exportWindow({
        ...base,
        changedSince: parsed('-1 day'),
      }),
    ).toEqual({ since: 913_600 });
    expect(exportWindow({ ...base, changedSince: undefined })).toEqual({});
  });
});

describe('windows that make sense', () => {
  const base = {
    fullRefresh: false,
    serverNowSeconds: 1_000_000,
    lagSeconds: 0,
    mode: 'append' as const,
    configuredMode: 'append' as const,
    resolve,
    tableId: 'in.c-a.t',
  };

  it('stops on a watermark later than the server clock, naming table, watermark and time', () => {
    expect(() =>
      exportWindow({
        ...base,
        changedSince: { kind: 'lastRun' },
        previous: { watermark: 1_000_001 },
      }),
    ).toThrow(
      'The watermark of "in.c-a.t" is 1000001 (1970-01-12T13:46:41.000Z), later than the Storage server\'s time 1000000 (1970-01-12T13:46:40.000Z)',
    );
    // Milliseconds instead of seconds: far in the future.
    expect(() =>
      exportWindow({
        ...base,
        changedSince: { kind: 'lastRun' },
        previous: { watermark: 1_700_000_000_000 },
      }),
    ).toThrow(/later than the Storage server's time/);
  });

  it('stops on a fixed changedSince later than the server clock; accepts one equal to it', () => {
    expect(() =>
      exportWindow({
        ...base,
        changedSince: { kind: 'absolute', unixSeconds: 1_000_001 },
        previous: undefined,
      }),
    ).toThrow(
      'The changedSince of "in.c-a.t" is 1000001 (1970-01-12T13:46:41.000Z), later than the Storage server\'s time 1000000 (1970-01-12T13:46:40.000Z): nothing would be exported; set a changedSince in the past.',
    );
    expect(
      exportWindow({
        ...base,
        changedSince: { kind: 'absolute', unixSeconds: 1_000_000 },
        previous: undefined,
      }),
    ).toEqual({ since: 1_000_000 });
  });

  it('stops on a relative changedSince that lies after the server clock today; takes it on other days', () => {
    // The server's now, 1970-01-12T13:46:40Z, is a Monday.
    for (const text of ['tuesday', 'today 18:00']) {
      expect(() =>
        exportWindow({ ...base, changedSince: parsed(text), previous: undefined }),
      ).toThrow(
        /^The changedSince of "in\.c-a\.t" is \d+ \(1970-01-1\dT[\d:.]+Z\), later than the Storage server's time 1000000/,
      );
    }
    expect(exportWindow({ ...base, changedSince: parsed('monday'), previous: undefined })).toEqual({
      since: 950_400,
    });
  });

  it('accepts a watermark equal to the server clock (an empty window, not a reversed one)', () => {
    const window = exportWindow({
      ...base,
      changedSince: { kind: 'lastRun' },
      previous: { watermark: 1_000_000 },
    });
    expect(window).toEqual({ since: 1_000_000, until: 1_000_000, nextWatermark: 1_000_000 });
  });

  it('a full refresh ignores a future watermark', () => {
    const window = exportWindow({
      ...base,
      changedSince: { kind: 'lastRun' },
      fullRefresh: true,
      previous: { watermark: 2_000_000 },
    });
    expect(window).toEqual({ until: 1_000_000, nextWatermark: 1_000_000 });
  });

  it('never moves the watermark backwards after an incremental window', () => {
    const result = {
      finishedAtIso: '2026-01-01T00:00:00.000Z',
      mode: 'append',
      rows: 1,
      destination: 'out/tables/orders.csv',
    };
    const window = { since: 10, until: 5, nextWatermark: 5 };
    expect(nextTableState({ watermark: 10 }, { ...result, window }).watermark).toBe(10);
  });
});

describe('nextTableState', () => {
  it('moves the watermark only when the run produced one', () => {
    const result = {
      finishedAtIso: '2026-01-01T00:00:00.000Z',
      mode: 'upsert',
      rows: 5,
      destination: 'in.c-copy.orders',
    };
    expect(
      nextTableState({ watermark: 10 }, { ...result, window: { nextWatermark: 20 } }).watermark,
    ).toBe(20);
    expect(nextTableState({ watermark: 10 }, { ...result, window: {} }).watermark).toBe(10);
    expect(nextTableState(undefined, { ...result, window: {} })).toEqual({
      lastSuccessAt: result.finishedAtIso,
      mode: 'upsert',
      rows: 5,
      destination: 'in.c-copy.orders',
    });
  });
});

describe('after a full load without an upper bound', () => {
  const result = {
    finishedAtIso: '2026-01-01T00:00:00.000Z',
    rows: 5,
    destination: 'in.c-copy.orders',
  };
  it('the state entry says so, for a full load without a bound only', () => {
    const open = nextTableState(undefined, {
      ...result,
      mode: 'full',
      window: { nextWatermark: 20 },
    });
    expect(open).toMatchObject({ watermark: 20, openEnded: true });
    // Key order: destination stays last.
    expect(Object.keys(open).at(-1)).toBe('destination');
    expect(nextTableState(undefined, { ...result, mode: 'full', window: {} }).openEnded).toBe(true);
    const bounded = { until: 20, nextWatermark: 20 };
    expect(nextTableState(open, { ...result, mode: 'full', window: bounded })).not.toHaveProperty(
      'openEnded',
    );
    expect(nextTableState(open, { ...result, mode: 'upsert', window: {} })).not.toHaveProperty(
      'openEnded',
    );
  });

  const append = {
    changedSince: { kind: 'lastRun' } as const,
    mode: 'append' as const,
    configuredMode: 'append' as const,
    incremental: true,
    fullRefresh: false,
  };
  it('the next lastRun append is a refresh: a full load of every row', () => {
    expect(refreshAfterOpenEndedLoad(append, { watermark: 20, openEnded: true })).toEqual({
      ...append,
      mode: 'full',
      incremental: false,
      fullRefresh: true,
    });
  });
  it('nothing changes otherwise', () => {
    const openEnded = { watermark: 20, openEnded: true as const };
    expect(refreshAfterOpenEndedLoad(append, { watermark: 20 })).toBeUndefined();
    expect(refreshAfterOpenEndedLoad(append, undefined)).toBeUndefined();
    const upsert = { ...append, mode: 'upsert' as const, configuredMode: 'upsert' as const };
    expect(refreshAfterOpenEndedLoad(upsert, openEnded)).toBeUndefined();
    expect(
      refreshAfterOpenEndedLoad({ ...append, changedSince: undefined }, openEnded),
    ).toBeUndefined();
    const refresh = { ...append, mode: 'full' as const, incremental: false, fullRefresh: true };
    expect(refreshAfterOpenEndedLoad(refresh, openEnded)).toBeUndefined();
  });
});

describe('nextTableState: the destination of the watermark', () => {
  const result = {
    finishedAtIso: '2026-01-01T00:00:00.000Z',
    mode: 'append',
    rows: 1,
    destination: 'in.c-d.b',
  };

  it('records the new destination with a new watermark', () => {
    const next = nextTableState(
      { watermark: 10, destination: 'in.c-d.a' },
      { ...result, window: { nextWatermark: 20 } },
    );
    expect(next).toMatchObject({ watermark: 20, destination: 'in.c-d.b' });
  });

  it('keeps the old destination when the window made no watermark (a fixed changedSince)', () => {
    const kept = nextTableState(
      { watermark: 10, destination: 'in.c-d.a' },
      { ...result, window: { since: 5 } },
    );
    expect(kept).toMatchObject({ watermark: 10, destination: 'in.c-d.a' });
    expect(
      nextTableState({ watermark: 10 }, { ...result, window: { since: 5 } }),
    ).not.toHaveProperty('destination');
    expect(nextTableState(undefined, { ...result, window: {} }).destination).toBe('in.c-d.b');
  });

  it('records the new destination after a copy of every row (no start), which holds them all', () => {
    const full = nextTableState(
      { watermark: 10, destination: 'in.c-d.a' },
      { ...result, mode: 'full', window: {} },
    );
    expect(full).toMatchObject({ watermark: 10, destination: 'in.c-d.b', openEnded: true });
  });
});
