/**
 * A source table created again under the same id (docs/state-file.md, A re-created source table)
 * under kills, lost state and overlapping runs, in standalone mode: every case ends with each
 * source row in the destination exactly once, or with the refusal of an append table. Written by
 * an audit of the feature; the built CLI is killed when a labelled emulator hold applies, as in
 * the crash matrix.
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import type { FaultSpec } from 'keboola-storage-emulator';
import { useEmulator } from '../helpers/emulator.js';
import { compareRows, rowValues } from '../helpers/fault-matrix.js';
import { makeDataDir, startCliProcess, type CliResult } from '../helpers/run-cli.js';
import {
  DEST_PROJECT,
  SOURCE_PROJECT,
  T0_MS,
  runJob,
  standaloneConfig,
  standaloneSeed,
  type TableItem,
} from '../helpers/standalone.js';

const emulator = useEmulator(standaloneSeed());
const T0 = T0_MS / 1000;
const SRC = 'in.c-sales.orders';
const COLS = ['id', 'status', 'amount'];
const ENV = {
  KBC_TABLE_SYNC_CLAIM_LEASE_MS: '15000',
  KBC_TABLE_SYNC_RETRY_BASE_MS: '10',
  KBC_TABLE_SYNC_RETRY_MAX_MS: '80',
  KBC_TABLE_SYNC_POLL_MAX_MS: '50',
};

beforeEach(async () => {
  const { control } = emulator;
  control.clearFaults();
  control.releaseHolds();
  control.setClock(T0_MS - 86_400_000);
  await control.dropTable(SOURCE_PROJECT, SRC).catch(() => undefined);
  await control.createTable(SOURCE_PROJECT, 'in.c-sales', orders(5, T0 - 86_400, ['id']));
  control.setClock(T0_MS);
});

function orders(count: number, stampedAt: number, primaryKey: string[]) {
  return {
    name: 'orders',
    columns: COLS,
    primaryKey,
    timestamp: stampedAt,
    rows: Array.from({ length: count }, (_, i) => [
      String(i + 1),
      'restored',
      String(10 * (i + 1)),
    ]),
  } as never;
}

async function recreate(primaryKey: string[]): Promise<void> {
  const { control } = emulator;
  const at = control.nowMs() + 3_600_000;
  control.setClock(at);
  await control.dropTable(SOURCE_PROJECT, SRC);
  await control.createTable(SOURCE_PROJECT, 'in.c-sales', orders(7, T0 - 1800, primaryKey));
  control.setClock(at + 100_000);
  await control.upsertRows(SOURCE_PROJECT, SRC, [{ id: '1', status: 'changed', amount: '11' }], {
    primaryKey,
  });
  control.setClock(at + 200_000);
}

/** Rows added to the source table a minute after the last run, a minute before the next. */
async function addSourceRows(ids: readonly string[]): Promise<void> {
  const { control } = emulator;
  control.advanceClock(60_000);
  await control.insertRows(
    SOURCE_PROJECT,
    SRC,
    ids.map((id) => ({ id, status: 'n', amount: id })),
  );
  control.advanceClock(60_000);
}

/** The `lastRun` item copying `orders` into `dest`: an upsert by id with a key, else an append. */
function item(dest: string, primaryKey?: string[]): TableItem {
  return {
    name: 'orders',
    destination: dest,
    incremental: true,
    changedSince: 'lastRun',
    ...(primaryKey ? { primaryKey } : {}),
  };
}

/** A data folder for `table`, after its first run (exit 0). */
async function syncedOnce(table: TableItem): Promise<string> {
  const dir = await makeDataDir(standaloneConfig(emulator.url, [table]));
  expect((await run(dir)).code).toBe(0);
  return dir;
}

const run = (dir: string, args: string[] = []) => runJob(emulator.url, dir, args, ENV);

const WHILE_IMPORT: FaultSpec = {
  kind: 'hold',
  afterHandling: true,
  method: 'POST',
  path: '/import-async',
};
const AFTER_INTENT: FaultSpec = {
  kind: 'hold',
  afterHandling: true,
  method: 'POST',
  path: '/metadata',
  skip: 1,
};
const AFTER_IMPORT_BEFORE_RECORD: FaultSpec = {
  kind: 'hold',
  method: 'POST',
  path: '/metadata',
  skip: 2,
};

