/**
 * `npm run bench`: throughput and memory of the job over the emulator, against the official
 * clients' approach and the raw-copy limit (issue 5). Not a test; never runs in CI.
 *
 *   npm run bench -- [--sizes 1,4] [--sweep 2,4,8,16] [--small-tables 200] [--latency-ms 50]
 *                    [--rate-mbps 40] [--cases a,b,c,d] [--repeat 1] [--scheduled-tables 200]
 *                    [--scheduled-changed 10] [--scheduled-job-ms 0] [--small-standalone] [--tls]
 *                    [--out bench/results]
 *
 * `--sizes` are GiB of uncompressed CSV. Cases per size: (a) platform job, (b) standalone job,
 * (c) official clients (sequential download + gunzip + concatenate), (d) raw copy with
 * `curl --parallel`; once: (e) many small tables against one table with the same rows; and (f) a
 * scheduled run of `lastRun` tables of which a few changed, skipping against exporting all, in
 * `--repeat` pairs; `--scheduled-job-ms N` times (f)'s pairs again with every Storage job lasting
 * at least N ms, as the real service's do.
 * `--tls`: the emulator (Storage and object store) speaks HTTPS with the repository's test
 * certificate, which every case trusts, as the real stacks and clouds do.
 */
import aws4 from 'aws4';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { startEmulator, type EmulatorHandle } from 'keboola-storage-emulator';
import { openSliceSource } from '../src/objects/slice-source.js';
import { s3ObjectUrl } from '../src/objects/s3.js';
import { SecretMasker } from '../src/secrets.js';
import { createStorageClient } from '../src/storage/storage-client.js';
import type { FileDetail } from '../src/storage/types.js';
import { COLUMNS, CSV_BYTES_PER_ROW, SLICE_ROWS } from './bench-table.js';
import { JOB_ENV, JOB_NODE_FLAGS } from './job-flags.js';
import { benchFolder } from './on-stop.js';
import { killMeasured, measure, startLauncher, stopLauncher, type Measured } from './measure.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'main.js');
/** The test certificate (CA and server in one, for 127.0.0.1) that `--tls` serves and trusts. */
const TLS_CERT = join(ROOT, 'test', 'fixtures', 'tls', 'localhost.crt');
const TLS_KEY = join(ROOT, 'test', 'fixtures', 'tls', 'localhost.key');
const OFFICIAL = join(import.meta.dirname, 'official-client.js');
const VERIFY = join(import.meta.dirname, 'verify-files.js');
const SOURCE_TOKEN = `101-1001-${'b'.repeat(40)}`;
const DEST_TOKEN = `202-2001-${'c'.repeat(40)}`;
const BUCKET = 'in.c-bench';
const DEST_BUCKET = 'in.c-copy';
const GIB = 1024 ** 3;

interface Options {
  readonly sizesGiB: number[];
  readonly sweep: number[];
  readonly smallTables: number;
  readonly smallRows: number;
  readonly latencyMs: number;
  readonly rateMBps: number;
  readonly outDir: string;
  readonly curlParallel: number;
  /** Which of the per-size cases a–d to run (all by default; ratios need all four). */
  readonly cases: ReadonlySet<string>;
  /** Runs of the cases a–d per size on the same generated table (median and spread printed). */
  readonly repeat: number;
  /** (f) the scheduled run: tables synced once, how many of them then change (0 tables: skip). */
  readonly scheduledTables: number;
  readonly scheduledChanged: number;
  /**
   * (f) again with every Storage job lasting at least this long (the emulator's job duration): the
   * real service's queue and processing time, which the emulator leaves out. 0: not run.
   */
  readonly scheduledJobMs: number;
  /** `--small-standalone`: the small-tables case imports into a destination project. */
  readonly smallStandalone: boolean;
  readonly tls: boolean;
}

function parseArgs(argv: readonly string[]): Options {
  const get = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const list = (text: string | undefined, fallback: number[]) =>
    text
      ? text
          .split(',')
          .map(Number)
          .filter((n) => n > 0)
      : fallback;
  return {
    sizesGiB: list(get('sizes'), [1, 4]),
    sweep: list(get('sweep'), [2, 4, 8, 16]),
    smallTables: Number(get('small-tables') ?? 200),
    smallRows: Number(get('small-rows') ?? 1000),
    latencyMs: Number(get('latency-ms') ?? 50),
    rateMBps: Number(get('rate-mbps') ?? 40),
    outDir: resolve(get('out') ?? join(ROOT, 'bench', 'results')),
    curlParallel: Number(get('curl-parallel') ?? 50),
    cases: new Set((get('cases') ?? 'a,b,c,d').split(',')),
    repeat: Math.max(1, Number(get('repeat') ?? 1)),
    scheduledTables: Number(get('scheduled-tables') ?? 200),
    scheduledChanged: Number(get('scheduled-changed') ?? 10),
    scheduledJobMs: Number(get('scheduled-job-ms') ?? 0),
    smallStandalone: argv.includes('--small-standalone'),
    tls: argv.includes('--tls'),
  };
}

