/**
 * The lag of `lastRun` windows (docs/standalone.md, Incremental windows): Storage stamps a load's
 * rows with the time the load started, and they become visible only when it commits. A window
 * that ends at the server's "now" can miss a row of a load still running, and the next window
 * starts after its stamp: the row would be lost. The default `lagSeconds` (300) ends the window
 * that far back, so the row is read by the next run, once. The emulator models the stamp: a write
 * held busy (`holdWrites`) keeps the stamp of its start and shows its rows only when released.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useEmulator } from '../helpers/emulator.js';
import { readSlicedTable } from '../helpers/output.js';
import { carryState, makeDataDir } from '../helpers/run-cli.js';
import {
  SOURCE_PROJECT,
  SOURCE_TOKEN,
  T0_MS,
  runJob,
  standaloneSeed,
} from '../helpers/standalone.js';

const emulator = useEmulator(standaloneSeed());
const T0 = T0_MS / 1000;

/**
 * Platform mode, `lastRun` append of `name` (upsert with a `primaryKey`), with the default lag (no
 * `lagSeconds`).
 */
function lagConfig(name: string, primaryKey: string[] = []): Record<string, unknown> {
  return {
    parameters: {
      '#token': SOURCE_TOKEN,
      url: emulator.url,
      tables: [{ name, incremental: true, changedSince: 'lastRun', primaryKey }],
    },
  };
}

async function written(dataDir: string, name: string): Promise<boolean> {
  return (await readdir(join(dataDir, 'out', 'tables'))).includes(`${name}.csv`);
}

/** Runs the job (exit 0), returns the ids it wrote to out/tables, then clears out/ as the runner would. */
async function runAndCollect(
  dataDir: string,
  name: string,
  args: string[] = [],
): Promise<string[]> {
  return (await runAndRead(dataDir, name, args)).map((row) => row.id ?? '');
}

/** Runs the job (exit 0), returns the rows and the manifest it wrote, then clears out/. */
async function runAndRead(
  dataDir: string,
  name: string,
  args: string[] = [],
  upsertRefresh = false,
): Promise<Record<string, string>[] & { incremental?: unknown }> {
  const result = await runJob(emulator.url, dataDir, args);
  expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
  const lagLine =
    "lastRun windows end 300 s before the Storage server's time (lagSeconds): changes newer than that are copied by the next run.";
  // A refresh that replaces an upsert table reads up to now: the run says nothing of the lag.
  if (!upsertRefresh) expect(result.stdout).toContain(lagLine);
  else expect(result.stdout).not.toContain(lagLine);
  // An unchanged table (skipped) writes nothing to out/tables.
  const table = (await written(dataDir, name))
    ? await readSlicedTable(dataDir, `${name}.csv`)
    : undefined;
  await carryState(dataDir);
  await rm(join(dataDir, 'out'), { recursive: true, force: true });
  return Object.assign([...(table?.rows ?? [])], { incremental: table?.manifest.incremental });
}

