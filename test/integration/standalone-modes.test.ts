/**
 * Standalone mode end to end (docs/architecture.md, The two modes): the built CLI copies tables from the source
 * project into a destination project of the same emulator with full load, append and upsert;
 * missing tables are created (typed from the definition), metadata is copied by provider.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { useEmulator } from '../helpers/emulator.js';
import { carryState, listFiles, makeDataDir } from '../helpers/run-cli.js';
import {
  DEST_PROJECT,
  SOURCE_PROJECT,
  SOURCE_TOKEN,
  T0_MS,
  WRITER_TOKEN,
  destRows,
  expectNoLeaks,
  exportStarts,
  readOutState,
  runJob,
  standaloneConfig,
  standaloneSeed,
} from '../helpers/standalone.js';

const emulator = useEmulator(standaloneSeed());

beforeAll(() => {
  emulator.control.setClock(T0_MS);
});

/** GET a Storage API path of the destination project with the writer token. */
async function destApi(path: string): Promise<Record<string, unknown>> {
  const response = await fetch(`${emulator.url}/v2/storage/${path}`, {
    headers: { 'X-StorageApi-Token': WRITER_TOKEN },
  });
  expect(response.status).toBe(200);
  return (await response.json()) as Record<string, unknown>;
}

const sourceOrders = [
  { id: '1', status: 'new', amount: '10' },
  { id: '2', status: 'new', amount: '20' },
  { id: '3', status: 'paid', amount: '30' },
  { id: '4', status: 'paid', amount: '40' },
  { id: '5', status: 'sent', amount: '50' },
];

describe('standalone upsert', () => {
  it('run 1 (full) and run 2 (incremental with a key, after changes) give the upsert result', async () => {
    const { control, url } = emulator;
    // Its own source table: this test changes source rows.
    await control.createTable(SOURCE_PROJECT, 'in.c-sales', {
      name: 'orders_u',
      columns: ['id', 'status', 'amount'],
      primaryKey: ['id'],
      rows: sourceOrders.map((o) => [o.id, o.status, o.amount]),
      timestamp: T0_MS / 1000 - 3600,
    });
    const config = standaloneConfig(url, [
      {
        name: 'orders_u',
        destination: 'orders_upsert',
        incremental: true,
        primaryKey: ['id'],
        changedSince: 'lastRun',
      },
    ]);
    const dataDir = await makeDataDir(config);
    const run1 = await runJob(url, dataDir);
    expect(run1.stderr).toBe('');
    expect(run1.code).toBe(0);
    expect(await destRows(control, 'in.c-copy.orders_upsert')).toEqual(sourceOrders);
    const table = await destApi('tables/in.c-copy.orders_upsert');
    expect(table.primaryKey).toEqual(['id']);
    await expectNoLeaks(control, run1, dataDir);

    // Between the runs: one row changes, one is added (stamped a minute later).
    control.advanceClock(60_000);
    await control.upsertRows(SOURCE_PROJECT, 'in.c-sales.orders_u', [
      { id: '2', status: 'paid', amount: '21' },
      { id: '6', status: 'new', amount: '60' },
    ]);
    control.advanceClock(60_000);
    await carryState(dataDir);
    const run2 = await runJob(url, dataDir);
    expect(run2.code).toBe(0);
    expect(run2.stdout).toContain('(upsert, 2 rows');
    expect(await destRows(control, 'in.c-copy.orders_upsert')).toEqual(
      [
        { id: '1', status: 'new', amount: '10' },
        { id: '2', status: 'paid', amount: '21' },
        { id: '3', status: 'paid', amount: '30' },
        { id: '4', status: 'paid', amount: '40' },
        { id: '5', status: 'sent', amount: '50' },
        { id: '6', status: 'new', amount: '60' },
      ].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    );
    expect((await readOutState(dataDir)).tables['in.c-sales.orders_u']?.mode).toBe('upsert');
    // The scan covers the object-store credentials the emulator issued, too.
    expect(control.objectStoreSecrets().length).toBeGreaterThan(0);
    await expectNoLeaks(control, run2, dataDir);
  });
});

