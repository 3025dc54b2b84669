/**
 * The crash matrix (standalone mode, docs/sync-record.md): the built CLI is killed at a named
 * moment of a table's sync (a labelled emulator fault tells when), the source changes, and a
 * rerun WITHOUT in/state.json must leave every source row in the destination exactly once. Each
 * scenario has its own emulator, so scenarios run concurrently. Only the run that is killed needs
 * a real process; the rerun is `main(io)` in process (`runCli`), which reads the same data folder
 * and the same destination, without the cost of a second Node start.
 */
import { join } from 'node:path';
import { expect } from 'vitest';
import {
  startEmulator,
  type EmulatorHandle,
  type FaultSpec,
  type SeedInput,
} from 'keboola-storage-emulator';
import { compareRows, rowValues, type FaultTally, type RowComparison } from './fault-matrix.js';
import {
  exists,
  makeDataDir,
  removeDir,
  runCli,
  startCliProcess,
  type CliResult,
} from './run-cli.js';
import { expectNoSecrets } from './secret-scan.js';

const CRASH_SOURCE_PROJECT = 101;
const CRASH_DEST_PROJECT = 202;
const SOURCE_BUCKET = 'in.c-src';
const DEST_BUCKET = 'in.c-dst';
const SOURCE_TOKEN = '101-1001-c0a5c0a5c0a5c0a5000000000000000000000001';
const DEST_TOKEN = '202-2001-c0a5c0a5c0a5c0a5000000000000000000000002';
const T0_MS = Date.parse('2025-06-01T00:00:00Z');
const COLUMNS = ['id', 'value'];

export type CrashMode = 'full' | 'append' | 'upsert';

/** The moment the first run dies at, as the fault that marks it (label `crash`). */
export const CRASH_PHASES: Readonly<Record<string, FaultSpec>> = {
  // The export job is created, its answer never comes.
  'during the export job': {
    kind: 'hold',
    afterHandling: true,
    method: 'POST',
    path: '/export-async',
  },
  // A slice download stalls (after the manifest and one slice): others may be copied.
  'mid-transfer': { kind: 'latency', ms: 15_000, method: 'GET', path: '/^\\/(?!v2\\/)/', skip: 2 },
  // The first metadata write of a new table is the claim: written, its answer never comes.
  'after the claim is written': {
    kind: 'hold',
    afterHandling: true,
    method: 'POST',
    path: '/metadata',
  },
  // The second is the intent: written, its answer never comes (the claim is still held).
  'after the intent is written': {
    kind: 'hold',
    afterHandling: true,
    method: 'POST',
    path: '/metadata',
    skip: 1,
  },
  // import-async is accepted and its job runs on; the answer never comes.
  'while the import runs': {
    kind: 'hold',
    afterHandling: true,
    method: 'POST',
    path: '/import-async',
  },
  // The import job is started; the claim's release (its DELETE) never reaches the server.
  'after the import started, before the claim is released': {
    kind: 'hold',
    method: 'DELETE',
    path: '/metadata/',
  },
  // The import succeeded; the claim for the record (third metadata POST) never reaches the server.
  'after the import, before the record': {
    kind: 'hold',
    method: 'POST',
    path: '/metadata',
    skip: 2,
  },
  // The claim for the record is written; the record (fourth metadata POST) never reaches the server.
  'after the claim for the record, before the record': {
    kind: 'hold',
    method: 'POST',
    path: '/metadata',
    skip: 3,
  },
  // The record is written; the run dies before deleting that claim and before out/state.json.
  'after the record, before out/state.json': {
    kind: 'hold',
    afterHandling: true,
    method: 'POST',
    path: '/metadata',
    skip: 3,
  },
};

function seed(tables: readonly { name: string; mode: CrashMode }[]): SeedInput {
  const at = T0_MS / 1000 - 3_600;
  return {
    projects: [
      {
        id: CRASH_SOURCE_PROJECT,
        name: 'Crash source',
        fileStorageProvider: 'aws',
        buckets: [
          {
            id: SOURCE_BUCKET,
            tables: tables.map(({ name, mode }) => ({
              name,
              columns: COLUMNS,
              ...(mode === 'append' ? {} : { primaryKey: ['id'] }),
              rows: [1, 2, 3, 4, 5].map((i) => [String(i), `v${i}`]),
              sliceRows: 2,
              timestamp: at,
            })),
          },
        ],
        tokens: [{ token: SOURCE_TOKEN, bucketPermissions: { [SOURCE_BUCKET]: 'read' } }],
      },
      {
        id: CRASH_DEST_PROJECT,
        name: 'Crash destination',
        fileStorageProvider: 'aws',
        buckets: [{ id: DEST_BUCKET, tables: [] }],
        tokens: [{ token: DEST_TOKEN, bucketPermissions: { [DEST_BUCKET]: 'write' } }],
      },
    ],
  };
}

