/**
 * Two runs on a missing destination table (docs/sync-record.md, Overlapping runs): one creates it,
 * the other finds it while the create job is still at work and imports into it. The backend is
 * held busy (`holdWrites`) so the create job is caught between making the table and loading its
 * header-only file, and the other run's import is started exactly then. Storage runs the jobs of
 * one table one after another, so the import lands after the create; no row may be lost.
 */
import { describe, expect, it } from 'vitest';
import { appendSeed, appendTables, exactlyOnce } from '../helpers/append-tables.js';
import { useEmulator } from '../helpers/emulator.js';
import { until } from '../helpers/until.js';
import { makeDataDir, removeDir } from '../helpers/run-cli.js';
import { WRITER_TOKEN, runJob } from '../helpers/standalone.js';

const T0_MS = Date.parse('2025-06-01T00:00:00Z');

const emulator = useEmulator(appendSeed(['raced'], T0_MS / 1000));
const { config, compare, syncItems } = appendTables(emulator);

async function tableVisible(tableId: string): Promise<boolean> {
  const response = await fetch(`${emulator.url}/v2/storage/tables/${tableId}`, {
    headers: { 'X-StorageApi-Token': WRITER_TOKEN },
  });
  await response.arrayBuffer();
  return response.status === 200;
}

describe('a destination table created by one run while another imports into it', () => {
  it('the import of the run that found the table mid-create is not erased by the create', async () => {
    const { control } = emulator;
    control.setClock(T0_MS);
    const dirs = [await makeDataDir(config('raced')), await makeDataDir(config('raced'))];
    try {
      // Run A finds no table and creates it; from its create request on, the backend is busy.
      control.addFault({
        kind: 'holdWrites',
        method: 'POST',
        path: '/tables-async',
        label: 'create',
      });
      const created = control.whenFaultApplied('create');
      const runA = runJob(emulator.url, dirs[0] ?? '', [], { KBC_RUNID: 'creator' });
      await created;
      await until(() => tableVisible('in.c-copy.raced'));
      // Run B finds the table A is creating, claims it and starts its import; the answer to the
      // import is held until the backend goes on, so the job exists before A's create finishes.
      control.addFault({
        kind: 'hold',
        afterHandling: true,
        method: 'POST',
        path: '/import-async',
        label: 'import',
      });
      const importing = control.whenFaultApplied('import');
      const runB = runJob(emulator.url, dirs[1] ?? '', [], { KBC_RUNID: 'importer' });
      await importing;
      await new Promise((resolve) => setTimeout(resolve, 50));
      control.releaseHolds();
      const [a, b] = await Promise.all([runA, runB]);
      expect({ code: a.code, stderr: a.stderr }).toMatchObject({ code: 0 });
      expect({ code: b.code, stderr: b.stderr }).toMatchObject({ code: 0 });
      expect(b.stdout).toMatch(/Imported \\?"/);
      // A created the table, then found B's import on it and stood aside.
      expect(a.stdout).toMatch(/Created table/);
      expect(a.stdout).toMatch(/Skipping/);
      expect(a.stdout).not.toMatch(/Imported \\?"/);
      expect(await compare('raced')).toMatchObject({ ...exactlyOnce, actual: 2 });
      // A later run goes on from B's record: still every row once.
      control.advanceClock(10_000);
      const last = await runJob(emulator.url, dirs[0] ?? '', [], { KBC_RUNID: 'last' });
      expect({ code: last.code, stderr: last.stderr }).toMatchObject({ code: 0 });
      expect(await compare('raced')).toMatchObject({ ...exactlyOnce, actual: 2 });
      const claims = (await syncItems('raced')).filter((m) =>
        m.key.startsWith('kbc-table-sync.claim.'),
      );
      expect(claims).toEqual([]);
    } finally {
      control.clearFaults();
      for (const dir of dirs) await removeDir(dir);
    }
  });
});
