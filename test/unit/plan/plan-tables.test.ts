import { describe, expect, it } from 'vitest';
import {
  configuredTableCount,
  destinationOfRecord,
  planTables,
} from '../../../src/plan/plan-tables.js';
import { tableConfig, tableDetail } from '../../helpers/fixtures.js';

const NONE = { only: [], fullRefresh: [], fullRefreshAll: false };

const bucket = [
  tableDetail('orders'),
  tableDetail('customers', { primaryKey: [] }),
  tableDetail('empty'),
];

describe('planTables', () => {
  it('resolves names, full ids, modes and output names', () => {
    const plans = planTables(
      {
        tables: [
          tableConfig('orders', { incremental: true, primaryKey: ['id'] }),
          tableConfig('in.c-sales.customers', {
            incremental: true,
            destination: 'out.c-x.clients',
          }),
          tableConfig('empty', { destination: 'nothing' }),
        ],
      },
      'in.c-sales',
      bucket,
    );
    expect(plans.map((p) => [p.sourceId, p.mode, p.fileName, p.destinationId])).toEqual([
      ['in.c-sales.orders', 'upsert', 'orders.csv', undefined],
      ['in.c-sales.customers', 'append', 'out.c-x.clients.csv', 'out.c-x.clients'],
      ['in.c-sales.empty', 'full', 'nothing.csv', undefined],
    ]);
  });

  it('takes the source key and a full load for fullSync', () => {
    const [plan] = planTables(
      {
        tables: [
          tableConfig('orders', { fullSync: true, incremental: true, primaryKey: ['name'] }),
        ],
      },
      'in.c-sales',
      bucket,
    );
    expect(plan).toMatchObject({ primaryKey: ['id'], incremental: false, mode: 'full' });
  });

  it('keeps the changedSince window for fullSync, as ex-storage does', () => {
    const changedSince = { kind: 'absolute', unixSeconds: 1_740_787_200 } as const;
    const [plan] = planTables(
      { tables: [tableConfig('orders', { fullSync: true, changedSince })] },
      'in.c-sales',
      bucket,
    );
    expect(plan).toMatchObject({ changedSince, mode: 'full' });
  });

  it('reports every problem at once', () => {
    expect(() =>
      planTables(
        {
          tables: [
            tableConfig('missing'),
            tableConfig('in.c-other.orders'),
            tableConfig('orders', { primaryKey: ['nope'] }),
            tableConfig('customers', { columns: ['id', 'ghost'] }),
          ],
        },
        'in.c-sales',
        bucket,
      ),
    ).toThrow(
      /The table "missing" was not found in the bucket "in.c-sales"\. .*not in the bucket "in\.c-sales".*primaryKey: the table "in\.c-sales\.orders" has no column "nope".*has no column "ghost"/,
    );
  });

  it('runs only --table selections, skips disabled tables, and full-refreshes on request', () => {
    const config = {
      tables: [
        tableConfig('orders', {
          incremental: true,
          primaryKey: ['id'],
          changedSince: { kind: 'lastRun' } as const,
        }),
        tableConfig('customers'),
        tableConfig('empty', { enabled: false }),
      ],
    };
    expect(planTables(config, 'in.c-sales', bucket).map((p) => p.configName)).toEqual([
      'orders',
      'customers',
    ]);
    const [only] = planTables(config, 'in.c-sales', bucket, {
      only: ['orders'],
      fullRefresh: ['orders'],
      fullRefreshAll: false,
    });
    expect(only).toMatchObject({
      configName: 'orders',
      fullRefresh: true,
      incremental: false,
      mode: 'full',
    });
    expect(() =>
      planTables(config, 'in.c-sales', bucket, {
        only: ['nope'],
        fullRefresh: [],
        fullRefreshAll: false,
      }),
    ).toThrow('No configured table is named "nope"');
  });

  it('--table and --full-refresh also take the source table id, as the logs and the state name it', () => {
    const config = { tables: [tableConfig('orders'), tableConfig('customers')] };
    const plans = planTables(config, 'in.c-sales', bucket, {
      only: ['in.c-sales.orders'],
      fullRefresh: ['in.c-sales.orders'],
      fullRefreshAll: false,
    });
    expect(plans.map((p) => [p.sourceId, p.fullRefresh])).toEqual([['in.c-sales.orders', true]]);
    expect(() =>
      planTables(config, 'in.c-sales', bucket, {
        only: ['in.c-other.orders'],
        fullRefresh: [],
        fullRefreshAll: false,
      }),
    ).toThrow('No configured table is named "in.c-other.orders"');
  });

  it('shows the first 50 problems and counts the rest, however many tables are missing', () => {
    const tables = Array.from({ length: 60_000 }, (_, i) => tableConfig(`t${i}`));
    let message = '';
    try {
      planTables({ tables }, 'in.c-sales', bucket);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/^The table "t0" was not found in the bucket "in\.c-sales"/);
    expect(message).toMatch(/The table "t49" was not found[^]*and 59950 more problems\.$/);
    expect(message).not.toContain('"t50"');
  });

  it('suggests the near name of a missing table or a mistyped --table', () => {
    expect(() => planTables({ tables: [tableConfig('ordres')] }, 'in.c-sales', bucket)).toThrow(
      'The table "ordres" was not found in the bucket "in.c-sales" (did you mean "orders"?).',
    );
    const config = { tables: [tableConfig('orders'), tableConfig('customers')] };
    expect(() =>
      planTables(config, 'in.c-sales', bucket, {
        only: ['order'],
        fullRefresh: [],
        fullRefreshAll: false,
      }),
    ).toThrow(
      'No configured table is named "order" (configured: orders, customers; did you mean "orders"?).',
    );
  });

  it('says that exclude leaves out a table --table names, rather than that it is not configured', () => {
    const config = { tables: [tableConfig('*')], exclude: ['cust*'] };
    const only = (name: string) =>
      planTables(config, 'in.c-sales', bucket, {
        only: [name],
        fullRefresh: [],
        fullRefreshAll: false,
      });
    expect(only('orders').map((p) => p.sourceId)).toEqual(['in.c-sales.orders']);
    for (const name of ['customers', 'in.c-sales.customers']) {
      expect(() => only(name)).toThrow(
        `The table "${name}" is left out by parameters.exclude ("cust*"): remove it from exclude to copy it.`,
      );
    }
  });

  it('refuses a --full-refresh of a table that --table leaves out (it would refresh nothing)', () => {
    const config = { tables: [tableConfig('orders'), tableConfig('customers')] };
    const select = (only: string[], fullRefresh: string[]) => () =>
      planTables(config, 'in.c-sales', bucket, { only, fullRefresh, fullRefreshAll: false });
    expect(select(['orders'], ['customers'])).toThrow(
      '--full-refresh "customers" names a table that --table does not select, so nothing would be refreshed; add --table "customers" or leave the refresh out.',
    );
    expect(select(['orders'], ['orders'])()).toHaveLength(1);
    expect(select([], ['customers'])()).toHaveLength(2);
  });

  it('refuses a --full-refresh of a disabled table without --table (it would refresh nothing)', () => {
    const config = {
      tables: [tableConfig('orders'), tableConfig('customers', { enabled: false })],
    };
    const select = (only: string[], fullRefresh: string[]) => () =>
      planTables(config, 'in.c-sales', bucket, { only, fullRefresh, fullRefreshAll: false });
    expect(select([], ['customers'])).toThrow(
      '--full-refresh "customers" names a disabled table, so nothing would be refreshed; add --table "customers" to run it anyway, or enable it.',
    );
    expect(select(['customers'], ['customers'])()).toHaveLength(1);
  });

  it('refuses a name that picks one item by its source and another by its destination', () => {
    const config = {
      tables: [
        tableConfig('orders', { destination: 'orders_history' }),
        tableConfig('customers', { destination: 'orders' }),
      ],
    };
    const select = (only: string[], fullRefresh: string[]) => () =>
      planTables(config, 'in.c-sales', bucket, { only, fullRefresh, fullRefreshAll: false });
    const ambiguous =
      '"orders" names both the source table of parameters.tables[0] ("orders") and the destination of parameters.tables[1] ("customers"): name the source table id "in.c-sales.orders" or the destination "orders" instead.';
    expect(select([], ['orders'])).toThrow(ambiguous);
    expect(select(['orders'], [])).toThrow(ambiguous);
    expect(select(['in.c-sales.orders'], ['in.c-sales.orders'])()).toHaveLength(1);
    // The same source copied twice is one name for both copies, not an ambiguity.
    const twice = {
      tables: [
        tableConfig('orders', { destination: 'a' }),
        tableConfig('orders', { destination: 'b' }),
      ],
    };
    expect(planTables(twice, 'in.c-sales', bucket, { ...NONE, only: ['orders'] })).toHaveLength(2);
  });

  it('counts the tables the items stand for, patterns expanded', () => {
    const config = { tables: [tableConfig('orders'), tableConfig('*'), tableConfig('nothing_*')] };
    expect(configuredTableCount(config, 'in.c-sales', bucket)).toBe(bucket.length);
  });

  it('takes --table of a configured pattern that matches nothing now: no table, no error', () => {
    const config = { tables: [tableConfig('orders'), tableConfig('archive_*')] };
    expect(planTables(config, 'in.c-sales', bucket, { ...NONE, only: ['archive_*'] })).toEqual([]);
  });

  it('names the row form’s own keys in a problem found against the source table', () => {
    const row = tableConfig('orders', { primaryKey: ['idd'], configPath: 'parameters' });
    expect(() => planTables({ tables: [row] }, 'in.c-sales', bucket)).toThrow(
      /^parameters\.primaryKey: the table "in\.c-sales\.orders" has no column "idd"/,
    );
  });

  it('refuses two tables writing to the same output', () => {
    expect(() =>
      planTables(
        { tables: [tableConfig('orders'), tableConfig('customers', { destination: 'orders' })] },
        'in.c-sales',
        bucket,
      ),
    ).toThrow(
      'The items parameters.tables[0] ("orders") and parameters.tables[1] ("customers") both write into the destination table "orders": give one of them another "destination".',
    );
  });
});