/** The built CLI on `dir`, held by `fault` (labelled `crash`): resolves once the hold applies. */
async function heldAt(dir: string, fault: FaultSpec, args: string[] = []) {
  const { control } = emulator;
  const applied = control.whenFaultApplied('crash');
  control.addFault({ ...fault, label: 'crash' });
  const child = startCliProcess(['--data', dir, ...args], {
    env: { ...ENV, AWS_ENDPOINT_URL_S3: emulator.url, KBC_TABLE_SYNC_POLL_INITIAL_MS: '20' },
    timeoutMs: 60_000,
  });
  const ended = child.done.then((r) => {
    throw new Error(`ended before the kill point (${r.code}): ${r.stderr.slice(0, 400)}`);
  });
  await Promise.race([applied, ended]);
  return child;
}

/**
 * SIGKILLs `child`; then the server's jobs settle and, unless `lapse` is false, the clock passes
 * the killed run's claim lease.
 */
async function killAndSettle(
  child: Awaited<ReturnType<typeof heldAt>>,
  lapse = true,
): Promise<CliResult> {
  const { control } = emulator;
  child.kill('SIGKILL');
  const result = await child.done;
  control.clearFaults();
  control.releaseHolds();
  await control.waitForJobs();
  if (lapse) control.advanceClock(20_000);
  return result;
}

/** SIGKILL the CLI when `fault` applies; then the server's jobs settle and claims lapse. */
async function killAt(dir: string, fault: FaultSpec, args: string[] = []): Promise<CliResult> {
  return killAndSettle(await heldAt(dir, fault, args));
}

async function compare(dest: string) {
  const { control } = emulator;
  const source = await control.tableRows(SOURCE_PROJECT, SRC);
  const rows = await control.tableRows(DEST_PROJECT, `in.c-copy.${dest}`);
  return compareRows(rowValues(source, COLS), rowValues(rows, COLS));
}
const EXACT = { lost: 0, duplicated: 0, unexpected: 0 };

/** A run on `dir` exits 0 and leaves `dest` holding each source row exactly once. */
async function expectExactRun(dir: string, dest: string, args: string[] = []): Promise<void> {
  const result = await run(dir, args);
  expect(result.code, result.stderr).toBe(0);
  expect(await compare(dest)).toMatchObject(EXACT);
}

async function setConfig(dir: string, table: TableItem) {
  await writeFile(
    join(dir, 'config.json'),
    JSON.stringify(standaloneConfig(emulator.url, [table])),
  );
}

describe('standalone upsert', () => {
  for (const [name, fault] of [
    ['while the import runs', WHILE_IMPORT],
    ['after the intent', AFTER_INTENT],
    ['after the import, before the record', AFTER_IMPORT_BEFORE_RECORD],
  ] as const) {
    it(`killed ${name} of the run after a re-creation, rerun exact`, async () => {
      const dest = `up_${name.replace(/\W+/g, '_')}`;
      const dir = await syncedOnce(item(dest, ['id']));
      await recreate(['id']);
      await killAt(dir, fault);
      await rm(join(dir, 'in', 'state.json'), { force: true });
      await expectExactRun(dir, dest);
    });
  }
});

describe('standalone append', () => {
  it('old-incarnation import killed, re-creation, refusal; --full-refresh killed; rerun; more rows', async () => {
    const dest = 'ap_refresh';
    const dir = await syncedOnce(item(dest));
    await addSourceRows(['6', '7']);
    await killAt(dir, WHILE_IMPORT);
    expect(await compare(dest)).toMatchObject(EXACT);
    await recreate([]);
    const refused = await run(dir);
    expect(refused.code, refused.stderr).toBe(1);
    expect(refused.stderr).toMatch(/created again/);
    await killAt(dir, WHILE_IMPORT, ['--full-refresh', SRC]);
    await expectExactRun(dir, dest);
    await addSourceRows(['8']);
    await expectExactRun(dir, dest);
  });

  it('"incremental": false escape killed after the import, then append config back', async () => {
    const dest = 'ap_escape';
    const append = item(dest);
    const dir = await syncedOnce(append);
    await recreate([]);
    expect((await run(dir)).code).toBe(1);
    await setConfig(dir, { ...append, incremental: false });
    await killAt(dir, AFTER_IMPORT_BEFORE_RECORD);
    await setConfig(dir, append);
    await rm(join(dir, 'in', 'state.json'), { force: true });
    await expectExactRun(dir, dest);
    await addSourceRows(['9']);
    await expectExactRun(dir, dest);
  });
});

