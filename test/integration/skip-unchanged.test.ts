/**
 * Skipping unchanged `lastRun` tables (docs/performance.md, "Skipping unchanged tables"): no
 * export job for a table whose `lastChangeDate` is before its watermark, an export for every
 * other table, `--full-refresh` always exports, and platform mode writes nothing for a skipped
 * table. Runs on the emulator's settable clock.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useEmulator } from '../helpers/emulator.js';
import { carryState, exists, listFiles, logLines, makeDataDir } from '../helpers/run-cli.js';
import {
  SOURCE_PROJECT,
  SOURCE_TOKEN,
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
const lastRun = { incremental: true, primaryKey: ['id'], changedSince: 'lastRun' } as const;
const HOUR_MS = 3_600_000;

/** A source table (PK id) with two rows last changed an hour before `atMs`, or no rows at all. */
async function sourceTable(name: string, atMs: number, withRows = true): Promise<string> {
  await emulator.control.createTable(SOURCE_PROJECT, 'in.c-sales', {
    name,
    columns: ['id', 'v'],
    primaryKey: ['id'],
    ...(withRows
      ? {
          rows: [
            ['1', 'a'],
            ['2', 'b'],
          ],
          timestamp: Math.floor((atMs - HOUR_MS) / 1000),
        }
      : {}),
  });
  return `in.c-sales.${name}`;
}

function statusOf(stdout: string, table: string): unknown {
  const line = logLines(stdout).find(
    (l) => (l.summary as { table?: string } | undefined)?.table === table,
  );
  return (line?.summary as { status?: string } | undefined)?.status;
}