function tableItem(name: string, mode: CrashMode): Record<string, unknown> {
  // A full load copies the whole table each run; append and upsert go on from the watermark.
  return {
    name,
    ...(mode === 'full' ? {} : { changedSince: 'lastRun' }),
    incremental: mode !== 'full',
    ...(mode === 'upsert' ? { primaryKey: ['id'] } : {}),
  };
}

const FAST_ENV = {
  KBC_TABLE_SYNC_RETRY_BASE_MS: '10',
  KBC_TABLE_SYNC_RETRY_MAX_MS: '80',
  KBC_TABLE_SYNC_POLL_INITIAL_MS: '10',
  KBC_TABLE_SYNC_POLL_MAX_MS: '50',
  KBC_TABLE_SYNC_JOB_TIMEOUT_MS: '10000',
  // Shorter than the 20 s the source changes take (changeSource), so a killed run's claim has
  // lapsed by the rerun; a claim still live is tested in test/integration/claims.test.ts.
  KBC_TABLE_SYNC_CLAIM_LEASE_MS: '15000',
};

interface Fixture {
  readonly emulator: EmulatorHandle;
  readonly dataDir: string;
  /** The run to be interrupted: the built CLI as a child process. */
  readonly start: () => ReturnType<typeof startCliProcess>;
  /** The rerun after the interruption, in process. */
  readonly rerun: () => Promise<CliResult>;
}

async function fixture(
  tables: readonly { name: string; mode: CrashMode }[],
  parallelism: number,
): Promise<Fixture> {
  const emulator = await startEmulator({ seed: seed(tables), port: 0, quiet: true });
  emulator.control.setClock(T0_MS);
  const dataDir = await makeDataDir({
    parameters: {
      '#token': SOURCE_TOKEN,
      url: emulator.url,
      parallelism,
      // Exact windows: the scenarios move the emulator clock themselves (docs/standalone.md).
      lagSeconds: 0,
      tables: tables.map(({ name, mode }) => tableItem(name, mode)),
      destination: { url: emulator.url, '#token': DEST_TOKEN, bucket: DEST_BUCKET },
    },
  });
  const options = (runId: string) => ({
    env: { ...FAST_ENV, AWS_ENDPOINT_URL_S3: emulator.url, KBC_RUNID: runId },
    timeoutMs: 60_000,
  });
  return {
    emulator,
    dataDir,
    start: () => startCliProcess(['--data', dataDir], options('crash-first')),
    rerun: () => runCli(['--data', dataDir], options('crash-rerun')),
  };
}

/** Waits for the labelled fault, or fails when the run ends before reaching it. */
async function reach(emulatorRun: ReturnType<typeof startCliProcess>, applied: Promise<unknown>) {
  const ended = emulatorRun.done.then((result) => {
    throw new Error(
      `The run ended (code ${result.code}) before the crash point: ${result.stderr.slice(0, 500)}`,
    );
  });
  await Promise.race([applied, ended]);
}

/** Source changes between the killed run and the rerun: new rows, and (upsert) one update. */
async function changeSource(f: Fixture, table: string, mode: CrashMode): Promise<void> {
  const { control } = f.emulator;
  control.advanceClock(10_000);
  const tableId = `${SOURCE_BUCKET}.${table}`;
  const fresh = [
    { id: '6', value: 'v6' },
    { id: '7', value: 'v7' },
  ];
  if (mode === 'append') await control.insertRows(CRASH_SOURCE_PROJECT, tableId, fresh);
  else
    await control.upsertRows(CRASH_SOURCE_PROJECT, tableId, [...fresh, { id: '2', value: 'v2b' }]);
  control.advanceClock(10_000);
}

/** Phases whose kill comes after the import job was accepted (it finishes on the server). */
const IMPORTED_BEFORE_KILL = new Set([
  'while the import runs',
  'after the import started, before the claim is released',
  'after the claim for the record, before the record',
  'after the import, before the record',
  'after the record, before out/state.json',
]);