interface CaseResult {
  readonly case: string;
  readonly seconds: number;
  /** Compressed (gzip) bytes moved, the same for every case of one size. */
  readonly bytes: number;
  readonly megabytesPerSecond: number;
  readonly peakRssMB: number | null;
  /** User + system CPU of the measured process (job, official client or curl). */
  readonly cpuSeconds: number;
  /** CPU the in-process emulator spent meanwhile (serving, and in (b) receiving and importing). */
  readonly emulatorCpuSeconds: number;
  readonly note?: string;
  readonly phases?: Record<string, number>;
}

/** The per-size cases (a)–(d) that `--cases` selected, by letter. */
type CasesRun = Partial<Record<'a' | 'b' | 'c' | 'd', CaseResult>>;

const log = (text: string) => process.stderr.write(`${text}\n`);
const mb = (bytes: number) => Math.round((bytes / 1e6) * 10) / 10;
const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;
/** The middle value (the upper one of an even count); 0 for none. */
function medianOf(values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

function ensureCurl(): string {
  try {
    return execFileSync('curl', ['--version'], { encoding: 'utf8' }).split('\n')[0] ?? 'curl';
  } catch {
    log('curl is missing: installing it with apt-get');
    execFileSync('apt-get', ['update'], { stdio: 'inherit' });
    execFileSync('apt-get', ['install', '-y', 'curl'], { stdio: 'inherit' });
    return execFileSync('curl', ['--version'], { encoding: 'utf8' }).split('\n')[0] ?? 'curl';
  }
}

async function startBenchEmulator(options: Options, workDir: string): Promise<EmulatorHandle> {
  return startEmulator({
    port: 0,
    workDir,
    quiet: true,
    firstByteLatencyMs: options.latencyMs,
    ...(options.tls ? { tls: { cert: readFileSync(TLS_CERT), key: readFileSync(TLS_KEY) } } : {}),
    bytesPerSecondPerConnection: options.rateMBps * 1e6,
    seed: {
      projects: [
        {
          id: 101,
          name: 'Bench source',
          fileStorageProvider: 'aws',
          buckets: [{ id: BUCKET, tables: [] }],
          tokens: [{ token: SOURCE_TOKEN, bucketPermissions: { [BUCKET]: 'read' } }],
        },
        {
          id: 202,
          name: 'Bench destination',
          fileStorageProvider: 'aws',
          buckets: [{ id: DEST_BUCKET, tables: [] }],
          tokens: [{ token: DEST_TOKEN, bucketPermissions: { [DEST_BUCKET]: 'write' } }],
        },
      ],
    },
  });
}

/** Runs the built job on a fresh data folder; returns its measurement and summary rows. */
async function runJob(
  emulator: EmulatorHandle,
  tables: readonly string[],
  opts: {
    standalone?: boolean;
    slicesPerTable?: number;
    slicesGlobal?: number;
    parallelism?: number;
    /** `lastRun` tables, run in this data folder (kept: it carries the state). */
    lastRunDir?: string;
    env?: NodeJS.ProcessEnv;
  } = {},
): Promise<{ measured: Measured; summaries: SummaryLine[]; peakFromJobMB: number | null }> {
  const dir = opts.lastRunDir ?? (await mkdtemp(join(tmpdir(), 'kts-bench-')));
  try {
    const parameters: Record<string, unknown> = {
      '#token': SOURCE_TOKEN,
      url: emulator.url,
      tables: tables.map((name) =>
        opts.lastRunDir
          ? { name, incremental: true, primaryKey: ['id'], changedSince: 'lastRun' }
          : { name },
      ),
      ...(opts.parallelism ? { parallelism: opts.parallelism } : {}),
      ...(opts.standalone
        ? { destination: { url: emulator.url, '#token': DEST_TOKEN, bucket: DEST_BUCKET } }
        : {}),
    };
    await writeFile(join(dir, 'config.json'), JSON.stringify({ parameters }));
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      AWS_ENDPOINT_URL_S3: emulator.url,
      ...trustedCa(),
      ...JOB_ENV,
      ...(opts.slicesPerTable
        ? { KBC_TABLE_SYNC_SLICES_PER_TABLE: String(opts.slicesPerTable) }
        : {}),
      ...(opts.slicesGlobal ? { KBC_TABLE_SYNC_SLICES_GLOBAL: String(opts.slicesGlobal) } : {}),
      ...opts.env,
    };
    const measured = await measure(
      process.execPath,
      [...JOB_NODE_FLAGS, CLI, 'run', '--data', dir],
      {
        env,
      },
    );
    if (measured.code !== 0) {
      throw new Error(
        `The job failed (exit ${measured.code}):\n${measured.stderr}\n${tail(measured.stdout)}`,
      );
    }
    const lines = jsonLines(measured.stdout);
    const summaries = lines.flatMap((l) => (l.summary ? [l.summary as SummaryLine] : []));
    const totals = lines.find((l) => l.totals)?.totals as { peakRssBytes?: number } | undefined;
    const peak = totals?.peakRssBytes;
    return { measured, summaries, peakFromJobMB: peak ? mb(peak) : null };
  } finally {
    if (!opts.lastRunDir) await rm(dir, { recursive: true, force: true });
  }
}

interface SummaryLine {
  readonly table: string;
  readonly status?: string;
  readonly rows: number;
  readonly bytes: number;
  readonly seconds: number;
  readonly phases?: Record<string, number>;
}

