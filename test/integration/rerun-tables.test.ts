/**
 * Per-table reruns (docs/standalone.md, Per-table reruns): `--table`, `--full-refresh`, `enabled: false`,
 * configuration rows with their own state, and a source table configured twice.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useEmulator } from '../helpers/emulator.js';
import { carryState, logLines, makeDataDir } from '../helpers/run-cli.js';
import {
  DEST_PROJECT,
  SOURCE_PROJECT,
  SOURCE_TOKEN,
  T0_MS,
  WRITER_TOKEN,
  destRows,
  expectNoLeaks,
  exportStarts,
  platformConfig,
  readOutState,
  runJob,
  standaloneConfig,
  standaloneSeed,
} from '../helpers/standalone.js';

const emulator = useEmulator(standaloneSeed());

const lastRun = { incremental: true, primaryKey: ['id'], changedSince: 'lastRun' } as const;

async function inState(dataDir: string): Promise<{ tables: Record<string, unknown> }> {
  return JSON.parse(await readFile(join(dataDir, 'in', 'state.json'), 'utf8')) as {
    tables: Record<string, unknown>;
  };
}

describe('--table and --full-refresh', () => {
  it('--table orders exports only orders; the other state entries stay as they were', async () => {
    const { control, url } = emulator;
    control.setClock(T0_MS);
    const dataDir = await makeDataDir(
      standaloneConfig(url, [
        { name: 'orders', destination: 'orders_sel', ...lastRun },
        { name: 'customers', destination: 'customers_sel', ...lastRun },
        { name: 'events', destination: 'events_sel', incremental: true, changedSince: 'lastRun' },
      ]),
    );
    expect((await runJob(url, dataDir)).code).toBe(0);
    await carryState(dataDir);
    const before = await inState(dataDir);
    expect(Object.keys(before.tables).sort()).toEqual([
      'in.c-sales.customers',
      'in.c-sales.events',
      'in.c-sales.orders',
    ]);

    // An import of identical rows moves `lastChangeDate`, not the rows: orders is not skipped.
    await control.upsertRows(SOURCE_PROJECT, 'in.c-sales.orders', [
      { id: '5', status: 'sent', amount: '50' },
    ]);
    control.advanceClock(60_000);
    control.resetStats();
    const rerun = await runJob(url, dataDir, ['--table', 'orders']);
    expect(rerun.code).toBe(0);
    expect(exportStarts(control)).toEqual({ 'in.c-sales.orders': 1 });
    const after = await readOutState(dataDir);
    expect(after.tables['in.c-sales.customers']).toEqual(before.tables['in.c-sales.customers']);
    expect(after.tables['in.c-sales.events']).toEqual(before.tables['in.c-sales.events']);
    expect(after.tables['in.c-sales.orders']?.watermark).toBe(T0_MS / 1000 + 60);
    await expectNoLeaks(control, rerun, dataDir);
  });

  it('--full-refresh orders exports the whole table and replaces the destination', async () => {
    const { control, url } = emulator;
    control.setClock(T0_MS + 3_600_000);
    const dataDir = await makeDataDir(
      standaloneConfig(url, [
        { name: 'orders', destination: 'orders_refresh', ...lastRun },
        { name: 'customers', destination: 'customers_refresh', ...lastRun },
      ]),
    );
    expect((await runJob(url, dataDir)).code).toBe(0);
    await carryState(dataDir);
    // Someone damaged the copy; the saved watermark would skip every source row.
    await control.insertRows(DEST_PROJECT, 'in.c-copy.orders_refresh', [
      { id: '77', status: 'junk', amount: '0' },
    ]);
    await control.deleteRows(DEST_PROJECT, 'in.c-copy.orders_refresh', [{ id: '3' }]);
    control.advanceClock(60_000);
    control.resetStats();
    const refresh = await runJob(url, dataDir, ['--full-refresh', 'orders']);
    expect(refresh.code).toBe(0);
    // customers did not change since its watermark: no export job (docs/performance.md).
    expect(exportStarts(control)).toEqual({ 'in.c-sales.orders': 1 });
    // It replaces an upsert table: no upper bound (docs/standalone.md, Incremental windows).
    expect(refresh.stdout).toContain('Exporting \\"in.c-sales.orders\\" (full, all rows)');
    expect(refresh.stdout).toContain(
      '\\"in.c-sales.customers\\" is unchanged: last changed 2025-02-28T00:00:00.000Z, before its watermark 2025-03-01T01:00:00.000Z',
    );
    expect(await destRows(control, 'in.c-copy.orders_refresh')).toEqual(
      await destRows(control, 'in.c-sales.orders', SOURCE_PROJECT),
    );
    expect((await readOutState(dataDir)).tables['in.c-sales.orders']?.watermark).toBe(
      (T0_MS + 3_660_000) / 1000,
    );
  });

  it('skips a table with enabled: false and keeps its state', async () => {
    const { control, url } = emulator;
    control.setClock(T0_MS + 7_200_000);
    const saved = { watermark: 1_700_000_000, rows: 9, mode: 'upsert' };
    const dataDir = await makeDataDir(
      standaloneConfig(url, [
        { name: 'orders', destination: 'orders_en', ...lastRun },
        { name: 'customers', destination: 'customers_en', ...lastRun, enabled: false },
      ]),
      { tables: { 'in.c-sales.customers': saved }, other: 'kept' },
    );
    control.resetStats();
    const result = await runJob(url, dataDir);
    expect(result.code).toBe(0);
    expect(exportStarts(control)).toEqual({ 'in.c-sales.orders': 1 });
    const state = (await readOutState(dataDir)) as unknown as {
      tables: Record<string, unknown>;
      other: string;
    };
    expect(state.tables['in.c-sales.customers']).toEqual(saved);
    expect(state.other).toBe('kept');
  });
});

describe('state key', () => {
  it('copies in full into a renamed (new) destination: the new table has no sync record yet', async () => {
    const { control, url } = emulator;
    control.setClock(T0_MS + 14_400_000);
    const first = standaloneConfig(url, [
      { name: 'orders', destination: 'orders_name1', ...lastRun },
    ]);
    const dataDir = await makeDataDir(first);
    expect((await runJob(url, dataDir)).code).toBe(0);
    await carryState(dataDir);
    control.advanceClock(60_000);
    await writeFile(
      join(dataDir, 'config.json'),
      JSON.stringify(
        standaloneConfig(url, [{ name: 'orders', destination: 'orders_name2', ...lastRun }]),
      ),
    );
    const renamed = await runJob(url, dataDir);
    expect(renamed.code).toBe(0);
    // The watermark in in/state.json belongs to the old table; the new one would miss every row.
    expect(renamed.stdout).toContain(
      'The destination table of \\"in.c-sales.orders\\" does not exist: copying it in full',
    );
    expect(renamed.stdout).toContain('Exporting \\"in.c-sales.orders\\" (upsert, ');
    expect(renamed.stdout).toContain('(upsert, 5 rows');
  });
});

describe('configuration rows', () => {
  /** An ex-storage row: one table at the root of `parameters`. */
  function rowConfig(url: string, tableName: string) {
    return {
      parameters: {
        '#token': SOURCE_TOKEN,
        url,
        lagSeconds: 0,
        tableName,
        incremental: true,
        primaryKey: ['id'],
        changedSince: 'lastRun',
        destination: { url, '#token': WRITER_TOKEN, bucket: 'in.c-copy' },
      },
    };
  }

  it('runs each row with its own state and logs KBC_CONFIGROWID', async () => {
    const { control, url } = emulator;
    control.setClock(T0_MS + 10_800_000);
    await control.createTable(SOURCE_PROJECT, 'in.c-sales', {
      name: 'row_orders',
      columns: ['id', 'v'],
      primaryKey: ['id'],
      rows: [
        ['1', 'a'],
        ['2', 'b'],
      ],
      timestamp: T0_MS / 1000,
    });
    const dirA = await makeDataDir(rowConfig(url, 'row_orders'));
    const dirB = await makeDataDir(rowConfig(url, 'customers'));

    const a1 = await runJob(url, dirA, [], { KBC_CONFIGROWID: 'row-a', KBC_CONFIGID: 'cfg-1' });
    expect(a1.code).toBe(0);
    const first = logLines(a1.stdout)[0];
    expect(first).toMatchObject({ configRowId: 'row-a', configId: 'cfg-1' });
    expect(first?.msg).toContain('(configuration row row-a)');
    const b1 = await runJob(url, dirB, [], { KBC_CONFIGROWID: 'row-b' });
    expect(b1.code).toBe(0);
    expect(logLines(b1.stdout)[0]).toMatchObject({ configRowId: 'row-b' });

    // Each row's state holds only its own table.
    expect(Object.keys((await readOutState(dirA)).tables)).toEqual(['in.c-sales.row_orders']);
    expect(Object.keys((await readOutState(dirB)).tables)).toEqual(['in.c-sales.customers']);

    // Row A, run 2: only what changed since its own watermark.
    control.advanceClock(60_000);
    await control.upsertRows(SOURCE_PROJECT, 'in.c-sales.row_orders', [{ id: '3', v: 'c' }]);
    control.advanceClock(60_000);
    await carryState(dirA);
    const a2 = await runJob(url, dirA, [], { KBC_CONFIGROWID: 'row-a' });
    expect(a2.code).toBe(0);
    expect(a2.stdout).toContain('(upsert, 1 rows');
    expect(await destRows(control, 'in.c-copy.row_orders')).toEqual([
      { id: '1', v: 'a' },
      { id: '2', v: 'b' },
      { id: '3', v: 'c' },
    ]);
    await expectNoLeaks(control, a2, dirA);
  });
});

