/**
 * A full load replaces the destination with every row it read, without an upper bound, so its
 * watermark is no exact start for appending (docs/state-file.md, After a full load). The first
 * `lastRun` append after one (a configuration switched from a full load to append, or a full load
 * run between appends) loads the table in full once more, bounded; the runs after it append.
 * Every source row ends up in the destination exactly once, in both modes.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { appendSeed, appendTables, exactlyOnce } from '../helpers/append-tables.js';
import { useEmulator } from '../helpers/emulator.js';
import { compareRows } from '../helpers/fault-matrix.js';
import { readSlicedTable } from '../helpers/output.js';
import { carryState, makeDataDir, removeMadeDataDirs, runCli } from '../helpers/run-cli.js';
import { SOURCE_PROJECT, SOURCE_TOKEN, runJob } from '../helpers/standalone.js';

const T0_MS = Date.parse('2025-08-01T00:00:00Z');
const LAG_SECONDS = 300;
const REFRESH_WARNING = 'was last loaded in full without an upper bound';

const emulator = useEmulator(
  appendSeed(
    ['switched', 'interleaved', 'platform', 'moved', 'nowatermark', 'unchanged'],
    T0_MS / 1000,
  ),
);
const { config, compare, addRow } = appendTables(emulator);
afterEach(removeMadeDataDirs);

/** The standalone config of `table` with this item and the default lag. */
function standalone(table: string, item: Record<string, unknown>): Record<string, unknown> {
  const base = config(table) as { parameters: Record<string, unknown> };
  return {
    parameters: { ...base.parameters, lagSeconds: LAG_SECONDS, tables: [{ name: table, ...item }] },
  };
}

async function runWith(dataDir: string, configJson: unknown): Promise<string> {
  await writeFile(join(dataDir, 'config.json'), JSON.stringify(configJson));
  const result = await runJob(emulator.url, dataDir);
  expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
  return result.stdout;
}

const FULL = { changedSince: 'lastRun', incremental: false };
const APPEND = { changedSince: 'lastRun', incremental: true };