function jsonLines(text: string): Array<Record<string, unknown>> {
  return text.split('\n').flatMap((line) => {
    if (!line.startsWith('{')) return [];
    try {
      return [JSON.parse(line) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

function tail(text: string): string {
  return text.split('\n').slice(-20).join('\n');
}

function caseOf(
  name: string,
  measured: Measured,
  bytes: number,
  extra: { note?: string; phases?: Record<string, number> | undefined } = {},
): CaseResult {
  return {
    case: name,
    seconds: round(measured.seconds),
    bytes,
    megabytesPerSecond: round(bytes / 1e6 / measured.seconds, 1),
    peakRssMB: measured.peakRssBytes > 0 ? mb(measured.peakRssBytes) : null,
    cpuSeconds: round(measured.cpuSeconds),
    emulatorCpuSeconds: round(measured.hostCpuSeconds),
    ...(extra.note ? { note: extra.note } : {}),
    ...(extra.phases ? { phases: extra.phases } : {}),
  };
}

/** The cached export's file detail, with credentials, as the job sees it. */
async function exportedFile(emulator: EmulatorHandle, table: string): Promise<FileDetail> {
  const client = createStorageClient({
    url: emulator.url,
    token: SOURCE_TOKEN,
    masker: new SecretMasker(),
  });
  const job = await client.waitForJob(
    await client.startExport(`${BUCKET}.${table}`, { columns: COLUMNS }),
  );
  const id = (job.results as { file?: { id?: number }; cacheHit?: boolean } | null)?.file?.id;
  if (id === undefined) throw new Error(`export of ${table} gave no file`);
  if ((job.results as { cacheHit?: boolean }).cacheHit !== true) {
    log(`  warning: the export of ${table} was not a cache hit`);
  }
  return client.getFile(id);
}

/** The CA file children must trust: the one `--tls` serves, set on this process (main). */
const trustedCaPath = (): string | undefined => process.env.NODE_EXTRA_CA_CERTS;

/** {@link trustedCaPath} as a child's environment. */
function trustedCa(): NodeJS.ProcessEnv {
  const ca = trustedCaPath();
  return ca ? { NODE_EXTRA_CA_CERTS: ca } : {};
}

/** (d) every slice URL presigned with the file's federation credentials, fetched by curl. */
async function rawCopy(
  emulator: EmulatorHandle,
  file: FileDetail,
  parallel: number,
): Promise<{ measured: Measured; bytes: number; verification: Verification }> {
  const source = await openSliceSource(file, {
    refetchFile: () => Promise.reject(new Error('no refetch')),
    endpoints: { s3: emulator.url },
    masker: new SecretMasker(),
  });
  const credentials = file.credentials;
  const s3Path = file.s3Path;
  if (!credentials || !s3Path) throw new Error('the benchmark uses the aws provider');
  const dir = await mkdtemp(join(tmpdir(), 'kts-curl-'));
  try {
    const config = source.slices
      .map((slice) => {
        const url = new URL(
          s3ObjectUrl(s3Path.bucket, s3Path.key + slice.name, file.region, emulator.url),
        );
        const signed = aws4.sign(
          {
            host: url.host,
            path: url.pathname,
            service: 's3',
            region: file.region || 'us-east-1',
            signQuery: true,
          },
          {
            accessKeyId: credentials.AccessKeyId,
            secretAccessKey: credentials.SecretAccessKey,
            sessionToken: credentials.SessionToken,
          },
        );
        return `url = "${url.origin}${signed.path ?? ''}"\noutput = "${join(dir, `${slice.index}.gz`)}"`;
      })
      .join('\n');
    const configPath = join(dir, 'curl.config');
    await writeFile(configPath, `${config}\n`);
    const ca = trustedCaPath();
    const measured = await measure('curl', [
      '--parallel',
      '--parallel-max',
      String(parallel),
      '--silent',
      '--show-error',
      '--fail',
      ...(ca ? ['--cacert', ca] : []),
      '--config',
      configPath,
    ]);
    if (measured.code !== 0) throw new Error(`curl failed: ${measured.stderr}`);
    const files = (await readdir(dir)).filter((name) => name.endsWith('.gz'));
    let bytes = 0;
    for (const name of files) bytes += (await stat(join(dir, name))).size;
    const verification = await verifyFiles(files.map((name) => join(dir, name)));
    return { measured, bytes, verification };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** CPU that the job's slice verification alone needs for a set of gzip slices. */
interface Verification {
  /** Process CPU (main thread + zlib's thread pool), seconds. */
  readonly cpuSeconds: number;
  readonly rows: number;
}

/**
 * Runs every file through the job's `GzipVerifier` (full gunzip, CRC, CSV record count), two
 * at a time, in a child process with the job's node flags and environment (`verify-files.ts`), with nothing else
 * running, and measures the CPU it took. The emulator is idle then.
 */
async function verifyFiles(paths: readonly string[]): Promise<Verification> {
  const measured = await measure(process.execPath, [...JOB_NODE_FLAGS, VERIFY, ...paths], {
    env: { ...process.env, ...JOB_ENV },
  });
  if (measured.code !== 0) throw new Error(`verification failed: ${measured.stderr}`);
  const { rows } = JSON.parse(measured.stdout.trim()) as { rows: number };
  return { cpuSeconds: measured.cpuSeconds, rows };
}

/**
 * Upper bounds on the ratios that this machine allows, from CPU measured in this run:
 * - a/d: any copier that gunzips every byte needs at least (verification CPU + the emulator's CPU
 *   to serve the slices, as in (d)) / cores of wall time; the job's fixed costs (start-up, token
 *   check, export job) come on top, so the bound flatters it.
 * - b/d: the destination's import job alone (its phase in (b)) takes longer than (d) allows.
 */
function ceilingsOf(cases: CasesRun, verification: Verification | undefined, bytes: number) {
  const d = cases.d;
  if (!d || !verification) return undefined;
  const cores = availableParallelism();
  const floorSeconds = (verification.cpuSeconds + d.emulatorCpuSeconds) / cores;
  const importSeconds = cases.b?.phases?.['import job'];
  return {
    cores,
    verificationCpuSeconds: round(verification.cpuSeconds),
    verificationMBPerCoreSecond: round(bytes / 1e6 / verification.cpuSeconds, 1),
    emulatorServeCpuSeconds: d.emulatorCpuSeconds,
    verifyingCopyFloorSeconds: round(floorSeconds),
    'a/d': round(Math.min(1, d.seconds / floorSeconds)),
    ...(importSeconds ? { 'b/d': round(Math.min(1, d.seconds / importSeconds)) } : {}),
  };
}

/** (c) sequential download + gunzip + concatenate into one CSV, as a child process. */
async function officialClients(
  emulator: EmulatorHandle,
  file: FileDetail,
): Promise<{ measured: Measured; csvBytes: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'kts-official-'));
  try {
    const detailPath = join(dir, 'file.json');
    await writeFile(detailPath, JSON.stringify(file));
    const measured = await measure(
      process.execPath,
      [OFFICIAL, detailPath, join(dir, 'table.csv')],
      {
        env: { PATH: process.env.PATH, AWS_ENDPOINT_URL_S3: emulator.url, ...trustedCa() },
      },
    );
    if (measured.code !== 0) throw new Error(`official client failed: ${measured.stderr}`);
    const result = JSON.parse(measured.stdout.trim()) as { csvBytes: number };
    return { measured, csvBytes: result.csvBytes };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function timed<T>(
  what: string,
  work: () => Promise<T>,
): Promise<{ value: T; seconds: number }> {
  const started = performance.now();
  log(`  ${what}…`);
  const value = await work();
  const seconds = (performance.now() - started) / 1000;
  log(`  ${what}: ${seconds.toFixed(1)} s`);
  return { value, seconds };
}

async function benchSize(
  emulator: EmulatorHandle,
  sizeGiB: number,
  options: Options,
  repetition: number,
) {
  const table = `big_${sizeGiB}g`.replace('.', '_');
  const rows = Math.round((sizeGiB * GIB) / CSV_BYTES_PER_ROW);
  log(`Size ${sizeGiB} GiB: table ${table}, ${rows} rows, repetition ${repetition}`);
  const loadAverage = loadavg().map((n) => round(n));
  // Repetitions reuse the generated table and its cached export.
  const generate =
    repetition === 1
      ? await timed('generate (DuckDB)', () =>
          emulator.control.createTable(101, BUCKET, {
            name: table,
            columns: COLUMNS,
            primaryKey: ['id'],
            generate: { rows },
            sliceRows: SLICE_ROWS,
          }),
        )
      : { seconds: 0 };
  // The first run does the export job (DuckDB → gzip slices); later runs hit the export cache.
  const first =
    repetition === 1
      ? await timed('first platform run (export + transfer)', () => runJob(emulator, [table]))
      : { seconds: 0 };
  const file = await exportedFile(emulator, table);
  const bytes = file.sizeBytes ?? 0;
  const sweep: CaseResult[] = [];
  for (const perTable of sizeGiB === options.sizesGiB[0] && repetition === 1 ? options.sweep : []) {
    const run = await runJob(emulator, [table], {
      slicesPerTable: perTable,
      slicesGlobal: perTable,
    });
    const result = caseOf(`platform, ${perTable} slices in flight`, run.measured, bytes);
    sweep.push(result);
    log(
      `  sweep ${perTable}: ${result.seconds} s, ${result.megabytesPerSecond} MB/s, ${result.peakRssMB} MB`,
    );
  }
  const cases: CasesRun = {};
  let csvBytes: number | null = null;
  let verification: Verification | undefined;
  if (options.cases.has('a')) {
    const a = await runJob(emulator, [table]);
    cases.a = caseOf('(a) platform job', a.measured, bytes, { phases: a.summaries[0]?.phases });
    log(`  (a) ${a.measured.seconds.toFixed(2)} s (job's own peak RSS ${a.peakFromJobMB} MB)`);
  }
  if (options.cases.has('b')) {
    const b = await runJob(emulator, [table], { standalone: true });
    cases.b = caseOf('(b) standalone job', b.measured, bytes, { phases: b.summaries[0]?.phases });
    log(`  (b) ${b.measured.seconds.toFixed(2)} s`);
  }
  if (options.cases.has('c')) {
    const c = await officialClients(emulator, file);
    csvBytes = c.csvBytes;
    cases.c = caseOf('(c) official clients (sequential + gunzip + concat)', c.measured, bytes);
    log(`  (c) ${c.measured.seconds.toFixed(2)} s`);
  }
  if (options.cases.has('d')) {
    const d = await rawCopy(emulator, file, options.curlParallel);
    if (d.bytes !== bytes) log(`  warning: curl wrote ${d.bytes} bytes, the file has ${bytes}`);
    if (d.verification.rows !== rows) {
      log(`  warning: verification counted ${d.verification.rows} rows, the table has ${rows}`);
    }
    verification = d.verification;
    cases.d = caseOf(
      `(d) raw copy, curl --parallel-max ${options.curlParallel}`,
      d.measured,
      bytes,
    );
    log(`  (d) ${d.measured.seconds.toFixed(2)} s`);
  }
  const results = Object.values(cases);
  /** Throughput ratio x/y (same bytes, so the inverse ratio of seconds), when both ran. */
  const ratio = (x: CaseResult | undefined, y: CaseResult | undefined) =>
    x && y ? { value: round(y.seconds / x.seconds) } : undefined;
  const transferPhase = (r: CaseResult | undefined): CaseResult | undefined =>
    r?.phases?.transfer ? { ...r, seconds: r.phases.transfer } : undefined;
  const ratios = Object.fromEntries(
    Object.entries({
      'a/d': ratio(cases.a, cases.d),
      'a/c': ratio(cases.a, cases.c),
      'b/d': ratio(cases.b, cases.d),
      'b(transfer phase)/d': ratio(transferPhase(cases.b), cases.d),
    }).flatMap(([k, v]) => (v ? [[k, v.value]] : [])),
  );
  return {
    sizeGiB,
    repetition,
    loadAverage,
    table,
    rows,
    csvBytes,
    compressedBytes: bytes,
    slices: Math.ceil(rows / SLICE_ROWS),
    generateSeconds: round(generate.seconds),
    firstRunSeconds: round(first.seconds),
    cases: results,
    sweep,
    ratios,
    ceilings: ceilingsOf(cases, verification, bytes),
    targets: targetsOf(cases, ratios, ceilingsOf(cases, verification, bytes), verification),
  };
}

/**
 * The issue-18 figures of one size: a/d against its ceiling, a/c, the job's CPU beyond what
 * verification alone needs (as a share of it), and the peak RSS of both job modes. Two more
 * split a/d ÷ ceiling in its parts: the floor against (a)'s transfer phase alone, and (a)'s
 * seconds outside that phase (start-up, token check, export job), which the ceiling leaves out.
 */
function targetsOf(
  cases: CasesRun,
  ratios: Record<string, number>,
  ceilings: ReturnType<typeof ceilingsOf>,
  verification: Verification | undefined,
) {
  const ad = ratios['a/d'];
  const ceiling = ceilings?.['a/d'];
  const beyond = (r: CaseResult | undefined) =>
    r && verification ? round(r.cpuSeconds / verification.cpuSeconds - 1) : undefined;
  const transferSeconds = cases.a?.phases?.transfer;
  const floorSeconds = ceilings?.verifyingCopyFloorSeconds;
  return {
    'a/d': ad,
    'a/d ceiling': ceiling,
    'a/d ÷ ceiling': ad !== undefined && ceiling ? round(ad / ceiling) : undefined,
    'a/c': ratios['a/c'],
    'a transfer phase ÷ floor':
      transferSeconds && floorSeconds ? round(floorSeconds / transferSeconds) : undefined,
    'a seconds outside the transfer phase':
      cases.a && transferSeconds ? round(cases.a.seconds - transferSeconds) : undefined,
    'a CPU beyond verification (share of verification)': beyond(cases.a),
    'b CPU beyond verification (share of verification)': beyond(cases.b),
    'a peak RSS MB': cases.a?.peakRssMB,
    'b peak RSS MB': cases.b?.peakRssMB,
  };
}

/** Median seconds from export-async to a finished job, as the job's client polls it. */
async function medianExportLatency(emulator: EmulatorHandle, probes: number, rows: number) {
  const client = createStorageClient({
    url: emulator.url,
    token: SOURCE_TOKEN,
    masker: new SecretMasker(),
  });
  const seconds: number[] = [];
  for (let i = 0; i < probes; i++) {
    const name = `probe_${i}`;
    await emulator.control.createTable(101, BUCKET, {
      name,
      columns: COLUMNS,
      primaryKey: ['id'],
      generate: { rows },
    });
    const started = performance.now();
    await client.waitForJob(await client.startExport(`${BUCKET}.${name}`, { columns: COLUMNS }));
    seconds.push((performance.now() - started) / 1000);
  }
  return medianOf(seconds);
}

async function benchSmallTables(emulator: EmulatorHandle, options: Options) {
  const n = options.smallTables;
  log(`Small tables: ${n} × ${options.smallRows} rows`);
  const names = Array.from({ length: n }, (_, i) => `small_${String(i).padStart(3, '0')}`);
  for (const name of names) {
    await emulator.control.createTable(101, BUCKET, {
      name,
      columns: COLUMNS,
      primaryKey: ['id'],
      generate: { rows: options.smallRows },
    });
  }
  await emulator.control.createTable(101, BUCKET, {
    name: 'same_rows',
    columns: COLUMNS,
    primaryKey: ['id'],
    generate: { rows: n * options.smallRows },
    sliceRows: SLICE_ROWS,
  });
  const median = await medianExportLatency(emulator, 15, options.smallRows);
  const parallelism = 4;
  const standalone = options.smallStandalone;
  const many = await runJob(emulator, names, { parallelism, standalone });
  const one = await runJob(emulator, ['same_rows'], { parallelism, standalone });
  const bound = 3 * (one.measured.seconds + (n * median) / parallelism);
  return {
    tables: n,
    mode: standalone ? 'standalone' : 'platform',
    rowsPerTable: options.smallRows,
    parallelism,
    manyTablesSeconds: round(many.measured.seconds),
    manyTablesPeakRssMB: mb(many.measured.peakRssBytes),
    oneTableSameRowsSeconds: round(one.measured.seconds),
    medianExportJobSeconds: round(median, 3),
    targetSeconds: round(bound),
    withinTarget: many.measured.seconds < bound,
  };
}

/**
 * (f) A scheduled run: `n` incremental `lastRun` tables synced once, then `changed` of them
 * changed, then the next run timed twice from the same saved state: skipping the unchanged tables
 * (the default), and with skipping switched off (`KBC_TABLE_SYNC_SKIP_UNCHANGED=0`, a setting for
 * this comparison only), which exports all `n`.
 */
async function benchScheduled(emulator: EmulatorHandle, options: Options) {
  const n = options.scheduledTables;
  const changed = Math.min(n, options.scheduledChanged);
  log(`Scheduled run: ${n} lastRun tables × ${options.smallRows} rows, ${changed} changed`);
  const names = Array.from({ length: n }, (_, i) => `sched_${String(i).padStart(3, '0')}`);
  // Last changed an hour ago, well before the first sync's watermark.
  const timestamp = Math.floor(Date.now() / 1000) - 3600;
  for (const name of names) {
    await emulator.control.createTable(101, BUCKET, {
      name,
      columns: COLUMNS,
      primaryKey: ['id'],
      generate: { rows: options.smallRows },
      timestamp,
    });
  }
  const parallelism = 4;
  const first = await mkdtemp(join(tmpdir(), 'kts-bench-sched-'));
  const dirs: string[] = [first];
  try {
    const sync = await runJob(emulator, names, { parallelism, lastRunDir: first });
    log(`  first sync of ${n} tables: ${sync.measured.seconds.toFixed(2)} s`);
    const state = await readFile(join(first, 'out', 'state.json'), 'utf8');
    for (const name of names.slice(0, changed)) {
      await emulator.control.upsertRows(101, `${BUCKET}.${name}`, [
        Object.fromEntries(COLUMNS.map((c) => [c, c === 'id' ? '1' : 'changed'])),
      ]);
    }
    const unchanged = (r: Awaited<ReturnType<typeof runJob>>) =>
      r.summaries.filter((s) => s.status === 'unchanged').length;
    const runFrom = async (env: NodeJS.ProcessEnv) => {
      const dir = await mkdtemp(join(tmpdir(), 'kts-bench-sched-'));
      dirs.push(dir);
      await mkdir(join(dir, 'in'), { recursive: true });
      await writeFile(join(dir, 'in', 'state.json'), state);
      const before = serviceCounters(emulator);
      const result = await runJob(emulator, names, { parallelism, lastRunDir: dir, env });
      return { ...result, cost: serviceCostSince(emulator, before) };
    };
    // `--repeat` pairs, each from the same saved state: the host's spread moves single runs.
    const timePairs = async (label: string) => {
      const pairs = [];
      for (let repetition = 1; repetition <= options.repeat; repetition++) {
        const skipping = await runFrom({});
        const exportingAll = await runFrom({ KBC_TABLE_SYNC_SKIP_UNCHANGED: '0' });
        const speedup = round(exportingAll.measured.seconds / skipping.measured.seconds, 1);
        log(
          `  ${label} ${repetition}/${options.repeat}: skipping ${round(skipping.measured.seconds)} s (${unchanged(skipping)} unchanged; ${describeCost(skipping.cost)}), exporting all ${round(exportingAll.measured.seconds)} s (${describeCost(exportingAll.cost)}): ${speedup}× (load ${round(loadavg()[0] ?? 0)})`,
        );
        pairs.push({ skipping, exportingAll, speedup });
      }
      return pairs;
    };
    const pairs = await timePairs('(f)');
    const withJobDuration =
      options.scheduledJobMs > 0
        ? await timedWithJobDuration(emulator, options, timePairs)
        : undefined;
    const figures = pairFigures(pairs);
    return {
      tables: n,
      changedTables: changed,
      rowsPerTable: options.smallRows,
      parallelism,
      firstSyncSeconds: round(sync.measured.seconds),
      // Medians over the repetitions; every repetition's figure in the `…Runs` lists.
      skippingSeconds: figures.skippingSeconds,
      skippingUnchangedTables: Math.min(...pairs.map((p) => unchanged(p.skipping))),
      skippingPeakRssMB: Math.max(...pairs.map((p) => mb(p.skipping.measured.peakRssBytes))),
      exportingAllSeconds: figures.exportingAllSeconds,
      exportingAllUnchangedTables: Math.max(...pairs.map((p) => unchanged(p.exportingAll))),
      exportingAllPeakRssMB: Math.max(
        ...pairs.map((p) => mb(p.exportingAll.measured.peakRssBytes)),
      ),
      // The same in every repetition (the runs start from one state): the last pair's.
      skippingCost: pairs.at(-1)?.skipping.cost,
      exportingAllCost: pairs.at(-1)?.exportingAll.cost,
      speedup: figures.speedup,
      speedupRange: figures.speedupRange,
      skippingSecondsRuns: figures.skippingSecondsRuns,
      exportingAllSecondsRuns: figures.exportingAllSecondsRuns,
      speedupRuns: figures.speedupRuns,
      withJobDuration,
    };
  } finally {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  }
}

/** One of (f)'s pairs: the skipping run and the run exporting all, from the same state. */
interface TimedPair {
  readonly skipping: { readonly measured: Measured };
  readonly exportingAll: { readonly measured: Measured };
  readonly speedup: number;
}

/** Medians and the range of the speed-ups over (f)'s pairs, and every pair's own figures. */
function pairFigures(pairs: readonly TimedPair[]) {
  const skippingSecondsRuns = pairs.map((p) => round(p.skipping.measured.seconds));
  const exportingAllSecondsRuns = pairs.map((p) => round(p.exportingAll.measured.seconds));
  const speedupRuns = pairs.map((p) => p.speedup);
  return {
    skippingSeconds: medianOf(skippingSecondsRuns),
    exportingAllSeconds: medianOf(exportingAllSecondsRuns),
    speedup: medianOf(speedupRuns),
    speedupRange: [Math.min(...speedupRuns), Math.max(...speedupRuns)],
    skippingSecondsRuns,
    exportingAllSecondsRuns,
    speedupRuns,
  };
}

/**
 * (f)'s pairs again with every Storage job lasting at least `--scheduled-job-ms` (the emulator's
 * job duration, reset afterwards): what skipping saves where an export job costs what it costs
 * on the real service. Medians and ranges as for (f).
 */
async function timedWithJobDuration(
  emulator: EmulatorHandle,
  options: Options,
  timePairs: (label: string) => Promise<readonly TimedPair[]>,
) {
  const jobMs = options.scheduledJobMs;
  emulator.control.setJobDurationMs(jobMs);
  try {
    const figures = pairFigures(await timePairs(`(f) with jobs of ${jobMs} ms`));
    const { skippingSeconds, exportingAllSeconds, speedup, speedupRange } = figures;
    return { jobMs, skippingSeconds, exportingAllSeconds, speedup, speedupRange };
  } finally {
    emulator.control.setJobDurationMs(0);
  }
}

/**
 * What one run asked of the service, which the host's speed does not move: Storage API requests,
 * export jobs started and object-store reads. On the real service each export job costs seconds
 * to minutes of queue and unload time (docs/performance.md, Skipping unchanged tables).
 */
interface ServiceCost {
  readonly storageRequests: number;
  readonly exportJobs: number;
  readonly objectReads: number;
}

/** Zeroes the emulator's request and job counters; returns the object-store reads so far. */
function serviceCounters(emulator: EmulatorHandle): number {
  emulator.control.resetStats();
  return emulator.control.stats().objectStore.gets;
}

function serviceCostSince(emulator: EmulatorHandle, objectReadsBefore: number): ServiceCost {
  const stats = emulator.control.stats();
  const sum = (counts: Readonly<Record<string, number>>, keep: (key: string) => boolean) =>
    Object.entries(counts)
      .filter(([key]) => keep(key))
      .reduce((total, [, count]) => total + count, 0);
  return {
    storageRequests: sum(stats.requests, () => true),
    exportJobs: sum(stats.jobStarts, (key) => key.startsWith('tableExport ')),
    objectReads: stats.objectStore.gets - objectReadsBefore,
  };
}

function describeCost(cost: ServiceCost): string {
  return `${cost.exportJobs} export jobs, ${cost.storageRequests} Storage requests, ${cost.objectReads} object reads`;
}

/** Median and range over the repetitions of one size, for the figures the issue targets. */
function printRepetitions(runs: ReadonlyArray<Awaited<ReturnType<typeof benchSize>>>): void {
  const keys = Object.keys(runs[0]?.targets ?? {}) as Array<keyof (typeof runs)[number]['targets']>;
  const lines = keys.flatMap((key) => {
    const values = runs.flatMap((r) =>
      typeof r.targets[key] === 'number' ? [r.targets[key]] : [],
    );
    if (values.length === 0) return [];
    return [
      `  ${key}: median ${medianOf(values)}, range ${Math.min(...values)} to ${Math.max(...values)}`,
    ];
  });
  const loads = runs.map((r) => r.loadAverage[0]).join(', ');
  process.stdout.write(
    `\n${runs[0]?.sizeGiB} GiB over ${runs.length} runs (1-min load average at each start: ${loads}):\n${lines.join('\n')}\n`,
  );
}

function printTable(size: Awaited<ReturnType<typeof benchSize>>): void {
  const lines = [
    `${size.sizeGiB} GiB CSV (${size.csvBytes === null ? '?' : mb(size.csvBytes)} MB), ${mb(size.compressedBytes)} MB gzip in ${size.slices} slices`,
    `${'case'.padEnd(52)} ${'seconds'.padStart(8)} ${'MB/s'.padStart(8)} ${'peak RSS MB'.padStart(12)} ${'CPU s'.padStart(6)} ${'emulator CPU s'.padStart(15)}`,
    ...[...size.cases, ...size.sweep].map(
      (r) =>
        `${r.case.padEnd(52)} ${r.seconds.toFixed(2).padStart(8)} ${r.megabytesPerSecond.toFixed(1).padStart(8)} ${String(r.peakRssMB ?? '-').padStart(12)} ${r.cpuSeconds.toFixed(2).padStart(6)} ${r.emulatorCpuSeconds.toFixed(2).padStart(15)}`,
    ),
    `ratios (throughput): ${Object.entries(size.ratios)
      .map(([k, v]) => `${k} = ${v}`)
      .join(', ')}`,
    ...(size.ceilings
      ? [
          `verification alone (gunzip + CRC + record count): ${size.ceilings.verificationCpuSeconds} CPU s, ${size.ceilings.verificationMBPerCoreSecond} MB gzip per core-second`,
          `ceilings on ${size.ceilings.cores} cores: a/d ≤ ${size.ceilings['a/d']} (verification + the emulator serving (d) need ${size.ceilings.verifyingCopyFloorSeconds} s)${size.ceilings['b/d'] === undefined ? '' : `, b/d ≤ ${size.ceilings['b/d']} (the import job alone)`}`,
        ]
      : []),
    `targets: ${Object.entries(size.targets)
      .map(([k, v]) => `${k} ${v === undefined ? '-' : v}`)
      .join('; ')}`,
  ];
  process.stdout.write(`\n${lines.join('\n')}\n`);
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  if (options.tls && process.env.NODE_EXTRA_CA_CERTS !== TLS_CERT) {
    // Node reads its extra CAs once, at start-up: run the benchmark again trusting the certificate.
    const again = spawnSync(process.execPath, process.argv.slice(1), {
      stdio: 'inherit',
      env: { ...process.env, NODE_EXTRA_CA_CERTS: TLS_CERT },
    });
    process.exitCode = again.status ?? 1;
    return;
  }
  const curl = ensureCurl();
  await startLauncher();
  const folder = await benchFolder(() => {
    stopLauncher();
    killMeasured();
  });
  const emulator = await startBenchEmulator(options, folder.emulatorDir).catch(
    async (error: unknown) => {
      stopLauncher();
      await folder.remove();
      throw error;
    },
  );
  const startedAt = new Date().toISOString();
  const loadAtStart = loadavg();
  try {
    const sizes = [];
    for (const sizeGiB of options.sizesGiB) {
      for (let repetition = 1; repetition <= options.repeat; repetition++) {
        const size = await benchSize(emulator, sizeGiB, options, repetition);
        printTable(size);
        sizes.push(size);
      }
      if (options.repeat > 1) printRepetitions(sizes.filter((s) => s.sizeGiB === sizeGiB));
    }
    const small = options.smallTables > 0 ? await benchSmallTables(emulator, options) : undefined;
    if (small) process.stdout.write(`\nsmall tables: ${JSON.stringify(small)}\n`);
    const scheduled =
      options.scheduledTables > 0 ? await benchScheduled(emulator, options) : undefined;
    if (scheduled) {
      process.stdout.write(
        `\n(f) scheduled run, ${scheduled.tables} lastRun tables, ${scheduled.changedTables} changed, median of ${scheduled.speedupRuns.length}: skipping ${scheduled.skippingSeconds} s (${scheduled.skippingUnchangedTables} unchanged, peak RSS ${scheduled.skippingPeakRssMB} MB), exporting all ${scheduled.exportingAllSeconds} s: ${scheduled.speedup}× faster (range ${scheduled.speedupRange.join(' to ')}×)\n` +
          (scheduled.withJobDuration
            ? `    with every Storage job lasting ${scheduled.withJobDuration.jobMs} ms: skipping ${scheduled.withJobDuration.skippingSeconds} s, exporting all ${scheduled.withJobDuration.exportingAllSeconds} s: ${scheduled.withJobDuration.speedup}× (range ${scheduled.withJobDuration.speedupRange.join(' to ')}×)\n`
            : '') +
          (scheduled.skippingCost && scheduled.exportingAllCost
            ? `    asked of the service: skipping ${describeCost(scheduled.skippingCost)}; exporting all ${describeCost(scheduled.exportingAllCost)}\n`
            : ''),
      );
    }
    const result = {
      startedAt,
      command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
      machine: {
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model,
        memoryGiB: round(totalmem() / GIB, 1),
        node: process.version,
        curl,
        // Other work on the machine during the run (1, 5, 15 min load averages).
        loadAverageAtStart: loadAtStart.map((n) => round(n)),
        loadAverageAtEnd: loadavg().map((n) => round(n)),
      },
      emulator: {
        tls: options.tls,
        firstByteLatencyMs: options.latencyMs,
        bytesPerSecondPerConnection: options.rateMBps * 1e6,
      },
      sizes,
      smallTables: small,
      scheduled,
      objectStore: emulator.control.stats().objectStore.throttle,
    };
    await mkdir(options.outDir, { recursive: true });
    const path = join(options.outDir, `bench-${startedAt.replace(/[:.]/g, '-')}.json`);
    await writeFile(path, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`\nResults written to ${path}\n`);
  } finally {
    await emulator.close();
    await folder.remove();
    stopLauncher();
  }
}

await main();
