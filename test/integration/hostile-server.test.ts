/**
 * The job against a hostile stack (issue 14): a loopback server that plays the Storage API and
 * the S3 file storage badly. Every case runs the built job as a real child process and asserts
 * the exit code, the one sentence, a peak RSS under 200 MB, a generous wall-time bound (proof that
 * a deadline exists, not a tuned timing), nothing left in out/tables, and no secret anywhere.
 * Deadlines and rates are set small through the documented environment knobs (docs/limits.md).
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  fileJson,
  HOSTILE_TOKEN,
  hostileTokenInfo,
  MANIFEST_PATH,
  manifestOf,
  S3_SECRET,
  SLICE_CSV,
  SLICE_PATH,
  STORAGE,
  endless,
  startHostileStack,
  streamed,
  tableJson,
  trickle,
  type HostileStack,
} from '../helpers/hostile-stack.js';
import { runJobProcess, type JobProcessResult } from '../helpers/job-process.js';
import { listFiles, makeDataDir, removeDir } from '../helpers/run-cli.js';
import { expectNoSecrets } from '../helpers/secret-scan.js';
import { join } from 'node:path';
import { DEFAULT_ATTEMPTS_PER_SLICE } from '../../src/transfer/copy-slices.js';

const MB = 1_000_000;
const TLS_DIR = join(import.meta.dirname, '..', 'fixtures', 'tls');
const PEAK_RSS_LIMIT_BYTES = 200 * MB;

let stack: HostileStack;
const dirs: string[] = [];

beforeEach(async () => {
  stack = await startHostileStack();
});
afterEach(async () => {
  await stack.close();
});
afterAll(async () => {
  for (const dir of dirs) await removeDir(dir);
});

interface Outcome extends JobProcessResult {
  readonly dataDir: string;
  readonly tables: string[];
}

async function runJob(
  env: Record<string, string> = {},
  config: unknown = stack.config(),
  options: { signalWhen?: { pattern: RegExp; signal: NodeJS.Signals } } = {},
): Promise<Outcome> {
  const dataDir = await makeDataDir(config);
  dirs.push(dataDir);
  const result = await runJobProcess(['--data', dataDir], {
    env: { ...stack.env, ...env },
    timeoutMs: 60_000,
    ...options,
  });
  const tables = await listFiles(join(dataDir, 'out', 'tables'));
  return { ...result, dataDir, tables };
}

/** The assertions every hostile case shares. */
async function expectContained(
  outcome: Outcome,
  expected: { code: number; sentence: RegExp; maxWallMs: number },
): Promise<void> {
  expect(outcome.stderr, outcome.stdout.slice(-3000)).toMatch(expected.sentence);
  expect(outcome.code).toBe(expected.code);
  expect(outcome.stderr).not.toMatch(/^\s+at /m);
  expect(outcome.peakRssBytes).toBeLessThan(PEAK_RSS_LIMIT_BYTES);
  expect(outcome.wallMs).toBeLessThan(expected.maxWallMs);
  expect(outcome.tables).toEqual([]);
  await expectNoSecrets(stack.secrets, outcome, outcome.dataDir);
}

