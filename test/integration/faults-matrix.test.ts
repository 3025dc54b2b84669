/**
 * The fault matrix (issue: fault tolerance). Every scenario runs the BUILT CLI against the
 * in-process emulator over loopback, with faults injected through `control.addFault` (or the
 * maintenance switch, or a signal), and ends either with correct data (the output compared with
 * the expected row set: rows lost, duplicated, unexpected) or with a clean, explained failure
 * (exit code, a sentence on stderr, nothing partial in out/tables or in the destination table,
 * the watermark not moved). Every run is scanned for secrets and for duplicated job-starting
 * POSTs. The tally line is printed from afterAll.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { EmulatorControl, FaultSpec, SeedInput } from 'keboola-storage-emulator';
import {
  CRASH_PHASES,
  runCrashScenario,
  runSigtermBetweenTables,
  type CrashMode,
} from '../helpers/crash-matrix.js';
import { useEmulator } from '../helpers/emulator.js';
import {
  compareRows,
  duplicatedStarts,
  FaultTally,
  readSlicedTable,
  rowValues,
  type RowComparison,
} from '../helpers/fault-matrix.js';
import { exists, listFiles, logLines, makeDataDir, removeDir, runCli } from '../helpers/run-cli.js';
import type { CliResult, RunCliOptions } from '../helpers/run-cli.js';
import { expectNoSecrets } from '../helpers/secret-scan.js';

const SOURCE_PROJECT = 101;
const DEST_PROJECT = 202;
/** A destination on GCS, whose upload tokens can be refreshed (`files/{id}/refresh`). */
const GCS_DEST_PROJECT = 303;
const SOURCE_BUCKET = 'in.c-src';
const DEST_BUCKET = 'in.c-dst';
/** `_timestamp` of every seeded row. */
const SEEDED_AT = 1_704_067_200;
/** The watermark every scenario starts from: older than every row, so each run copies them all. */
const WATERMARK = 1_700_000_000;

const TABLES = {
  /** Upsert (primary key), 300 rows in 3 slices. */
  orders: { columns: ['id', 'customer', 'amount'], primaryKey: ['id'] },
  /** Append (no primary key), 150 rows in 3 slices: a second import would duplicate every row. */
  events: { columns: ['id', 'kind'], primaryKey: [] as string[] },
} as const;
type TableName = keyof typeof TABLES;

const SEED: SeedInput = {
  projects: [
    {
      id: SOURCE_PROJECT,
      name: 'Faults source',
      fileStorageProvider: 'aws',
      buckets: [
        {
          id: SOURCE_BUCKET,
          tables: [
            {
              name: 'orders',
              columns: [...TABLES.orders.columns],
              primaryKey: [...TABLES.orders.primaryKey],
              generate: { rows: 300 },
              sliceRows: 100,
              timestamp: SEEDED_AT,
            },
            {
              name: 'events',
              columns: [...TABLES.events.columns],
              generate: { rows: 150 },
              sliceRows: 50,
              timestamp: SEEDED_AT,
            },
          ],
        },
      ],
    },
    {
      id: DEST_PROJECT,
      name: 'Faults destination',
      fileStorageProvider: 'aws',
      buckets: [{ id: DEST_BUCKET, tables: [] }],
    },
    {
      id: GCS_DEST_PROJECT,
      name: 'Faults destination on GCS',
      fileStorageProvider: 'gcp',
      buckets: [{ id: DEST_BUCKET, tables: [] }],
    },
  ],
};

/** Small timing knobs so the whole matrix runs in seconds (main.ts `timingFrom`). */
const FAST_ENV = {
  KBC_TABLE_SYNC_RETRY_BASE_MS: '10',
  KBC_TABLE_SYNC_RETRY_MAX_MS: '80',
  KBC_TABLE_SYNC_RETRY_AFTER_CAP_MS: '300',
  KBC_TABLE_SYNC_RETRY_BUDGET_MS: '1500',
  KBC_TABLE_SYNC_POLL_INITIAL_MS: '10',
  KBC_TABLE_SYNC_POLL_MAX_MS: '50',
  KBC_TABLE_SYNC_JOB_TIMEOUT_MS: '1500',
  KBC_TABLE_SYNC_PROGRESS_MS: '50',
};