describe('re-creation between the table list and the export', () => {
  it.each(['upsert', 'append'] as const)(
    '%s: the racing run records the planned table, so the next run copies every row or refuses',
    { timeout: 40_000 },
    async (mode) => {
      const dest = `race_${mode}`;
      const dir = await syncedOnce(item(dest, mode === 'upsert' ? ['id'] : undefined));
      const { control } = emulator;
      control.advanceClock(60_000);
      await control.insertRows(SOURCE_PROJECT, SRC, [{ id: '9', status: 'old', amount: '9' }]);
      control.advanceClock(60_000);
      const applied = control.whenFaultApplied('x');
      control.addFault({
        kind: 'hold',
        method: 'POST',
        path: '/export-async',
        label: 'x',
      });
      const racing = run(dir);
      // A run that ends before the hold (the table found unchanged) fails the test below.
      await Promise.race([applied, racing]);
      await recreate(mode === 'upsert' ? ['id'] : []);
      control.clearFaults();
      control.releaseHolds();
      await racing;
      if (mode === 'upsert') {
        await expectExactRun(dir, dest);
      } else {
        expect((await run(dir)).code).toBe(1);
      }
    },
  );
});

describe('overlap: an old-incarnation run holds claim and intent when the re-creation lands', () => {
  it('upsert: the other run leaves the table, and after the lease every row is copied once', async () => {
    const dest = 'overlap_up';
    const upsert = item(dest, ['id']);
    const dir = await syncedOnce(upsert);
    const dirB = await makeDataDir(standaloneConfig(emulator.url, [upsert]));
    emulator.control.advanceClock(60_000);
    await emulator.control.upsertRows(
      SOURCE_PROJECT,
      SRC,
      [{ id: '2', status: 'old-upd', amount: '2' }],
      { primaryKey: ['id'] },
    );
    emulator.control.advanceClock(60_000);
    const child = await heldAt(dir, { kind: 'hold', method: 'POST', path: '/import-async' });
    await recreate(['id']);
    // The other run's claim holds the table: this run leaves it for later, exit 0.
    const b = await run(dirB);
    expect(b.code, b.stderr).toBe(0);
    await killAndSettle(child);
    const c = await run(dirB);
    expect(c.code, c.stderr).toBe(0);
    await expectExactRun(dir, dest);
  });
});

describe('more kills', () => {
  it('escape killed after the intent; append back within the lease, then after it', async () => {
    const append = item('ap_escape_intent');
    const dir = await syncedOnce(append);
    await recreate([]);
    await setConfig(dir, { ...append, incremental: false });
    await killAndSettle(await heldAt(dir, AFTER_INTENT), false);
    await setConfig(dir, append);
    // Within the killed run's lease its intent is left alone: skipped, exit 0.
    const within = await run(dir);
    expect(within.code, within.stderr).toBe(0);
    emulator.control.advanceClock(20_000);
    const after = await run(dir);
    expect(after.code).toBe(1);
    expect(after.stderr).toMatch(/created again/);
  });

  it('old-incarnation append killed after the import before the record, re-creation, refresh', async () => {
    const dest = 'ap_old_pending';
    const dir = await syncedOnce(item(dest));
    await addSourceRows(['6']);
    await killAt(dir, AFTER_IMPORT_BEFORE_RECORD);
    await recreate([]);
    await expectExactRun(dir, dest, ['--full-refresh', SRC]);
    await expectExactRun(dir, dest);
  });
});
