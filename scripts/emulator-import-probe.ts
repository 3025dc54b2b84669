/**
 * Times the emulator's import (`TableDb.load`) on a large sliced gzip CSV, outside `npm test`.
 *
 *   npm run build && tsc -p scripts/tsconfig.json
 *   node .build/scripts/emulator-import-probe.js --size-mib 200 --modes full,append,upsert
 *
 * The file is made once per size (cached under `--data-dir`) the way the benchmark makes it: a
 * `generate` table (id + 30 columns, about 365 bytes of CSV per row) exported through the
 * emulator's own slice writer (headerless, quoted, gzip level 1, 100 000 rows per slice).
 * Every case loads into a fresh database file. Modes:
 * - `full`: full load into an empty table with primary key `id`;
 * - `full-nokey`: the same without a key;
 * - `full-dup`: full load by `id` of the file plus its first slice again (100 000 repeated keys);
 * - `append`: append (no key) into a table that already holds the file once;
 * - `upsert`: upsert by `id` into a table that already holds the file once (no row changes);
 * - `upsert-half`: upsert by `id` into a table that holds the first half of the slices;
 * - `upsert-empty`: upsert by `id` into an empty table.
 * Each line gives the seconds of the timed `load` (every run with `--repeat N`, then the fastest:
 * the machine is shared, so the minimum is the least disturbed figure), of the stats refresh the
 * import job does next, and a content fingerprint (see `fingerprint`), so runs of different
 * implementations can be compared for equal results.
 */
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { COLUMNS, CSV_BYTES_PER_ROW, SLICE_ROWS } from '../bench/bench-table.js';
import { writeSlices } from '../emulator/src/slice-writer.js';
import { TableDb, type LoadMode } from '../emulator/src/table-db.js';

const TABLE = '"probe"';
const EARLIER_TS = 1_000;
const LOAD_TS = 2_000;

interface Case {
  readonly key: readonly string[];
  readonly mode: LoadMode;
  /** Before the timed load, load the whole file or its first half (full, stamped EARLIER_TS). */
  readonly prefill: 'none' | 'all' | 'half';
  /** Load the file with its first slice appended again. */
  readonly repeatFirstSlice?: boolean;
}

const CASES: Readonly<Record<string, Case>> = {
  full: { key: ['id'], mode: 'full', prefill: 'none' },
  'full-nokey': { key: [], mode: 'full', prefill: 'none' },
  'full-dup': { key: ['id'], mode: 'full', prefill: 'none', repeatFirstSlice: true },
  append: { key: [], mode: 'append', prefill: 'all' },
  upsert: { key: ['id'], mode: 'upsert', prefill: 'all' },
  'upsert-half': { key: ['id'], mode: 'upsert', prefill: 'half' },
  'upsert-empty': { key: ['id'], mode: 'upsert', prefill: 'none' },
};

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? (process.argv[at + 1] ?? fallback) : fallback;
}

/** Slice paths of the cached file for `rows`, generating it first when missing. */
async function slicePaths(dataDir: string, rows: number): Promise<string[]> {
  const dir = join(dataDir, `rows-${rows}`);
  const done = join(dir, 'done');
  if (!existsSync(done)) {
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    const started = performance.now();
    const db = await TableDb.open(join(dir, 'source.duckdb'));
    try {
      await db.createTable(TABLE, COLUMNS);
      await db.insertGenerated(TABLE, COLUMNS, 'id', rows, EARLIER_TS);
      const put = async (suffix: string, body: Readable) => {
        const path = join(dir, suffix);
        await pipeline(body, createWriteStream(path));
        return (await stat(path)).size;
      };
      const result = await writeSlices(db.streamRows(TABLE, COLUMNS, {}), SLICE_ROWS, true, put);
      const mb = (result.bytes / 1e6).toFixed(1);
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      console.log(
        `generated ${rows} rows, ${result.suffixes.length} slices, ${mb} MB gzip (${seconds} s)`,
      );
    } finally {
      await db.close();
      await rm(join(dir, 'source.duckdb'), { force: true });
    }
    await writeFile(done, '');
  }
  const names = (await readdir(dir)).filter((name) => name.endsWith('.gz')).sort();
  return names.map((name) => join(dir, name));
}