type Mode = 'platform' | 'standalone';

interface Failure {
  readonly code: 1 | 2;
  /** The explanation the user reads on stderr. */
  readonly stderr: RegExp;
  /**
   * `none` (default): nothing reached the destination. `noneOrComplete`: a job whose outcome the
   * run could not wait for may still have loaded everything, but never a part.
   */
  readonly delivered?: 'none' | 'noneOrComplete';
}

interface Scenario {
  readonly name: string;
  readonly mode: Mode;
  readonly table?: TableName;
  /** Standalone: the destination project (default the S3 one). */
  readonly destProject?: number;
  readonly faults?: readonly FaultSpec[];
  /** Whole-API maintenance window for the run (or until `during` ends it). */
  readonly maintenance?: boolean;
  readonly env?: Record<string, string>;
  readonly outcome: 'correct' | Failure;
  /** Faults with more uses than the run consumes (the retry budget ends the run first). */
  readonly allowPending?: boolean;
  readonly killWhen?: RunCliOptions['killWhen'];
  /** SIGKILL scenarios: after the killed run, run again without faults; that run must be correct. */
  readonly rerun?: boolean;
  /** Runs next to the CLI (bounded loops only). */
  readonly during?: (control: EmulatorControl) => Promise<void>;
  /** Extra assertions on the (last) run. */
  readonly check?: (run: RunRecord) => void;
}

interface RunRecord {
  readonly result: CliResult;
  readonly requests: Readonly<Record<string, number>>;
  readonly jobStarts: Readonly<Record<string, number>>;
  readonly logs: Array<Record<string, unknown>>;
}

// ---------------------------------------------------------------- fault shorthands

const SLICE_GET = { method: 'GET', path: '/_part_\\d+\\.gz$/' } as const;
const UPLOAD_PUT = { method: 'PUT', path: '/\\.part-\\d+\\.gz$/' } as const;
const EXPORT_POST = { method: 'POST', path: '/export-async' } as const;
const IMPORT_POST = { method: 'POST', path: '/import-async' } as const;
const CREATE_POST = { method: 'POST', path: '/tables-async' } as const;
const JOB_POLL = { method: 'GET', path: '/\\/v2\\/storage\\/jobs\\/\\d+$/' } as const;
const FILE_GET = { method: 'GET', path: '/\\/v2\\/storage\\/files\\/\\d+$/' } as const;
const TABLE_LIST = { method: 'GET', path: '/\\/v2\\/storage\\/buckets\\/in.c-src\\/tables$/' };
const VERIFY = { method: 'GET', path: '/v2/storage/tokens/verify' } as const;

const retryLogs = (run: RunRecord) =>
  run.logs.filter((l) => typeof l.msg === 'string' && l.msg.endsWith('; retrying'));
const logged = (run: RunRecord, pattern: RegExp) =>
  run.logs.some((l) => typeof l.msg === 'string' && pattern.test(l.msg));
const requestsTo = (run: RunRecord, route: string) => run.requests[route] ?? 0;

// ---------------------------------------------------------------- scenarios

