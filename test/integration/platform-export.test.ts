import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { useEmulator } from '../helpers/emulator.js';
import { readSlicedTable, sortRows, withoutTimestamp } from '../helpers/output.js';
import {
  exists,
  listFiles,
  makeDataDir,
  removeDir,
  runCli,
  type CliResult,
} from '../helpers/run-cli.js';
import { expectNoSecrets } from '../helpers/secret-scan.js';
import { PROJECT_ID, TOKENS, platformSeed } from './platform-fixtures.js';

const nowSeconds = Math.floor(Date.now() / 1000);
const emulator = useEmulator(platformSeed(nowSeconds));
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map(removeDir));
});

function config(parameters: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    storage: {},
    parameters: { '#token': TOKENS.read, url: emulator.url, ...parameters },
    action: 'run',
    ...extra,
  };
}

async function run(
  configJson: unknown,
  args: string[] = [],
): Promise<{ result: CliResult; dataDir: string }> {
  const dataDir = await makeDataDir(configJson);
  dirs.push(dataDir);
  // KBC_RUNID alone would choose the runner's text lines; these checks read the JSON log records.
  // A dry run logs nothing on stdout and refuses --log-format (docs/sync-actions.md).
  const logFormat = args.includes('--dry-run') ? [] : ['--log-format', 'json'];
  const result = await runCli(['--data', dataDir, ...logFormat, ...args], {
    env: { AWS_ENDPOINT_URL_S3: emulator.url, KBC_RUNID: 'run-platform-test' },
  });
  await expectNoSecrets(
    [...Object.values(TOKENS), ...emulator.control.issuedSecrets()],
    result,
    dataDir,
  );
  return { result, dataDir };
}

async function sourceRows(tableId: string) {
  return sortRows(withoutTimestamp(await emulator.control.tableRows(PROJECT_ID, tableId)));
}

function exportStarts(): number {
  return Object.entries(emulator.control.stats().jobStarts)
    .filter(([key]) => key.startsWith('tableExport'))
    .reduce((sum, [, count]) => sum + count, 0);
}

