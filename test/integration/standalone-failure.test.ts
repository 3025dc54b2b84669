/**
 * Failure isolation in standalone mode (issue 3): a failing table does not stop the others, only
 * successful tables advance their watermarks, the summary names the failure, the exit code is
 * non-zero.
 */
import { describe, expect, it } from 'vitest';
import { useEmulator } from '../helpers/emulator.js';
import { logLines, makeDataDir } from '../helpers/run-cli.js';
import {
  T0_MS,
  destRows,
  expectNoLeaks,
  exportStarts,
  readOutState,
  runJob,
  standaloneConfig,
  standaloneSeed,
} from '../helpers/standalone.js';

const emulator = useEmulator(standaloneSeed());

describe('standalone failure isolation', () => {
  it('imports tables 1 and 3 when table 2 fails, and advances only their watermarks', async () => {
    const { control, url } = emulator;
    control.setClock(T0_MS);
    const earlier = T0_MS / 1000 - 7 * 86_400;
    const previous = { watermark: earlier, rows: 2, mode: 'upsert' };
    const lastRun = { incremental: true, changedSince: 'lastRun' } as const;
    const dataDir = await makeDataDir(
      standaloneConfig(url, [
        { name: 'orders', destination: 'orders_iso', primaryKey: ['id'], ...lastRun },
        { name: 'customers', destination: 'customers_iso', primaryKey: ['id'], ...lastRun },
        { name: 'events', destination: 'events_iso', ...lastRun },
      ]),
      {
        tables: {
          'in.c-sales.orders': previous,
          'in.c-sales.customers': previous,
          'in.c-sales.events': previous,
        },
      },
    );
    control.addFault({
      kind: 'jobError',
      method: 'POST',
      path: 'in.c-copy.customers_iso/import-async',
      code: 'storage.importFailed',
      message: 'Emulated import failure.',
    });
    control.resetStats();
    const result = await runJob(url, dataDir);
    expect(result.code).toBe(2);
    expect(exportStarts(control)).toEqual({
      'in.c-sales.orders': 1,
      'in.c-sales.customers': 1,
      'in.c-sales.events': 1,
    });
    expect(await destRows(control, 'in.c-copy.orders_iso')).toHaveLength(5);
    expect(await destRows(control, 'in.c-copy.events_iso')).toHaveLength(2);
    expect(await destRows(control, 'in.c-copy.customers_iso')).toEqual([]);

    const state = await readOutState(dataDir);
    expect(state.tables['in.c-sales.orders']?.watermark).toBe(T0_MS / 1000);
    expect(state.tables['in.c-sales.events']?.watermark).toBe(T0_MS / 1000);
    expect(state.tables['in.c-sales.customers']).toEqual(previous);

    const summary = logLines(result.stdout)
      .map((l) => l.summary as Record<string, unknown> | undefined)
      .filter((s) => s !== undefined);
    expect(summary.map((s) => [s.table, s.status])).toEqual([
      ['in.c-sales.orders', 'success'],
      ['in.c-sales.customers', 'failed'],
      ['in.c-sales.events', 'success'],
    ]);
    expect(summary[1]?.error).toContain('Emulated import failure.');
    expect(result.stderr).toContain('1 of 3 table(s) failed: in.c-sales.customers.');
    expect(result.stderr).toContain('Emulated import failure.');
    await expectNoLeaks(control, result, dataDir);
  });
});