/** Scenarios that apply to both modes. */
function shared(mode: Mode): Scenario[] {
  const exportTarget = 'in.c-src.orders';
  return [
    {
      name: '503 twice with Retry-After 1 s on the table list: waits capped at 300 ms, then correct',
      mode,
      faults: [{ ...TABLE_LIST, kind: 'status', status: 503, retryAfterSeconds: 1, count: 2 }],
      outcome: 'correct',
      check: (run) => {
        const waits = retryLogs(run).map((l) => l.waitMs);
        expect(waits).toEqual([300, 300]);
      },
    },
    {
      name: '503 twice without Retry-After on the job poll: backoff, then correct',
      mode,
      faults: [{ ...JOB_POLL, kind: 'status', status: 503, count: 2 }],
      outcome: 'correct',
      check: (run) => {
        const waits = retryLogs(run).map((l) => Number(l.waitMs));
        expect(waits).toHaveLength(2);
        for (const wait of waits) expect(wait).toBeLessThanOrEqual(80);
      },
    },
    {
      name: '429 with Retry-After on the export POST: never reached, posted again, one job',
      mode,
      faults: [{ ...EXPORT_POST, kind: 'status', status: 429, retryAfterSeconds: 1 }],
      outcome: 'correct',
      check: (run) => {
        expect(requestsTo(run, 'POST /v2/storage/tables/{tableId}/export-async')).toBe(2);
        expect(run.jobStarts[`tableExport ${exportTarget}`]).toBe(1);
      },
    },
    {
      name: '500 on a job poll: retried, correct',
      mode,
      faults: [{ ...JOB_POLL, kind: 'status', status: 500 }],
      outcome: 'correct',
    },
    {
      name: '500 after the export job was created: found through the jobs list, not started twice',
      mode,
      faults: [{ ...EXPORT_POST, kind: 'status', status: 500, afterHandling: true }],
      outcome: 'correct',
      check: (run) => {
        expect(run.jobStarts[`tableExport ${exportTarget}`]).toBe(1);
        expect(requestsTo(run, 'GET /v2/storage/jobs')).toBeGreaterThanOrEqual(1);
        expect(logged(run, /found the job it started/)).toBe(true);
      },
    },
    {
      name: '503 (not maintenance) before the export POST was handled: lookup proves no job, posted again',
      mode,
      faults: [{ ...EXPORT_POST, kind: 'status', status: 503 }],
      outcome: 'correct',
      check: (run) => {
        expect(run.jobStarts[`tableExport ${exportTarget}`]).toBe(1);
        expect(logged(run, /no job was started, posting again/)).toBe(true);
      },
    },
    {
      name: 'added latency on the file detail and on every slice',
      mode,
      faults: [
        { ...FILE_GET, kind: 'latency', ms: 200 },
        { ...SLICE_GET, kind: 'latency', ms: 100, count: 3 },
      ],
      outcome: 'correct',
    },
    {
      name: 'connection reset at byte 100 of a slice: the slice restarts from zero',
      mode,
      faults: [{ ...SLICE_GET, kind: 'reset', afterBytes: 100, skip: 1 }],
      outcome: 'correct',
      check: (run) => expect(logged(run, /Slice \d of "in.c-src.orders" failed/)).toBe(true),
    },
    {
      name: 'truncated gzip slice: the verifier rejects it, the slice is fetched again',
      mode,
      faults: [{ ...SLICE_GET, kind: 'truncateGzip' }],
      outcome: 'correct',
    },
    {
      name: 'corrupt gzip slice: the verifier rejects it, the slice is fetched again',
      mode,
      faults: [{ ...SLICE_GET, kind: 'corruptGzip', skip: 2 }],
      outcome: 'correct',
    },
    {
      name: 'Content-Length larger than the slice body: restarted, correct',
      mode,
      faults: [{ ...SLICE_GET, kind: 'contentLengthMismatch' }],
      outcome: 'correct',
    },
    {
      name: '500 from the object store on a slice GET: retried, correct',
      mode,
      faults: [{ ...SLICE_GET, kind: 'status', status: 500 }],
      outcome: 'correct',
    },
    {
      name: 'provider credentials expire in the middle of the table: fresh ones are fetched',
      mode,
      // Standalone: S3 upload credentials cannot be refreshed (see the S3 scenario), GCS ones can.
      ...(mode === 'standalone' ? { destProject: GCS_DEST_PROJECT } : {}),
      faults: [{ ...SLICE_GET, kind: 'expireCredentials', skip: 1 }],
      env: { KBC_TABLE_SYNC_SLICES_PER_TABLE: '1' },
      outcome: 'correct',
      check: (run) => {
        expect(requestsTo(run, 'GET /v2/storage/files/{fileId}')).toBeGreaterThanOrEqual(2);
      },
    },
    {
      name: 'export job stuck in processing: deadline error naming the job and its status',
      mode,
      faults: [{ ...EXPORT_POST, kind: 'jobStuck' }],
      outcome: {
        code: 2,
        stderr:
          /Storage job \d+ \(tableExport of in\.c-src\.orders\) did not finish within 2 s; last status "processing"/,
      },
    },
    {
      name: 'export job ends in error: exit 2 with the job error',
      mode,
      faults: [
        {
          ...EXPORT_POST,
          kind: 'jobError',
          code: 'storage.exportFailed',
          message: 'Emulated export failure',
        },
      ],
      outcome: {
        code: 2,
        stderr:
          /Storage job \d+ \(tableExport of in\.c-src\.orders\) failed: Emulated export failure/,
      },
    },
    {
      name: 'source token revoked mid-run: exit 1 with a sentence, no retries',
      mode,
      faults: [{ ...FILE_GET, kind: 'revokeToken' }],
      outcome: {
        code: 1,
        stderr:
          /The token in parameters\.#token was revoked or expired during the run: Storage API GET \/v2\/storage\/files\/\d+ answered 401: [^(\n]*(\([^)\n]*\))?\n/,
      },
      check: (run) => {
        expect(requestsTo(run, 'GET /v2/storage/files/{fileId}')).toBe(1);
        expect(retryLogs(run)).toEqual([]);
      },
    },
    {
      name: 'source token expires mid-run: exit 1 with a sentence, no retries',
      mode,
      faults: [{ ...JOB_POLL, kind: 'expireToken' }],
      outcome: { code: 1, stderr: /token was revoked or expired during the run/ },
      check: (run) => {
        expect(requestsTo(run, 'GET /v2/storage/jobs/{jobId}')).toBe(1);
        expect(retryLogs(run)).toEqual([]);
      },
    },
    {
      name: 'retry budget: a 503 that outlasts it ends the run cleanly, not in a hang',
      mode,
      faults: [{ ...VERIFY, kind: 'status', status: 503, retryAfterSeconds: 1, count: 1000 }],
      allowPending: true,
      outcome: { code: 2, stderr: /tokens\/verify answered 503/ },
      check: (run) => {
        // 300 ms waits in a 1.5 s budget: the budget, not the 12-attempt limit, stops it.
        const attempts = requestsTo(run, 'GET /v2/storage/tokens/verify');
        expect(attempts).toBeGreaterThanOrEqual(2);
        expect(attempts).toBeLessThan(12);
        expect(retryLogs(run)).toHaveLength(attempts - 1);
      },
    },
    {
      name: 'SIGTERM during the transfer: non-zero, partial output removed, watermark kept',
      mode,
      table: 'events',
      faults: [{ ...SLICE_GET, kind: 'latency', ms: 3000, skip: 1 }],
      env: { KBC_TABLE_SYNC_SLICES_PER_TABLE: '1' },
      killWhen: { pattern: /slices 1\/3/, signal: 'SIGTERM' },
      outcome: { code: 2, stderr: /Received SIGTERM[\s\S]*interrupted/ },
    },
    {
      name: 'SIGKILL in the middle of the table, then a rerun: correct, no temporary folder left',
      mode,
      table: 'events',
      faults: [{ ...SLICE_GET, kind: 'latency', ms: 3000, skip: 1 }],
      env: { KBC_TABLE_SYNC_SLICES_PER_TABLE: '1' },
      killWhen: { pattern: /slices 1\/3/, signal: 'SIGKILL' },
      rerun: true,
      outcome: 'correct',
    },
  ];
}

