/**
 * The source table changes shape between runs or during one (docs/state-file.md, A re-created
 * source table): a table created again under the same id, a table that lost the key its copy was
 * upserted by, a table or column gone while the run exports it. No row is lost or landed twice,
 * and what cannot be copied safely is one sentence naming the table (exit 1).
 */
import { rm, writeFile } from 'node:fs/promises';
import { beforeEach, describe, expect, it } from 'vitest';
import { useEmulator } from '../helpers/emulator.js';
import { readSlicedTable } from '../helpers/output.js';
import { carryState, listFiles, makeDataDir } from '../helpers/run-cli.js';
import {
  SOURCE_PROJECT,
  T0_MS,
  destRows,
  expectNoLeaks,
  platformConfig,
  readOutState,
  runJob,
  standaloneConfig,
  standaloneSeed,
  type TableItem,
} from '../helpers/standalone.js';
import { join } from 'node:path';

const emulator = useEmulator(standaloneSeed());

// Every test starts from the seed's keyed `orders` (created a day before T0) and no faults.
beforeEach(async () => {
  const { control } = emulator;
  control.clearFaults();
  control.setClock(T0_MS - 86_400_000);
  // A test before may have dropped it.
  await control.dropTable(SOURCE_PROJECT, 'in.c-sales.orders').catch(() => undefined);
  await control.createTable(SOURCE_PROJECT, 'in.c-sales', restoredOrders(5, T0 - 86_400));
  control.setClock(T0_MS);
});
const T0 = T0_MS / 1000;
const UPSERT: TableItem = {
  name: 'orders',
  incremental: true,
  primaryKey: ['id'],
  changedSince: 'lastRun',
};
const APPEND: TableItem = { name: 'orders', incremental: true, changedSince: 'lastRun' };

/** `count` restored rows stamped `stampedAt` (unix seconds), as a restore or a snapshot keeps them. */
function restoredOrders(count: number, stampedAt: number, primaryKey = ['id']) {
  return {
    name: 'orders',
    columns: ['id', 'status', 'amount'],
    primaryKey,
    timestamp: stampedAt,
    rows: Array.from({ length: count }, (_, i) => [
      String(i + 1),
      'restored',
      String(10 * (i + 1)),
    ]),
  } as never;
}

/** How many times the tests created `orders` again: each time an hour later, so `created` differs. */
let recreations = 0;

/**
 * An hour (more for each earlier call) after the first run the source table is dropped and
 * created again with 7 rows stamped half an hour before that run's watermark; then one of them
 * changes. Returns the new table's `created` (unix seconds).
 */
async function recreateOrders(primaryKey = ['id']): Promise<number> {
  const { control } = emulator;
  recreations += 1;
  const createdMs = T0_MS + recreations * 3_600_000;
  control.setClock(createdMs);
  await control.dropTable(SOURCE_PROJECT, 'in.c-sales.orders');
  await control.createTable(SOURCE_PROJECT, 'in.c-sales', restoredOrders(7, T0 - 1800, primaryKey));
  control.setClock(createdMs + 100_000);
  await control.upsertRows(
    SOURCE_PROJECT,
    'in.c-sales.orders',
    [{ id: '1', status: 'changed', amount: '11' }],
    { primaryKey },
  );
  control.setClock(createdMs + 200_000);
  return createdMs / 1000;
}

/** The warning messages a run logged (JSON lines on stdout). */
function warnings(result: { stdout: string }): string {
  return result.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { level?: string; msg?: string })
    .filter((entry) => entry.level === 'warn')
    .map((entry) => entry.msg)
    .join('\n');
}

const RECREATED =
  /The source table "in\.c-sales\.orders" was created again since its last run \(created [\d-]+T[\d:.]+Z, the one copied before [\d-]+T[\d:.]+Z\)/;