async function destinationRows(f: Fixture, table: string): Promise<number> {
  try {
    return (await f.emulator.control.tableRows(CRASH_DEST_PROJECT, `${DEST_BUCKET}.${table}`))
      .length;
  } catch {
    return 0; // the table was never created
  }
}

/** Destination vs source, as row multisets. */
async function compareTable(f: Fixture, table: string): Promise<RowComparison> {
  const { control } = f.emulator;
  const source = await control.tableRows(CRASH_SOURCE_PROJECT, `${SOURCE_BUCKET}.${table}`);
  const dest = await control.tableRows(CRASH_DEST_PROJECT, `${DEST_BUCKET}.${table}`);
  return compareRows(rowValues(source, COLUMNS), rowValues(dest, COLUMNS));
}

async function rerunCorrect(f: Fixture, tables: readonly string[]): Promise<RowComparison[]> {
  f.emulator.control.clearFaults();
  const result = await f.rerun();
  expect({ code: result.code, stderr: result.stderr }).toMatchObject({ code: 0 });
  await expectNoSecrets(
    [SOURCE_TOKEN, DEST_TOKEN, ...f.emulator.control.objectStoreSecrets()],
    result,
    f.dataDir,
  );
  const comparisons: RowComparison[] = [];
  for (const table of tables) {
    const comparison = await compareTable(f, table);
    expect(comparison, table).toMatchObject({ lost: 0, duplicated: 0, unexpected: 0 });
    comparisons.push(comparison);
  }
  return comparisons;
}

/** SIGKILL at `phase`, change the source, rerun without in/state.json: exactly once. */
export async function runCrashScenario(
  phase: string,
  mode: CrashMode,
  tally: FaultTally,
): Promise<void> {
  tally.scenarios += 1;
  const table = `t_${mode}`;
  const f = await fixture([{ name: table, mode }], 1);
  try {
    const fault = CRASH_PHASES[phase];
    if (!fault) throw new Error(`No crash phase "${phase}"`);
    const applied = f.emulator.control.whenFaultApplied('crash');
    f.emulator.control.addFault({ ...fault, label: 'crash' });
    const first = f.start();
    await reach(first, applied);
    first.kill('SIGKILL');
    const killed = await first.done;
    expect(killed.signal).toBe('SIGKILL');
    tally.faultsInjected += 1;
    await f.emulator.control.waitForJobs();
    // The kill landed where the phase says: the import ran (or not) before it.
    const landed = await destinationRows(f, table);
    expect(landed > 0, 'rows imported before the kill').toBe(IMPORTED_BEFORE_KILL.has(phase));
    // Killed before out/state.json: the destination's record alone carries the sync.
    expect(await exists(join(f.dataDir, 'out', 'state.json'))).toBe(false);
    await changeSource(f, table, mode);
    const [comparison] = await rerunCorrect(f, [table]);
    if (comparison) tally.addCorrectRun(comparison);
  } finally {
    await f.emulator.close();
    await removeDir(f.dataDir);
  }
}

/**
 * SIGTERM while the second of two tables exports (parallelism 1): the first is imported and
 * recorded, the run exits non-zero, the rerun copies both exactly once.
 */
export async function runSigtermBetweenTables(mode: CrashMode, tally: FaultTally): Promise<void> {
  tally.scenarios += 1;
  const tables = [`a_${mode}`, `b_${mode}`];
  const f = await fixture(
    tables.map((name) => ({ name, mode })),
    1,
  );
  try {
    const applied = f.emulator.control.whenFaultApplied('crash');
    f.emulator.control.addFault({
      kind: 'hold',
      method: 'POST',
      path: `/tables/${SOURCE_BUCKET}.${tables[1]}/export-async`,
      label: 'crash',
    });
    const first = f.start();
    await reach(first, applied);
    first.kill('SIGTERM');
    // Let the held request go on: the run notices the signal and stops.
    setTimeout(() => f.emulator.control.releaseHolds(), 200);
    const stopped = await first.done;
    expect(stopped.code).not.toBe(0);
    tally.faultsInjected += 1;
    const firstTable = await compareTable(f, tables[0] ?? '');
    expect(firstTable, 'the first table was imported before the signal').toMatchObject({
      lost: 0,
      duplicated: 0,
    });
    await f.emulator.control.waitForJobs();
    for (const table of tables) await changeSource(f, table, mode);
    for (const comparison of await rerunCorrect(f, tables)) tally.addCorrectRun(comparison);
  } finally {
    await f.emulator.close();
    await removeDir(f.dataDir);
  }
}