describe('platform mode', () => {
  it('writes sliced folders and manifests whose rows equal the source, for three tables', async () => {
    const { result, dataDir } = await run(
      config({
        tables: [
          { name: 'orders', incremental: true, primaryKey: ['id'] },
          {
            name: 'in.c-sales.customers',
            destination: 'out.c-copy.clients',
            extractMetadata: true,
          },
          { name: 'empty' },
        ],
      }),
    );
    expect(result.code, result.stderr).toBe(0);
    // The secret scan covered the object-store credentials issued for this run too.
    expect(emulator.control.objectStoreSecrets().length).toBeGreaterThan(0);
    const orders = await readSlicedTable(dataDir, 'orders.csv');
    expect(orders.slices.length).toBeGreaterThanOrEqual(3);
    expect(orders.manifest).toEqual({
      columns: ['id', 'customer', 'amount'],
      primary_key: ['id'],
      incremental: true,
    });
    expect(sortRows(orders.rows)).toEqual(await sourceRows('in.c-sales.orders'));

    const customers = await readSlicedTable(dataDir, 'out.c-copy.clients.csv');
    expect(customers.manifest).toEqual({
      destination: 'out.c-copy.clients',
      columns: ['id', 'name', 'note'],
      primary_key: [],
      incremental: false,
      metadata: [{ key: 'KBC.description', value: 'Customers' }],
      column_metadata: { id: [{ key: 'KBC.datatype.basetype', value: 'INTEGER' }] },
    });
    expect(sortRows(customers.rows)).toEqual(await sourceRows('in.c-sales.customers'));

    const empty = await readSlicedTable(dataDir, 'empty.csv');
    expect(empty.rows).toEqual([]);
    expect(empty.manifest.columns).toEqual(['id', 'value']);

    expect(await exists(join(dataDir, 'out', 'state.json'))).toBe(true);
    expect(await exists(join(dataDir, 'out', '.kbc-table-sync-tmp'))).toBe(false);
    const summaries = result.stdout.split('\n').filter((l) => l.includes('"summary"'));
    expect(summaries).toHaveLength(3);
  });

  it('asks the server’s time once per exported table, for its window; lastSuccessAt takes the same clock without asking again', async () => {
    emulator.control.resetStats();
    const startedMs = Date.now();
    const { result, dataDir } = await run(
      config({
        tables: [
          { name: 'orders', incremental: true, primaryKey: ['id'], changedSince: 'lastRun' },
          { name: 'empty', changedSince: 'lastRun' },
        ],
      }),
    );
    const endedMs = Date.now();
    expect(result.code, result.stderr).toBe(0);
    // One for the token check, one per table's window: none when a table finishes.
    expect(emulator.control.stats().requests['GET /v2/storage/tokens/verify']).toBe(3);
    const state = JSON.parse(await readFile(join(dataDir, 'out', 'state.json'), 'utf8')) as {
      tables: Record<string, { lastSuccessAt: string; watermark: number }>;
    };
    for (const entry of Object.values(state.tables)) {
      const finishedMs = Date.parse(entry.lastSuccessAt);
      // The Date header holds whole seconds: at most one second early.
      expect(finishedMs).toBeGreaterThanOrEqual(Math.floor(startedMs / 1000) * 1000 - 1000);
      expect(finishedMs).toBeLessThanOrEqual(endedMs);
      expect(finishedMs).toBeGreaterThanOrEqual(entry.watermark * 1000);
    }
  });

  it('debug: true in text lines names each request’s duration (docs/limits.md, Debug logging)', async () => {
    const dataDir = await makeDataDir(config({ debug: true, tables: [{ name: 'customers' }] }));
    dirs.push(dataDir);
    const result = await runCli(['--data', dataDir, '--log-format', 'text'], {
      env: { AWS_ENDPOINT_URL_S3: emulator.url },
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^GET \/v2\/storage\/tokens\/verify → 200 in \d+ ms$/m);
    expect(result.stdout).toMatch(/^GET aws \S+ → 200 in \d+ ms$/m);
  });

  it('sends changedSince "-1 day" as a unix timestamp and copies only the recent rows', async () => {
    await emulator.control.upsertRows(PROJECT_ID, 'in.c-sales.events', [
      { id: '3', kind: 'new' },
      { id: '1', kind: 'changed' },
    ]);
    const { result, dataDir } = await run(
      config({
        tables: [{ name: 'events', changedSince: '-1 day', incremental: true, primaryKey: ['id'] }],
      }),
    );
    expect(result.code, result.stderr).toBe(0);
    const events = await readSlicedTable(dataDir, 'events.csv');
    expect(sortRows(events.rows)).toEqual([
      { id: '1', kind: 'changed' },
      { id: '3', kind: 'new' },
    ]);
    const jobs = (await (
      await fetch(`${emulator.url}/v2/storage/jobs?limit=20`, {
        headers: { 'X-StorageApi-Token': TOKENS.master },
      })
    ).json()) as Array<{
      operationName: string;
      tableId: string;
      operationParams: { export?: { changedSince?: unknown } };
    }>;
    const exportJob = jobs.find(
      (j) => j.operationName === 'tableExport' && j.tableId === 'in.c-sales.events',
    );
    const since = exportJob?.operationParams.export?.changedSince;
    expect(Number.isInteger(Number(since))).toBe(true);
    expect(Math.abs(Number(since) - (nowSeconds - 86_400))).toBeLessThan(600);
  });

  it('warns in the run log, as plan does, that a full load with changedSince keeps only the window', async () => {
    const { result } = await run(config({ tables: [{ name: 'events', changedSince: 'lastRun' }] }));
    expect(result.code, result.stderr).toBe(0);
    const warnings = result.stdout
      .split('\n')
      .filter((line) => line.includes('"level":"warn"') || line.includes('"level":40'));
    expect(warnings.join('\n')).toContain(
      '\\"in.c-sales.events\\": A full load with changedSince replaces the destination with only the changed rows.',
    );
  });

  it('produces the manifests ex-storage would for its row configurations', async () => {
    const exStorage = (parameters: Record<string, unknown>) => ({
      storage: {},
      parameters: {
        '#token': TOKENS.read,
        url: `${emulator.url}/`,
        changedSince: '',
        incremental: false,
        primaryKey: [],
        fullSync: false,
        extractMetadata: false,
        ...parameters,
      },
      image_parameters: {},
      authorization: {},
      action: 'run',
    });
    const upsertRow = await run(
      exStorage({
        // ex-storage's HTTP client dropped spaces and tabs around a header value.
        '#token': ` ${TOKENS.read}\t`,
        tableName: 'customers',
        incremental: true,
        primaryKey: ['id'],
        extractMetadata: true,
      }),
    );
    expect(upsertRow.result.code, upsertRow.result.stderr).toBe(0);
    expect((await readSlicedTable(upsertRow.dataDir, 'customers.csv')).manifest).toEqual({
      columns: ['id', 'name', 'note'],
      primary_key: ['id'],
      incremental: true,
      metadata: [{ key: 'KBC.description', value: 'Customers' }],
      column_metadata: { id: [{ key: 'KBC.datatype.basetype', value: 'INTEGER' }] },
    });

    const fullSyncRow = await run(
      exStorage({
        tableName: 'orders',
        fullSync: true,
        incremental: true,
        changedSince: '-2 days',
      }),
    );
    expect(fullSyncRow.result.code, fullSyncRow.result.stderr).toBe(0);
    const orders = await readSlicedTable(fullSyncRow.dataDir, 'orders.csv');
    expect(orders.manifest).toEqual({
      columns: ['id', 'customer', 'amount'],
      primary_key: ['id'],
      incremental: false,
    });
    // fullSync replaces the key and the load mode only: the window still goes to the export, as
    // in ex-storage, and every order changed before it.
    expect(orders.rows).toHaveLength(0);
    const [fullSyncExport] = (await (
      await fetch(`${emulator.url}/v2/storage/jobs?limit=5`, {
        headers: { 'X-StorageApi-Token': TOKENS.master },
      })
    ).json()) as Array<{ operationParams: { export?: { changedSince?: unknown } } }>;
    const fullSyncSince = Number(fullSyncExport?.operationParams.export?.changedSince);
    expect(Math.abs(fullSyncSince - (Date.now() / 1000 - 2 * 86_400))).toBeLessThan(600);

    const windowRow = await run(
      exStorage({ tableName: 'events', changedSince: '-5 days', incremental: true }),
    );
    expect(windowRow.result.code, windowRow.result.stderr).toBe(0);
    expect((await readSlicedTable(windowRow.dataDir, 'events.csv')).manifest).toEqual({
      columns: ['id', 'kind'],
      primary_key: [],
      incremental: true,
    });
  });

  it.each([
    // The reviewer's case: spaces alone are no secret, and are not registered at all.
    ['spaces alone', { '#note': '        ' }],
    // A secret is masked within each string: it never cuts across a document's quotes and
    // indentation, even one spelling them (it is then the documents' text, not a leak).
    [
      'values spelling the JSON structure of each document',
      {
        '#manifest': 'KBC.description",\n      "value',
        '#summary': 'success",\n  "exitCode',
        '#plan': 'platform",\n  "warnings',
      },
    ],
  ])(
    'a # value of %s leaves the manifest, the summary file and the dry run valid JSON',
    async (_what, secrets) => {
      const tables = [{ name: 'in.c-sales.customers', extractMetadata: true }];
      const configJson = config({ tables }, { image_parameters: secrets });
      const summaryDir = await mkdtemp(join(tmpdir(), 'kbc-summary-'));
      dirs.push(summaryDir);
      const summaryPath = join(summaryDir, 'summary.json');
      const { result, dataDir } = await run(configJson, ['--summary-file', summaryPath]);
      expect(result.code, result.stderr).toBe(0);
      expect((await readSlicedTable(dataDir, 'customers.csv')).manifest).toEqual({
        columns: ['id', 'name', 'note'],
        primary_key: [],
        incremental: false,
        metadata: [{ key: 'KBC.description', value: 'Customers' }],
        column_metadata: { id: [{ key: 'KBC.datatype.basetype', value: 'INTEGER' }] },
      });
      const summary = JSON.parse(await readFile(summaryPath, 'utf8')) as Record<string, unknown>;
      expect(summary).toMatchObject({ status: 'success', exitCode: 0, error: null });
      const planned = await run(configJson, ['--dry-run']);
      expect(planned.result.code, planned.result.stderr).toBe(0);
      const plan = JSON.parse(planned.result.stdout) as Record<string, unknown>;
      expect(plan).toMatchObject({ mode: 'platform', warnings: [] });
    },
  );

  describe('refuses before any data moves', () => {
    const cases: Array<[string, () => unknown, RegExp]> = [
      [
        'a write token',
        () => config({ '#token': TOKENS.write, tables: [{ name: 'orders' }] }),
        /read-only permissions to the bucket "in\.c-sales"/,
      ],
      [
        'a token with two buckets',
        () => config({ '#token': TOKENS.twoBuckets, tables: [{ name: 'orders' }] }),
        /single bucket only/,
      ],
      [
        'a master token',
        () => config({ '#token': TOKENS.master, tables: [{ name: 'orders' }] }),
        /master token/,
      ],
      [
        'an invalid token',
        () => config({ '#token': TOKENS.invalid, tables: [{ name: 'orders' }] }),
        /token is unknown, expired or revoked/,
      ],
      [
        'an expired token',
        () => config({ '#token': TOKENS.expired, tables: [{ name: 'orders' }] }),
        /expired/,
      ],
      [
        'a token too long for any request header (431)',
        () => config({ '#token': 'h'.repeat(17_000), tables: [{ name: 'orders' }] }),
        /^The source Storage API token is too long to be sent \(tokens\/verify answered 431, request header too large\): set the token itself in "#token"/,
      ],
      [
        'a missing table',
        () => config({ tables: [{ name: 'orders' }, { name: 'nope' }] }),
        /The table "nope" was not found in the bucket "in\.c-sales"/,
      ],
      [
        'a config without #token',
        () => ({ parameters: { url: emulator.url, tables: [{ name: 'orders' }] } }),
        /#token/,
      ],
      [
        'an unknown region',
        () => ({
          parameters: {
            '#token': TOKENS.read,
            region: 'mars-north-1',
            tables: [{ name: 'orders' }],
          },
        }),
        /region/,
      ],
      [
        'a primary key column the table lacks',
        () => config({ tables: [{ name: 'orders', primaryKey: ['ghost'] }] }),
        /primaryKey: the table "in\.c-sales\.orders" has no column "ghost"/,
      ],
      [
        'an unparseable changedSince',
        () => config({ tables: [{ name: 'orders', changedSince: 'next blue moon' }] }),
        /changedSince/,
      ],
    ];

    it.each(cases)(
      'exits 1 for %s with one sentence, no output and no export',
      async (_name, makeConfig, message) => {
        const before = exportStarts();
        const { result, dataDir } = await run(makeConfig());
        expect(result.code).toBe(1);
        expect(result.stderr.trim()).toMatch(message);
        expect(result.stderr.trim().split('\n')).toHaveLength(1);
        expect(await listFiles(join(dataDir, 'out', 'tables'))).toEqual([]);
        expect(exportStarts()).toBe(before);
      },
    );

    it('exits 1 before any export when a short name and its full id in the runner’s default bucket are one table', async () => {
      const before = exportStarts();
      const dataDir = await makeDataDir(
        config({
          tables: [
            { name: 'orders', destination: 'in.c-keboola-ex-table-sync-777.orders' },
            { name: 'customers', destination: 'orders' },
          ],
        }),
      );
      dirs.push(dataDir);
      const result = await runCli(['--data', dataDir], {
        env: {
          AWS_ENDPOINT_URL_S3: emulator.url,
          KBC_COMPONENTID: 'keboola.ex-table-sync',
          KBC_CONFIGID: '777',
        },
      });
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr.trim()).toBe(
        'The items parameters.tables[0] ("orders") and parameters.tables[1] ("customers") both write into the destination table "in.c-keboola-ex-table-sync-777.orders": give one of them another "destination".',
      );
      expect(await listFiles(join(dataDir, 'out', 'tables'))).toEqual([]);
      expect(await exists(join(dataDir, 'out', 'state.json'))).toBe(false);
      expect(exportStarts()).toBe(before);
    });

    it('exits 1 for a config.json that is not JSON', async () => {
      const { result, dataDir } = await run({});
      const { writeFile } = await import('node:fs/promises');
      await writeFile(join(dataDir, 'config.json'), '{"parameters": {');
      const again = await runCli(['--data', dataDir]);
      expect(result.code).toBe(1);
      expect(again.code).toBe(1);
      expect(again.stderr.trim()).toMatch(/config\.json/);
      expect(again.stderr.trim().split('\n')).toHaveLength(1);
    });
  });
});
