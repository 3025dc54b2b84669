/**
 * At home in Keboola and in a terminal (issue 13): the runner's logging contracts (standard and
 * GELF), the UI's sync actions, whole-bucket patterns, the CLI details and `--summary-file`.
 */
import { mkdir, readFile, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SummaryFileDocument } from '../../src/summary-file.js';
import { useEmulator } from '../helpers/emulator.js';
import { readSlicedTable } from '../helpers/output.js';
import { listFiles, makeDataDir, removeDir, runCli, type CliResult } from '../helpers/run-cli.js';
import { startGelfListener } from '../helpers/gelf-listener.js';
import { expectNoSecrets } from '../helpers/secret-scan.js';
import { TOKENS, platformSeed } from './platform-fixtures.js';

/** A read-only token of the same bucket that expires in 3 days: the run warns about it. */
const EXPIRING_TOKEN = '301-3010-0000000000000000000000000000000000000010';

function seed() {
  const nowSeconds = Math.floor(Date.now() / 1000);
  const base = platformSeed(nowSeconds);
  const project = base.projects[0]!;
  const expires = new Date(Date.now() + 3 * 86_400_000).toISOString().replace(/\.\d+Z$/, '+0000');
  return {
    ...base,
    projects: [
      {
        ...project,
        tokens: [
          ...(project.tokens ?? []),
          { token: EXPIRING_TOKEN, bucketPermissions: { 'in.c-sales': 'read' as const }, expires },
        ],
      },
    ],
  };
}

const emulator = useEmulator(seed());
const SECRETS = [...Object.values(TOKENS), EXPIRING_TOKEN];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map(removeDir));
});

async function dataDirWith(
  parameters: Record<string, unknown>,
  root: Record<string, unknown> = {},
) {
  const dir = await makeDataDir({
    parameters: { '#token': TOKENS.read, url: emulator.url, ...parameters },
    ...root,
  });
  dirs.push(dir);
  return dir;
}

async function run(args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  const result = await runCli(args, {
    env: { AWS_ENDPOINT_URL_S3: emulator.url, KBC_TABLE_SYNC_POLL_INITIAL_MS: '20', ...env },
    timeoutMs: 60_000,
  });
  await expectNoSecrets([...SECRETS, ...emulator.control.issuedSecrets()], result);
  return result;
}

/** Storage API requests the emulator has served so far. */
function totalRequests(): number {
  return Object.values(emulator.control.stats().requests).reduce((sum, n) => sum + n, 0);
}

const isJson = (line: string) => {
  try {
    JSON.parse(line);
    return line.trim().startsWith('{') || line.trim().startsWith('[');
  } catch {
    return false;
  }
};