const PLATFORM_ONLY: Scenario[] = [
  {
    name: 'connection reset after the export job was created: found, not started twice',
    mode: 'platform',
    faults: [{ ...EXPORT_POST, kind: 'reset', afterBytes: 5, afterHandling: true }],
    outcome: 'correct',
    check: (run) => {
      expect(run.jobStarts['tableExport in.c-src.orders']).toBe(1);
      expect(logged(run, /found the job it started/)).toBe(true);
    },
  },
  {
    name: 'connection reset at byte 20 of the file detail answer: retried, correct',
    mode: 'platform',
    faults: [{ ...FILE_GET, kind: 'reset', afterBytes: 20 }],
    outcome: 'correct',
  },
  {
    name: 'maintenance on the whole API for the whole run: exit 2 naming the maintenance',
    mode: 'platform',
    maintenance: true,
    outcome: { code: 2, stderr: /Storage API is down for maintenance/ },
  },
];

const STANDALONE_ONLY: Scenario[] = [
  {
    name: '500 after the import job was created: found through the jobs list, not imported twice',
    mode: 'standalone',
    table: 'events',
    faults: [{ ...IMPORT_POST, kind: 'status', status: 500, afterHandling: true }],
    outcome: 'correct',
    check: (run) => {
      expect(logged(run, /found the job it started/)).toBe(true);
    },
  },
  {
    name: '500 after the table-create job was created: found, not created twice',
    mode: 'standalone',
    faults: [{ ...CREATE_POST, kind: 'status', status: 500, afterHandling: true }],
    outcome: 'correct',
    check: (run) => {
      expect(logged(run, /found the job it started/)).toBe(true);
    },
  },
  {
    // Not found does not prove not started: a second import would load the rows twice, so the
    // table fails and a later run settles its intent (docs/sync-record.md).
    name: 'connection reset before the import POST was handled: no job listed, not posted again',
    mode: 'standalone',
    table: 'events',
    faults: [{ ...IMPORT_POST, kind: 'reset', afterBytes: 0 }],
    outcome: {
      code: 2,
      stderr: /no job of it is listed yet: it may still start, so it was not posted again/,
    },
    check: (run) => {
      expect(logged(run, /no job is listed yet, not posting again/)).toBe(true);
      expect(requestsTo(run, 'POST /v2/storage/tables/{tableId}/import-async')).toBe(1);
    },
  },
  {
    name: 'connection reset while a slice is uploaded: the slice is re-read and re-sent',
    mode: 'standalone',
    faults: [{ ...UPLOAD_PUT, kind: 'reset', afterBytes: 50, skip: 1 }],
    outcome: 'correct',
  },
  {
    name: '503 from the destination object store on an upload: retried, correct',
    mode: 'standalone',
    faults: [{ ...UPLOAD_PUT, kind: 'status', status: 503 }],
    outcome: 'correct',
  },
  {
    name: 'S3 upload credentials expire mid-table: they cannot be refreshed, clean failure',
    mode: 'standalone',
    faults: [{ ...SLICE_GET, kind: 'expireCredentials', skip: 1 }],
    env: { KBC_TABLE_SYNC_SLICES_PER_TABLE: '1' },
    outcome: { code: 2, stderr: /part-00001\.gz answered 400 ExpiredToken/ },
    check: (run) => {
      // Not retried: the refusal would repeat.
      expect(run.result.stderr).not.toMatch(/failed \(attempt 2\)/);
    },
  },
  {
    name: 'import job stuck in processing: deadline error; the table is empty or complete, never partial',
    mode: 'standalone',
    faults: [{ ...IMPORT_POST, kind: 'jobStuck' }],
    outcome: {
      delivered: 'noneOrComplete',
      code: 2,
      stderr:
        /Storage job \d+ \(tableImport of in\.c-dst\.\w+\) did not finish within 2 s; last status "processing"/,
    },
  },
  {
    name: 'import job ends in error: exit 2, nothing imported, watermark kept',
    mode: 'standalone',
    faults: [
      {
        ...IMPORT_POST,
        kind: 'jobError',
        code: 'storage.importFailed',
        message: 'Emulated import failure',
      },
    ],
    outcome: { code: 2, stderr: /tableImport of in\.c-dst\.\w+\) failed: Emulated import failure/ },
  },
  {
    name: 'destination token revoked at the import: exit 1 with a sentence, no retries',
    mode: 'standalone',
    faults: [{ ...IMPORT_POST, kind: 'revokeToken' }],
    outcome: {
      code: 1,
      stderr:
        /The token in parameters\.destination\.#token was revoked or expired during the run: Storage API POST \/v2\/storage\/tables\/[^/\s]+\/import-async answered 401/,
    },
    check: (run) => {
      expect(requestsTo(run, 'POST /v2/storage/tables/{tableId}/import-async')).toBe(1);
    },
  },
  {
    name: 'destination token expires at the table create: exit 1 with a sentence, no retries',
    mode: 'standalone',
    faults: [{ ...CREATE_POST, kind: 'expireToken' }],
    outcome: { code: 1, stderr: /token was revoked or expired during the run/ },
    check: (run) => {
      expect(requestsTo(run, 'POST /v2/storage/buckets/{bucketId}/tables-async')).toBe(1);
    },
  },
  {
    name: 'maintenance on the whole API that ends mid-run: retried through it, correct',
    mode: 'standalone',
    maintenance: true,
    during: async (control) => {
      // End the window once the job has been turned away twice (bounded wait).
      for (let i = 0; i < 400; i++) {
        if ((control.stats().requests['GET /v2/storage/tokens/verify'] ?? 0) >= 2) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      control.setMaintenance(false);
    },
    outcome: 'correct',
  },
];