describe('a source table created again under the same id', () => {
  it('standalone upsert: every row of the new table is copied, with a warning', async () => {
    emulator.control.setClock(T0_MS);
    const dir = await makeDataDir(standaloneConfig(emulator.url, [UPSERT]));
    expect((await runJob(emulator.url, dir)).code).toBe(0);
    await recreateOrders();
    const second = await runJob(emulator.url, dir);
    expect(second.code, second.stderr).toBe(0);
    expect(warnings(second)).toMatch(RECREATED);
    expect(warnings(second)).toMatch(/its watermark is not used, so every row is copied/);
    const rows = await destRows(emulator.control, 'in.c-copy.orders');
    expect(rows.map((row) => row.id)).toEqual(['1', '2', '3', '4', '5', '6', '7']);
    expect(rows.filter((row) => row.status === 'restored')).toHaveLength(6);
    await expectNoLeaks(emulator.control, second, dir);
    // The record now names the new table: the run after goes on from its watermark.
    const third = await runJob(emulator.url, dir);
    expect(third.code, third.stderr).toBe(0);
    expect(warnings(third)).not.toMatch(RECREATED);
  });

  it('platform upsert: the new table is written in full and its creation recorded', async () => {
    emulator.control.setClock(T0_MS);
    const dir = await makeDataDir(platformConfig(emulator.url, [UPSERT]));
    expect((await runJob(emulator.url, dir)).code).toBe(0);
    const first = (await readOutState(dir)).tables['in.c-sales.orders'] as Record<string, unknown>;
    expect(first.sourceCreated).toEqual(expect.any(Number));
    await carryState(dir);
    const created = await recreateOrders();
    const second = await runJob(emulator.url, dir);
    expect(second.code, second.stderr).toBe(0);
    expect(warnings(second)).toMatch(RECREATED);
    const written = await readSlicedTable(dir, 'orders.csv');
    expect(written.rows.map((row) => row.id).sort()).toEqual(['1', '2', '3', '4', '5', '6', '7']);
    const entry = (await readOutState(dir)).tables['in.c-sales.orders'] as Record<string, unknown>;
    expect(entry.sourceCreated).toBe(created);
  });

  it('platform append: refused with nothing written, until --full-refresh replaces the copy', async () => {
    emulator.control.setClock(T0_MS);
    const dir = await makeDataDir(platformConfig(emulator.url, [APPEND]));
    expect((await runJob(emulator.url, dir)).code).toBe(0);
    await carryState(dir);
    // As on the platform, out/ starts empty.
    await rm(join(dir, 'out', 'tables'), { recursive: true });
    const before = (await readOutState(dir)).tables['in.c-sales.orders'];
    await recreateOrders([]);
    const refused = await runJob(emulator.url, dir);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(RECREATED);
    expect(refused.stderr).toMatch(
      /its rows cannot be told apart from the rows appended before, so nothing was copied; run it with --full-refresh "in\.c-sales\.orders"/,
    );
    expect(await listFiles(join(dir, 'out', 'tables'))).toEqual([]);
    const refresh = await runJob(emulator.url, dir, ['--full-refresh', 'in.c-sales.orders']);
    expect(refresh.code, refresh.stderr).toBe(0);
    const written = await readSlicedTable(dir, 'orders.csv');
    expect(written.manifest.incremental).toBe(false);
    // The 7 restored rows and the changed one, appended without a key.
    expect(written.rows).toHaveLength(8);
    expect((await readOutState(dir)).tables['in.c-sales.orders']?.watermark).toBeGreaterThan(
      before?.watermark ?? Infinity,
    );
  });
});

