import { describe, expect, it } from 'vitest';
import { checkIncarnation, type IncarnationTable } from '../../../src/state/source-recreated.js';

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