describe('logging under the Keboola runner', () => {
  it('standard logging: text lines on stdout, a Warning: line, nothing on stderr', async () => {
    const dataDir = await dataDirWith({
      '#token': EXPIRING_TOKEN,
      tables: [{ name: 'customers' }],
    });
    const result = await run(['--data', dataDir], { KBC_RUNID: '123.456', KBC_DATADIR: dataDir });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe('');
    const lines = result.stdout.split('\n').filter((line) => line !== '');
    expect(lines.filter(isJson)).toEqual([]);
    const warnings = lines.filter((line) => line.startsWith('Warning: '));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^Warning: The source token expires in about 3 days/);
    expect(lines.some((line) => /^table\s+destination\s+status\s+rows\s+size/.test(line))).toBe(
      true,
    );
  });

  it('a failing run under the runner writes its one sentence to stderr', async () => {
    const dataDir = await dataDirWith({ tables: [{ name: 'nope' }] });
    const result = await run(['--data', dataDir], { KBC_RUNID: '123.457' });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      'The table "nope" was not found in the bucket "in.c-sales".',
    ]);
    expect(result.stdout.split('\n').filter(isJson)).toEqual([]);
  });

  it('GELF over TCP: frames at levels 6 and 4 with the required fields and no secret', async () => {
    const gelf = await startGelfListener();
    const { frames } = gelf;
    try {
      const dataDir = await dataDirWith({
        '#token': EXPIRING_TOKEN,
        tables: [{ name: 'customers' }],
      });
      const result = await run(['--data', dataDir], {
        KBC_RUNID: '123.458',
        KBC_LOGGER_ADDR: '127.0.0.1',
        KBC_LOGGER_PORT: String(gelf.port),
      });
      // In process, main() returns once gelf-pro has written the last frame; the listener may
      // read it a moment later. Wait (bounded) for the summary, the run's last record.
      await gelf.waitFor('full_message');
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toBe('');
      expect(result.stdout).toBe('');
      const messages = frames.map((frame) => JSON.parse(frame) as Record<string, unknown>);
      for (const message of messages) {
        expect(message).toMatchObject({ version: '1.1' });
        expect(message.host).toEqual(expect.any(String));
        expect(message.timestamp).toEqual(expect.any(Number));
        expect(message.short_message).toEqual(expect.any(String));
      }
      const levels = new Set(messages.map((message) => message.level));
      expect(levels).toContain(6);
      expect(levels).toContain(4);
      expect(messages.find((message) => message.level === 4)?.short_message as string).toMatch(
        /^The source token expires/,
      );
      expect(
        messages.some(
          (m) => typeof m.full_message === 'string' && m.full_message.includes('destination'),
        ),
      ).toBe(true);
      await expectNoSecrets(SECRETS, { stdout: frames.join('\n') });
    } finally {
      await gelf.close();
    }
  });

  it('GELF: KBC_COMPONENT_RUN_MODE=debug sends the debug lines at level 7, without it none', async () => {
    const gelf = await startGelfListener();
    try {
      const dataDir = await dataDirWith({ tables: [{ name: 'customers' }] });
      const env = { KBC_LOGGER_ADDR: '127.0.0.1', KBC_LOGGER_PORT: String(gelf.port) };
      const plain = await run(['--data', dataDir], { ...env, KBC_RUNID: '123.460' });
      expect(plain.code, plain.stderr).toBe(0);
      await gelf.waitFor('full_message');
      const framesOfPlainRun = gelf.frames.length;
      const debugged = await run(['--data', dataDir], {
        ...env,
        KBC_RUNID: '123.461',
        KBC_COMPONENT_RUN_MODE: 'debug',
      });
      expect(debugged.code, debugged.stderr).toBe(0);
      await gelf.waitFor('"level":7');
      const levels = gelf.frames.map((frame) => (JSON.parse(frame) as { level: number }).level);
      expect(levels.slice(0, framesOfPlainRun)).not.toContain(7);
      expect(levels.slice(framesOfPlainRun)).toContain(7);
    } finally {
      await gelf.close();
    }
  });

  it('GELF: an application error (exit 2) sends one line as its error event, the stack to stderr only', async () => {
    const gelf = await startGelfListener();
    emulator.control.addFault({
      kind: 'status',
      status: 400,
      method: 'POST',
      path: '/export-async',
      body: { error: 'Unexpected request.', code: 'storage.unexpected' },
    });
    try {
      const dataDir = await dataDirWith({ tables: [{ name: 'customers' }] });
      const result = await run(['--data', dataDir], {
        KBC_RUNID: '123.459',
        KBC_LOGGER_ADDR: '127.0.0.1',
        KBC_LOGGER_PORT: String(gelf.port),
      });
      await gelf.waitFor('StorageApiError');
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(
        /^Table "in\.c-sales\.customers" failed: StorageApiError: .*storage\.unexpected.*\n\s+at /,
      );
      const messages = gelf.frames.map((frame) => JSON.parse(frame) as Record<string, unknown>);
      const errors = messages.filter((message) => message.level === 3);
      expect(errors).toHaveLength(1);
      expect(errors[0]?.short_message).toMatch(
        /^Table "in\.c-sales\.customers" failed: StorageApiError: .*storage\.unexpected/,
      );
      expect(errors[0]).not.toHaveProperty('full_message');
      const texts = messages.map((m) => `${String(m.short_message)}\n${String(m.full_message)}`);
      expect(texts.filter((text) => /\n\s+at /.test(text))).toEqual([]);
    } finally {
      emulator.control.clearFaults();
      await gelf.close();
    }
  });

  it('outside Keboola: JSON lines when piped, text with --log-format text', async () => {
    const dataDir = await dataDirWith({ tables: [{ name: 'customers' }] });
    const json = await run(['--data', dataDir]);
    expect(json.code, json.stderr).toBe(0);
    const lines = json.stdout.split('\n').filter((line) => line !== '');
    expect(lines.every(isJson)).toBe(true);
    const text = await run(['--data', dataDir, '--log-format', 'text']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout.split('\n').filter(isJson)).toEqual([]);
    expect(text.stdout).toMatch(/^Summary$/m);
  });
});

