/**
 * An export POST whose outcome is unknown looks for the job it may have started
 * (docs/storage-client.md, Job starts are never duplicated). The Keboola runner gives every row
 * of one job the same run id, so another row's export of the same table is in that list too: it
 * must never be taken for this one (its columns or window differ, and a full load of it would
 * replace the destination with the wrong rows).
 */
import { describe, expect, it } from 'vitest';
import { useEmulator } from '../helpers/emulator.js';
import { readSlicedTable, sortRows, withoutTimestamp } from '../helpers/output.js';
import { makeDataDir, removeDir } from '../helpers/run-cli.js';
import {
  SOURCE_PROJECT,
  destRows,
  expectNoLeaks,
  platformConfig,
  runJob,
  standaloneSeed,
} from '../helpers/standalone.js';

const emulator = useEmulator(standaloneSeed());
const ROW_RUN = { KBC_RUNID: '777001' };

describe('the lookup after an export POST with an unknown outcome', () => {
  it('does not take another row’s export of the same table (same run id, other columns)', async () => {
    const { control, url } = emulator;
    const rowA = await makeDataDir(platformConfig(url, [{ name: 'orders', columns: ['id'] }]));
    const rowB = await makeDataDir(platformConfig(url, [{ name: 'orders' }]));
    try {
      const first = await runJob(url, rowA, [], ROW_RUN);
      expect({ code: first.code, stderr: first.stderr }).toEqual({ code: 0, stderr: '' });
      // Row B's export POST is lost on the way (504, never handled): its outcome is unknown.
      control.addFault({ kind: 'status', status: 504, method: 'POST', path: 'export-async' });
      const second = await runJob(url, rowB, [], ROW_RUN);
      expect({ code: second.code, stderr: second.stderr }).toEqual({ code: 0, stderr: '' });
      expect(second.stdout).toContain('no job was started, posting again');
      const written = await readSlicedTable(rowB, 'orders.csv');
      const source = await destRows(control, 'in.c-sales.orders', SOURCE_PROJECT);
      expect(written.manifest.columns).toEqual(Object.keys(source[0] ?? {}));
      expect(sortRows(withoutTimestamp(written.rows))).toEqual(source);
      await expectNoLeaks(control, second, rowB);
    } finally {
      control.clearFaults();
      await removeDir(rowA);
      await removeDir(rowB);
    }
  });
});
