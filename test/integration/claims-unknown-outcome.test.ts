/**
 * Claims kept for writes and job starts whose outcome is unknown (docs/sync-record.md, Claims):
 * a request the server has received may land after the run that sent it stopped, or after that
 * run retried it. Until the claim's lease passes, other runs must skip the table; deleting the
 * claim early let a later run import the window again (rows twice) or let a late record write
 * reset a newer watermark. The late request is played by a proxy that holds one request and
 * forwards it when the test says, even after its client has gone (test/helpers/late-proxy.ts).
 */
import { describe, expect, it } from 'vitest';
import { appendSeed, appendTables, exactlyOnce } from '../helpers/append-tables.js';
import { useEmulator } from '../helpers/emulator.js';
import { startLateProxy, type LateProxy } from '../helpers/late-proxy.js';
import { makeDataDir, removeDir, startCliProcess } from '../helpers/run-cli.js';
import { runJob, standaloneConfig } from '../helpers/standalone.js';

const T0_MS = Date.parse('2025-08-01T00:00:00Z');
const T0 = T0_MS / 1000;
const LEASE_MS = 30 * 60_000;
/** One append table (no primary key) per test: a window imported twice shows as duplicates. */
const TABLES = ['stopped_import', 'stopped_commit', 'retried_commit'];

const emulator = useEmulator(appendSeed(TABLES, T0));
const { compare, addRow, syncItems } = appendTables(emulator);

const isImportPost = (method: string, path: string): boolean =>
  method === 'POST' && path.endsWith('/import-async');
/** The commit: the metadata upsert that carries the record (and `pending: none`). */
const isRecordWrite = (method: string, path: string, body: string): boolean =>
  method === 'POST' && path.endsWith('/metadata') && body.includes('"kbc-table-sync.record"');

async function claimKeys(table: string): Promise<string[]> {
  return (await syncItems(table))
    .map((m) => m.key)
    .filter((key) => key.startsWith('kbc-table-sync.claim.'));
}

async function watermarkOf(table: string): Promise<number | undefined> {
  const record = (await syncItems(table)).find((m) => m.key === 'kbc-table-sync.record');
  return (JSON.parse(record?.value ?? '{}') as { watermark?: number }).watermark;
}

/** A proxy and a data folder whose config points at it (source and destination), first sync done. */
async function syncedThroughProxy(table: string): Promise<{ proxy: LateProxy; dir: string }> {
  const proxy = await startLateProxy(emulator.url);
  const dir = await makeDataDir(
    standaloneConfig(proxy.url, [{ name: table, incremental: true, changedSince: 'lastRun' }]),
  );
  const first = await runJob(proxy.url, dir);
  expect({ code: first.code, stderr: first.stderr }).toMatchObject({ code: 0 });
  return { proxy, dir };
}

/** Starts the built CLI on `dir` as run `runId`, and stops it with SIGTERM once `held` resolves. */
async function stopWhenHeld(proxyUrl: string, dir: string, runId: string, held: Promise<void>) {
  const run = startCliProcess(['--data', dir], {
    env: { AWS_ENDPOINT_URL_S3: proxyUrl, KBC_TABLE_SYNC_POLL_INITIAL_MS: '20', KBC_RUNID: runId },
    timeoutMs: 60_000,
  });
  await held;
  run.kill('SIGTERM');
  return run.done;
}

const claimHeldBy = (runId: string): RegExp =>
  new RegExp(`run \\\\?"${runId}\\\\?" holds a claim on it`);

/**
 * After run A left its record write held at the proxy: run B (a row later) meets A's claim and
 * skips, the held write lands, and run C after the lease copies every row once; the late write
 * never moved the watermark backwards.
 */
async function lateWriteLandsBetweenRuns(
  table: string,
  proxy: LateProxy,
  dir: string,
): Promise<void> {
  const { control } = emulator;
  control.setClock(T0_MS + 30_000);
  await addRow(table, '4');
  control.setClock(T0_MS + 40_000);
  const b = await runJob(proxy.url, dir, [], { KBC_RUNID: 'run-b' });
  const before = await watermarkOf(table);
  expect(await proxy.release()).toBeLessThan(300);
  const after = await watermarkOf(table);

  control.setClock(T0_MS + 40_000 + LEASE_MS + 10_000);
  const c = await runJob(proxy.url, dir, [], { KBC_RUNID: 'run-c' });
  expect({ code: c.code, stderr: c.stderr }).toMatchObject({ code: 0 });
  expect(await compare(table)).toMatchObject({ ...exactlyOnce, actual: 4 });
  expect(after, 'the late write moved the watermark backwards').toBeGreaterThanOrEqual(before ?? 0);
  expect({ code: b.code, stderr: b.stderr }).toMatchObject({ code: 0 });
  expect(b.stdout).toMatch(claimHeldBy('run-a'));
}

