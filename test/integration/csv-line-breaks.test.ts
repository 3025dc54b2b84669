/**
 * Values holding a carriage return (a Windows line break `\r\n`, or a lone `\r`) in the first row
 * of a slice: copied unchanged in both modes. The emulator's import read such a slice with the
 * line ending DuckDB guessed from its first line, `\r`, and failed every standalone load of it
 * (found by an audit); it now tells DuckDB the files' own line ending. A value that opens with a
 * byte order mark (U+FEFF) keeps it: the emulator's DuckDB client dropped it on every read.
 */
import { describe, expect, it } from 'vitest';
import { useEmulator } from '../helpers/emulator.js';
import { readSlicedTable, sortRows } from '../helpers/output.js';
import { makeDataDir } from '../helpers/run-cli.js';
import {
  SOURCE_PROJECT,
  destRows,
  platformConfig,
  runJob,
  standaloneConfig,
  standaloneSeed,
} from '../helpers/standalone.js';

const seed = standaloneSeed();
const sales = seed.projects[0]?.buckets?.[0];
const TABLES = {
  // A Windows line break in the first row of the one slice.
  crfirst: {
    rows: [
      ['1', 'line1\r\nline2'],
      ['2', 'x'],
    ],
  },
  // The same value in the second row.
  crsecond: {
    rows: [
      ['1', 'x'],
      ['2', 'line1\r\nline2'],
    ],
  },
  // A lone carriage return opening the second slice.
  crslice2: {
    rows: [
      ['1', 'a'],
      ['2', 'b'],
      ['3', 'old mac\rline'],
      ['4', 'c'],
    ],
    sliceRows: 2,
  },
  // A byte order mark opening a value, and one inside a value.
  bom: {
    rows: [
      ['1', '\uFEFFbom'],
      ['2', 'x\uFEFFy'],
    ],
  },
};
for (const [name, table] of Object.entries(TABLES)) {
  sales?.tables?.push({ name, columns: ['id', 'note'], timestamp: 1, ...table });
}
const emulator = useEmulator(seed);

async function sourceRows(name: string): Promise<Record<string, unknown>[]> {
  const rows = await emulator.control.tableRows(SOURCE_PROJECT, `in.c-sales.${name}`);
  return sortRows(rows.map(({ _timestamp, ...rest }) => rest));
}

describe('carriage returns in values', () => {
  it.each(Object.keys(TABLES))('standalone: %s arrives unchanged', async (name) => {
    const dataDir = await makeDataDir(standaloneConfig(emulator.url, [{ name }]));
    const result = await runJob(emulator.url, dataDir);
    expect(result.code, result.stderr).toBe(0);
    expect(await destRows(emulator.control, `in.c-copy.${name}`)).toEqual(await sourceRows(name));
  });

  it('a leading U+FEFF of a value is exported, not dropped', async () => {
    const dataDir = await makeDataDir(platformConfig(emulator.url, [{ name: 'bom' }]));
    const result = await runJob(emulator.url, dataDir);
    expect(result.code, result.stderr).toBe(0);
    const written = await readSlicedTable(dataDir, 'bom.csv');
    expect(written.rows.map((row) => row.note)).toEqual(['\uFEFFbom', 'x\uFEFFy']);
  });

  it('platform: the slices pass through unchanged', async () => {
    const names = Object.keys(TABLES);
    const dataDir = await makeDataDir(
      platformConfig(
        emulator.url,
        names.map((name) => ({ name })),
      ),
    );
    const result = await runJob(emulator.url, dataDir);
    expect(result.code, result.stderr).toBe(0);
    for (const name of names) {
      const written = await readSlicedTable(dataDir, `${name}.csv`);
      expect(sortRows(written.rows)).toEqual(await sourceRows(name));
    }
  });
});
