/**
 * Slice ordering and concurrency of the transfer, observed through the emulator's object request
 * log (no timing): a latency fault holds back slice 1 so the later slices finish first.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ObjectRequestEvent } from 'keboola-storage-emulator';
import { readBody } from '../../src/objects/object-http.js';
import { openSliceSource } from '../../src/objects/slice-source.js';
import { SecretMasker } from '../../src/secrets.js';
import { createStorageClient } from '../../src/storage/storage-client.js';
import { useEmulator } from '../helpers/emulator.js';
import { listFiles, logLines, makeDataDir, removeDir, runCli } from '../helpers/run-cli.js';

const TOKEN = `101-1001-${'d'.repeat(40)}`;
const DEST_TOKEN = `202-2001-${'e'.repeat(40)}`;
const SLICES = 6;
const SLICE_ROWS = 1_000;
const CONCURRENCY = 2;
/** More slices than the default 16 per table, so that 16 are in flight at once. */
const MANY_SLICES = 20;
/** More tables than Node's default of 10 listeners, all running at once. */
const PARALLEL_TABLES = 12;

const emulator = useEmulator({
  projects: [
    {
      id: 101,
      name: 'Source',
      buckets: [
        {
          id: 'in.c-s',
          tables: [
            {
              name: 'orders',
              columns: ['id', 'a', 'b'],
              primaryKey: ['id'],
              generate: { rows: SLICES * SLICE_ROWS },
              sliceRows: SLICE_ROWS,
            },
            ...['many', 'many2'].map((name) => ({
              name,
              columns: ['id', 'a'],
              primaryKey: ['id'],
              generate: { rows: MANY_SLICES * 10 },
              sliceRows: 10,
            })),
            ...Array.from({ length: PARALLEL_TABLES }, (_, i) => ({
              name: `small${i}`,
              columns: ['id', 'a'],
              primaryKey: ['id'],
              generate: { rows: 5 },
            })),
          ],
        },
      ],
      tokens: [{ token: TOKEN, bucketPermissions: { 'in.c-s': 'read' } }],
    },
    {
      id: 202,
      name: 'Destination',
      buckets: [{ id: 'in.c-copy', tables: [] }],
      tokens: [{ token: DEST_TOKEN, bucketPermissions: { 'in.c-copy': 'write' } }],
    },
  ],
});

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await removeDir(dir);
});

/** Slice index of an object path of the export (`…0003_part_00.gz` → 3), else undefined. */
function sliceOf(event: ObjectRequestEvent): number | undefined {
  const match = /(\d{4})_part_00\.gz$/.exec(event.path);
  return match ? Number(match[1]) : undefined;
}

/** The source slices in manifest order, read straight from the object store. */
async function sourceSlices(): Promise<Buffer[]> {
  const masker = new SecretMasker();
  const client = createStorageClient({ url: emulator.url, token: TOKEN, masker });
  const job = await client.waitForJob(
    await client.startExport('in.c-s.orders', { columns: ['id', 'a', 'b'] }),
  );
  const fileId = (job.results as { file: { id: number } }).file.id;
  const file = await client.getFile(fileId);
  const source = await openSliceSource(file, {
    refetchFile: () => client.getFile(fileId),
    endpoints: { s3: emulator.url },
    masker,
  });
  const bodies: Buffer[] = [];
  for (const slice of source.slices)
    bodies.push(await readBody((await source.open(slice)).body, 1e9, 'slice'));
  return bodies;
}