describe('standalone append', () => {
  it('copies the same window twice as twice the rows', async () => {
    const { control, url } = emulator;
    const config = standaloneConfig(url, [
      {
        name: 'events',
        destination: 'events_append',
        incremental: true,
        changedSince: '2024-01-01',
      },
    ]);
    const dataDir = await makeDataDir(config);
    const run1 = await runJob(url, dataDir);
    expect(run1.code).toBe(0);
    expect(await control.tableRows(DEST_PROJECT, 'in.c-copy.events_append')).toHaveLength(2);
    const run2 = await runJob(url, dataDir);
    expect(run2.code).toBe(0);
    const rows = await destRows(control, 'in.c-copy.events_append');
    expect(rows).toEqual([
      { at: '2025-01-01', kind: 'click' },
      { at: '2025-01-01', kind: 'click' },
      { at: '2025-01-02', kind: 'view' },
      { at: '2025-01-02', kind: 'view' },
    ]);
    await expectNoLeaks(control, run2, dataDir);
  });
});

describe('standalone full load', () => {
  it('replaces the rows of an existing destination table, run after run', async () => {
    const { control, url } = emulator;
    await control.createTable(DEST_PROJECT, 'in.c-copy', {
      name: 'orders_full',
      columns: ['id', 'status', 'amount'],
      rows: [
        ['99', 'stale', '0'],
        ['1', 'stale', '0'],
      ],
    });
    const dataDir = await makeDataDir(
      standaloneConfig(url, [{ name: 'orders', destination: 'orders_full' }]),
    );
    for (let run = 1; run <= 2; run++) {
      const result = await runJob(url, dataDir);
      expect(result.code).toBe(0);
      expect(await destRows(control, 'in.c-copy.orders_full')).toEqual(sourceOrders);
    }
  });
});