const SCENARIOS: Scenario[] = [
  ...shared('platform'),
  ...PLATFORM_ONLY,
  ...shared('standalone'),
  ...STANDALONE_ONLY,
];

// ---------------------------------------------------------------- the runner

const emulator = useEmulator(SEED);
const tally = new FaultTally();
let runCounter = 0;

afterAll(() => {
  console.log(tally.line());
});

interface Prepared {
  readonly scenario: Scenario;
  readonly index: number;
  readonly table: TableName;
  readonly sourceId: string;
  readonly destId: string;
  readonly dataDir: string;
  readonly inputEntry: Record<string, unknown>;
}

async function prepare(scenario: Scenario, index: number): Promise<Prepared> {
  const { control } = emulator;
  const table = scenario.table ?? 'orders';
  const sourceId = `${SOURCE_BUCKET}.${table}`;
  const destName = `s${index}_${table}`;
  const sourceToken = control.createToken(SOURCE_PROJECT, {
    description: `faults ${index} source`,
    bucketPermissions: { [SOURCE_BUCKET]: 'read' },
  });
  const { primaryKey } = TABLES[table];
  const tableConfig = {
    name: table,
    incremental: true,
    primaryKey,
    changedSince: 'lastRun',
    ...(scenario.mode === 'standalone' ? { destination: destName } : {}),
  };
  const parameters: Record<string, unknown> = {
    '#token': sourceToken,
    url: emulator.url,
    tables: [tableConfig],
  };
  if (scenario.mode === 'standalone') {
    parameters.destination = {
      url: emulator.url,
      '#token': control.createToken(scenario.destProject ?? DEST_PROJECT, {
        description: `faults ${index} destination`,
        bucketPermissions: { [DEST_BUCKET]: 'write' },
      }),
      bucket: DEST_BUCKET,
    };
  }
  const inputEntry = {
    watermark: WATERMARK,
    watermarkIso: new Date(WATERMARK * 1000).toISOString(),
  };
  const dataDir = await makeDataDir({ parameters }, { tables: { [sourceId]: inputEntry } });
  return {
    scenario,
    index,
    table,
    sourceId,
    destId: `${DEST_BUCKET}.${destName}`,
    dataDir,
    inputEntry,
  };
}