describe('planTables: one destination table for two items', () => {
  const standalone = { url: 'http://127.0.0.1:1', token: 'x', bucket: 'in.c-copy' };
  const plan = (
    tables: ReturnType<typeof tableConfig>[],
    where: { destination?: typeof standalone; defaultBucket?: string },
    only: string[] = [],
  ) => planTables({ tables, ...where }, 'in.c-sales', bucket, { ...NONE, only });

  it('takes a short name and its full id in the destination bucket as one table (standalone)', () => {
    const tables = [
      tableConfig('orders', { destination: 'in.c-copy.dupe' }),
      tableConfig('customers', { destination: 'dupe' }),
    ];
    expect(() => plan(tables, { destination: standalone })).toThrow(
      'The items parameters.tables[0] ("orders") and parameters.tables[1] ("customers") both write into the destination table "in.c-copy.dupe": give one of them another "destination".',
    );
    // Another bucket is another table.
    expect(plan(tables, { destination: { ...standalone, bucket: 'in.c-other' } })).toHaveLength(2);
  });

  it('takes a short name and its full id in the default bucket as one table (platform)', () => {
    const tables = [
      tableConfig('orders', { destination: 'in.c-app-777.orders' }),
      tableConfig('customers', { destination: 'orders' }),
    ];
    expect(() => plan(tables, { defaultBucket: 'in.c-app-777' })).toThrow(
      'both write into the destination table "in.c-app-777.orders"',
    );
    // Without a known default bucket the short name is a file of its own in out/tables.
    expect(plan(tables, {})).toHaveLength(2);
  });

  it('compares table ids regardless of case, as Keboola does', () => {
    const tables = [
      tableConfig('orders', { destination: 'Orders' }),
      tableConfig('customers', { destination: 'in.c-copy.ORDERS' }),
    ];
    expect(() => plan(tables, { destination: standalone })).toThrow(
      'both write into the destination table "in.c-copy.Orders" (also written "in.c-copy.ORDERS"): give',
    );
  });

  it('checks the tables a pattern expands to, and items this run does not select', () => {
    const tables = [tableConfig('*'), tableConfig('empty', { destination: 'in.c-copy.orders' })];
    expect(() => plan(tables, { destination: standalone }, ['customers'])).toThrow(
      'The items parameters.tables[0] (the pattern "*", table "orders") and parameters.tables[1] ("empty") both write into the destination table "in.c-copy.orders": give one of them another "destination".',
    );
  });
});