describe('a lastRun window ends lagSeconds before the server’s now', () => {
  it('reads a row of a source load that was running during the export in the next run, once', async () => {
    const { control } = emulator;
    control.setClock(T0_MS);
    const name = 'lagged';
    const sourceId = `in.c-sales.${name}`;
    await control.createTable(SOURCE_PROJECT, 'in.c-sales', {
      name,
      columns: ['id', 'v'],
      rows: [
        ['1', 'a'],
        ['2', 'b'],
      ],
      timestamp: T0 - 3_600,
    });
    const dataDir = await makeDataDir(lagConfig(name));
    const copied: string[] = [];

    copied.push(...(await runAndCollect(dataDir, name)));
    const state = JSON.parse(await readFile(join(dataDir, 'in', 'state.json'), 'utf8')) as {
      tables: Record<string, { watermark?: number }>;
      source?: unknown;
    };
    expect(state.tables[sourceId]).toMatchObject({ watermark: T0 - 300 });
    // The state names the project its watermarks come from (docs/state-file.md).
    expect(state.source).toEqual({ stack: emulator.url, projectId: SOURCE_PROJECT });

    // A quick change at T0+30 (so the next run exports), then a load into the source table
    // starts at T0+60 and runs on: its row is stamped T0+60, but it stays invisible until the
    // backend is released.
    control.advanceClock(30_000);
    await control.insertRows(SOURCE_PROJECT, sourceId, [{ id: '4', v: 'quick' }]);
    control.advanceClock(30_000);
    control.addFault({ kind: 'holdWrites', path: '/v2/storage/tokens/verify', label: 'busy' });
    const busy = control.whenFaultApplied('busy');
    await (
      await fetch(`${emulator.url}/v2/storage/tokens/verify`, {
        headers: { 'X-StorageApi-Token': SOURCE_TOKEN },
      })
    ).arrayBuffer();
    await busy;
    const load = control.insertRows(SOURCE_PROJECT, sourceId, [{ id: '3', v: 'late' }]);

    // Run 2 at T0+120, while the load still runs: its window ends at T0−180.
    control.advanceClock(60_000);
    copied.push(...(await runAndCollect(dataDir, name)));

    control.releaseHolds();
    await load;
    // Run 3, ten minutes later: its window [T0−180, T0+420) holds both rows' stamps.
    control.advanceClock(600_000);
    copied.push(...(await runAndCollect(dataDir, name)));

    expect(copied.sort()).toEqual(['1', '2', '3', '4']);
  });

  it('a --full-refresh that replaces an upsert table also copies the rows changed within the lag; the next run keys them again', async () => {
    const { control } = emulator;
    control.setClock(T0_MS);
    const name = 'refreshed';
    const sourceId = `in.c-sales.${name}`;
    await control.createTable(SOURCE_PROJECT, 'in.c-sales', {
      name,
      columns: ['id', 'v'],
      primaryKey: ['id'],
      rows: [
        ['1', 'a'],
        ['2', 'b'],
      ],
      timestamp: T0 - 3_600,
    });
    const dataDir = await makeDataDir(lagConfig(name, ['id']));
    expect((await runAndCollect(dataDir, name)).sort()).toEqual(['1', '2']);

    // Ten minutes on, row 1 changes and row 3 is new; a full refresh runs a minute later.
    control.advanceClock(600_000);
    await control.upsertRows(SOURCE_PROJECT, sourceId, [
      { id: '1', v: 'changed' },
      { id: '3', v: 'new' },
    ]);
    control.advanceClock(60_000);
    const refreshed = await runAndRead(dataDir, name, ['--full-refresh', name], true);
    expect(refreshed.incremental, 'the refresh replaces the destination table').toBe(false);
    expect(refreshed.map((row) => `${row.id}:${row.v}`).sort()).toEqual([
      '1:changed',
      '2:b',
      '3:new',
    ]);

    // The next window starts lagSeconds before that refresh: rows 1 and 3 again, upserted by key.
    control.advanceClock(600_000);
    const next = await runAndRead(dataDir, name);
    expect(next.incremental).toBe(true);
    expect(next.map((row) => `${row.id}:${row.v}`).sort()).toEqual(['1:changed', '3:new']);
  });

  it('a --full-refresh of an append table keeps the window’s bound: a row within the lag comes with the next run, once', async () => {
    const { control } = emulator;
    control.setClock(T0_MS);
    const name = 'refreshed_append';
    const sourceId = `in.c-sales.${name}`;
    await control.createTable(SOURCE_PROJECT, 'in.c-sales', {
      name,
      columns: ['id', 'v'],
      rows: [['1', 'a']],
      timestamp: T0 - 3_600,
    });
    const dataDir = await makeDataDir(lagConfig(name));
    expect(await runAndCollect(dataDir, name)).toEqual(['1']);
    control.advanceClock(600_000);
    await control.insertRows(SOURCE_PROJECT, sourceId, [{ id: '2', v: 'new' }]);
    control.advanceClock(60_000);
    expect(await runAndCollect(dataDir, name, ['--full-refresh', name])).toEqual(['1']);
    control.advanceClock(600_000);
    expect(await runAndCollect(dataDir, name)).toEqual(['2']);
  });
});