describe('destination tables', () => {
  it('creates missing tables: untyped with the primary key, typed from the definition', async () => {
    const { control, url } = emulator;
    const dataDir = await makeDataDir(
      standaloneConfig(url, [
        { name: 'orders', destination: 'orders_created', primaryKey: ['id', 'status'] },
        { name: 'products', fullSync: true },
        { name: 'events' },
      ]),
    );
    const result = await runJob(url, dataDir);
    expect(result.code).toBe(0);

    const orders = await destApi('tables/in.c-copy.orders_created');
    expect(orders.primaryKey).toEqual(['id', 'status']);
    expect(orders.isTyped).toBe(false);
    expect(orders.columns).toEqual(['id', 'status', 'amount']);

    const products = await destApi('tables/in.c-copy.products');
    const sourceProducts = (await (
      await fetch(`${url}/v2/storage/tables/in.c-sales.products`, {
        headers: { 'X-StorageApi-Token': SOURCE_TOKEN },
      })
    ).json()) as { definition: { columns: Array<Record<string, unknown>> } };
    expect(products.isTyped).toBe(true);
    expect(products.primaryKey).toEqual(['id']);
    const typesOf = (columns: Array<Record<string, unknown>>) =>
      columns.map((c) => ({ name: c.name, definition: c.definition, basetype: c.basetype }));
    expect(
      typesOf((products.definition as { columns: Array<Record<string, unknown>> }).columns),
    ).toEqual(typesOf(sourceProducts.definition.columns));
    expect(await destRows(control, 'in.c-copy.products')).toEqual([
      { id: '1', name: 'Keyboard' },
      { id: '2', name: 'Mouse' },
    ]);

    const events = await destApi('tables/in.c-copy.events');
    expect(events.primaryKey).toEqual([]);
    await expectNoLeaks(control, result, dataDir);
  });

  it('creates a typed table keyed by a column the source keeps nullable: the key column is not nullable, as the API requires', async () => {
    const { control, url } = emulator;
    const dataDir = await makeDataDir(
      standaloneConfig(url, [
        { name: 'products', destination: 'products_by_name', primaryKey: ['name'] },
      ]),
    );
    const result = await runJob(url, dataDir);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const products = await destApi('tables/in.c-copy.products_by_name');
    expect(products.primaryKey).toEqual(['name']);
    const columns = (products.definition as { columns: Array<Record<string, unknown>> }).columns;
    expect(columns.map((c) => [c.name, (c.definition as { nullable: boolean }).nullable])).toEqual([
      ['id', false],
      ['name', false],
    ]);
    expect(await destRows(control, 'in.c-copy.products_by_name')).toEqual([
      { id: '1', name: 'Keyboard' },
      { id: '2', name: 'Mouse' },
    ]);
    await expectNoLeaks(control, result, dataDir);
  });

  it('streams a sliced upload and imports it with columns and incremental', async () => {
    const { control, url } = emulator;
    control.resetStats();
    const putsBefore = control.stats().objectStore.puts;
    const dataDir = await makeDataDir(
      standaloneConfig(url, [
        { name: 'orders', destination: 'orders_sliced', columns: ['amount', 'id'] },
      ]),
    );
    const result = await runJob(url, dataDir);
    expect(result.code).toBe(0);
    // Nothing of the data touched the local disk: only state.json in out/.
    expect(await listFiles(dataDir)).toEqual(['config.json', 'out/state.json']);
    expect(exportStarts(control)).toEqual({ 'in.c-sales.orders': 1 });
    const stats = control.stats();
    expect(stats.requests['POST /v2/storage/files/prepare']).toBe(2); // header file + data
    // 2 data slices (sliceRows 3) + the manifest + the header-only file.
    expect(stats.objectStore.puts - putsBefore).toBe(4);

    const jobs = (await (
      await fetch(`${url}/v2/storage/jobs?limit=20`, {
        headers: { 'X-StorageApi-Token': WRITER_TOKEN },
      })
    ).json()) as Array<{
      operationName: string;
      tableId: string | null;
      status: string;
      operationParams: {
        source?: { fileId: number };
        params?: { columns: string[]; incremental: boolean };
      };
      results: { importedColumns?: string[]; totalRowsCount?: number } | null;
    }>;
    const imports = jobs.filter(
      (j) => j.operationName === 'tableImport' && j.tableId === 'in.c-copy.orders_sliced',
    );
    expect(imports).toHaveLength(1);
    const job = imports[0]!;
    expect(job.status).toBe('success');
    expect(job.operationParams.params).toMatchObject({
      columns: ['amount', 'id'],
      incremental: false,
    });
    expect(job.results).toMatchObject({ importedColumns: ['amount', 'id'], totalRowsCount: 5 });
    const file = await destApi(`files/${job.operationParams.source?.fileId}`);
    expect(file).toMatchObject({ isSliced: true, name: 'orders_sliced.csv.gz' });
    expect(await destRows(control, 'in.c-copy.orders_sliced')).toEqual(
      sourceOrders.map(({ id, amount }) => ({ amount, id })),
    );
  });

  it('copies table and column metadata grouped by provider, without storage and system', async () => {
    const { control, url } = emulator;
    control.resetStats();
    const dataDir = await makeDataDir(
      standaloneConfig(url, [
        { name: 'customers', destination: 'customers_meta', extractMetadata: true },
      ]),
    );
    const result = await runJob(url, dataDir);
    expect(result.code).toBe(0);
    const table = (await destApi('tables/in.c-copy.customers_meta')) as {
      metadata: Array<{ key: string; value: string; provider: string }>;
      columnMetadata: Record<string, Array<{ key: string; value: string; provider: string }>>;
    };
    const pick = (items: Array<{ key: string; value: string; provider: string }>) =>
      items
        .map(({ key, value, provider }) => ({ provider, key, value }))
        .sort((a, b) => `${a.provider}${a.key}`.localeCompare(`${b.provider}${b.key}`));
    const copied = table.metadata.filter(
      (m) => m.provider !== 'storage' && m.provider !== 'kbc-table-sync',
    );
    expect(pick(copied)).toEqual([
      { provider: 'keboola.ex-crm', key: 'owner', value: 'crm-team' },
      { provider: 'user', key: 'KBC.description', value: 'Customers' },
    ]);
    // Nothing the job wrote carries the storage or system provider's source values.
    expect(table.metadata.some((m) => m.provider === 'system')).toBe(false);
    expect(table.metadata.some((m) => m.key === 'KBC.dataTypesEnabled')).toBe(false);
    expect(pick(table.columnMetadata.email ?? [])).toEqual([
      { provider: 'user', key: 'KBC.description', value: 'Contact e-mail' },
    ]);
    const metadataPosts = control.stats().requests['POST /v2/storage/tables/{tableId}/metadata'];
    // One per copied provider, plus the two claims, the intent and the commit (docs/sync-record.md).
    expect(metadataPosts).toBe(6);
  });

  it('never copies the sync record of a source table that is itself a copy onto its destination', async () => {
    const { control, url } = emulator;
    // The source table as the destination of an earlier sync from another project: its record.
    const first = standaloneConfig(url, [
      { name: 'customers', destination: 'customers_chain_a', extractMetadata: true },
    ]);
    expect((await runJob(url, await makeDataDir(first))).code).toBe(0);
    const recordOf = async (tableId: string) => {
      const table = (await destApi(`tables/${tableId}`)) as {
        metadata: Array<{ key: string; value: string; provider: string }>;
      };
      const item = table.metadata.find((m) => m.key === 'kbc-table-sync.record');
      return JSON.parse(item?.value ?? 'null') as { source: { projectId: number } } | null;
    };
    const theirs = await recordOf('in.c-copy.customers_chain_a');
    expect(theirs?.source.projectId).toBe(SOURCE_PROJECT);
    const sourceWriter = control.createToken(SOURCE_PROJECT, {
      bucketPermissions: { 'in.c-sales': 'write' },
    });
    const posted = await fetch(`${url}/v2/storage/tables/in.c-sales.customers/metadata`, {
      method: 'POST',
      headers: { 'X-StorageApi-Token': sourceWriter, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        provider: 'kbc-table-sync',
        metadata: [
          {
            key: 'kbc-table-sync.record',
            value: JSON.stringify({ ...theirs, source: { ...theirs?.source, projectId: 999 } }),
          },
        ],
      }),
    });
    expect(posted.ok).toBe(true);
    // Copied on, that record would replace the destination's own after its commit, and the next
    // run would refuse the table as synced from project 999.
    const chain = standaloneConfig(url, [
      { name: 'customers', destination: 'customers_chain_b', extractMetadata: true },
    ]);
    const dataDir = await makeDataDir(chain);
    for (let run = 1; run <= 2; run++) {
      const result = await runJob(url, dataDir);
      expect(result.code, result.stderr).toBe(0);
      expect((await recordOf('in.c-copy.customers_chain_b'))?.source.projectId).toBe(
        SOURCE_PROJECT,
      );
      await carryState(dataDir);
    }
  });

  it('copies column metadata of the copied columns only when columns is a subset', async () => {
    const { url } = emulator;
    const dataDir = await makeDataDir(
      standaloneConfig(url, [
        {
          name: 'customers',
          destination: 'customers_subset',
          columns: ['id', 'name'],
          extractMetadata: true,
        },
      ]),
    );
    const result = await runJob(url, dataDir);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const table = (await destApi('tables/in.c-copy.customers_subset')) as {
      columns: string[];
      columnMetadata: Record<string, unknown[]>;
    };
    expect(table.columns).toEqual(['id', 'name']);
    expect(table.columnMetadata.email).toBeUndefined();
  });
});