describe('streaming transfer of slices', () => {
  let events: ObjectRequestEvent[] = [];
  let dataDir = '';

  it('writes slices in manifest order although slice 1 finishes last', async () => {
    dataDir = await makeDataDir({
      parameters: { '#token': TOKEN, url: emulator.url, tables: [{ name: 'orders' }] },
    });
    dirs.push(dataDir);
    // Slice 1 (index 0) answers late: every other slice is sent and done before it.
    emulator.control.addFault({
      kind: 'latency',
      ms: 1_500,
      method: 'GET',
      path: '/0000_part_00\\.gz$/',
    });
    const before = emulator.control.stats().objectStore.log.length;
    const result = await runCli(['run', '--data', dataDir], {
      env: {
        AWS_ENDPOINT_URL_S3: emulator.url,
        KBC_TABLE_SYNC_SLICES_PER_TABLE: String(CONCURRENCY),
        KBC_TABLE_SYNC_SLICES_GLOBAL: String(CONCURRENCY),
      },
    });
    expect({ code: result.code, stderr: result.stderr }).toMatchObject({ code: 0 });
    events = emulator.control
      .stats()
      .objectStore.log.slice(before)
      .filter((e) => sliceOf(e) !== undefined);

    const ends = events.filter((e) => e.event === 'end').map((e) => sliceOf(e));
    expect(ends).toHaveLength(SLICES);
    expect(ends.at(-1)).toBe(0);

    const files = await listFiles(join(dataDir, 'out', 'tables'));
    expect(files).toEqual([
      'orders.csv.manifest',
      ...Array.from(
        { length: SLICES },
        (_, i) => `orders.csv/part-${String(i).padStart(5, '0')}.csv.gz`,
      ),
    ]);
    const source = await sourceSlices();
    expect(source).toHaveLength(SLICES);
    for (let i = 0; i < SLICES; i++) {
      const written = await readFile(join(dataDir, 'out', 'tables', files[i + 1]!));
      expect({ part: i, same: written.equals(source[i]!) }).toEqual({ part: i, same: true });
    }
    const summary = logLines(result.stdout).find((l) => l.summary);
    expect(summary?.summary).toMatchObject({ table: 'in.c-s.orders', rows: SLICES * SLICE_ROWS });
  });

  it('keeps the other slices moving while one is slow, within the concurrency bound', () => {
    expect(events.length).toBe(2 * SLICES);
    let inFlight = 0;
    let maxInFlight = 0;
    let slowOpen = false;
    const doneWhileSlow = new Set<number>();
    for (const event of events) {
      const slice = sliceOf(event)!;
      inFlight += event.event === 'start' ? 1 : -1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      if (slice === 0) slowOpen = event.event === 'start';
      else if (slowOpen && event.event === 'end') doneWhileSlow.add(slice);
    }
    expect(maxInFlight).toBe(CONCURRENCY);
    // Every other slice went through the one free slot while slice 1 was held back.
    expect([...doneWhileSlow].sort()).toEqual([1, 2, 3, 4, 5]);
  });

  it('runs 16 slices of one table at once without a listener-leak warning', async () => {
    const dir = await makeDataDir({
      parameters: { '#token': TOKEN, url: emulator.url, tables: [{ name: 'many' }] },
    });
    dirs.push(dir);
    const before = emulator.control.stats().objectStore.log.length;
    const warnings = await listenerWarningsDuring(async () => {
      const result = await runCli(['run', '--data', dir], { env: slowSlicesEnv() });
      expect({ code: result.code, stderr: result.stderr }).toMatchObject({ code: 0 });
      const summary = logLines(result.stdout).find((l) => l.summary);
      expect(summary?.summary).toMatchObject({ rows: MANY_SLICES * 10 });
    });
    expect(warnings).toEqual([]);
    expect(maxDownloadsInFlight(before)).toBe(16);
  });

  it('keeps at most 16 slices in flight across two tables', async () => {
    expect(await maxInFlightCopying(['many', 'many2'], false)).toBe(16);
  });

  it('keeps at most 8 slices of a table, and 8 across tables, in flight in standalone mode', async () => {
    expect(await maxInFlightCopying(['many'], true)).toBe(8);
    expect(await maxInFlightCopying(['many', 'many2'], true)).toBe(8);
  });

  it('runs 12 tables at once (parallelism 12) without a listener-leak warning', async () => {
    const dir = await makeDataDir({
      parameters: {
        '#token': TOKEN,
        url: emulator.url,
        parallelism: PARALLEL_TABLES,
        tables: Array.from({ length: PARALLEL_TABLES }, (_, i) => ({ name: `small${i}` })),
      },
    });
    dirs.push(dir);
    // Every job poll answers late, so that all the tables wait on their export jobs together.
    emulator.control.addFault({
      kind: 'latency',
      ms: 300,
      method: 'GET',
      path: '/jobs/',
      count: 10 * PARALLEL_TABLES,
    });
    const warnings = await listenerWarningsDuring(async () => {
      const result = await runCli(['run', '--data', dir], {
        env: { AWS_ENDPOINT_URL_S3: emulator.url },
      });
      expect({ code: result.code, stderr: result.stderr }).toMatchObject({ code: 0 });
      expect(logLines(result.stdout).filter((l) => l.summary)).toHaveLength(PARALLEL_TABLES);
    });
    expect(warnings).toEqual([]);
  });
});

/** Every source slice answers late, so that as many as the job allows are in flight together. */
function slowSlicesEnv(slices = MANY_SLICES): NodeJS.ProcessEnv {
  emulator.control.addFault({
    kind: 'latency',
    ms: 300,
    method: 'GET',
    path: '/_part_00\\.gz$/',
    count: slices,
  });
  return { AWS_ENDPOINT_URL_S3: emulator.url };
}

/**
 * Copies the tables in one run with the default bounds (platform mode, or standalone into the
 * destination project) and returns the most slice downloads that were open at once.
 */
async function maxInFlightCopying(tables: readonly string[], standalone: boolean): Promise<number> {
  const dir = await makeDataDir({
    parameters: {
      '#token': TOKEN,
      url: emulator.url,
      tables: tables.map((name) => ({ name })),
      ...(standalone && {
        destination: { url: emulator.url, '#token': DEST_TOKEN, bucket: 'in.c-copy' },
      }),
    },
  });
  dirs.push(dir);
  const before = emulator.control.stats().objectStore.log.length;
  const result = await runCli(['run', '--data', dir], {
    env: slowSlicesEnv(tables.length * MANY_SLICES),
  });
  expect({ code: result.code, stderr: result.stderr }).toMatchObject({ code: 0 });
  const summaries = logLines(result.stdout).filter((l) => l.summary);
  expect(summaries).toHaveLength(tables.length);
  for (const line of summaries) {
    expect(line.summary).toMatchObject({ status: 'success', rows: MANY_SLICES * 10 });
  }
  return maxDownloadsInFlight(before);
}

/** The most source-slice downloads open at once in the object request log since `from`. */
function maxDownloadsInFlight(from: number): number {
  let inFlight = 0;
  let most = 0;
  for (const event of emulator.control.stats().objectStore.log.slice(from)) {
    if (event.method !== 'GET' || sliceOf(event) === undefined) continue;
    inFlight += event.event === 'start' ? 1 : -1;
    most = Math.max(most, inFlight);
  }
  return most;
}

/** Node's MaxListenersExceededWarning lines emitted while `run` ran (in this process). */
async function listenerWarningsDuring(run: () => Promise<void>): Promise<string[]> {
  const warnings: string[] = [];
  const onWarning = (warning: Error) => {
    if (/MaxListeners/.test(warning.name)) warnings.push(warning.message);
  };
  process.on('warning', onWarning);
  try {
    await run();
  } finally {
    process.off('warning', onWarning);
  }
  return warnings;
}