describe('skipping unchanged lastRun tables', () => {
  it('starts no export for an unchanged table, exports a changed one and a table without lastChangeDate', async () => {
    const { control, url } = emulator;
    const t0 = T0_MS + 10 * HOUR_MS;
    control.setClock(t0);
    const same = await sourceTable('skip_same', t0);
    const changed = await sourceTable('skip_changed', t0);
    const never = await sourceTable('skip_never', t0, false);
    const dataDir = await makeDataDir(
      standaloneConfig(url, [
        { name: 'skip_same', ...lastRun },
        { name: 'skip_changed', ...lastRun },
        { name: 'skip_never', ...lastRun },
      ]),
    );
    control.resetStats();
    expect((await runJob(url, dataDir)).code).toBe(0);
    expect(exportStarts(control)).toEqual({ [same]: 1, [changed]: 1, [never]: 1 });
    const state1 = await readOutState(dataDir);

    control.advanceClock(120_000);
    await control.upsertRows(SOURCE_PROJECT, changed, [
      { id: '2', v: 'b2' },
      { id: '3', v: 'c' },
    ]);
    control.advanceClock(120_000);
    await carryState(dataDir);
    control.resetStats();
    const run2 = await runJob(url, dataDir);
    expect(run2.code).toBe(0);
    expect(exportStarts(control)).toEqual({ [changed]: 1, [never]: 1 });
    expect(run2.stdout).toContain(`progress ${same}: unchanged, slices 0/0, 0.0 MB`);
    expect(statusOf(run2.stdout, same)).toBe('unchanged');
    expect(statusOf(run2.stdout, changed)).toBe('success');
    expect(statusOf(run2.stdout, never)).toBe('success');
    const state2 = await readOutState(dataDir);
    expect(state2.tables[same]).toEqual(state1.tables[same]);
    expect(state2.tables[changed]?.watermark).toBe(t0 / 1000 + 240);
    expect(await destRows(control, 'in.c-copy.skip_changed')).toEqual(
      sortRows([
        { id: '1', v: 'a' },
        { id: '2', v: 'b2' },
        { id: '3', v: 'c' },
      ]),
    );
    expect(await destRows(control, 'in.c-copy.skip_same')).toHaveLength(2);
    await expectNoLeaks(control, run2, dataDir);
  });

  it('exports a change made in the watermark’s own second', async () => {
    const { control, url } = emulator;
    const t0 = T0_MS + 20 * HOUR_MS;
    control.setClock(t0);
    const table = await sourceTable('skip_edge', t0);
    const dataDir = await makeDataDir(standaloneConfig(url, [{ name: 'skip_edge', ...lastRun }]));
    expect((await runJob(url, dataDir)).code).toBe(0);
    expect((await readOutState(dataDir)).tables[table]?.watermark).toBe(t0 / 1000);

    // 0.9 s after the watermark instant: the same whole second as the watermark.
    control.setClock(t0 + 900);
    await control.upsertRows(SOURCE_PROJECT, table, [{ id: '9', v: 'edge' }]);
    control.advanceClock(300_000);
    await carryState(dataDir);
    control.resetStats();
    expect((await runJob(url, dataDir)).code).toBe(0);
    expect(exportStarts(control)).toEqual({ [table]: 1 });
    expect(await destRows(control, 'in.c-copy.skip_edge')).toContainEqual({ id: '9', v: 'edge' });
  });

  it('--full-refresh exports an unchanged table', async () => {
    const { control, url } = emulator;
    const t0 = T0_MS + 30 * HOUR_MS;
    control.setClock(t0);
    const table = await sourceTable('skip_full', t0);
    const dataDir = await makeDataDir(standaloneConfig(url, [{ name: 'skip_full', ...lastRun }]));
    expect((await runJob(url, dataDir)).code).toBe(0);
    control.advanceClock(300_000);
    await carryState(dataDir);

    control.resetStats();
    expect((await runJob(url, dataDir)).code).toBe(0);
    expect(exportStarts(control)).toEqual({});

    control.resetStats();
    const full = await runJob(url, dataDir, ['--full-refresh', 'skip_full']);
    expect(full.code).toBe(0);
    expect(exportStarts(control)).toEqual({ [table]: 1 });
    expect(statusOf(full.stdout, table)).toBe('success');
    expect(await destRows(control, 'in.c-copy.skip_full')).toHaveLength(2);
  });

  it('a watermark ahead of the server clock stops the run instead of skipping the table', async () => {
    const { control, url } = emulator;
    const t0 = T0_MS + 35 * HOUR_MS;
    control.setClock(t0);
    const table = await sourceTable('skip_future', t0);
    const future = t0 / 1000 + 365 * 86_400;
    const dataDir = await makeDataDir(
      {
        parameters: {
          '#token': SOURCE_TOKEN,
          url,
          tables: [{ name: 'skip_future', ...lastRun }],
        },
      },
      { tables: { [table]: { watermark: future } } },
    );
    control.resetStats();
    const result = await runJob(url, dataDir);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toMatch(
      new RegExp(
        `^Table "${table}" failed: The watermark of "${table}" is ${future} \\(.*\\), later than the Storage server's time ${t0 / 1000} `,
      ),
    );
    expect(exportStarts(control)).toEqual({});
    expect(await exists(join(dataDir, 'out', 'state.json'))).toBe(false);
    expect(await listFiles(join(dataDir, 'out', 'tables'))).toEqual([]);
  });

  it('platform mode writes nothing to out/tables for an unchanged table', async () => {
    const { control, url } = emulator;
    const t0 = T0_MS + 40 * HOUR_MS;
    control.setClock(t0);
    await sourceTable('plat_same', t0);
    const changed = await sourceTable('plat_changed', t0);
    const config = {
      parameters: {
        '#token': SOURCE_TOKEN,
        url,
        tables: [
          { name: 'plat_same', ...lastRun },
          { name: 'plat_changed', ...lastRun },
        ],
      },
    };
    const dataDir = await makeDataDir(config);
    expect((await runJob(url, dataDir)).code).toBe(0);
    control.advanceClock(300_000);
    await control.upsertRows(SOURCE_PROJECT, changed, [{ id: '7', v: 'g' }]);
    control.advanceClock(300_000);
    await carryState(dataDir);
    const tablesDir = join(dataDir, 'out', 'tables');
    await rm(tablesDir, { recursive: true, force: true });

    control.resetStats();
    const run2 = await runJob(url, dataDir);
    expect(run2.code).toBe(0);
    expect(exportStarts(control)).toEqual({ [changed]: 1 });
    expect(await exists(join(tablesDir, 'plat_same.csv'))).toBe(false);
    expect(await exists(join(tablesDir, 'plat_same.csv.manifest'))).toBe(false);
    expect((await listFiles(tablesDir)).some((f) => f.startsWith('plat_changed.csv'))).toBe(true);
    expect(statusOf(run2.stdout, 'in.c-sales.plat_same')).toBe('unchanged');
    await expectNoLeaks(control, run2, dataDir);
  });
});
