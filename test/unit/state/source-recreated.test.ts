import { describe, expect, it } from 'vitest';
import { nextTableState } from '../../../src/state/cursor.js';
import {
  checkIncarnation,
  createdSecondsOf,
  type IncarnationTable,
} from '../../../src/state/source-recreated.js';
import { promote } from '../../../src/state/sync-record.js';

const TABLE: IncarnationTable = {
  sourceId: 'in.c-a.t',
  changedSince: { kind: 'lastRun' },
  fullRefresh: false,
  configuredMode: 'upsert',
  keyFrom: 'configured',
  source: { created: '2025-03-01T01:00:00+0100' },
};
/** 2025-03-01T00:00:00Z: the same instant as TABLE's `created`. */
const CREATED = 1_740_787_200;
const ENTRY = { watermark: CREATED + 600, mode: 'upsert', sourceCreated: CREATED };

describe('checkIncarnation', () => {
  it('goes on from an entry made from the same table, or one that cannot tell', () => {
    expect(checkIncarnation(TABLE, ENTRY)).toEqual({ previous: ENTRY, warnings: [] });
    const older = { watermark: CREATED + 600 };
    expect(checkIncarnation(TABLE, older)).toEqual({ previous: older, warnings: [] });
    for (const created of [null, undefined, 'yesterday', '2025-03-01T00:00:00.5Z']) {
      const table = { ...TABLE, source: { created } };
      expect(checkIncarnation(table, ENTRY)).toEqual({ previous: ENTRY, warnings: [] });
    }
  });

  it('judges only lastRun tables that go on from a watermark', () => {
    const recreated = { ...TABLE, source: { created: '2025-03-02T00:00:00Z' } };
    const unjudged = [
      { ...recreated, changedSince: undefined },
      { ...recreated, changedSince: { kind: 'relative' } as never },
      { ...recreated, fullRefresh: true },
    ];
    for (const table of unjudged) {
      expect(checkIncarnation(table, ENTRY)).toEqual({ previous: ENTRY, warnings: [] });
    }
    const noWatermark = { mode: 'upsert', sourceCreated: CREATED };
    expect(checkIncarnation(recreated, noWatermark)).toEqual({
      previous: noWatermark,
      warnings: [],
    });
  });

  it('drops the entry of a table created again, unless it appends: then it refuses', () => {
    const recreated = { ...TABLE, source: { created: '2025-03-02T00:00:00Z' } };
    const upsert = checkIncarnation(recreated, ENTRY);
    expect(upsert).toEqual({
      previous: undefined,
      warnings: [
        'The source table "in.c-a.t" was created again since its last run (created 2025-03-02T00:00:00.000Z, the one copied before 2025-03-01T00:00:00.000Z): its watermark is not used, so every row is copied.',
      ],
    });
    expect(checkIncarnation({ ...recreated, configuredMode: 'full' }, ENTRY)).toMatchObject({
      previous: undefined,
    });
    expect(checkIncarnation({ ...recreated, configuredMode: 'append' }, ENTRY)).toEqual({
      refusal: expect.stringMatching(
        /cannot be told apart from the rows appended before, so nothing was copied; run it with --full-refresh "in\.c-a\.t"/,
      ) as unknown,
    });
  });

  it('refuses a table whose key came from the source and is gone after upserts', () => {
    const lost = { ...TABLE, keyFrom: 'source', configuredMode: 'append' } as const;
    expect(checkIncarnation(lost, ENTRY)).toEqual({
      refusal: expect.stringMatching(
        /^The source table "in\.c-a\.t" no longer has a primary key/,
      ) as unknown,
    });
    // A configured key set to [] is the user's choice; an entry that appended stays appending.
    expect(checkIncarnation({ ...lost, keyFrom: 'configured' }, ENTRY)).toMatchObject({
      warnings: [],
    });
    expect(checkIncarnation(lost, { ...ENTRY, mode: 'append' })).toMatchObject({ warnings: [] });
  });
});

describe('the creation recorded with a watermark', () => {
  const result = {
    finishedAtIso: '2025-03-01T00:00:00.000Z',
    mode: 'upsert',
    rows: 1,
    destination: 'out/tables/orders.csv',
  };
  const previous = { watermark: 1_000_000, mode: 'upsert', sourceCreated: 500_000 };

  it('stays with the watermark a fixed window keeps, and moves with a new one', () => {
    const kept = nextTableState(previous, {
      ...result,
      window: { since: 1_900_000 },
      sourceCreated: 1_800_000,
    });
    expect(kept).toMatchObject({ watermark: 1_000_000, sourceCreated: 500_000 });
    const moved = nextTableState(previous, {
      ...result,
      window: { since: 1_000_000, until: 2_000_000, nextWatermark: 2_000_000 },
      sourceCreated: 1_800_000,
    });
    expect(moved).toMatchObject({ watermark: 2_000_000, sourceCreated: 1_800_000 });
  });

  it('is kept when an answer has no readable created, so a later re-creation is still seen', () => {
    const next = nextTableState(previous, {
      ...result,
      window: { since: 1_000_000, until: 2_000_000, nextWatermark: 2_000_000 },
    });
    expect(next).toMatchObject({ watermark: 2_000_000, sourceCreated: 500_000 });
  });

  it('is the same rule in the sync record (promote)', () => {
    const source = { stack: 'https://s', projectId: 1, tableId: 'in.c-a.t' };
    const record = {
      source: { ...source, tableCreated: 500_000 },
      watermark: 1_000_000,
      mode: 'upsert',
      runId: 'r1',
    };
    const pending = {
      source: { ...source, tableCreated: 1_800_000 },
      fileId: 1,
      runId: 'r2',
      mode: 'upsert',
      rows: 1,
    };
    expect(promote(record, { ...pending, since: 1_900_000 }, 9).source.tableCreated).toBe(500_000);
    const moved = { ...pending, since: 1_000_000, until: 2_000_000, nextWatermark: 2_000_000 };
    expect(promote(record, moved, 9).source.tableCreated).toBe(1_800_000);
    const unreadable = { ...moved, source };
    expect(promote(record, unreadable, 9).source.tableCreated).toBe(500_000);
  });

  it('is never a time the state file or the record cannot take back (before 1970)', () => {
    expect(createdSecondsOf({ source: { created: '1969-12-31T23:59:59+0000' } })).toBeUndefined();
    expect(createdSecondsOf({ source: { created: '1970-01-01T00:00:00+0000' } })).toBe(0);
  });
});