/** One CLI run with the scenario's faults; returns what the emulator saw. */
async function runOnce(p: Prepared, withFaults: boolean): Promise<RunRecord> {
  const { control } = emulator;
  const { scenario } = p;
  control.clearFaults();
  control.resetStats();
  const injectedBefore = control.injectedCount;
  if (withFaults) {
    for (const fault of scenario.faults ?? []) control.addFault(fault);
    if (scenario.maintenance) control.setMaintenance(true, { retryAfterSeconds: 1 });
  }
  runCounter += 1;
  // KBC_RUNID alone would choose the runner's text lines; the checks read the JSON log records.
  const running = runCli(['--data', p.dataDir, '--log-format', 'json'], {
    env: {
      ...FAST_ENV,
      ...(withFaults ? scenario.env : {}),
      AWS_ENDPOINT_URL_S3: emulator.url,
      STORAGE_EMULATOR_HOST: emulator.url,
      KBC_RUNID: `faults-${p.index}-${runCounter}`,
    },
    ...(withFaults && scenario.killWhen ? { killWhen: scenario.killWhen } : {}),
    timeoutMs: 60_000,
  });
  const during = withFaults ? scenario.during?.(control) : undefined;
  const result = await running;
  await during;
  control.setMaintenance(false);
  await control.waitForJobs();
  const stats = control.stats();
  if (withFaults) {
    const injected = control.injectedCount - injectedBefore;
    tally.faultsInjected += injected + (scenario.maintenance ? 1 : 0);
    if (scenario.faults?.length) expect(injected, 'every fault fired').toBeGreaterThan(0);
    if (!scenario.allowPending && !scenario.killWhen) {
      expect(control.pendingFaults(), 'faults left unused').toEqual([]);
    }
  }
  control.clearFaults();
  const duplicates = duplicatedStarts(stats.jobStarts);
  tally.duplicatedJobStarts += duplicates;
  expect(stats.jobStarts, 'no job-starting POST duplicated').toSatisfy(
    (starts: Record<string, number>) => Object.values(starts).every((n) => n <= 1),
  );
  await expectNoSecrets(control.issuedSecrets(), result, p.dataDir);
  return {
    result,
    requests: stats.requests,
    jobStarts: stats.jobStarts,
    logs: logLines(result.stdout),
  };
}