describe('an append in a configuration row (platform mode)', () => {
  const ROW_WARNING = 'Appended without a primary key in a configuration row';

  it.each([
    ['a lastRun append in a row warns', { KBC_CONFIGROWID: 'row-a' }, {}, true],
    ['not outside a row', {}, {}, false],
    [
      'not with a primary key (an upsert)',
      { KBC_CONFIGROWID: 'row-a' },
      { primaryKey: ['id'] },
      false,
    ],
  ])('%s', async (_name, env, item, warned) => {
    const { control, url } = emulator;
    control.setClock(T0_MS + 10_800_000);
    const dataDir = await makeDataDir(
      platformConfig(url, [
        { name: 'orders', incremental: true, changedSince: 'lastRun', ...item },
      ]),
    );
    const result = await runJob(url, dataDir, [], env);
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    const warnings = logLines(result.stdout)
      .map((line) => String(line.msg))
      .filter((msg) => msg.includes(ROW_WARNING));
    expect(warnings.length).toBe(warned ? 1 : 0);
    if (warned) {
      expect(warnings[0]).toBe(
        `"in.c-sales.orders": ${ROW_WARNING}: when the configuration runs its rows in one job (no runtime.parallelism), Keboola saves this row's watermark only if every row succeeds, so after another row fails the next run appends this window again. Set runtime.parallelism on the configuration, or a primary key.`,
      );
    }
  });
});