describe('standalone: appending after a full load', () => {
  it('a lastRun full load switched to append: the first append run loads in full once more, then appends', async () => {
    const { control } = emulator;
    // A row changed within the lag before the full load's export: it lands in the full load.
    control.setClock(T0_MS - 10_000);
    await addRow('switched', '3');
    control.setClock(T0_MS);
    const dataDir = await makeDataDir(standalone('switched', FULL));
    await runWith(dataDir, standalone('switched', FULL));
    expect(await compare('switched')).toMatchObject({ ...exactlyOnce, actual: 3 });

    control.advanceClock(600_000);
    await addRow('switched', '4');
    control.advanceClock(600_000);
    const switched = await runWith(dataDir, standalone('switched', APPEND));
    expect(switched).toContain(REFRESH_WARNING);
    expect(switched).toMatch(/Exporting \\"in\.c-sales\.switched\\" \(full, /);
    expect(await compare('switched')).toMatchObject({ ...exactlyOnce, actual: 4 });

    control.advanceClock(100_000);
    await addRow('switched', '5');
    control.advanceClock(700_000);
    const appended = await runWith(dataDir, standalone('switched', APPEND));
    expect(appended).not.toContain(REFRESH_WARNING);
    expect(appended).toMatch(/Exporting \\"in\.c-sales\.switched\\" \(append, changed since /);
    expect(await compare('switched')).toMatchObject({ ...exactlyOnce, actual: 5 });
  });

  it('a full load without changedSince between lastRun appends: the next append run loads in full, then appends', async () => {
    const { control } = emulator;
    control.setClock(T0_MS);
    const dataDir = await makeDataDir(standalone('interleaved', APPEND));
    await runWith(dataDir, standalone('interleaved', APPEND));
    control.advanceClock(600_000);
    await addRow('interleaved', '3');
    control.advanceClock(600_000);
    await runWith(dataDir, standalone('interleaved', { incremental: false }));
    expect(await compare('interleaved')).toMatchObject({ ...exactlyOnce, actual: 3 });

    control.advanceClock(600_000);
    await addRow('interleaved', '4');
    control.advanceClock(600_000);
    const after = await runWith(dataDir, standalone('interleaved', APPEND));
    expect(after).toContain(REFRESH_WARNING);
    expect(await compare('interleaved')).toMatchObject({ ...exactlyOnce, actual: 4 });
  });
});

/** A platform-mode config of `table` with this item and the default lag. */
function platform(table: string, item: Record<string, unknown>) {
  return {
    parameters: {
      '#token': SOURCE_TOKEN,
      url: emulator.url,
      lagSeconds: LAG_SECONDS,
      tables: [{ name: table, ...item }],
    },
  };
}

/** One platform run of `table` (exit 0); its JSON log. The state is carried over afterwards. */
async function runPlatform(
  dataDir: string,
  table: string,
  item: Record<string, unknown>,
): Promise<string> {
  await rm(join(dataDir, 'out'), { recursive: true, force: true });
  await writeFile(join(dataDir, 'config.json'), JSON.stringify(platform(table, item)));
  const result = await runCli(['--data', dataDir, '--log-format', 'json'], {
    env: { AWS_ENDPOINT_URL_S3: emulator.url },
  });
  expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
  await carryState(dataDir);
  return result.stdout;
}

/** The plan of `table` with this item (`--dry-run`). */
async function planOf(
  dataDir: string,
  table: string,
  item: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  await writeFile(join(dataDir, 'config.json'), JSON.stringify(platform(table, item)));
  const planned = await runCli(['--data', dataDir, '--dry-run'], {
    env: { AWS_ENDPOINT_URL_S3: emulator.url },
  });
  expect(planned.code, planned.stderr).toBe(0);
  const [entry] = (JSON.parse(planned.stdout) as { tables: Record<string, unknown>[] }).tables;
  return entry ?? {};
}

async function stateOf(dataDir: string, table: string) {
  const state = JSON.parse(await readFile(join(dataDir, 'out', 'state.json'), 'utf8')) as {
    tables: Record<string, Record<string, unknown>>;
  };
  return state.tables[`in.c-sales.${table}`];
}

/** What the output mapping would load: the written rows against the source, as multisets. */
async function writtenAgainstSource(dataDir: string, table: string, file = `${table}.csv`) {
  const written = await readSlicedTable(dataDir, file);
  const rows = written.rows.map((row) => [row.id ?? '', row.kind ?? '']);
  const source = await emulator.control.tableRows(SOURCE_PROJECT, `in.c-sales.${table}`);
  return {
    manifest: written.manifest,
    rows: compareRows(
      source.map((row) => [String(row.id), String(row.kind)]),
      rows,
    ),
  };
}

describe('platform: appending after a full load', () => {
  it('the first append run after a lastRun full load writes a full load, bounded; its state is an exact watermark', async () => {
    const { control } = emulator;
    control.setClock(T0_MS - 10_000);
    await addRow('platform', '3');
    control.setClock(T0_MS);
    const dataDir = await makeDataDir(platform('platform', FULL));
    await runPlatform(dataDir, 'platform', FULL);
    expect(await stateOf(dataDir, 'platform')).toMatchObject({ mode: 'full', openEnded: true });

    control.advanceClock(600_000);
    await addRow('platform', '4');
    control.advanceClock(600_000);
    // The plan says so before the run.
    const planned = await planOf(dataDir, 'platform', APPEND);
    expect(planned).toMatchObject({ mode: 'full', window: { since: null } });
    expect(JSON.stringify(planned['warnings'])).toContain(REFRESH_WARNING);
    const log = await runPlatform(dataDir, 'platform', APPEND);
    expect(log).toContain(REFRESH_WARNING);
    // Loaded as a full load: the output mapping replaces the table with rows 1 to 4.
    expect(await writtenAgainstSource(dataDir, 'platform')).toMatchObject({
      manifest: { incremental: false },
      rows: { ...exactlyOnce, actual: 4 },
    });
    const next = await stateOf(dataDir, 'platform');
    expect(next).toMatchObject({
      mode: 'full',
      watermark: (T0_MS + 1_200_000) / 1000 - LAG_SECONDS,
    });
    expect(next).not.toHaveProperty('openEnded');
  });

  it('a full load into a new destination between appends: the next append there is a full load too', async () => {
    const { control } = emulator;
    control.setClock(T0_MS);
    const dataDir = await makeDataDir(platform('moved', APPEND));
    await runPlatform(dataDir, 'moved', { ...APPEND, destination: 'moved_a' });
    control.advanceClock(600_000);
    await addRow('moved', '3');
    control.advanceClock(600_000);
    await runPlatform(dataDir, 'moved', { incremental: false, destination: 'moved_b' });
    // The full copy went to moved_b and holds every row: the entry now says so.
    expect(await stateOf(dataDir, 'moved')).toMatchObject({
      destination: 'out/tables/moved_b.csv',
      openEnded: true,
    });
    control.advanceClock(600_000);
    const log = await runPlatform(dataDir, 'moved', { ...APPEND, destination: 'moved_b' });
    expect(log).not.toContain('moved since its last run');
    expect(log).toContain(REFRESH_WARNING);
    expect(await writtenAgainstSource(dataDir, 'moved', 'moved_b.csv')).toMatchObject({
      manifest: { incremental: false },
      rows: { ...exactlyOnce, actual: 3 },
    });
  });

  it('after a full load that made no watermark: one warning, the refresh, not "appends every row"', async () => {
    const { control } = emulator;
    control.setClock(T0_MS);
    const dataDir = await makeDataDir(platform('nowatermark', { incremental: false }));
    await runPlatform(dataDir, 'nowatermark', { incremental: false });
    control.advanceClock(600_000);
    const log = await runPlatform(dataDir, 'nowatermark', APPEND);
    expect(log).not.toContain('so this run appends every row');
    expect(log).toContain('was last loaded in full and has no watermark to append from');
    expect(await writtenAgainstSource(dataDir, 'nowatermark')).toMatchObject({
      manifest: { incremental: false },
      rows: { ...exactlyOnce, actual: 2 },
    });
  });

  it('a table unchanged since the full load is skipped, and the plan announces no refresh', async () => {
    const { control } = emulator;
    control.setClock(T0_MS);
    const dataDir = await makeDataDir(platform('unchanged', FULL));
    await runPlatform(dataDir, 'unchanged', FULL);
    control.advanceClock(3_600_000);
    const planned = await planOf(dataDir, 'unchanged', APPEND);
    expect(planned).toMatchObject({ mode: 'append', export: false });
    expect(JSON.stringify(planned['warnings'])).not.toContain(REFRESH_WARNING);
    const log = await runPlatform(dataDir, 'unchanged', APPEND);
    expect(log).toContain('is unchanged');
    expect(log).not.toContain(REFRESH_WARNING);
  });
});
