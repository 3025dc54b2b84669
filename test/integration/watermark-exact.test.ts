/**
 * Exact incremental watermarks (docs/standalone.md, Incremental windows) in standalone mode, on the emulator clock.
 * The destination tables have no primary key (append), so a row read twice shows up twice and a
 * lost row is missing: the row counts prove "exactly once".
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { useEmulator } from '../helpers/emulator.js';
import { carryState, makeDataDir } from '../helpers/run-cli.js';
import {
  SOURCE_PROJECT,
  T0_MS,
  destRows,
  expectNoLeaks,
  exportStarts,
  readOutState,
  runJob,
  sortRows,
  standaloneConfig,
  standaloneSeed,
} from '../helpers/standalone.js';

const emulator = useEmulator(standaloneSeed());

/** A fresh source table (PK id) with rows 1..3 changed an hour before `atMs`. */
async function sourceTable(name: string, atMs: number): Promise<string> {
  await emulator.control.createTable(SOURCE_PROJECT, 'in.c-sales', {
    name,
    columns: ['id', 'v'],
    primaryKey: ['id'],
    rows: [
      ['1', 'a'],
      ['2', 'b'],
      ['3', 'c'],
    ],
    timestamp: Math.floor(atMs / 1000) - 3600,
  });
  return `in.c-sales.${name}`;
}

/** Append + lastRun: every exported row lands once more in the destination. */
function appendConfig(url: string, name: string) {
  return standaloneConfig(url, [
    { name, destination: `${name}_copy`, incremental: true, changedSince: 'lastRun' },
  ]);
}

/** Waits (bounded) until the emulator has served `key` (`"<METHOD> <route template>"`). */
async function waitForRequest(key: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if ((emulator.control.stats().requests[key] ?? 0) > 0) return;
    await sleep(25);
  }
  throw new Error(`The job never sent ${key}.`);
}

describe('watermark', () => {
  it('run 1 is full, changes between runs arrive exactly once, an idle run adds nothing', async () => {
    const { control, url } = emulator;
    control.setClock(T0_MS);
    const sourceId = await sourceTable('wm_between', T0_MS);
    const dataDir = await makeDataDir(appendConfig(url, 'wm_between'));

    const run1 = await runJob(url, dataDir);
    expect(run1.code).toBe(0);
    expect(run1.stdout).toContain('(append, changed until 2025-03-01T00:00:00.000Z)');
    expect(await destRows(control, 'in.c-copy.wm_between_copy')).toHaveLength(3);
    expect((await readOutState(dataDir)).tables[sourceId]).toMatchObject({
      watermark: T0_MS / 1000,
      rows: 3,
    });

    control.advanceClock(10_000);
    await control.upsertRows(SOURCE_PROJECT, sourceId, [
      { id: '2', v: 'b2' },
      { id: '4', v: 'd' },
    ]);
    control.advanceClock(10_000);
    await carryState(dataDir);
    control.resetStats();
    const run2 = await runJob(url, dataDir);
    expect(run2.code).toBe(0);
    expect(exportStarts(control)).toEqual({ [sourceId]: 1 });
    expect(run2.stdout).toContain(
      '(append, changed since 2025-03-01T00:00:00.000Z until 2025-03-01T00:00:20.000Z)',
    );
    expect(await destRows(control, 'in.c-copy.wm_between_copy')).toEqual(
      sortRows([
        { id: '1', v: 'a' },
        { id: '2', v: 'b' },
        { id: '2', v: 'b2' },
        { id: '3', v: 'c' },
        { id: '4', v: 'd' },
      ]),
    );
    expect((await readOutState(dataDir)).tables[sourceId]).toMatchObject({
      watermark: T0_MS / 1000 + 20,
      rows: 2,
    });

    control.advanceClock(10_000);
    await carryState(dataDir);
    const run3 = await runJob(url, dataDir);
    expect(run3.code).toBe(0);
    expect(await destRows(control, 'in.c-copy.wm_between_copy')).toHaveLength(5);
    await expectNoLeaks(control, run3, dataDir);
  });

  it('keeps a row changed between run 1 export and its end for run 2, exactly once', async () => {
    const { control, url } = emulator;
    const t1Ms = T0_MS + 3_600_000;
    control.setClock(t1Ms);
    const sourceId = await sourceTable('wm_during', t1Ms);
    const dataDir = await makeDataDir(appendConfig(url, 'wm_during'));

    // Run 1 stalls on its import (after the export finished) while rows change in the source:
    // one at the very instant of the export's upper bound, one 30 s later (the clock moves on
    // while the run is still going).
    control.resetStats();
    control.addFault({ kind: 'latency', ms: 1_000, method: 'POST', path: 'import-async' });
    const running = runJob(url, dataDir);
    await waitForRequest('POST /v2/storage/tables/{tableId}/import-async');
    expect(exportStarts(control)).toEqual({ [sourceId]: 1 });
    await control.upsertRows(SOURCE_PROJECT, sourceId, [{ id: '1', v: 'a-at-export' }]);
    control.advanceClock(30_000);
    await control.upsertRows(SOURCE_PROJECT, sourceId, [{ id: '5', v: 'e-during-run' }]);
    const run1 = await running;
    expect(run1.code).toBe(0);
    expect(control.pendingFaults()).toEqual([]);
    expect(await destRows(control, 'in.c-copy.wm_during_copy')).toEqual([
      { id: '1', v: 'a' },
      { id: '2', v: 'b' },
      { id: '3', v: 'c' },
    ]);
    // The watermark is the export's bound (the server clock before the export), not the end.
    expect((await readOutState(dataDir)).tables[sourceId]?.watermark).toBe(t1Ms / 1000);

    control.advanceClock(10_000);
    await carryState(dataDir);
    const run2 = await runJob(url, dataDir);
    expect(run2.code).toBe(0);
    expect(await destRows(control, 'in.c-copy.wm_during_copy')).toEqual(
      sortRows([
        { id: '1', v: 'a' },
        { id: '1', v: 'a-at-export' },
        { id: '2', v: 'b' },
        { id: '3', v: 'c' },
        { id: '5', v: 'e-during-run' },
      ]),
    );
    await expectNoLeaks(control, run2, dataDir);
  });

  it('does not advance the watermark of a table whose import failed', async () => {
    const { control, url } = emulator;
    const t2Ms = T0_MS + 7_200_000;
    control.setClock(t2Ms);
    const sourceId = await sourceTable('wm_failed', t2Ms);
    const dataDir = await makeDataDir(appendConfig(url, 'wm_failed'), {
      tables: { [sourceId]: { watermark: t2Ms / 1000 - 7200 } },
    });
    control.addFault({
      kind: 'jobError',
      method: 'POST',
      path: 'in.c-copy.wm_failed_copy/import-async',
      code: 'storage.importFailed',
      message: 'Emulated import failure.',
    });
    const run1 = await runJob(url, dataDir);
    expect(run1.code).toBe(2);
    expect((await readOutState(dataDir)).tables[sourceId]?.watermark).toBe(t2Ms / 1000 - 7200);

    control.advanceClock(10_000);
    await carryState(dataDir);
    const run2 = await runJob(url, dataDir);
    expect(run2.code).toBe(0);
    // The window of the failed run is read again: every row, once.
    expect(await destRows(control, 'in.c-copy.wm_failed_copy')).toHaveLength(3);
  });
});
