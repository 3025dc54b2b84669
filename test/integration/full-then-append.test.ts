/**
 * A full load replaces the destination with every row it read, without an upper bound, so its
 * watermark is no exact start for appending (docs/state-file.md, After a full load). The first
 * `lastRun` append after one (a configuration switched from a full load to append, or a full load
 * run between appends) loads the table in full once more, bounded; the runs after it append.
 * Every source row ends up in the destination exactly once, in both modes.
 */
import { readFile, writeFile } from 'node:fs/promises';
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

const emulator = useEmulator(appendSeed(['switched', 'interleaved', 'platform'], T0_MS / 1000));
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

describe('platform: appending after a full load', () => {
  it('the first append run after a lastRun full load writes a full load, bounded; its state is an exact watermark', async () => {
    const { control } = emulator;
    const platform = (item: Record<string, unknown>) => ({
      parameters: {
        '#token': SOURCE_TOKEN,
        url: emulator.url,
        lagSeconds: LAG_SECONDS,
        tables: [{ name: 'platform', ...item }],
      },
    });
    const run = async (dataDir: string, item: Record<string, unknown>) => {
      await writeFile(join(dataDir, 'config.json'), JSON.stringify(platform(item)));
      const result = await runCli(['--data', dataDir, '--log-format', 'json'], {
        env: { AWS_ENDPOINT_URL_S3: emulator.url },
      });
      expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
      return result.stdout;
    };
    const state = async (dataDir: string) =>
      (
        JSON.parse(await readFile(join(dataDir, 'out', 'state.json'), 'utf8')) as {
          tables: Record<string, Record<string, unknown>>;
        }
      ).tables['in.c-sales.platform'];
    control.setClock(T0_MS - 10_000);
    await addRow('platform', '3');
    control.setClock(T0_MS);
    const dataDir = await makeDataDir(platform(FULL));
    await run(dataDir, FULL);
    expect(await state(dataDir)).toMatchObject({ mode: 'full', openEnded: true });
    await carryState(dataDir);

    control.advanceClock(600_000);
    await addRow('platform', '4');
    control.advanceClock(600_000);
    // The plan says so before the run.
    await writeFile(join(dataDir, 'config.json'), JSON.stringify(platform(APPEND)));
    const planned = await runCli(['--data', dataDir, '--dry-run'], {
      env: { AWS_ENDPOINT_URL_S3: emulator.url },
    });
    expect(planned.code, planned.stderr).toBe(0);
    const [table] = (JSON.parse(planned.stdout) as { tables: Record<string, unknown>[] }).tables;
    expect(table).toMatchObject({ mode: 'full', window: { since: null } });
    expect(JSON.stringify(table?.['warnings'])).toContain(REFRESH_WARNING);
    const log = await run(dataDir, APPEND);
    expect(log).toContain(REFRESH_WARNING);
    const written = await readSlicedTable(dataDir, 'platform.csv');
    // Loaded as a full load: the output mapping replaces the table with rows 1 to 4.
    expect(written.manifest).toMatchObject({ incremental: false });
    const rows = written.rows.map((row) => [row.id ?? '', row.kind ?? '']);
    const source = await control.tableRows(SOURCE_PROJECT, 'in.c-sales.platform');
    expect(
      compareRows(
        source.map((row) => [String(row.id), String(row.kind)]),
        rows,
      ),
    ).toMatchObject({ ...exactlyOnce, actual: 4 });
    const next = await state(dataDir);
    expect(next).toMatchObject({
      mode: 'full',
      watermark: (T0_MS + 1_200_000) / 1000 - LAG_SECONDS,
    });
    expect(next).not.toHaveProperty('openEnded');
  });
});
