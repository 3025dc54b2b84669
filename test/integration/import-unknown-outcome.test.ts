/**
 * An import whose POST has an unknown outcome and whose job is not listed yet (docs/sync-record.md,
 * One table's sync): a gateway answers 504 while the backend carries on, and the job appears
 * only after the run looked for it. The run must not post the import again (the rows would load
 * twice): the table fails, its claim stays for its lease, and a later run settles the intent
 * against the job that did appear. Every row arrives exactly once.
 */
import { describe, expect, it } from 'vitest';
import { appendSeed, appendTables, exactlyOnce } from '../helpers/append-tables.js';
import { useEmulator } from '../helpers/emulator.js';
import { until } from '../helpers/until.js';
import { makeDataDir, removeDir } from '../helpers/run-cli.js';
import { runJob } from '../helpers/standalone.js';

const T0_MS = Date.parse('2025-07-01T00:00:00Z');
const LEASE_MS = 30 * 60_000;

const emulator = useEmulator(appendSeed(['late'], T0_MS / 1000));
const { config, compare, syncItems, addRow } = appendTables(emulator);

describe('an import POST answered 504 whose job appears later', () => {
  it('is not posted again; a later run settles it and every row arrives once', async () => {
    const { control } = emulator;
    control.setClock(T0_MS);
    const dataDir = await makeDataDir(config('late'));
    try {
      control.addFault({
        kind: 'status',
        status: 504,
        handleAfterMs: 300,
        method: 'POST',
        path: '/import-async',
      });
      const first = await runJob(emulator.url, dataDir, [], { KBC_RUNID: 'late-first' });
      expect(first.code).toBe(2);
      expect(first.stderr).toMatch(
        /import-async had an unknown outcome \(.*504.*\) and no job of it is listed yet: it may still start, so it was not posted again; a later run settles it\./,
      );
      expect(control.stats().requests['POST /v2/storage/tables/{tableId}/import-async']).toBe(1);
      // The backend carried on: the one import lands after the run gave up.
      await until(async () => (await compare('late')).actual === 2);
      expect(await compare('late')).toMatchObject({ ...exactlyOnce, actual: 2 });

      // While the claim's lease lasts, a run leaves the table alone.
      control.advanceClock(60_000);
      const early = await runJob(emulator.url, dataDir, [], { KBC_RUNID: 'late-early' });
      expect({ code: early.code, stderr: early.stderr }).toMatchObject({ code: 0 });
      expect(await compare('late')).toMatchObject({ ...exactlyOnce, actual: 2 });

      // After the lease, a run settles the intent against the job it finds, and goes on from it.
      control.advanceClock(LEASE_MS);
      await addRow('late', '3');
      control.advanceClock(10_000);
      const settled = await runJob(emulator.url, dataDir, [], { KBC_RUNID: 'late-settle' });
      expect({ code: settled.code, stderr: settled.stderr }).toMatchObject({ code: 0 });
      expect(await compare('late')).toMatchObject({ ...exactlyOnce, actual: 3 });
      const claims = (await syncItems('late')).filter((m) =>
        m.key.startsWith('kbc-table-sync.claim.'),
      );
      expect(claims).toEqual([]);
    } finally {
      control.clearFaults();
      await removeDir(dataDir);
    }
  });
});