async function expectedRows(table: TableName): Promise<string[][]> {
  const rows = await emulator.control.tableRows(SOURCE_PROJECT, `${SOURCE_BUCKET}.${table}`);
  return rowValues(
    rows.filter((r) => Number(r._timestamp) >= WATERMARK),
    TABLES[table].columns,
  );
}

/** Rows the run delivered: out/tables (platform) or the destination table (standalone). */
async function deliveredRows(p: Prepared): Promise<string[][] | undefined> {
  if (p.scenario.mode === 'platform') {
    const folder = join(p.dataDir, 'out', 'tables', `${p.table}.csv`);
    return (await exists(folder)) ? readSlicedTable(folder) : undefined;
  }
  try {
    const rows = await emulator.control.tableRows(p.scenario.destProject ?? DEST_PROJECT, p.destId);
    return rowValues(rows, TABLES[p.table].columns);
  } catch {
    return undefined;
  }
}

async function outputState(p: Prepared): Promise<Record<string, unknown> | undefined> {
  const path = join(p.dataDir, 'out', 'state.json');
  if (!(await exists(path))) return undefined;
  const state = JSON.parse(await readFile(path, 'utf8')) as {
    tables?: Record<string, Record<string, unknown>>;
  };
  return state.tables?.[p.sourceId];
}

async function expectNoWorkFolder(p: Prepared): Promise<void> {
  expect(await exists(join(p.dataDir, 'out', '.kbc-table-sync-tmp'))).toBe(false);
}

async function expectCorrect(p: Prepared, run: RunRecord): Promise<RowComparison> {
  // The diff of a failure shows stderr, the job's own explanation.
  expect({ code: run.result.code, stderr: run.result.stderr }).toMatchObject({ code: 0 });
  const delivered = await deliveredRows(p);
  expect(delivered, 'the table was delivered').toBeDefined();
  const comparison = compareRows(await expectedRows(p.table), delivered ?? []);
  expect(comparison).toMatchObject({ lost: 0, duplicated: 0, unexpected: 0 });
  const entry = await outputState(p);
  expect(Number(entry?.watermark)).toBeGreaterThan(WATERMARK);
  await expectNoWorkFolder(p);
  return comparison;
}

