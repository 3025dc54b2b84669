/**
 * A table larger than the job's heap moves through it: the child runs with
 * `--max-old-space-size=64` on ~160 MiB of CSV (~120 MiB of gzip in 3 slices of ~40 MiB), in
 * platform and standalone mode, and its peak RSS stays far below what holding even one slice
 * per connection would take.
 */
import { createCipheriv } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useEmulator } from '../helpers/emulator.js';
import { listFiles, logLines, makeDataDir, removeDir, runCli } from '../helpers/run-cli.js';

const SOURCE = `101-1001-${'e'.repeat(40)}`;
const DEST = `202-2001-${'f'.repeat(40)}`;
const ROWS = 240_000;
/** 80 000 rows of ~700 bytes: ~54 MiB of CSV and ~40 MiB of gzip per slice. */
const SLICE_ROWS = 80_000;
/** Random bytes per value: 172 characters of base64. */
const VALUE_BYTES = 129;
const MIB = 1024 * 1024;
/**
 * Generous for Node with its modules and stream buffers (a run of a tiny table peaks at about
 * 80 MiB on Node 20 and 95 MiB on Node 24; this table at about 110 and 127 MiB), and below what
 * buffering would take: one whole slice per connection (3 × ~40 MiB) on top of that baseline.
 */
const PEAK_RSS_LIMIT_BYTES = 170 * MIB;

const csvDir = mkdtempSync(join(tmpdir(), 'kts-big-'));

// Registered before useEmulator's hook, so the CSV exists when the seed loads it.
beforeAll(async () => {
  // Four columns of base64 over AES-CTR output (a fixed key: the same table every run). Base64
  // carries 6 bits a character, so gzip keeps about three quarters of it: every CSV byte the
  // emulator formats and compresses, and the job inflates to verify, also crosses the wire.
  const random = createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), Buffer.alloc(16));
  const out = createWriteStream(join(csvDir, 'big.csv'));
  out.write('id,v0,v1,v2,v3\n');
  const CHUNK_ROWS = 8_000;
  for (let first = 0; first < ROWS; first += CHUNK_ROWS) {
    const bytes = random.update(Buffer.alloc(CHUNK_ROWS * 4 * VALUE_BYTES));
    let text = '';
    for (let i = 0; i < CHUNK_ROWS; i++) {
      text += String(first + i);
      for (let c = 0; c < 4; c++) {
        const at = (i * 4 + c) * VALUE_BYTES;
        text += `,${bytes.toString('base64', at, at + VALUE_BYTES)}`;
      }
      text += '\n';
    }
    if (!out.write(text)) await once(out, 'drain');
  }
  out.end();
  await finished(out);
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
  it('platform mode: three ~40 MiB slices land on disk with a flat memory', async () => {
    const { dataDir, summary, totals } = await runBig(false);
    expect(summary.rows).toBe(ROWS);
    expect(summary.bytes).toBeGreaterThan(3 * 38 * MIB);
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
