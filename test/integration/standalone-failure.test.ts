/**
 * Failure isolation in standalone mode (issue 3): a failing table does not stop the others, only
 * successful tables advance their watermarks, the summary names the failure, the exit code is
 * non-zero.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { SummaryFileDocument } from '../../src/summary-file.js';
import { useEmulator } from '../helpers/emulator.js';
import { logLines, makeDataDir } from '../helpers/run-cli.js';
import {
  DEST_PROJECT,
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
    const summaryFile = join(dataDir, 'summary.json');
    const result = await runJob(url, dataDir, ['--summary-file', summaryFile]);
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
    // One sentence on stderr naming the failed table and why.
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain('1 of 3 table(s) failed: in.c-sales.customers: ');
    expect(result.stderr).toContain('Emulated import failure.');

    // --summary-file: the partial outcome, per table, as one JSON document.
    const document = JSON.parse(await readFile(summaryFile, 'utf8')) as SummaryFileDocument;
    expect(document).toMatchObject({
      version: 1,
      status: 'partial',
      exitCode: 2,
      totals: { tables: 3, succeeded: 2, failed: 1, skipped: 0 },
    });
    expect(document.error).toContain('1 of 3 table(s) failed');
    expect(document.tables.map((t) => [t.source, t.destination, t.mode, t.status])).toEqual([
      ['in.c-sales.orders', 'in.c-copy.orders_iso', 'upsert', 'success'],
      ['in.c-sales.customers', 'in.c-copy.customers_iso', 'upsert', 'failed'],
      ['in.c-sales.events', 'in.c-copy.events_iso', 'append', 'success'],
    ]);
    // The destination table did not exist yet: a full copy, whatever in/state.json said
    // (docs/sync-record.md).
    expect(document.tables[0]?.window).toEqual({
      since: null,
      until: new Date(T0_MS).toISOString(),
    });
    expect(document.tables[1]?.error).toContain('Emulated import failure.');
    expect(document.tables[0]?.error).toBeNull();
    await expectNoLeaks(control, result, dataDir);
  });

  it('retries a 503 on the header file of a table it creates, as it retries a slice', async () => {
    const { control, url } = emulator;
    control.setClock(T0_MS + 600_000);
    const dataDir = await makeDataDir(
      standaloneConfig(url, [{ name: 'events', destination: 'events_header_retried' }]),
    );
    control.addFault({ method: 'PUT', path: '/header\\.csv$/', kind: 'status', status: 503 });
    const result = await runJob(url, dataDir);
    expect(result.code, result.stderr).toBe(0);
    expect(control.pendingFaults()).toEqual([]);
    expect(await destRows(control, 'in.c-copy.events_header_retried', DEST_PROJECT)).toHaveLength(
      2,
    );
  });
});
