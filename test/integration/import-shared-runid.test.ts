/**
 * Runs that share a fixed `KBC_RUNID` (a compose file, a cron wrapper) list their imports of one
 * table under one run id (docs/storage-client.md, Job starts are never duplicated). When a later
 * run's import POST has an unknown outcome, the job lookup must not take the earlier run's import
 * for its own: that would record a window whose file was never loaded, and its rows would be
 * lost for good. The run stops instead, and a later run settles the intent: every row arrives once.
 */
import { describe, expect, it } from 'vitest';
import { appendSeed, appendTables, exactlyOnce } from '../helpers/append-tables.js';
import { useEmulator } from '../helpers/emulator.js';
import { makeDataDir, removeDir } from '../helpers/run-cli.js';
import { runJob } from '../helpers/standalone.js';

/** The job matches a listed job only if it was created within minutes of the POST, by its clock. */
const T0_MS = Date.now();
const LEASE_MS = 30 * 60_000;
const RUN_ID = { KBC_RUNID: 'cron-fixed' };

const emulator = useEmulator(appendSeed(['fixed'], Math.floor(T0_MS / 1000)));
const { config, compare, addRow } = appendTables(emulator);

describe('an import POST with an unknown outcome, under a run id an earlier run used', () => {
  it('is not matched to the earlier run’s import of the table; a later run copies the window once', async () => {
    const { control } = emulator;
    control.setClock(T0_MS);
    const dataDir = await makeDataDir(config('fixed'));
    try {
      const first = await runJob(emulator.url, dataDir, [], RUN_ID);
      expect({ code: first.code, stderr: first.stderr }).toEqual({ code: 0, stderr: '' });
      expect(await compare('fixed')).toMatchObject({ ...exactlyOnce, actual: 2 });

      control.advanceClock(10_000);
      await addRow('fixed', '3');
      control.advanceClock(10_000);
      // Answered 502 and never handled: no job is started.
      control.addFault({ kind: 'status', status: 502, method: 'POST', path: '/import-async' });
      const second = await runJob(emulator.url, dataDir, [], RUN_ID);
      control.clearFaults();
      expect(second.code).toBe(2);
      expect(second.stdout).not.toContain('found the job it started');
      expect(second.stderr).toMatch(
        /import-async had an unknown outcome \(.*502.*\) and no job of it is listed yet: it may still start, so it was not posted again; a later run settles it\./,
      );
      // Row 3 is not copied yet, and nothing is recorded as if it were.
      expect(await compare('fixed')).toMatchObject({ actual: 2, lost: 1, duplicated: 0 });

      // After the claim's lease, a run (the same run id again) settles the intent and copies row 3.
      control.advanceClock(LEASE_MS + 60_000);
      const third = await runJob(emulator.url, dataDir, [], RUN_ID);
      expect({ code: third.code, stderr: third.stderr }).toEqual({ code: 0, stderr: '' });
      expect(await compare('fixed')).toMatchObject({ ...exactlyOnce, actual: 3 });
    } finally {
      control.clearFaults();
      await removeDir(dataDir);
    }
  });
});
