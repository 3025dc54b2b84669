/**
 * The destination table's sync record (standalone mode, docs/sync-record.md) through the built
 * CLI: it replaces a lost in/state.json, a dropped table starts over, a foreign record is refused,
 * a server clock behind the watermark stops the run, and two runs from two data folders on one
 * destination table never import a window twice.
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useEmulator } from '../helpers/emulator.js';
import { appendSeed, appendTables, exactlyOnce } from '../helpers/append-tables.js';
import { carryState, makeDataDir, removeDir } from '../helpers/run-cli.js';
import {
  DEST_PROJECT,
  SOURCE_PROJECT,
  WRITER_TOKEN,
  exportStarts,
  expectNoLeaks,
  readOutState,
  runJob,
} from '../helpers/standalone.js';

const T0_MS = Date.parse('2025-03-01T00:00:00Z');
const T0 = T0_MS / 1000;
/** One append table (no primary key) per test, so the tests do not share rows. */
const TABLES = [
  'lost_state',
  'dropped',
  'recreated',
  'foreign_a',
  'foreign_b',
  'clock',
  'overlap',
  'skip',
  'moved',
];

const emulator = useEmulator(appendSeed(TABLES, T0));
const { config: appendConfig, compare, addRow } = appendTables(emulator);

async function syncRecord(tableId: string): Promise<Record<string, unknown>> {
  const response = await fetch(`${emulator.url}/v2/storage/tables/${tableId}/metadata`, {
    headers: { 'X-StorageApi-Token': WRITER_TOKEN },
  });
  const items = (await response.json()) as { key: string; value: string; provider: string }[];
  const record = items.find(
    (m) => m.provider === 'kbc-table-sync' && m.key === 'kbc-table-sync.record',
  );
  return JSON.parse(record?.value ?? '{}') as Record<string, unknown>;
}