describe('planTables: --table by the destination the job shows', () => {
  const standalone = { url: 'http://127.0.0.1:1', token: 'x', bucket: 'in.c-copy' };
  const selected = (config: Parameters<typeof planTables>[0], name: string) =>
    planTables(config, 'in.c-sales', bucket, { ...NONE, only: [name] }).map((p) => p.sourceId);

  it('matches the destination table id in the destination bucket (standalone)', () => {
    const config = {
      tables: [tableConfig('orders'), tableConfig('customers', { destination: 'clients' })],
      destination: standalone,
    };
    expect(selected(config, 'in.c-copy.orders')).toEqual(['in.c-sales.orders']);
    expect(selected(config, 'in.c-copy.clients')).toEqual(['in.c-sales.customers']);
    const pattern = { tables: [tableConfig('*')], destination: standalone };
    expect(selected(pattern, 'in.c-copy.customers')).toEqual(['in.c-sales.customers']);
  });

  it('matches the table id in the default bucket and the out/tables file (platform)', () => {
    const config = { tables: [tableConfig('orders')], defaultBucket: 'in.c-app-777' };
    expect(selected(config, 'in.c-app-777.orders')).toEqual(['in.c-sales.orders']);
    expect(selected(config, 'out/tables/orders.csv')).toEqual(['in.c-sales.orders']);
    expect(() => selected(config, 'in.c-copy.orders')).toThrow(
      'No configured table is named "in.c-copy.orders"',
    );
  });
});