describe('a source table configured twice', () => {
  it('is refused with lastRun (one shared watermark), before anything is exported', async () => {
    const { control, url } = emulator;
    control.resetStats();
    const dataDir = await makeDataDir(
      standaloneConfig(url, [
        { name: 'orders', destination: 'orders_twice_a', ...lastRun },
        { name: 'in.c-sales.orders', destination: 'orders_twice_b', incremental: true },
      ]),
    );
    const result = await runJob(url, dataDir);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      'The table "in.c-sales.orders" is configured more than once (tables[0] and tables[1]) with changedSince "lastRun"',
    );
    expect(exportStarts(control)).toEqual({});
  });

  it('is copied to both destinations without lastRun', async () => {
    const { control, url } = emulator;
    const dataDir = await makeDataDir(
      standaloneConfig(url, [
        { name: 'events', destination: 'events_twice_a' },
        { name: 'events', destination: 'events_twice_b', columns: ['kind'] },
      ]),
    );
    const result = await runJob(url, dataDir);
    expect(result.code).toBe(0);
    expect(await control.tableRows(DEST_PROJECT, 'in.c-copy.events_twice_a')).toHaveLength(2);
    expect(await destRows(control, 'in.c-copy.events_twice_b')).toEqual([
      { kind: 'click' },
      { kind: 'view' },
    ]);
  });
});