async function expectCleanFailure(p: Prepared, run: RunRecord, failure: Failure): Promise<void> {
  const { result } = run;
  expect({ code: result.code, stderr: result.stderr }).toMatchObject({ code: failure.code });
  expect(result.stderr).toMatch(failure.stderr);
  if (failure.code === 1) expect(result.stderr, 'no stack trace').not.toMatch(/^\s+at /m);
  // Nothing partial: no table in out/tables; the destination table absent or empty.
  if (p.scenario.mode === 'platform') {
    expect(await listFiles(join(p.dataDir, 'out', 'tables'))).toEqual([]);
  } else {
    const delivered = (await deliveredRows(p)) ?? [];
    if (failure.delivered === 'noneOrComplete' && delivered.length > 0) {
      const comparison = compareRows(await expectedRows(p.table), delivered);
      expect(comparison).toMatchObject({ lost: 0, duplicated: 0, unexpected: 0 });
    } else {
      expect(delivered.length, 'rows in the destination').toBe(0);
    }
  }
  await expectNoWorkFolder(p);
  // The watermark did not move: no state written, or the input entry carried unchanged.
  const entry = await outputState(p);
  if (entry !== undefined) expect(entry).toEqual(p.inputEntry);
}

async function runScenario(scenario: Scenario, index: number): Promise<void> {
  tally.scenarios += 1;
  const p = await prepare(scenario, index);
  try {
    let run = await runOnce(p, true);
    if (scenario.rerun) {
      expect(run.result.signal).toBe(scenario.killWhen?.signal);
      // The killed run left its work folder (platform) but nothing in out/tables or the destination.
      if (scenario.mode === 'platform') {
        expect(await exists(join(p.dataDir, 'out', '.kbc-table-sync-tmp'))).toBe(true);
        expect(await listFiles(join(p.dataDir, 'out', 'tables'))).toEqual([]);
      } else {
        expect(((await deliveredRows(p)) ?? []).length, 'rows in the destination').toBe(0);
      }
      expect(await outputState(p)).toBeUndefined();
      run = await runOnce(p, false);
    }
    if (scenario.outcome === 'correct') {
      tally.addCorrectRun(await expectCorrect(p, run));
    } else {
      await expectCleanFailure(p, run, scenario.outcome);
    }
    scenario.check?.(run);
  } finally {
    await removeDir(p.dataDir);
  }
}

// Kill at every phase of a standalone sync, rerun without in/state.json: exactly once. Each case
// has its own emulator, so they run concurrently; they count in the same tally.
describe.concurrent('crash matrix (standalone, SIGKILL / SIGTERM, rerun without state)', () => {
  const modes: CrashMode[] = ['full', 'append', 'upsert'];
  for (const phase of Object.keys(CRASH_PHASES)) {
    for (const mode of modes) {
      // eslint-disable-next-line vitest/expect-expect -- runCrashScenario asserts the rows
      it(`SIGKILL ${phase}: ${mode}`, () => runCrashScenario(phase, mode, tally));
    }
  }
  // eslint-disable-next-line vitest/expect-expect -- runSigtermBetweenTables asserts the rows
  it('SIGTERM between two tables: append', () => runSigtermBetweenTables('append', tally));
});

describe('fault matrix', () => {
  SCENARIOS.forEach((scenario, index) => {
    // eslint-disable-next-line vitest/expect-expect -- runScenario asserts (outputs, state, secrets)
    it(`${scenario.mode}: ${scenario.name}`, () => runScenario(scenario, index));
  });

  it('covers at least 25 scenarios, both modes, and duplicated no job start', () => {
    expect(SCENARIOS.length).toBeGreaterThanOrEqual(25);
    expect(SCENARIOS.filter((s) => s.mode === 'platform').length).toBeGreaterThanOrEqual(12);
    expect(SCENARIOS.filter((s) => s.mode === 'standalone').length).toBeGreaterThanOrEqual(12);
    expect(tally.duplicatedJobStarts).toBe(0);
    expect(tally.rowsLost).toBe(0);
    expect(tally.rowsDuplicated).toBe(0);
  });
});