describe('the destination sync record', () => {
  it('a rerun without in/state.json after an append sync copies only the new rows', async () => {
    const { control } = emulator;
    control.setClock(T0_MS);
    const dir = await makeDataDir(appendConfig('lost_state'));
    try {
      const first = await runJob(emulator.url, dir);
      expect({ code: first.code, stderr: first.stderr }).toMatchObject({ code: 0 });
      expect(await syncRecord('in.c-copy.lost_state')).toMatchObject({
        source: { projectId: SOURCE_PROJECT, tableId: 'in.c-sales.lost_state' },
        watermark: T0,
        mode: 'append',
      });
      control.setClock(T0_MS + 10_000);
      await addRow('lost_state', '3');
      control.setClock(T0_MS + 20_000);
      // The state is not carried (nor kept): the record alone says where to go on from.
      await rm(join(dir, 'out'), { recursive: true, force: true });
      const second = await runJob(emulator.url, dir);
      expect({ code: second.code, stderr: second.stderr }).toMatchObject({ code: 0 });
      expect(await compare('lost_state')).toMatchObject({ ...exactlyOnce, actual: 3 });
      expect((await readOutState(dir)).tables['in.c-sales.lost_state']?.watermark).toBe(T0 + 20);
      await expectNoLeaks(control, second, dir);
    } finally {
      await removeDir(dir);
    }
  });

  it('a dropped destination table is copied in full on the next run', async () => {
    const { control } = emulator;
    control.setClock(T0_MS);
    const dir = await makeDataDir(appendConfig('dropped'));
    try {
      expect((await runJob(emulator.url, dir)).code).toBe(0);
      await control.dropTable(DEST_PROJECT, 'in.c-copy.dropped');
      control.setClock(T0_MS + 10_000);
      const rerun = await runJob(emulator.url, dir);
      expect({ code: rerun.code, stderr: rerun.stderr }).toMatchObject({ code: 0 });
      expect(await compare('dropped')).toMatchObject({ ...exactlyOnce, actual: 2 });
    } finally {
      await removeDir(dir);
    }
  });

  it('an empty destination table without a record (an interrupted re-creation) is copied in full, whatever in/state.json says', async () => {
    const { control } = emulator;
    control.setClock(T0_MS);
    const dir = await makeDataDir(appendConfig('recreated'));
    try {
      expect((await runJob(emulator.url, dir)).code).toBe(0);
      await carryState(dir);
      // Dropped by hand, then re-created by a run that died before its import: the table is back,
      // empty and without a record, and in/state.json still holds the watermark from before.
      await control.dropTable(DEST_PROJECT, 'in.c-copy.recreated');
      await control.createTable(DEST_PROJECT, 'in.c-copy', {
        name: 'recreated',
        columns: ['id', 'kind'],
        rows: [],
      });
      control.setClock(T0_MS + 10_000);
      await addRow('recreated', '3');
      control.setClock(T0_MS + 20_000);
      const rerun = await runJob(emulator.url, dir);
      expect({ code: rerun.code, stderr: rerun.stderr }).toMatchObject({ code: 0 });
      expect(rerun.stdout).toContain(
        'The destination table of \\"in.c-sales.recreated\\" is empty and has no sync record: copying it in full (the watermark in in/state.json is ignored).',
      );
      expect(await compare('recreated')).toMatchObject({ ...exactlyOnce, actual: 3 });
    } finally {
      await removeDir(dir);
    }
  });

  it('an existing table without a record is not resumed from a state entry made for another destination', async () => {
    const { control } = emulator;
    control.setClock(T0_MS);
    const dir = await makeDataDir(appendConfig('moved'));
    try {
      expect((await runJob(emulator.url, dir)).code).toBe(0);
      await carryState(dir);
      // Someone else's table, with rows of its own and no sync record, becomes the destination.
      await control.createTable(DEST_PROJECT, 'in.c-copy', {
        name: 'moved_b',
        columns: ['id', 'kind'],
        rows: [['99', 'theirs']],
      });
      control.setClock(T0_MS + 10_000);
      await addRow('moved', '3');
      control.setClock(T0_MS + 20_000);
      await writeFile(join(dir, 'config.json'), JSON.stringify(appendConfig('moved', 'moved_b')));
      const moved = await runJob(emulator.url, dir);
      expect({ code: moved.code, stderr: moved.stderr }).toMatchObject({ code: 0 });
      expect(moved.stdout).toContain(
        'moved since its last run (from in.c-copy.moved to in.c-copy.moved_b)',
      );
      // Every source row, once, next to the table's own row.
      expect(await compare('moved', 'moved_b')).toMatchObject({
        lost: 0,
        duplicated: 0,
        unexpected: 1,
      });
      expect((await readOutState(dir)).tables['in.c-sales.moved']?.destination).toBe(
        'in.c-copy.moved_b',
      );
    } finally {
      await removeDir(dir);
    }
  });

  it('refuses to write into a table synced from another source table (exit 1, nothing imported)', async () => {
    const { control } = emulator;
    control.setClock(T0_MS);
    const first = await makeDataDir(appendConfig('foreign_a', 'shared'));
    const second = await makeDataDir(appendConfig('foreign_b', 'shared'));
    try {
      expect((await runJob(emulator.url, first)).code).toBe(0);
      const imports = control.stats().jobStarts['tableImport in.c-copy.shared'];
      const refused = await runJob(emulator.url, second);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(
        /"in\.c-copy\.shared" is synced from "in\.c-sales\.foreign_a" of project 101 on http:\/\/127\.0\.0\.1:\d+ .*not from "in\.c-sales\.foreign_b"/,
      );
      expect(control.stats().jobStarts['tableImport in.c-copy.shared']).toBe(imports);
      expect(await compare('foreign_a', 'shared')).toMatchObject(exactlyOnce);
    } finally {
      await removeDir(first);
      await removeDir(second);
    }
  });

  it('a server clock that goes back, then forward, loses no row and duplicates none', async () => {
    const { control } = emulator;
    control.setClock(T0_MS + 100_000);
    const dir = await makeDataDir(appendConfig('clock'));
    try {
      expect((await runJob(emulator.url, dir)).code).toBe(0);
      // Changed at the very instant that became the watermark: the next window starts there.
      await addRow('clock', '3');
      control.setClock(T0_MS + 50_000);
      const exportsBefore = exportStarts(control)['in.c-sales.clock'];
      const behind = await runJob(emulator.url, dir);
      expect(behind.code).toBe(1);
      expect(behind.stderr).toContain(
        `The watermark of "in.c-sales.clock" is ${T0 + 100} (${new Date((T0 + 100) * 1000).toISOString()}), later than the Storage server's time ${T0 + 50}`,
      );
      expect(exportStarts(control)['in.c-sales.clock'], 'nothing exported').toBe(exportsBefore);
      control.setClock(T0_MS + 200_000);
      await addRow('clock', '4');
      control.setClock(T0_MS + 210_000);
      const forward = await runJob(emulator.url, dir);
      expect({ code: forward.code, stderr: forward.stderr }).toMatchObject({ code: 0 });
      expect(await compare('clock')).toMatchObject({ ...exactlyOnce, actual: 4 });
      expect(await syncRecord('in.c-copy.clock')).toMatchObject({ watermark: T0 + 210 });
    } finally {
      await removeDir(dir);
    }
  });

  it('two data folders on one destination: the second settles the first one’s running import, no duplicates', async () => {
    const { control } = emulator;
    control.setClock(T0_MS);
    const dirA = await makeDataDir(appendConfig('overlap'));
    const dirB = await makeDataDir(appendConfig('overlap'));
    try {
      expect((await runJob(emulator.url, dirA)).code).toBe(0);
      control.setClock(T0_MS + 10_000);
      await addRow('overlap', '3');
      control.setClock(T0_MS + 20_000);
      // Run A's import is accepted and runs; its answer is held while run B starts.
      const held = control.whenFaultApplied('held-import');
      control.addFault({
        kind: 'hold',
        afterHandling: true,
        method: 'POST',
        path: '/import-async',
        label: 'held-import',
      });
      const runA = runJob(emulator.url, dirA);
      await held;
      control.setClock(T0_MS + 30_000);
      await addRow('overlap', '4');
      control.setClock(T0_MS + 40_000);
      const runB = await runJob(emulator.url, dirB);
      expect({ code: runB.code, stderr: runB.stderr }).toMatchObject({ code: 0 });
      expect(runB.stdout).toMatch(/pending import .* still (waiting|processing): waiting for it/);
      control.releaseHolds();
      const a = await runA;
      expect({ code: a.code, stderr: a.stderr }).toMatchObject({ code: 0 });
      expect(await compare('overlap')).toMatchObject({ ...exactlyOnce, actual: 4 });
      expect(await syncRecord('in.c-copy.overlap')).toMatchObject({ watermark: T0 + 40 });
    } finally {
      control.clearFaults();
      await removeDir(dirA);
      await removeDir(dirB);
    }
  });

  it('a run whose table another run imported into meanwhile skips it with a warning', async () => {
    const { control } = emulator;
    control.setClock(T0_MS);
    const dirA = await makeDataDir(appendConfig('skip'));
    const dirB = await makeDataDir(appendConfig('skip'));
    try {
      // Run B reads the (missing) table, then waits on its export while run A syncs everything.
      const held = control.whenFaultApplied('held-export');
      control.addFault({
        kind: 'hold',
        afterHandling: true,
        method: 'POST',
        path: '/tables/in.c-sales.skip/export-async',
        label: 'held-export',
      });
      const runB = runJob(emulator.url, dirB);
      await held;
      const a = await runJob(emulator.url, dirA);
      expect({ code: a.code, stderr: a.stderr }).toMatchObject({ code: 0 });
      control.releaseHolds();
      const b = await runB;
      expect({ code: b.code, stderr: b.stderr }).toMatchObject({ code: 0 });
      // A warning is a log line on stdout (JSON when piped: quotes escaped).
      expect(b.stdout).toMatch(
        /Skipping \\?"in\.c-copy\.skip\\?": another run has moved its sync record/,
      );
      expect(await compare('skip')).toMatchObject({ ...exactlyOnce, actual: 2 });
    } finally {
      control.clearFaults();
      await removeDir(dirA);
      await removeDir(dirB);
    }
  });
});