describe('planTables: one source table twice', () => {
  const lastRun = { kind: 'lastRun' } as const;

  it('refuses it when a copy uses lastRun (the state entry, keyed by source id, would be shared)', () => {
    const config = {
      tables: [
        tableConfig('orders', { changedSince: lastRun, destination: 'a' }),
        tableConfig('in.c-sales.orders', { destination: 'b' }),
      ],
    };
    expect(() => planTables(config, 'in.c-sales', bucket)).toThrow(
      'The table "in.c-sales.orders" is configured more than once (tables[0] and tables[1]) with changedSince "lastRun"',
    );
  });

  it('allows it without lastRun', () => {
    const twice = [
      tableConfig('orders', { destination: 'a' }),
      tableConfig('orders', { destination: 'b' }),
    ];
    expect(planTables({ tables: twice }, 'in.c-sales', bucket)).toHaveLength(2);
    const disabled = [
      tableConfig('orders', { destination: 'a' }),
      tableConfig('orders', { destination: 'b', enabled: false }),
    ];
    expect(planTables({ tables: disabled }, 'in.c-sales', bucket)).toHaveLength(1);
  });

  it('refuses it when a copy is disabled, as --table runs disabled copies', () => {
    for (const lastRunCopy of [0, 1]) {
      const disabled = [
        tableConfig('orders', { destination: 'a' }),
        tableConfig('orders', { destination: 'b', enabled: false }),
      ].map((table, index) =>
        index === lastRunCopy ? { ...table, changedSince: lastRun } : table,
      );
      expect(() => planTables({ tables: disabled }, 'in.c-sales', bucket)).toThrow(
        'The table "in.c-sales.orders" is configured more than once (tables[0] and tables[1]) with changedSince "lastRun"',
      );
    }
  });
});

describe('planTables: primary key and columns', () => {
  it('refuses a key column left out of the copied columns', () => {
    const config = {
      tables: [
        tableConfig('orders', { incremental: true, primaryKey: ['id'], columns: ['amount'] }),
      ],
    };
    expect(() => planTables(config, 'in.c-sales', bucket)).toThrow(
      'parameters.tables[0].primaryKey: the key column "id" is not among the copied columns (amount); add it to "columns".',
    );
  });

  it('says where the key came from when fullSync or "source" took it from the source table', () => {
    const fullSync = { tables: [tableConfig('orders', { fullSync: true, columns: ['amount'] })] };
    expect(() => planTables(fullSync, 'in.c-sales', bucket)).toThrow(
      'parameters.tables[0].columns: fullSync takes the source table\'s primary key, and its column "id" is not among the copied columns (amount); add it to "columns".',
    );
    const source = {
      tables: [tableConfig('orders', { primaryKey: 'source', columns: ['amount'] })],
    };
    expect(() => planTables(source, 'in.c-sales', bucket)).toThrow(
      'parameters.tables[0].columns: primaryKey "source" takes the source table\'s primary key, and its column "id" is not among the copied columns (amount); add it to "columns".',
    );
  });
});

describe('destinationOfRecord', () => {
  const [short, full] = planTables(
    {
      tables: [tableConfig('orders'), tableConfig('customers', { destination: 'in.c-x.clients' })],
    },
    'in.c-sales',
    bucket,
  );
  if (!short || !full) throw new Error('no plans');

  it('is the table id wherever the bucket is known, the out/tables file otherwise', () => {
    expect(destinationOfRecord(short, {})).toBe('out/tables/orders.csv');
    expect(destinationOfRecord(short, { defaultBucket: 'in.c-keboola-ex-table-sync-7' })).toBe(
      'in.c-keboola-ex-table-sync-7.orders',
    );
    expect(destinationOfRecord(full, { defaultBucket: 'in.c-d-7' })).toBe('in.c-x.clients');
    expect(destinationOfRecord(short, { destination: { bucket: 'in.c-copy' } })).toBe(
      'in.c-copy.orders',
    );
  });
});