/**
 * Row count, a hash of the values (order-independent), a hash of the values with their position
 * in storage (= export) order, and rows stamped EARLIER_TS.
 */
async function fingerprint(db: TableDb): Promise<string> {
  const values = COLUMNS.map((c) => `"${c}"`).join(', ');
  const rows = await db.readAllRows(
    `(SELECT count(*) AS n, sum(hash(${values}) % 1000000007) AS h, ` +
      `sum(hash(rn, ${values}) % 1000000007) AS o, ` +
      `count(*) FILTER (WHERE _timestamp = ${EARLIER_TS}) AS kept ` +
      `FROM (SELECT row_number() OVER () AS rn, * FROM ${TABLE}))`,
  );
  const row = rows[0] ?? {};
  const [n, h, o, kept] = [row.n, row.h, row.o, row.kept].map(String);
  return `rows=${n} hash=${h} order=${o} keptTs=${kept}`;
}

/** One timed load on a fresh database; returns its seconds and the line to print. */
async function runCase(name: string, spec: Case, paths: string[], workDir: string) {
  const dbPath = join(workDir, `${name}.duckdb`);
  await rm(dbPath, { force: true });
  await rm(`${dbPath}.wal`, { force: true });
  const db = await TableDb.open(dbPath);
  const source = { paths, fileColumns: COLUMNS, header: false };
  try {
    await db.createTable(TABLE, COLUMNS);
    if (spec.prefill !== 'none') {
      const prefill = spec.prefill === 'all' ? paths : paths.slice(0, Math.ceil(paths.length / 2));
      await db.load(TABLE, COLUMNS, spec.key, { ...source, paths: prefill }, 'full', EARLIER_TS);
    }
    const loaded = spec.repeatFirstSlice
      ? { ...source, paths: [...paths, ...paths.slice(0, 1)] }
      : source;
    const started = performance.now();
    await db.load(TABLE, COLUMNS, spec.key, loaded, spec.mode, LOAD_TS);
    const done = performance.now();
    // The import job refreshes the table's stats right after the load.
    await db.stats(TABLE, COLUMNS);
    const seconds = (done - started) / 1000;
    const stats = ((performance.now() - done) / 1000).toFixed(2);
    return { seconds, detail: `stats ${stats} s  ${await fingerprint(db)}` };
  } finally {
    await db.close();
    await rm(dbPath, { force: true });
    await rm(`${dbPath}.wal`, { force: true });
  }
}

async function main(): Promise<void> {
  const sizeMiB = Number(option('size-mib', '200'));
  const modes = option('modes', 'full,full-nokey,append,upsert').split(',');
  const repeat = Number(option('repeat', '1'));
  const dataDir = option('data-dir', join(tmpdir(), 'kbc-import-probe'));
  const rows = Math.round((sizeMiB * 1024 * 1024) / CSV_BYTES_PER_ROW);
  const paths = await slicePaths(dataDir, rows);
  console.log(`${sizeMiB} MiB: ${rows} rows in ${paths.length} slices`);
  const workDir = join(dataDir, 'work');
  await mkdir(workDir, { recursive: true });
  for (const name of modes) {
    const spec = CASES[name];
    if (!spec) throw new Error(`unknown mode ${name}; known: ${Object.keys(CASES).join(', ')}`);
    const runs: number[] = [];
    let detail = '';
    for (let i = 0; i < repeat; i++) {
      const run = await runCase(name, spec, paths, workDir);
      runs.push(run.seconds);
      detail = run.detail;
    }
    const all = runs.map((s) => s.toFixed(2)).join(' ');
    const min = Math.min(...runs).toFixed(2);
    console.log(`${name.padEnd(13)} load min ${min.padStart(6)} s (${all})  ${detail}`);
  }
}

await main();