describe('sync actions for the UI', () => {
  it('tableOptions lists every table of the bucket as value and label', async () => {
    const dataDir = await dataDirWith({ tableName: '' }, { action: 'tableOptions' });
    const result = await run(['--data', dataDir]);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([
      { value: 'customers', label: 'customers (3 rows, primary key id)' },
      { value: 'empty', label: 'empty (0 rows, primary key id)' },
      { value: 'events', label: 'events (2 rows, primary key id)' },
      { value: 'orders', label: 'orders (2,500 rows, primary key id)' },
    ]);
    expect(await listFiles(join(dataDir, 'out'))).toEqual([]);
  });

  it('columnOptions lists the columns of the row table, root credentials merged in', async () => {
    const dataDir = await dataDirWith(
      { tableName: 'orders', primaryKey: [], columns: [] },
      { action: 'columnOptions' },
    );
    const result = await run(['--data', dataDir]);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([
      { value: 'id', label: 'id (primary key)' },
      { value: 'customer', label: 'customer' },
      { value: 'amount', label: 'amount' },
    ]);
    const none = await run(['action', 'columnOptions', '--data', await dataDirWith({})]);
    expect(JSON.parse(none.stdout)).toEqual([]);
    const missing = await dataDirWith({ tableName: 'nope' }, { action: 'columnOptions' });
    const failed = await run(['--data', missing]);
    expect(failed.code).toBe(1);
    expect(failed.stderr.trim()).toBe('The table "nope" was not found in the bucket "in.c-sales".');
    // A full id of another bucket is refused as the run refuses it, not read as a bare name.
    const elsewhere = await dataDirWith(
      { tableName: 'in.c-other.orders' },
      { action: 'columnOptions' },
    );
    const refused = await run(['--data', elsewhere]);
    expect({ code: refused.code, stdout: refused.stdout }).toEqual({ code: 1, stdout: '' });
    expect(refused.stderr.trim()).toBe(
      'The table "in.c-other.orders" is not in the bucket "in.c-sales", the only bucket the source token can read.',
    );
  });

  it('a sync action past its deadline exits 1 naming the call that did not answer', async () => {
    emulator.control.addFault({ kind: 'latency', ms: 4_000, path: 'tokens/verify', count: 1 });
    const dataDir = await dataDirWith({});
    const startedMs = Date.now();
    const result = await run(['action', 'testConnection', '--data', dataDir], {
      KBC_TABLE_SYNC_ACTION_DEADLINE_MS: '300',
    });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim()).toBe(
      `The sync action "testConnection" did not finish within 0.3 s: the source Storage API ${emulator.url} did not answer verifyToken().`,
    );
    // Generous bound: the deadline ends the process well before the stalled answer.
    expect(Date.now() - startedMs).toBeLessThan(30_000);
  });

  it('a sync action past its deadline says the call kept failing when it was answered 503', async () => {
    emulator.control.addFault({
      kind: 'status',
      status: 503,
      body: { error: 'Service Unavailable' },
      path: 'tokens/verify',
      count: 1_000,
    });
    const dataDir = await dataDirWith({});
    try {
      // Retries every 100 ms: the deadline comes while they still go on.
      const result = await run(['action', 'testConnection', '--data', dataDir], {
        KBC_TABLE_SYNC_ACTION_DEADLINE_MS: '500',
        KBC_TABLE_SYNC_RETRY_BASE_MS: '100',
        KBC_TABLE_SYNC_RETRY_MAX_MS: '100',
      });
      expect({ code: result.code, stdout: result.stdout }).toEqual({ code: 1, stdout: '' });
      expect(result.stderr.trim()).toBe(
        `The sync action "testConnection" did not finish within 0.5 s: the source Storage API ${emulator.url} kept failing verifyToken() (last failure: Storage API GET /v2/storage/tokens/verify answered 503: Service Unavailable).`,
      );
    } finally {
      emulator.control.clearFaults();
    }
  });
});

