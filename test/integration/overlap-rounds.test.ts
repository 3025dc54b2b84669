/**
 * Overlapping runs, many times over (docs/sync-record.md, Claims): runs from several data folders
 * sync one append table at the same moment, round after round, while the source grows. Their
 * requests interleave freely on the one emulator; each run imports, skips or settles. After a last
 * run alone, every source row is in the destination exactly once and no claim is left.
 */
import { describe, expect, it } from 'vitest';
import { appendSeed, appendTables, exactlyOnce } from '../helpers/append-tables.js';
import { useEmulator } from '../helpers/emulator.js';
import { makeDataDir, removeDir } from '../helpers/run-cli.js';
import { SOURCE_PROJECT, runJob } from '../helpers/standalone.js';
import type { CliResult } from '../helpers/run-cli.js';

const T0_MS = Date.parse('2025-05-01T00:00:00Z');
const ROUNDS = 6;
const RUNS_PER_ROUND = 3;

const emulator = useEmulator(appendSeed(['fresh', 'busy'], T0_MS / 1000));
const { config, compare, syncItems } = appendTables(emulator);

async function claimCount(table: string): Promise<number> {
  const items = await syncItems(table);
  return items.filter((m) => m.key.startsWith('kbc-table-sync.claim.')).length;
}

/** Runs every data folder at once; each run must end with exit 0 (a skip is a warning). */
async function runAll(dirs: readonly string[], runIds: string): Promise<CliResult[]> {
  const results = await Promise.all(
    dirs.map((dir, i) => runJob(emulator.url, dir, [], { KBC_RUNID: `${runIds}-${i}` })),
  );
  for (const result of results) {
    expect({ code: result.code, stderr: result.stderr }).toMatchObject({ code: 0 });
  }
  return results;
}

function imported(result: CliResult): boolean {
  return /Imported \\?"/.test(result.stdout);
}

describe('overlapping runs', () => {
  it('on a missing destination table: one run creates it, the others use it, rows once', async () => {
    const { control } = emulator;
    control.setClock(T0_MS);
    const dirs = await Promise.all(
      Array.from({ length: RUNS_PER_ROUND }, () => makeDataDir(config('fresh'))),
    );
    try {
      const results = await runAll(dirs, 'fresh');
      expect(results.filter(imported).length).toBeGreaterThanOrEqual(1);
      control.advanceClock(10_000);
      const last = await runJob(emulator.url, dirs[0] ?? '', [], { KBC_RUNID: 'fresh-last' });
      expect({ code: last.code, stderr: last.stderr }).toMatchObject({ code: 0 });
      expect(await compare('fresh')).toMatchObject({ ...exactlyOnce, actual: 2 });
      expect(await claimCount('fresh')).toBe(0);
    } finally {
      for (const dir of dirs) await removeDir(dir);
    }
  });

  it(`${RUNS_PER_ROUND} runs at once for ${ROUNDS} rounds: every row exactly once`, async () => {
    const { control } = emulator;
    control.setClock(T0_MS);
    const dirs = await Promise.all(
      Array.from({ length: RUNS_PER_ROUND }, () => makeDataDir(config('busy'))),
    );
    const outcomes: boolean[] = [];
    try {
      const first = await runJob(emulator.url, dirs[0] ?? '', [], { KBC_RUNID: 'busy-first' });
      expect({ code: first.code, stderr: first.stderr }).toMatchObject({ code: 0 });
      for (let round = 1; round <= ROUNDS; round += 1) {
        control.advanceClock(10_000);
        await control.insertRows(SOURCE_PROJECT, 'in.c-sales.busy', [
          { id: `r${round}a`, kind: 'new' },
          { id: `r${round}b`, kind: 'new' },
        ]);
        control.advanceClock(10_000);
        outcomes.push(...(await runAll(dirs, `round${round}`)).map(imported));
      }
      control.advanceClock(10_000);
      const last = await runJob(emulator.url, dirs[0] ?? '', [], { KBC_RUNID: 'busy-last' });
      expect({ code: last.code, stderr: last.stderr }).toMatchObject({ code: 0 });
      expect(await compare('busy')).toMatchObject({ ...exactlyOnce, actual: 2 + 2 * ROUNDS });
      expect(await claimCount('busy')).toBe(0);
      // The rounds did overlap: some runs imported and some stood aside.
      expect(outcomes).toContain(true);
      expect(outcomes).toContain(false);
    } finally {
      for (const dir of dirs) await removeDir(dir);
    }
  });
});
