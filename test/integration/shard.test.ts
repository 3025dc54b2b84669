/**
 * `--shard INDEX/COUNT` (docs/scaling.md): three shards run at once on three data folders against
 * one emulator; every table is copied by exactly one of them.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fnv1a32 } from '../../src/plan/shard.js';
import { useEmulator } from '../helpers/emulator.js';
import { makeDataDir, removeDir, runCli } from '../helpers/run-cli.js';
import {
  DEST_PROJECT,
  SOURCE_TOKEN,
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

const NAMES = ['orders', 'customers', 'products', 'events'] as const;
const SOURCE_IDS = NAMES.map((name) => `in.c-sales.${name}`);
const ROWS: Record<string, number> = { orders: 5, customers: 2, products: 2, events: 2 };

async function tableFolders(dataDir: string): Promise<string[]> {
  const entries = await readdir(join(dataDir, 'out', 'tables'));
  return entries.filter((name) => !name.endsWith('.manifest')).sort();
}

async function runShards(configFor: (url: string) => unknown, extraArgs: readonly string[] = []) {
  const { url } = emulator;
  const dataDirs = await Promise.all([0, 1, 2].map(() => makeDataDir(configFor(url))));
  const results = await Promise.all(
    dataDirs.map((dataDir, index) => runJob(url, dataDir, ['--shard', `${index}/3`, ...extraArgs])),
  );
  return { dataDirs, results };
}

describe('--shard', () => {
  it('platform mode: 0/3, 1/3 and 2/3 at once copy every table exactly once, in disjoint sets', async () => {
    const { control } = emulator;
    control.setClock(T0_MS);
    control.resetStats();
    const { dataDirs, results } = await runShards((u) => ({
      parameters: { '#token': SOURCE_TOKEN, url: u, tables: NAMES.map((name) => ({ name })) },
    }));
    try {
      for (const result of results) expect(result.code, result.stderr).toBe(0);
      const sets = await Promise.all(dataDirs.map(tableFolders));
      for (const [index, set] of sets.entries()) {
        const expected = SOURCE_IDS.filter((id) => fnv1a32(id) % 3 === index).map(
          (id) => `${id.split('.').pop() ?? id}.csv`,
        );
        expect(set).toEqual(expected.sort());
        // Its log says which share it copies.
        expect(results[index]?.stdout).toContain(
          `Copying ${expected.length} table(s) of shard ${index}/3`,
        );
        // Each shard's state names only its own tables.
        const state = await readOutState(dataDirs[index] ?? '');
        expect(Object.keys(state.tables).sort()).toEqual(
          SOURCE_IDS.filter((id) => fnv1a32(id) % 3 === index).sort(),
        );
      }
      const all = sets.flat();
      expect(new Set(all).size).toBe(all.length);
      expect(all.sort()).toEqual(NAMES.map((name) => `${name}.csv`).sort());
      expect(exportStarts(control)).toEqual(Object.fromEntries(SOURCE_IDS.map((id) => [id, 1])));
      for (const [index, result] of results.entries()) {
        await expectNoLeaks(control, result, dataDirs[index] ?? '');
      }
    } finally {
      await Promise.all(dataDirs.map(removeDir));
    }
  });

  it('standalone mode: three shards into one destination bucket leave every row there once', async () => {
    const { control } = emulator;
    control.setClock(T0_MS + 60_000);
    control.resetStats();
    const { dataDirs, results } = await runShards((u) =>
      standaloneConfig(
        u,
        NAMES.map((name) => ({ name, destination: `sharded_${name}`, incremental: true })),
      ),
    );
    try {
      for (const result of results) expect(result.code, result.stderr).toBe(0);
      expect(exportStarts(control)).toEqual(Object.fromEntries(SOURCE_IDS.map((id) => [id, 1])));
      for (const name of NAMES) {
        const rows = await destRows(control, `in.c-copy.sharded_${name}`, DEST_PROJECT);
        expect(rows, name).toHaveLength(ROWS[name] ?? -1);
      }
    } finally {
      await Promise.all(dataDirs.map(removeDir));
    }
  });

  it('with --table, each shard copies only the named tables of its own share; an empty share exits 0', async () => {
    const { control } = emulator;
    control.setClock(T0_MS + 120_000);
    control.resetStats();
    const { dataDirs, results } = await runShards(
      (u) => ({
        parameters: { '#token': SOURCE_TOKEN, url: u, tables: NAMES.map((name) => ({ name })) },
      }),
      ['--table', 'orders'],
    );
    try {
      for (const result of results) expect(result.code, result.stderr).toBe(0);
      const owner = fnv1a32('in.c-sales.orders') % 3;
      for (const [index, result] of results.entries()) {
        if (index === owner) continue;
        expect(result.stdout).toContain(`Shard ${index}/3 has none of the tables.`);
      }
      expect(await tableFolders(dataDirs[owner] ?? '')).toEqual(['orders.csv']);
      expect(exportStarts(control)).toEqual({ 'in.c-sales.orders': 1 });
    } finally {
      await Promise.all(dataDirs.map(removeDir));
    }
  });

  it.each([
    ['3/3', '--shard "3/3": INDEX must be below COUNT, as shards are numbered from 0 to 2.'],
    ['0/0', '--shard "0/0": COUNT must be at least 1.'],
    [
      'a/b',
      '--shard "a/b" is not of the form INDEX/COUNT with whole numbers, such as 0/3 (INDEX counts from 0).',
    ],
  ])('--shard %s exits 1 with one sentence and the usage hint', async (value, sentence) => {
    const result = await runCli(['--shard', value, '--data', '/nonexistent-kts']);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(`${sentence} Run "kbc-table-sync --help" for usage.`);
  });
});