describe('a source table that lost the key its copy was upserted by (primaryKey "source")', () => {
  const SOURCE_KEY = {
    ...UPSERT,
    primaryKey: 'source',
    destination: 'orders_by_source_key',
  } as unknown as TableItem;

  it('platform: refused, naming the table and what to do', async () => {
    const dir = await makeDataDir(platformConfig(emulator.url, [SOURCE_KEY]));
    expect((await runJob(emulator.url, dir)).code).toBe(0);
    await carryState(dir);
    await rm(join(dir, 'out', 'tables'), { recursive: true });
    await recreateOrders([]);
    const second = await runJob(emulator.url, dir);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(
      /The source table "in\.c-sales\.orders" no longer has a primary key, and its copy was upserted by that key until now \(primaryKey "source"\): appending from now on would copy each changed row again, so nothing was copied; give the table its primary key again/,
    );
    expect(await listFiles(join(dir, 'out', 'tables'))).toEqual([]);
  });

  it('standalone: refused, naming the source table whose key changed', async () => {
    const dir = await makeDataDir(standaloneConfig(emulator.url, [SOURCE_KEY]));
    expect((await runJob(emulator.url, dir)).code).toBe(0);
    await recreateOrders([]);
    const second = await runJob(emulator.url, dir);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(
      /The destination table "in\.c-copy\.orders_by_source_key" has the primary key \[id\] but the source table "in\.c-sales\.orders" now has \[\] \(primaryKey "source" takes its key\): give the source table its key again, or drop the destination table/,
    );
    expect(await destRows(emulator.control, 'in.c-copy.orders_by_source_key')).toHaveLength(5);
  });
});

