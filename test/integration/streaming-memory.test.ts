/**
 * A table larger than the job's heap moves through it: the child runs with
 * `--max-old-space-size=64` on ~300 MB of CSV (about 160 MB gzip in 3 slices of ~55 MB), in
 * platform and standalone mode, and its peak RSS stays far below what holding even one slice
 * per connection would take.
 */
import { DuckDBInstance } from '@duckdb/node-api';
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useEmulator } from '../helpers/emulator.js';
import { listFiles, logLines, makeDataDir, removeDir, runCli } from '../helpers/run-cli.js';

const SOURCE = `101-1001-${'e'.repeat(40)}`;
const DEST = `202-2001-${'f'.repeat(40)}`;
const ROWS = 300_000;
/** 100 000 rows of ~1 KB: ~100 MB of CSV and ~55 MB of gzip per slice. */
const SLICE_ROWS = 100_000;
/**
 * Generous for Node with its modules and stream buffers, and below what buffering would take:
 * one whole slice per connection (3 × ~55 MB) on top of the baseline.
 */
const PEAK_RSS_LIMIT_BYTES = 200 * 1024 * 1024;

const csvDir = mkdtempSync(join(tmpdir(), 'kts-big-'));

// Registered before useEmulator's hook, so the CSV exists when the seed loads it.
beforeAll(async () => {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  // Four columns of 256 hex characters each (md5 chains): gzip keeps about half of it.
  const hex = (salt: number) =>
    Array.from({ length: 8 }, (_, k) => `md5(CAST(i * ${salt + k} AS VARCHAR))`).join(' || ');
  await conn.run(
    `COPY (SELECT i AS id, ${[1, 11, 21, 31].map((salt, c) => `${hex(salt)} AS v${c}`).join(', ')}
      FROM range(${ROWS}) AS t(i)) TO '${join(csvDir, 'big.csv')}' (HEADER)`,
  );
  conn.closeSync();
  db.closeSync();
});

const emulator = useEmulator(
  {
    projects: [
      {
        id: 101,
        name: 'Source',
        buckets: [
          {
            id: 'in.c-s',
            tables: [{ name: 'big', csv: 'big.csv', sliceRows: SLICE_ROWS }],
          },
        ],
        tokens: [{ token: SOURCE, bucketPermissions: { 'in.c-s': 'read' } }],
      },
      {
        id: 202,
        name: 'Destination',
        buckets: [{ id: 'in.c-copy', tables: [] }],
        tokens: [{ token: DEST, bucketPermissions: { 'in.c-copy': 'write' } }],
      },
    ],
  },
  { seedBaseDir: csvDir },
);

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await removeDir(dir);
  await rm(csvDir, { recursive: true, force: true });
});

async function runBig(destination: boolean) {
  const dataDir = await makeDataDir({
    parameters: {
      '#token': SOURCE,
      url: emulator.url,
      tables: [{ name: 'big' }],
      ...(destination
        ? { destination: { url: emulator.url, '#token': DEST, bucket: 'in.c-copy' } }
        : {}),
    },
  });
  dirs.push(dataDir);
  const result = await runCli(['run', '--data', dataDir], {
    env: { AWS_ENDPOINT_URL_S3: emulator.url },
    nodeArgs: ['--max-old-space-size=64'],
  });
  expect({ code: result.code, stderr: result.stderr }).toMatchObject({ code: 0 });
  const lines = logLines(result.stdout);
  const summary = lines.find((l) => l.summary)?.summary as { rows: number; bytes: number };
  const totals = lines.find((l) => l.totals)?.totals as { peakRssBytes: number };
  return { dataDir, summary, totals };
}

describe('a table larger than the heap streams through the job', () => {
  it('platform mode: three ~55 MB slices land on disk with a flat memory', async () => {
    const { dataDir, summary, totals } = await runBig(false);
    expect(summary.rows).toBe(ROWS);
    expect(summary.bytes).toBeGreaterThan(3 * 40 * 1024 * 1024);
    expect(await listFiles(join(dataDir, 'out', 'tables'))).toEqual([
      'big.csv.manifest',
      'big.csv/part-00000.csv.gz',
      'big.csv/part-00001.csv.gz',
      'big.csv/part-00002.csv.gz',
    ]);
    expect(totals.peakRssBytes).toBeLessThan(PEAK_RSS_LIMIT_BYTES);
  });

  it('standalone mode: the slices stream into the destination upload and import', async () => {
    const { summary, totals } = await runBig(true);
    expect(summary.rows).toBe(ROWS);
    const detail = await fetch(`${emulator.url}/v2/storage/tables/in.c-copy.big`, {
      headers: { 'X-StorageApi-Token': DEST },
    });
    expect(((await detail.json()) as { rowsCount: number }).rowsCount).toBe(ROWS);
    expect(totals.peakRssBytes).toBeLessThan(PEAK_RSS_LIMIT_BYTES);
  });
});
