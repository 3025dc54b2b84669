import { describe, expect, it } from 'vitest';
import { planTables } from '../../../src/plan/plan-tables.js';
import { entryForDestination, movedDestinationOf } from '../../../src/state/destination-move.js';
import { tableConfig, tableDetail } from '../../helpers/fixtures.js';

const bucket = [tableDetail('customers', { primaryKey: [] })];

describe('movedDestinationOf', () => {
  const lastRun = { changedSince: { kind: 'lastRun' as const }, fullRefresh: false };
  const entry = { watermark: 10, destination: 'out/tables/a.csv' };

  it('names the old destination of a lastRun watermark made for another table', () => {
    expect(movedDestinationOf(entry, 'out/tables/b.csv', lastRun)).toBe('out/tables/a.csv');
  });

  it('is undefined when nothing moved, or the watermark does not start the window', () => {
    expect(movedDestinationOf(entry, 'out/tables/a.csv', lastRun)).toBeUndefined();
    expect(movedDestinationOf({ watermark: 10 }, 'out/tables/b.csv', lastRun)).toBeUndefined();
    expect(
      movedDestinationOf({ destination: 'out/tables/a.csv' }, 'out/tables/b.csv', lastRun),
    ).toBeUndefined();
    expect(
      movedDestinationOf(entry, 'out/tables/b.csv', { ...lastRun, fullRefresh: true }),
    ).toBeUndefined();
    expect(
      movedDestinationOf(entry, 'out/tables/b.csv', {
        changedSince: { kind: 'absolute', unixSeconds: 1_700_000_000 },
        fullRefresh: false,
      }),
    ).toBeUndefined();
  });
});

describe('entryForDestination', () => {
  const lastRun = { kind: 'lastRun' as const };
  const planOf = (primaryKey: string[] = []) => {
    const [plan] = planTables(
      {
        tables: [
          tableConfig('customers', { incremental: true, primaryKey, changedSince: lastRun }),
        ],
      },
      'in.c-sales',
      bucket,
    );
    if (!plan) throw new Error('no plan');
    return plan;
  };
  const entry = { watermark: 10, destination: 'in.c-d.clients_a' };

  it('drops the entry of a lastRun table whose destination moved, keeping the load mode', () => {
    expect(entryForDestination(planOf(['id']), entry, 'in.c-d.clients_b', true)).toEqual({
      entry: undefined,
      warnings: [
        'The destination of "in.c-sales.customers" moved since its last run (from in.c-d.clients_a to in.c-d.clients_b): its watermark, made for in.c-d.clients_a, is not used, so every row is copied.',
      ],
    });
  });

  it('keeps the entry when the destination is the one of the watermark, or the entry names none', () => {
    expect(entryForDestination(planOf(), entry, 'in.c-d.clients_a', true)).toEqual({
      entry,
      warnings: [],
    });
    expect(entryForDestination(planOf(), { watermark: 10 }, 'in.c-d.x', true)).toEqual({
      entry: { watermark: 10 },
      warnings: [],
    });
  });

  it('announces a lastRun append without a watermark for its destination, not an upsert', () => {
    const appendsAgain =
      '"in.c-sales.customers" has no watermark for in.c-d.clients_b, so this run appends every row to it: if that table already holds rows of an earlier copy (ex-storage, another configuration), they are appended again.';
    expect(entryForDestination(planOf(), undefined, 'in.c-d.clients_b', true).warnings).toEqual([
      appendsAgain,
    ]);
    expect(entryForDestination(planOf(), entry, 'in.c-d.clients_b', true).warnings).toHaveLength(2);
    expect(entryForDestination(planOf(), entry, 'in.c-d.clients_b', true).warnings[1]).toBe(
      appendsAgain,
    );
    expect(
      entryForDestination(planOf(['id']), undefined, 'in.c-d.clients_b', true).warnings,
    ).toEqual([]);
  });

  it('in standalone mode drops a moved entry without the append warning: the sync record decides', () => {
    expect(entryForDestination(planOf(), entry, 'in.c-d.clients_b', false)).toEqual({
      entry: undefined,
      warnings: [expect.stringContaining('moved since its last run') as unknown as string],
    });
    expect(entryForDestination(planOf(), undefined, 'in.c-d.clients_b', false).warnings).toEqual(
      [],
    );
  });
});