describe('a source table that changes while the run exports it', () => {
  it('a full load whose table is dropped after its export: one sentence, exit 1', async () => {
    const { control } = emulator;
    control.setClock(T0_MS);
    const dir = await makeDataDir(platformConfig(emulator.url, [{ name: 'orders' }]));
    control.addFault({
      kind: 'hold',
      afterHandling: true,
      method: 'GET',
      path: '/v2/storage/jobs/',
      label: 'poll',
    });
    const run = runJob(emulator.url, dir);
    await control.whenFaultApplied('poll');
    await control.waitForJobs();
    await control.dropTable(SOURCE_PROJECT, 'in.c-sales.orders');
    control.releaseHolds();
    const result = await run;
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /The table "in\.c-sales\.orders" was not found in the source project during its export \(deleted or renamed during the run\?\)/,
    );
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(await listFiles(join(dir, 'out', 'tables'))).toEqual([]);
  });

  it('a column dropped before the export starts: one sentence, exit 1', async () => {
    const { control } = emulator;
    control.setClock(T0_MS);
    const dir = await makeDataDir(platformConfig(emulator.url, [UPSERT]));
    control.addFault({ kind: 'hold', method: 'POST', path: '/export-async', label: 'export' });
    const run = runJob(emulator.url, dir);
    await control.whenFaultApplied('export');
    await control.dropTable(SOURCE_PROJECT, 'in.c-sales.orders');
    await control.createTable(SOURCE_PROJECT, 'in.c-sales', {
      name: 'orders',
      columns: ['id', 'status'],
      primaryKey: ['id'],
      rows: [['1', 'x']],
    });
    control.releaseHolds();
    const result = await run;
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /The export of "in\.c-sales\.orders" was refused because a column it names is no longer in the table \(changed during the run\?\)/,
    );
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('a column dropped in the source (standalone)', () => {
  it('names the column as gone from the source, not as one to add to "columns"', async () => {
    const { control } = emulator;
    const item: TableItem = { name: 'events', incremental: true, changedSince: 'lastRun' };
    const dir = await makeDataDir(standaloneConfig(emulator.url, [item]));
    expect((await runJob(emulator.url, dir)).code).toBe(0);
    control.setClock(T0_MS + 3_600_000);
    await control.dropTable(SOURCE_PROJECT, 'in.c-sales.events');
    await control.createTable(SOURCE_PROJECT, 'in.c-sales', {
      name: 'events',
      columns: ['at'],
      rows: [['2025-01-03']],
    });
    const second = await runJob(emulator.url, dir);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(
      /that the export of "in\.c-sales\.events" does not contain \(it exports [^)]+\): (it is|some are) no longer in the source table: drop (it|them) from the destination table, or copy into another one\./,
    );
  });
});

describe('columns widened between lastRun runs (standalone)', () => {
  it('warns that the rows copied before keep the new column empty, naming --full-refresh', async () => {
    const { control } = emulator;
    const item: TableItem = { ...UPSERT, destination: 'orders_widened' };
    const dir = await makeDataDir(
      standaloneConfig(emulator.url, [{ ...item, columns: ['id', 'status'] }]),
    );
    expect((await runJob(emulator.url, dir)).code).toBe(0);
    control.setClock(T0_MS + 3_600_000);
    await control.upsertRows(SOURCE_PROJECT, 'in.c-sales.orders', [
      { id: '1', status: 'paid', amount: '11' },
    ]);
    control.setClock(T0_MS + 3_700_000);
    await writeFile(
      join(dir, 'config.json'),
      JSON.stringify(standaloneConfig(emulator.url, [item])),
    );
    const second = await runJob(emulator.url, dir);
    expect(second.code, second.stderr).toBe(0);
    expect(warnings(second)).toContain(
      'The destination table "in.c-copy.orders_widened" gets the new column(s) "amount": its 5 row(s) copied before keep them empty until they change at the source; run "in.c-sales.orders" with --full-refresh to fill them.',
    );
  });
});

describe('a run with a fixed changedSince between a re-creation and the next lastRun run', () => {
  it('standalone: keeps the old table’s creation with the old watermark, so the lastRun run copies every row', async () => {
    const item: TableItem = { ...UPSERT, destination: 'orders_fixed_between' };
    const dir = await makeDataDir(standaloneConfig(emulator.url, [item]));
    expect((await runJob(emulator.url, dir)).code).toBe(0);
    await recreateOrders();
    const fixed = { ...item, changedSince: '-10 minutes' };
    await writeFile(
      join(dir, 'config.json'),
      JSON.stringify(standaloneConfig(emulator.url, [fixed])),
    );
    expect((await runJob(emulator.url, dir)).code).toBe(0);
    await writeFile(
      join(dir, 'config.json'),
      JSON.stringify(standaloneConfig(emulator.url, [item])),
    );
    const back = await runJob(emulator.url, dir);
    expect(back.code, back.stderr).toBe(0);
    expect(warnings(back)).toMatch(RECREATED);
    const rows = await destRows(emulator.control, 'in.c-copy.orders_fixed_between');
    expect(rows.map((row) => row.id)).toEqual(['1', '2', '3', '4', '5', '6', '7']);
  });

  it('standalone: widened columns on a table created again warn only that every row is copied', async () => {
    const item: TableItem = { ...UPSERT, destination: 'orders_widened_again' };
    const dir = await makeDataDir(
      standaloneConfig(emulator.url, [{ ...item, columns: ['id', 'status'] }]),
    );
    expect((await runJob(emulator.url, dir)).code).toBe(0);
    await recreateOrders();
    await writeFile(
      join(dir, 'config.json'),
      JSON.stringify(standaloneConfig(emulator.url, [item])),
    );
    const second = await runJob(emulator.url, dir);
    expect(second.code, second.stderr).toBe(0);
    expect(warnings(second)).toMatch(RECREATED);
    expect(warnings(second)).not.toMatch(/gets the new column/);
  });
});

describe('the Keboola way out of the append refusal, where a run takes no flags', () => {
  it('one run with "incremental": false replaces the copy, and the append runs go on after it', async () => {
    const dir = await makeDataDir(platformConfig(emulator.url, [APPEND]));
    expect((await runJob(emulator.url, dir)).code).toBe(0);
    await carryState(dir);
    await rm(join(dir, 'out', 'tables'), { recursive: true });
    await recreateOrders([]);
    expect((await runJob(emulator.url, dir)).code).toBe(1);
    const once = { ...APPEND, incremental: false };
    await writeFile(join(dir, 'config.json'), JSON.stringify(platformConfig(emulator.url, [once])));
    const replaced = await runJob(emulator.url, dir);
    expect(replaced.code, replaced.stderr).toBe(0);
    expect(warnings(replaced)).toMatch(RECREATED);
    const written = await readSlicedTable(dir, 'orders.csv');
    expect(written.manifest.incremental).toBe(false);
    expect(written.rows).toHaveLength(8);
    await carryState(dir);
    await rm(join(dir, 'out', 'tables'), { recursive: true });
    await writeFile(
      join(dir, 'config.json'),
      JSON.stringify(platformConfig(emulator.url, [APPEND])),
    );
    const back = await runJob(emulator.url, dir);
    expect(back.code, back.stderr).toBe(0);
    expect(warnings(back)).not.toMatch(RECREATED);
  });
});