describe('a well-behaved stack (the baseline the hostile cases change)', () => {
  it('copies the table, and debug: true logs each request and no secret', async () => {
    const outcome = await runJob({}, stack.config({}, { debug: true }));
    expect(outcome.stderr).toBe('');
    expect(outcome.code).toBe(0);
    expect(outcome.tables).toEqual(['t.csv.manifest', 't.csv/part-00000.csv.gz']);
    expect(outcome.stdout).toMatch(
      /"level":"debug".*"method":"GET","path":"\/v2\/storage\/tokens\/verify","status":200,"durationMs":\d+/,
    );
    expect(outcome.stdout).toContain(`GET ${STORAGE}/files/7 → 200`);
    expect(outcome.stdout).not.toContain('federationToken');
    // Object-store requests too (the manifest and the slice): bucket and key, no signed query.
    const objectLines = outcome.stdout.split('\n').filter((line) => /"msg":"GET aws /.test(line));
    expect(objectLines.length).toBeGreaterThanOrEqual(2);
    expect(objectLines.join('\n')).toMatch(/ → 200"/);
    expect(objectLines.join('\n')).not.toMatch(/X-Amz-|\?/);
    expect(outcome.peakRssBytes).toBeLessThan(PEAK_RSS_LIMIT_BYTES);
    await expectNoSecrets(stack.secrets, outcome, outcome.dataDir);
  });
});

describe('unbounded answers are capped', () => {
  it('a gzip answer to tokens/verify inflating past the cap', async () => {
    const bomb = gzipSync(Buffer.alloc(40 * 1024 * 1024, 0x20));
    stack.route('GET', `${STORAGE}/tokens/verify`, {
      status: 200,
      raw: bomb,
      headers: { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' },
    });
    await expectContained(await runJob(), {
      code: 2,
      sentence: /Storage API GET \/v2\/storage\/tokens\/verify answered more than 32 MiB/,
      maxWallMs: 30_000,
    });
  });

  it('an endless chunked answer to the table list', async () => {
    stack.route(
      'GET',
      `${STORAGE}/buckets/in.c-src/tables`,
      streamed({ 'Content-Type': 'application/json' }, endless(Buffer.alloc(64 * 1024, 0x5b))),
    );
    await expectContained(await runJob(), {
      code: 2,
      sentence:
        /Storage API GET \/v2\/storage\/buckets\/in\.c-src\/tables answered more than 32 MiB/,
      maxWallMs: 30_000,
    });
  });

  it('an endless manifest', async () => {
    stack.route('GET', MANIFEST_PATH, streamed({}, endless(Buffer.alloc(64 * 1024, 0x20))));
    await expectContained(await runJob(), {
      code: 2,
      sentence: /The manifest of file 7 is larger than 16 MiB/,
      maxWallMs: 30_000,
    });
  });
});

/** Short request retries and a short budget, and short waits between a slice's attempts. */
const SHORT_SLICE_RETRIES = {
  KBC_TABLE_SYNC_RETRY_BASE_MS: '10',
  KBC_TABLE_SYNC_RETRY_MAX_MS: '80',
  KBC_TABLE_SYNC_RETRY_BUDGET_MS: '1800',
  KBC_TABLE_SYNC_SLICE_RETRY_BASE_MS: '10',
};

describe('trickling servers meet a total deadline or a minimum rate', () => {
  it('tokens/verify one byte at a time: the first contact deadline', async () => {
    stack.route(
      'GET',
      `${STORAGE}/tokens/verify`,
      streamed({}, trickle(Buffer.from('{"id":"1"}'), 300)),
    );
    const outcome = await runJob({
      KBC_TABLE_SYNC_FIRST_CONTACT_TIMEOUT_S: '1',
      KBC_TABLE_SYNC_RETRY_BASE_MS: '10',
    });
    await expectContained(outcome, {
      code: 1,
      sentence: new RegExp(
        `Cannot reach the Storage API at ${stack.url}: it did not answer within 1 s`,
      ),
      maxWallMs: 20_000,
    });
    // Four attempts (docs/limits.md, First contact), then the URL is blamed.
    expect(stack.server.requests.filter((r) => r.path === `${STORAGE}/tokens/verify`)).toHaveLength(
      4,
    );
  });

  it('tokens/verify silent twice, then answering: a network hiccup at the first contact is retried, exit 0', async () => {
    const silent = streamed({}, trickle(Buffer.from('{"id":"1"}'), 300));
    stack.route('GET', `${STORAGE}/tokens/verify`, silent, silent, verifyAnswer());
    const outcome = await runJob({
      KBC_TABLE_SYNC_FIRST_CONTACT_TIMEOUT_S: '1',
      KBC_TABLE_SYNC_RETRY_BASE_MS: '10',
    });
    expect(outcome.stderr).toBe('');
    expect(outcome.code).toBe(0);
    expect(outcome.tables).toEqual(['t.csv.manifest', 't.csv/part-00000.csv.gz']);
    await expectNoSecrets(stack.secrets, outcome, outcome.dataDir);
  });

  it('the manifest one byte at a time: the total request deadline, retried within the budget', async () => {
    stack.route('GET', MANIFEST_PATH, streamed({}, trickle(manifestOf(SLICE_PATH), 300)));
    // A short backoff and budget: the first attempt ends at its 1 s deadline and is retried at
    // once; the second one ends past the 1.8 s budget, so there is no third.
    const outcome = await runJob({
      KBC_TABLE_SYNC_REQUEST_TIMEOUT_S: '1',
      KBC_TABLE_SYNC_RETRY_BASE_MS: '10',
      KBC_TABLE_SYNC_RETRY_MAX_MS: '80',
      KBC_TABLE_SYNC_RETRY_BUDGET_MS: '1800',
    });
    await expectContained(outcome, {
      code: 2,
      sentence: /GET manifest aws kbc-files\/exp-1\/t\.csv\.gzmanifest did not finish within 1 s/,
      maxWallMs: 30_000,
    });
    expect(stack.server.count('GET', MANIFEST_PATH)).toBe(2);
  });

  it('slice headers one byte at a time: the request deadline until the answer, then the retries run out', async () => {
    stack.route('GET', SLICE_PATH, {
      status: 200,
      respond: (res) => {
        const socket = res.socket;
        socket?.write('HTTP/1.1 200 OK\r\nX-Slow: ');
        const timer = setInterval(() => socket?.write('a'), 300);
        socket?.once('close', () => clearInterval(timer));
      },
    });
    const outcome = await runJob({ ...SHORT_SLICE_RETRIES, KBC_TABLE_SYNC_REQUEST_TIMEOUT_S: '1' });
    await expectContained(outcome, {
      code: 2,
      sentence: /GET aws kbc-files\/exp-1\/t\.csv\.gz0000_part_00\.gz sent no answer within 1 s/,
      maxWallMs: 45_000,
    });
  });

  it('a slice answering 503 with an endless error body: 16 KiB of it are read, then the retries run out', async () => {
    stack.route('GET', SLICE_PATH, {
      status: 503,
      respond: (res) => {
        res.writeHead(503, { 'Content-Type': 'application/xml' });
        endless(Buffer.alloc(64 * 1024, 0x20))(res);
      },
    });
    const outcome = await runJob(SHORT_SLICE_RETRIES);
    await expectContained(outcome, {
      code: 2,
      sentence: /GET aws kbc-files\/exp-1\/t\.csv\.gz0000_part_00\.gz .*503/,
      maxWallMs: 45_000,
    });
  });

  it('a valid slice one byte at a time: the minimum progress rate, then the slice retries run out', async () => {
    const slice = gzipSync(Buffer.from(SLICE_CSV));
    stack.route(
      'GET',
      SLICE_PATH,
      streamed({ 'Content-Length': String(slice.length) }, trickle(slice, 400)),
    );
    const outcome = await runJob({
      KBC_TABLE_SYNC_MIN_SLICE_BYTES: '1000',
      KBC_TABLE_SYNC_SLICE_PROGRESS_WINDOW_S: '0.5',
      KBC_TABLE_SYNC_SLICE_RETRY_BASE_MS: '10',
    });
    await expectContained(outcome, {
      code: 2,
      sentence: /moved \d+ bytes in 1 s, below the minimum of 1000/,
      maxWallMs: 40_000,
    });
    expect(stack.server.count('GET', SLICE_PATH)).toBe(DEFAULT_ATTEMPTS_PER_SLICE);
  });
});

describe('answers are checked', () => {
  it('garbage JSON from tokens/verify', async () => {
    stack.route('GET', `${STORAGE}/tokens/verify`, {
      status: 200,
      raw: Buffer.from('<html>\u0000garbage{{{'),
    });
    await expectContained(await runJob(), {
      code: 2,
      sentence: /tokens\/verify/,
      maxWallMs: 20_000,
    });
  });

  it('an empty manifest for a file of more than 0 bytes', async () => {
    stack.route('GET', MANIFEST_PATH, { status: 200, raw: manifestOf() });
    await expectContained(await runJob(), {
      code: 2,
      sentence: /The manifest of file 7 lists no slices, but the file holds \d+ bytes/,
      maxWallMs: 20_000,
    });
  });

  it('a manifest entry on another bucket or host', async () => {
    stack.route('GET', MANIFEST_PATH, {
      status: 200,
      raw: Buffer.from(
        JSON.stringify({ entries: [{ url: 's3://evil-bucket/exp-1/t.csv.gz0000_part_00.gz' }] }),
      ),
    });
    await expectContained(await runJob(), {
      code: 2,
      sentence: /manifest|outside/i,
      maxWallMs: 20_000,
    });
  });

  it('a manifest that lists one slice twice: its rows are not copied twice', async () => {
    stack.route('GET', MANIFEST_PATH, { status: 200, raw: manifestOf(SLICE_PATH, SLICE_PATH) });
    await expectContained(await runJob(), {
      code: 2,
      sentence: /The manifest of file 7 lists the slice "0000_part_00\.gz" twice/,
      maxWallMs: 20_000,
    });
  });

  it('a manifest entry that names a slice again through "..": its rows are not copied twice', async () => {
    const again = `${SLICE_PATH}/../${SLICE_PATH.split('/').pop() ?? ''}`;
    stack.route('GET', MANIFEST_PATH, { status: 200, raw: manifestOf(SLICE_PATH, again) });
    await expectContained(await runJob(), {
      code: 2,
      sentence: /has a "\." or "\.\." path segment/,
      maxWallMs: 20_000,
    });
  });

  it.each([
    ['no url', undefined, 'no "url"'],
    ['a url that is not one', 'not a url', 'a "url" that is not an http\\(s\\) URL'],
    ['an ftp url', 'ftp://files.example.com/manifest?sig=FtpSig0123456789', 'a "url" that'],
  ])('a sliced file detail with %s: one sentence naming the file', async (_name, url, says) => {
    const detail: Record<string, unknown> = { ...fileJson(stack.url, 100) };
    if (url === undefined) delete detail.url;
    else detail.url = url;
    stack.route('GET', `${STORAGE}/files/7`, { status: 200, body: detail });
    const outcome = await runJob();
    await expectContained(outcome, {
      code: 2,
      sentence: new RegExp(`detail of sliced file 7 has ${says}`),
      maxWallMs: 20_000,
    });
    expect(`${outcome.stdout}${outcome.stderr}`).not.toContain('FtpSig');
  });

  it('a manifest entry with a signed query: refused, the query shown nowhere', async () => {
    const signed = `s3:/${SLICE_PATH}?X-Amz-Signature=EntrySasSig0123456789abcdef`;
    stack.route('GET', MANIFEST_PATH, {
      status: 200,
      raw: Buffer.from(JSON.stringify({ entries: [{ url: signed }] })),
    });
    const result = await runJob();
    await expectContained(result, {
      code: 2,
      sentence: /has a query or fragment/,
      maxWallMs: 20_000,
    });
    expect(`${result.stdout}${result.stderr}`).not.toContain('EntrySasSig');
  });

  it('a gzip bomb of empty lines is refused by its inflation ratio', async () => {
    const bomb = gzipSync(Buffer.alloc(80 * 1024 * 1024, 0x0a), { level: 9 });
    stack.route('GET', SLICE_PATH, { status: 200, raw: bomb });
    stack.route('GET', `${STORAGE}/files/7`, {
      status: 200,
      body: fileJson(stack.url, bomb.length),
    });
    await expectContained(await runJob(), {
      code: 2,
      sentence: /refused as a gzip bomb/,
      maxWallMs: 30_000,
    });
  });

  it('a full export with more records than the table has', async () => {
    const slice = gzipSync(Buffer.from('"1","a"\n"2","b"\n"3","c"\n"4","d"\n"5","e"\n'));
    stack.route('GET', SLICE_PATH, { status: 200, raw: slice });
    await expectContained(await runJob(), {
      code: 2,
      sentence: /the export holds 5 records, but the source table has only 2 rows/,
      maxWallMs: 20_000,
    });
  });

  it('fewer records than the table has is a warning only', async () => {
    stack.route('GET', `${STORAGE}/tables/in.c-src.t`, { status: 200, body: tableJson(3) });
    stack.route('GET', `${STORAGE}/buckets/in.c-src/tables`, { status: 200, body: [tableJson(3)] });
    const outcome = await runJob();
    expect(outcome.code).toBe(0);
    // A warning: a log line on stdout, nothing on stderr.
    expect(outcome.stdout).toMatch(/held 2 rows, fewer than the table's 3/);
  });

  it('an export job that succeeds without a file id: exit 2, the service’s fault, no stack trace', async () => {
    stack.route(
      'POST',
      `${STORAGE}/tables/in.c-src.t/export-async`,
      exportJobAnswer({ status: 'success', results: {} }),
    );
    const outcome = await runJob();
    await expectContained(outcome, {
      code: 2,
      sentence:
        /^Table "in\.c-src\.t" failed: StorageResponseError: Export job 100 of "in\.c-src\.t" finished without a file id in its results\.$/m,
      maxWallMs: 20_000,
    });
    expect(outcome.stderr).not.toContain('\n    at ');
  });

  it('a Date far in the future is not used as a watermark', async () => {
    const far = 'Tue, 01 Jan 2999 00:00:00 GMT';
    stack.route('GET', `${STORAGE}/tokens/verify`, { ...verifyAnswer(), headers: { Date: far } });
    await expectContained(await runJob({}, stack.config({ changedSince: 'lastRun' })), {
      code: 2,
      sentence: /Date header \(2999-01-01T00:00:00\.000Z\) is \d+ day\(s\) ahead/,
      maxWallMs: 20_000,
    });
  });

  it('an answer without a Date header: the local clock is not used as a watermark', async () => {
    stack.route('GET', `${STORAGE}/tokens/verify`, {
      status: 200,
      respond: (res) => {
        res.sendDate = false;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(hostileTokenInfo()));
      },
    });
    await expectContained(await runJob({}, stack.config({ changedSince: 'lastRun' })), {
      code: 2,
      sentence: /answer to GET \/v2\/storage\/tokens\/verify carried no readable Date header/,
      maxWallMs: 20_000,
    });
  });
});

/** A table of the bucket `in.c-src` with the name the server chose. */
function tableNamed(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...tableJson(), id: `in.c-src.${name}`, name, ...extra };
}

/** What the tests read of a sync action's document. */
interface Doc {
  readonly tables?: { readonly name?: string; readonly source?: string }[];
  readonly warnings?: string[];
}

/** A table name shaped like a Storage API token, as a hostile or careless source may list. */
const TOKEN_NAME = '1234-5678-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789ABCD';

describe('table names from the server are checked', () => {
  beforeEach(() => {
    stack.route('GET', `${STORAGE}/buckets/in.c-src/tables`, {
      status: 200,
      body: [tableJson(), tableNamed(TOKEN_NAME), tableNamed('')],
    });
  });

  it('a pattern skips a table named like a token, or with no name, with a warning that masks it', async () => {
    const outcome = await runJob({}, stack.config({ name: '*' }));
    expect(outcome.stderr).toBe('');
    expect(outcome.code).toBe(0);
    expect(outcome.tables).toEqual(['t.csv.manifest', 't.csv/part-00000.csv.gz']);
    expect(outcome.stdout).toContain(
      'The pattern \\"*\\" (tables[0]) skips the source table \\"[hidden]\\": its name looks like a Storage API token',
    );
    expect(outcome.stdout).toContain(
      'The pattern \\"*\\" (tables[0]) skips the source table \\"\\": its name is empty',
    );
    const state = JSON.parse(readFileSync(join(outcome.dataDir, 'out', 'state.json'), 'utf8')) as {
      tables: Record<string, unknown>;
    };
    expect(Object.keys(state.tables)).toEqual(['in.c-src.t']);
    // Only the table with a valid name was exported.
    const exports = stack.server.requests.filter((r) => r.path.endsWith('/export-async'));
    expect(exports.map((r) => r.path)).toEqual([`${STORAGE}/tables/in.c-src.t/export-async`]);
    await expectNoSecrets([...stack.secrets, TOKEN_NAME], outcome, outcome.dataDir);
  });

  it.each([
    ['list', (doc: Doc) => doc.tables?.map((t) => t.name)],
    ['sourceInfo', (doc: Doc) => doc.tables?.map((t) => t.name)],
    ['tableOptions', (doc: Doc) => (doc as unknown as { value: string }[]).map((o) => o.value)],
    ['plan', (doc: Doc) => doc.tables?.map((t) => t.source)],
  ])('the sync action %s leaves such tables out', async (name, tablesOf) => {
    const dataDir = await makeDataDir(stack.config({ name: '*' }));
    dirs.push(dataDir);
    const outcome = await runJobProcess(['action', name, '--data', dataDir], { env: stack.env });
    expect(outcome.stderr).toBe('');
    expect(outcome.code).toBe(0);
    const doc = JSON.parse(outcome.stdout) as Doc;
    expect(tablesOf(doc)).toEqual([name === 'plan' ? 'in.c-src.t' : 't']);
    if (name === 'plan') {
      expect(doc.warnings).toEqual([
        expect.stringContaining('skips the source table "": its name is empty'),
        expect.stringContaining('skips the source table "[hidden]": its name looks like'),
      ]);
    }
    await expectNoSecrets([...stack.secrets, TOKEN_NAME], outcome, dataDir);
  });

  it('a sync action masks a token-shaped value in an answer (here a key column)', async () => {
    stack.route('GET', `${STORAGE}/buckets/in.c-src/tables`, {
      status: 200,
      body: [tableNamed('t', { primaryKey: [TOKEN_NAME] })],
    });
    const dataDir = await makeDataDir(stack.config());
    dirs.push(dataDir);
    const outcome = await runJobProcess(['action', 'list', '--data', dataDir], { env: stack.env });
    expect(outcome.code).toBe(0);
    expect(JSON.parse(outcome.stdout)).toEqual({
      tables: [{ name: 't', primaryKey: ['[hidden]'] }],
    });
  });
});

/** A Storage token: its project and token ids are public, the 40 characters after them secret. */
const SHAPED_TOKEN = '4242-67319-ca11ab1eca11ab1e00000000000000000000000b';
const SECRET_PART = 'ca11ab1eca11ab1e00000000000000000000000b';

/** The 202 answer of an export job that has already ended: `fields` give its status and outcome. */
function exportJobAnswer(fields: Record<string, unknown>): { status: number; body: unknown } {
  return {
    status: 202,
    body: {
      id: 100,
      operationName: 'tableExport',
      tableId: 'in.c-src.t',
      createdTime: new Date().toISOString(),
      startTime: null,
      endTime: null,
      runId: null,
      ...fields,
    },
  };
}

/** An export job answer that failed with `message`. */
function failedExport(message: string): { status: number; body: unknown } {
  return exportJobAnswer({
    status: 'error',
    error: { code: 'storage.x', message, exceptionId: 'exception-1' },
    results: null,
  });
}

describe('secrets the stack echoes in other shapes are masked', () => {
  it("an export job's error that echoes the token's 40-character secret part alone", async () => {
    stack.route(
      'POST',
      `${STORAGE}/tables/in.c-src.t/export-async`,
      failedExport(`Token ${SECRET_PART} of project 4242 may not export`),
    );
    const outcome = await runJob({}, stack.config({}, { '#token': SHAPED_TOKEN }));
    expect(outcome.stderr).toContain('Token [hidden] of project 4242 may not export');
    expect(outcome.code).toBe(2);
    await expectNoSecrets([...stack.secrets, SHAPED_TOKEN], outcome, outcome.dataDir);
  });

  it('a token with a quote and a backslash, echoed by a failed export, is masked in the JSON log and the summary file', async () => {
    const quotedToken = '4242-67319-ab"cd\\ef';
    stack.route(
      'POST',
      `${STORAGE}/tables/in.c-src.t/export-async`,
      failedExport(`bad token ${quotedToken}`),
    );
    const dataDir = await makeDataDir(stack.config({}, { '#token': quotedToken }));
    dirs.push(dataDir);
    const summaryPath = join(dataDir, 'summary.json');
    const outcome = await runJobProcess(
      ['--data', dataDir, '--log-format', 'json', '--summary-file', summaryPath],
      { env: stack.env },
    );
    expect(outcome.code).toBe(2);
    const summary = JSON.parse(readFileSync(summaryPath, 'utf8')) as {
      tables: { error: string | null }[];
    };
    expect(summary.tables[0]?.error).toContain('bad token [hidden]');
    await expectNoSecrets([...stack.secrets, quotedToken], outcome, dataDir);
  });

  it("a pattern skips a source table whose name holds the token's secret part, with a warning that masks it", async () => {
    stack.route('GET', `${STORAGE}/buckets/in.c-src/tables`, {
      status: 200,
      body: [tableJson(), tableNamed(`c_${SECRET_PART}`)],
    });
    const outcome = await runJob({}, stack.config({ name: '*' }, { '#token': SHAPED_TOKEN }));
    expect(outcome.stderr).toBe('');
    expect(outcome.code).toBe(0);
    expect(outcome.tables).toEqual(['t.csv.manifest', 't.csv/part-00000.csv.gz']);
    expect(outcome.stdout).toContain(
      'skips the source table \\"c_[hidden]\\": its name holds a token of config.json or its secret part',
    );
    const exports = stack.server.requests.filter((r) => r.path.endsWith('/export-async'));
    expect(exports.map((r) => r.path)).toEqual([`${STORAGE}/tables/in.c-src.t/export-async`]);
    await expectNoSecrets([...stack.secrets, SHAPED_TOKEN], outcome, outcome.dataDir);
  });
});

describe('platform mode: names and metadata in out/tables', () => {
  function serveTable(table: Record<string, unknown>): void {
    stack.route('GET', `${STORAGE}/buckets/in.c-src/tables`, { status: 200, body: [table] });
    stack.route('GET', `${STORAGE}/tables/in.c-src.t`, { status: 200, body: table });
  }

  it("a column named with the token's secret part is exit 1 before any export, naming the table", async () => {
    serveTable({ ...tableJson(), columns: ['id', `c_${SECRET_PART}`] });
    const outcome = await runJob({}, stack.config({}, { '#token': SHAPED_TOKEN }));
    await expectContained(outcome, {
      code: 1,
      sentence:
        /^The table "in\.c-src\.t" has a column whose name holds a secret or looks like a token, which the manifest would show: rename the column in the source project, or leave it out with "columns"\.$/m,
      maxWallMs: 20_000,
    });
    expect(stack.server.requests.some((r) => r.path.endsWith('/export-async'))).toBe(false);
    await expectNoSecrets([SHAPED_TOKEN], outcome, outcome.dataDir);
  });

  it('a column named like a credential of the export file is exit 1 once the file names it', async () => {
    serveTable({ ...tableJson(), columns: ['id', S3_SECRET] });
    const outcome = await runJob();
    await expectContained(outcome, {
      code: 1,
      sentence: /^Table "in\.c-src\.t" failed: The table "in\.c-src\.t" has a column whose name/m,
      maxWallMs: 20_000,
    });
  });

  it.each(['legacy', 'native'])(
    'extractMetadata: a secret or a token in a metadata value is written as [hidden] (%s manifest)',
    async (format) => {
      const echo = `token ${SHAPED_TOKEN} part ${SECRET_PART} s3 ${S3_SECRET} other 1-2-${'A'.repeat(40)}`;
      serveTable({
        ...tableJson(),
        metadata: [{ key: 'KBC.description', value: echo, provider: 'user' }],
        columnMetadata: { id: [{ key: 'note', value: echo, provider: 'user' }] },
      });
      const config = stack.config({ extractMetadata: true }, { '#token': SHAPED_TOKEN }) as Record<
        string,
        unknown
      >;
      const outcome = await runJob(
        {},
        format === 'native'
          ? { ...config, storage: { output: { data_type_support: 'hints' } } }
          : config,
      );
      expect(outcome.stderr).toBe('');
      expect(outcome.code).toBe(0);
      const manifest = readFileSync(
        join(outcome.dataDir, 'out', 'tables', 't.csv.manifest'),
        'utf8',
      );
      expect(Object.keys(JSON.parse(manifest) as object)).toContain(
        format === 'native' ? 'description' : 'metadata',
      );
      expect(manifest).toContain('token [hidden] part [hidden] s3 [hidden] other [hidden]');
      await expectNoSecrets([...stack.secrets, SHAPED_TOKEN], outcome, outcome.dataDir);
    },
  );
});

describe('an unreachable stack fails fast', () => {
  it('connection refused on the first call: exit 1 within 15 s, naming the URL', async () => {
    const port = await closedPort();
    const url = `http://127.0.0.1:${port}`;
    const outcome = await runJob(
      {},
      {
        parameters: { '#token': HOSTILE_TOKEN, url, tables: [{ name: 't' }] },
      },
    );
    await expectContained(outcome, {
      code: 1,
      sentence: new RegExp(`^Cannot reach the Storage API at ${url}: the connection was refused`),
      maxWallMs: 15_000,
    });
    expect(outcome.stdout).not.toContain('retrying');
  });

  it('a host name that does not resolve: exit 1 at once, naming the URL and DNS', async () => {
    const url = 'https://kbc-table-sync-test.invalid';
    const outcome = await runJob(
      {},
      { parameters: { '#token': HOSTILE_TOKEN, url, tables: [{ name: 't' }] } },
    );
    await expectContained(outcome, {
      code: 1,
      // ENOTFOUND here; a resolver that cannot be reached says EAI_AGAIN.
      sentence: new RegExp(
        `^Cannot reach the Storage API at ${url}: the host name (does not exist|could not be resolved \\(DNS\\))`,
      ),
      maxWallMs: 15_000,
    });
    expect(outcome.stdout).not.toContain('retrying');
  });

  it('a certificate this machine does not trust: exit 1 at once, naming the URL and TLS', async () => {
    const server = createTlsServer({
      cert: readFileSync(join(TLS_DIR, 'localhost.crt')),
      key: readFileSync(join(TLS_DIR, 'localhost.key')),
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const url = `https://127.0.0.1:${port}`;
      const outcome = await runJob(
        {},
        { parameters: { '#token': HOSTILE_TOKEN, url, tables: [{ name: 't' }] } },
      );
      await expectContained(outcome, {
        code: 1,
        sentence: new RegExp(
          `^Cannot reach the Storage API at ${url}: the TLS connection failed \\((DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)\\)`,
        ),
        maxWallMs: 15_000,
      });
      expect(outcome.stdout).not.toContain('retrying');
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('plain HTTP where the URL says https: exit 1 at once, the TLS handshake failed', async () => {
    const url = stack.url.replace(/^http:/, 'https:');
    const outcome = await runJob(
      {},
      { parameters: { '#token': HOSTILE_TOKEN, url, tables: [{ name: 't' }] } },
    );
    await expectContained(outcome, {
      code: 1,
      sentence: new RegExp(`^Cannot reach the Storage API at ${url}: the TLS`),
      maxWallMs: 15_000,
    });
  });

  it('SIGTERM while waiting between retries stops the job within 2 s', async () => {
    stack.route('GET', `${STORAGE}/buckets/in.c-src/tables`, {
      status: 503,
      body: { error: 'busy' },
      headers: { 'Retry-After': '30' },
    });
    const outcome = await runJob({ KBC_TABLE_SYNC_RETRY_AFTER_CAP_MS: '30000' }, stack.config(), {
      signalWhen: { pattern: /retrying/, signal: 'SIGTERM' },
    });
    expect(outcome.code).toBe(2);
    expect(outcome.exitAfterSignalMs).toBeLessThan(2_000);
    expect(outcome.stderr).toMatch(/Received SIGTERM/);
    expect(outcome.tables).toEqual([]);
  });
});

describe('signals are honoured in every phase', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)(
    '%s during a slice transfer: stopped within 2 s, nothing in out/tables',
    async (signal) => {
      const slice = gzipSync(Buffer.from(SLICE_CSV));
      stack.route(
        'GET',
        SLICE_PATH,
        streamed({ 'Content-Length': String(slice.length) }, trickle(slice, 1000)),
      );
      const outcome = await runJob({}, stack.config(), {
        signalWhen: { pattern: /Exporting/, signal },
      });
      expect(outcome.code).toBe(2);
      expect(outcome.exitAfterSignalMs).toBeLessThan(2_000);
      expect(outcome.stderr).toMatch(new RegExp(`Received ${signal}`));
      expect(outcome.tables).toEqual([]);
    },
  );
});

function verifyAnswer() {
  return {
    status: 200,
    body: hostileTokenInfo(),
  };
}

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