describe('the command line', () => {
  it('--version prints the version of package.json', async () => {
    const packageJson = JSON.parse(
      await readFile(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as { version: string };
    const result = await run(['--version']);
    expect(result).toMatchObject({ code: 0, stdout: `${packageJson.version}\n`, stderr: '' });
  });

  it('an unknown action exits 1 and lists the valid ones; action --help works', async () => {
    const dataDir = await dataDirWith({});
    const result = await run(['action', 'lst', '--data', dataDir]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      'Unknown action "lst": use one of list, info, sourceInfo, testConnection, plan, tableOptions, columnOptions.',
    );
    const help = await run(['action', '--help']);
    expect(help.code).toBe(0);
    // Only plan selects tables: the usage says so (docs/sync-actions.md).
    expect(help.stdout).toMatch(
      /^kbc-table-sync action <name> \[--data DIR\]\nkbc-table-sync action plan [^\n]*\[--shard INDEX\/COUNT\]\n/,
    );
    expect(help.stdout).toMatch(/^ {2}tableOptions {2}/m);
  });
});

describe('whole-bucket sync', () => {
  interface PlanDocument {
    warnings: string[];
    tables: {
      source: string;
      pattern?: string;
      destination: string;
      mode: string;
      primaryKey: string[];
    }[];
  }

  async function plan(parameters: Record<string, unknown>): Promise<PlanDocument> {
    const dataDir = await dataDirWith(parameters);
    const result = await run(['--data', dataDir, '--dry-run']);
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as PlanDocument;
  }

  it('"*" expands to every table in name order; plan shows the expansion', async () => {
    const document = await plan({ tables: [{ name: '*' }] });
    expect(document.tables.map((t) => [t.source, t.pattern])).toEqual([
      ['in.c-sales.customers', '*'],
      ['in.c-sales.empty', '*'],
      ['in.c-sales.events', '*'],
      ['in.c-sales.orders', '*'],
    ]);
  });

  it('a prefix, exclude, an explicit override and a pattern matching nothing', async () => {
    const document = await plan({
      tables: [
        { name: 'e*', incremental: true, primaryKey: 'source', changedSince: 'lastRun' },
        { name: 'events', destination: 'events_by_hand' },
        { name: 'zz_*' },
      ],
      exclude: ['empty'],
    });
    expect(document.tables.map((t) => [t.source, t.pattern ?? null, t.destination])).toEqual([
      ['in.c-sales.events', null, 'out/tables/events_by_hand.csv'],
    ]);
    expect(document.warnings).toEqual([
      'The pattern "e*" (tables[0]) matches no table of the bucket "in.c-sales" after exclude.',
      'The pattern "zz_*" (tables[2]) matches no table of the bucket "in.c-sales" after exclude.',
    ]);
  });

  it('a run of "*" with primaryKey "source" and incremental upserts each table on its own key', async () => {
    const dataDir = await dataDirWith({
      tables: [{ name: '*', incremental: true, primaryKey: 'source' }],
      exclude: ['orders', 'e*'],
    });
    const summaryFile = join(dataDir, 'summary.json');
    const result = await run(['--data', dataDir, '--summary-file', summaryFile]);
    expect(result.code, result.stderr).toBe(0);
    const customers = await readSlicedTable(dataDir, 'customers.csv');
    expect(customers.manifest).toMatchObject({ primary_key: ['id'], incremental: true });
    expect(customers.rows).toHaveLength(3);
    expect(await listFiles(join(dataDir, 'out', 'tables'))).toEqual(
      expect.not.arrayContaining([expect.stringMatching(/^(orders|events|empty)/)]),
    );
    const document = JSON.parse(await readFile(summaryFile, 'utf8')) as SummaryFileDocument;
    expect(document).toMatchObject({
      version: 1,
      status: 'success',
      exitCode: 0,
      error: null,
      totals: { tables: 1, succeeded: 1, failed: 0, skipped: 0, rows: 3 },
      tables: [
        {
          source: 'in.c-sales.customers',
          destination: 'out/tables/customers.csv',
          pattern: '*',
          mode: 'upsert',
          window: { since: null, until: null },
          status: 'success',
          rows: 3,
          error: null,
        },
      ],
    });
  });
});

describe('--summary-file on a failed run', () => {
  it('writes the failure and its sentence, with no table', async () => {
    const dataDir = await dataDirWith({ tables: [{ name: 'nope' }] });
    const summaryFile = join(dataDir, 'summary.json');
    const result = await run(['--data', dataDir, '--summary-file', summaryFile]);
    expect(result.code).toBe(1);
    const document = JSON.parse(await readFile(summaryFile, 'utf8')) as SummaryFileDocument;
    expect(document).toMatchObject({
      status: 'failed',
      exitCode: 1,
      error: 'The table "nope" was not found in the bucket "in.c-sales".',
      totals: { tables: 0, rows: 0 },
      tables: [],
    });
  });

  it.each([
    ['KBC_RUNID', 'a\nb'],
    ['KBC_TABLE_SYNC_RETRY_BASE_MS', 'x'],
    ['KBC_TABLE_SYNC_SLICES_GLOBAL', 'x'],
    ['AWS_ENDPOINT_URL_S3', 'x'],
    ['KBC_TABLE_SYNC_MAX_CONFIG_MB', 'x'],
  ])('writes the failure of a run that %s=%j stops before anything runs', async (name, value) => {
    const dataDir = await dataDirWith({ tables: [{ name: 'customers' }] });
    const summaryFile = join(dataDir, 'summary.json');
    const result = await run(['--data', dataDir, '--summary-file', summaryFile], {
      [name]: value,
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(name);
    const document = JSON.parse(await readFile(summaryFile, 'utf8')) as SummaryFileDocument;
    expect(document).toMatchObject({
      status: 'failed',
      exitCode: 1,
      error: result.stderr.trim(),
      tables: [],
    });
  });

  it('refuses the sync action of config.json, records that failure and prints no plan', async () => {
    const dataDir = await dataDirWith({ tables: [{ name: 'customers' }] }, { action: 'plan' });
    const summaryFile = join(dataDir, 'summary.json');
    const requestsBefore = totalRequests();
    const result = await run(['--data', dataDir, '--summary-file', summaryFile]);
    expect({ code: result.code, stdout: result.stdout }).toEqual({ code: 1, stdout: '' });
    const sentence =
      '--summary-file cannot be used with the sync action "plan" that config.json names ("action"): a sync action copies nothing and only prints its JSON document. Run "kbc-table-sync --help" for usage.';
    expect(result.stderr.trim()).toBe(sentence);
    expect(totalRequests()).toBe(requestsBefore);
    const document = JSON.parse(await readFile(summaryFile, 'utf8')) as SummaryFileDocument;
    expect(document).toMatchObject({ status: 'failed', exitCode: 1, error: sentence, tables: [] });
  });

  it('refuses a summary path whose folder does not exist, before anything runs', async () => {
    const dataDir = await dataDirWith({ tables: [{ name: 'customers' }] });
    const result = await run(['--data', dataDir, '--summary-file', join(dataDir, 'no', 's.json')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^--summary-file ".*s\.json": the folder ".*no" does not exist\.\n$/,
    );
    expect(await listFiles(join(dataDir, 'out'))).toEqual([]);
  });

  it('refuses a summary path whose PATH.tmp is a folder, before anything runs', async () => {
    const dataDir = await dataDirWith({ tables: [{ name: 'customers' }] });
    const summaryFile = join(dataDir, 's.json');
    await mkdir(`${summaryFile}.tmp`);
    const result = await run(['--data', dataDir, '--summary-file', summaryFile]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `--summary-file ${JSON.stringify(summaryFile)} is written through ${JSON.stringify(`${summaryFile}.tmp`)}, which is a folder: remove it or give another path.\n`,
    );
    expect(await listFiles(join(dataDir, 'out'))).toEqual([]);
  });

  it.each([
    ['config.json', (dir: string) => join(dir, 'config.json')],
    ['in/state.json', (dir: string) => join(dir, 'in', 'state.json')],
    ['out/state.json', (dir: string) => join(dir, 'out', 'state.json')],
    ['a manifest in out/tables', (dir: string) => join(dir, 'out', 'tables', 'x.csv.manifest')],
    ['the data folder itself', (dir: string) => dir],
  ])(
    'refuses a summary path at %s, before anything runs, and changes nothing',
    async (_what, pathIn) => {
      const dataDir = await dataDirWith({ tables: [{ name: 'customers' }] });
      const config = await readFile(join(dataDir, 'config.json'), 'utf8');
      const result = await run(['--data', dataDir, '--summary-file', pathIn(dataDir)]);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        /^--summary-file ".*" (lies in the data folder's config\.json, in\/ or out\/|is a folder)/,
      );
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(await readFile(join(dataDir, 'config.json'), 'utf8')).toBe(config);
      expect(await listFiles(join(dataDir, 'out'))).toEqual([]);
    },
  );
});

describe('the data folder and the environment', () => {
  it('a config.json that is a link to a device is exit 1, before it is read', async () => {
    const dataDir = await dataDirWith({ tables: [{ name: 'customers' }] });
    await rm(join(dataDir, 'config.json'));
    await symlink('/dev/zero', join(dataDir, 'config.json'));
    const result = await run(['--data', dataDir]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      `${join(dataDir, 'config.json')} is not a regular file (a folder, device or pipe): put the configuration there as a file.`,
    );
  });

  it.each(['abc', '0', '-1'])(
    'KBC_TABLE_SYNC_MAX_CONFIG_MB=%s is exit 1 naming the variable',
    async (value) => {
      const dataDir = await dataDirWith({ tables: [{ name: 'customers' }] });
      const result = await run(['--data', dataDir], { KBC_TABLE_SYNC_MAX_CONFIG_MB: value });
      expect(result.code).toBe(1);
      expect(result.stderr.trim()).toBe(
        'The environment variable KBC_TABLE_SYNC_MAX_CONFIG_MB is not a positive number: give one in its unit (docs/limits.md), or leave it unset for the default.',
      );
      expect(await listFiles(join(dataDir, 'out'))).toEqual([]);
    },
  );

  it.each([
    ['KBC_TABLE_SYNC_RETRY_BUDGET_MS', 'abc', 'a positive number'],
    ['KBC_TABLE_SYNC_JOB_TIMEOUT_MS', '0', 'a positive number'],
    ['KBC_TABLE_SYNC_POLL_MAX_MS', '-5', 'a positive number'],
    ['KBC_TABLE_SYNC_CLAIM_LEASE_MS', '10 min', 'a positive number'],
    ['KBC_TABLE_SYNC_REPEAT_SIGNAL_MS', 'soon', 'a number of 0 or more'],
    ['KBC_TABLE_SYNC_ACTION_DEADLINE_MS', '25 s', 'a positive number'],
    ['KBC_TABLE_SYNC_PROGRESS_MS', '0', 'a positive number'],
  ])('timing knob %s=%s is exit 1 naming the variable', async (name, value, what) => {
    const dataDir = await dataDirWith({ tables: [{ name: 'customers' }] });
    const result = await run(['--data', dataDir], { [name]: value });
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      `The environment variable ${name} is not ${what}: give one in milliseconds (docs/faults.md, Timing knobs), or leave it unset for the default.`,
    );
    expect(await listFiles(join(dataDir, 'out'))).toEqual([]);
  });

  it.each([
    [
      'KBC_TABLE_SYNC_SLICE_PROGRESS_WINDOW_S',
      '3000000',
      'is above 2147483.647, the largest value it takes (a Node.js timer waits at most 2147483647 ms): give one in its unit (docs/limits.md)',
    ],
    [
      'KBC_TABLE_SYNC_REQUEST_TIMEOUT_S',
      '3000000',
      'is above 2147483.647, the largest value it takes (a Node.js timer waits at most 2147483647 ms): give one in its unit (docs/limits.md)',
    ],
    [
      'KBC_TABLE_SYNC_ACTION_DEADLINE_MS',
      '3000000000',
      'is above 2147483647, the largest value it takes (a Node.js timer waits at most 2147483647 ms): give one in milliseconds (docs/faults.md, Timing knobs)',
    ],
    [
      'KBC_TABLE_SYNC_MAX_CONFIG_MB',
      '0.0000001',
      'is below 1, the smallest value it takes: give one in its unit (docs/limits.md)',
    ],
  ])(
    '%s=%s, out of its bounds, is exit 1 naming the variable and the bound',
    async (name, value, problem) => {
      const dataDir = await dataDirWith({ tables: [{ name: 'customers' }] });
      const result = await run(['--data', dataDir], { [name]: value });
      expect(result.code).toBe(1);
      expect(result.stderr.trim()).toBe(
        `The environment variable ${name} ${problem}, or leave it unset for the default.`,
      );
      expect(await listFiles(join(dataDir, 'out'))).toEqual([]);
    },
  );

  it.each([
    ['AWS_ENDPOINT_URL_S3', 'not a url'],
    ['AWS_ENDPOINT_URL', 'ftp://127.0.0.1:21'],
    ['STORAGE_EMULATOR_HOST', 'not a url'],
    ['AWS_ENDPOINT_URL_S3', 'http://user:secret-pass@127.0.0.1:9000/?x=1'],
  ])(
    'endpoint override %s=%j is exit 1 naming the variable, before any request',
    async (name, value) => {
      const dataDir = await dataDirWith({ tables: [{ name: 'customers' }] });
      const requestsBefore = totalRequests();
      const result = await run(['--data', dataDir], { AWS_ENDPOINT_URL_S3: '', [name]: value });
      expect(result.code).toBe(1);
      expect(result.stderr.trim()).toBe(
        `The environment variable ${name} is not an http(s) base URL: set it to the object store's address, such as http://127.0.0.1:9000 (docs/providers.md, Endpoint overrides), or unset it.`,
      );
      expect(totalRequests()).toBe(requestsBefore);
      expect(await listFiles(join(dataDir, 'out'))).toEqual([]);
    },
  );

  it.each([
    ['KBC_TABLE_SYNC_SLICES_PER_TABLE', 'many'],
    ['KBC_TABLE_SYNC_SLICES_GLOBAL', '-4'],
  ])('slice concurrency %s=%s is exit 1 naming the variable', async (name, value) => {
    const dataDir = await dataDirWith({ tables: [{ name: 'customers' }] });
    const result = await run(['--data', dataDir], { [name]: value });
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      `The environment variable ${name} is not a positive number: give the number of slices in flight (docs/performance.md), or leave it unset for the default.`,
    );
    expect(await listFiles(join(dataDir, 'out'))).toEqual([]);
  });

  it('KBC_TABLE_SYNC_ACTION_DEADLINE_MS is checked for a sync action, before any request', async () => {
    const dataDir = await dataDirWith({ tables: [{ name: 'customers' }] });
    const requestsBefore = totalRequests();
    const result = await run(['action', 'list', '--data', dataDir], {
      KBC_TABLE_SYNC_ACTION_DEADLINE_MS: 'soon',
    });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim()).toMatch(
      /^The environment variable KBC_TABLE_SYNC_ACTION_DEADLINE_MS is not a positive number/,
    );
    expect(totalRequests()).toBe(requestsBefore);
  });

  it('a timing knob is checked for the token commands too; KBC_TABLE_SYNC_REPEAT_SIGNAL_MS=0 is a value', async () => {
    const dataDir = await dataDirWith({ tables: [{ name: 'customers' }] });
    const token = await run(['token', 'inspect', '--data', dataDir], {
      KBC_TABLE_SYNC_RETRY_BASE_MS: 'fast',
    });
    expect(token.code).toBe(1);
    expect(token.stderr.trim()).toMatch(/^The environment variable KBC_TABLE_SYNC_RETRY_BASE_MS /);
    const result = await run(['--data', dataDir], { KBC_TABLE_SYNC_REPEAT_SIGNAL_MS: '0' });
    expect(result.code, result.stderr).toBe(0);
  });

  it('KBC_TABLE_SYNC_SLICE_RETRY_BASE_MS=soon is exit 1 naming the variable', async () => {
    const dataDir = await dataDirWith({ tables: [{ name: 'customers' }] });
    const result = await run(['--data', dataDir], { KBC_TABLE_SYNC_SLICE_RETRY_BASE_MS: 'soon' });
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      'The environment variable KBC_TABLE_SYNC_SLICE_RETRY_BASE_MS is not a positive number: give one in its unit (docs/limits.md), or leave it unset for the default.',
    );
    expect(await listFiles(join(dataDir, 'out'))).toEqual([]);
  });
});