describe('claims kept while a request under them may still land', () => {
  it('SIGTERM while the import POST is in flight: the claim stays, so the late import is the only one', async () => {
    const { control } = emulator;
    control.setClock(T0_MS);
    const table = 'stopped_import';
    const { proxy, dir } = await syncedThroughProxy(table);
    try {
      control.setClock(T0_MS + 10_000);
      await addRow(table, '3');
      control.setClock(T0_MS + 20_000);
      const importSent = proxy.holdNext(isImportPost);
      const stopped = await stopWhenHeld(proxy.url, dir, 'run-stopped', importSent);
      expect(stopped.code).toBe(2);
      const claimsAfterStop = await claimKeys(table);

      // The next run comes at once, then the server carries out the stopped run's import.
      const again = await runJob(proxy.url, dir, [], { KBC_RUNID: 'run-again' });
      expect(await proxy.release()).toBeLessThan(300);
      await control.waitForJobs();
      expect(await compare(table)).toMatchObject({ ...exactlyOnce, actual: 3 });
      expect(claimsAfterStop, 'the claim outlives the stopped run').toHaveLength(1);
      expect({ code: again.code, stderr: again.stderr }).toMatchObject({ code: 0 });
      expect(again.stdout).toMatch(claimHeldBy('run-stopped'));

      // After the lease, a run settles the intent against the late job and goes on from it.
      control.setClock(T0_MS + 20_000 + LEASE_MS + 10_000);
      const settled = await runJob(proxy.url, dir, [], { KBC_RUNID: 'run-settle' });
      expect({ code: settled.code, stderr: settled.stderr }).toMatchObject({ code: 0 });
      expect(settled.stdout).toMatch(
        /pending import of run \\?"run-stopped\\?" \(job \d+\) succeeded/,
      );
      expect(await compare(table)).toMatchObject({ ...exactlyOnce, actual: 3 });
      expect(await claimKeys(table)).toEqual([]);
    } finally {
      await proxy.close();
      await removeDir(dir);
    }
  });

  it('SIGTERM while the record write is in flight: the claim stays, so the late write resets no newer watermark', async () => {
    const { control } = emulator;
    control.setClock(T0_MS);
    const table = 'stopped_commit';
    const { proxy, dir } = await syncedThroughProxy(table);
    try {
      control.setClock(T0_MS + 10_000);
      await addRow(table, '3');
      control.setClock(T0_MS + 20_000);
      const recordSent = proxy.holdNext(isRecordWrite);
      const stopped = await stopWhenHeld(proxy.url, dir, 'run-a', recordSent);
      expect(stopped.code).toBe(2);

      await lateWriteLandsBetweenRuns(table, proxy, dir);
      expect(await watermarkOf(table)).toBe(T0 + 40 + LEASE_MS / 1000 + 10);
      expect(await claimKeys(table)).toEqual([]);
    } finally {
      await proxy.close();
      await removeDir(dir);
    }
  });

  it('a record write that timed out and then succeeded keeps the claim: the first attempt may land late', async () => {
    const { control } = emulator;
    control.setClock(T0_MS);
    const table = 'retried_commit';
    const { proxy, dir } = await syncedThroughProxy(table);
    try {
      control.setClock(T0_MS + 10_000);
      await addRow(table, '3');
      control.setClock(T0_MS + 20_000);
      // The first attempt of the record write is held past the 1 s request deadline; the retry
      // goes through at once and is answered.
      const firstAttempt = proxy.holdNext(isRecordWrite);
      const a = await runJob(proxy.url, dir, [], {
        KBC_RUNID: 'run-a',
        KBC_TABLE_SYNC_REQUEST_TIMEOUT_S: '1',
        KBC_TABLE_SYNC_RETRY_BASE_MS: '20',
      });
      await firstAttempt;
      expect({ code: a.code, stderr: a.stderr }).toMatchObject({ code: 0 });
      expect(await watermarkOf(table)).toBe(T0 + 20);

      await lateWriteLandsBetweenRuns(table, proxy, dir);
      expect(await claimKeys(table)).toEqual([]);
    } finally {
      await proxy.close();
      await removeDir(dir);
    }
  });
});
