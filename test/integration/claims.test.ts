/**
 * Claims (standalone mode, docs/sync-record.md, Claims): two runs on one destination table that
 * both found it unchanged never both import. Run in process against the emulator; requests are
 * held at the exact moment the race needs (`hold` faults), so each interleaving is deterministic.
 */
import { describe, expect, it } from 'vitest';
import { useEmulator } from '../helpers/emulator.js';
import { appendSeed, appendTables, exactlyOnce } from '../helpers/append-tables.js';
import { makeDataDir, removeDir, startCliProcess } from '../helpers/run-cli.js';
import { SOURCE_PROJECT, WRITER_TOKEN, expectNoLeaks, runJob } from '../helpers/standalone.js';

const T0_MS = Date.parse('2025-04-01T00:00:00Z');
const T0 = T0_MS / 1000;
const LEASE_MS = 30 * 60_000;
/** One append table (no primary key) per test: a window imported twice shows as duplicates. */
const TABLES = [
  'late_claim',
  'twin_claims',
  'late_commit',
  'slow_api',
  'stopped',
  'dead_claim',
  'dead_intent',
  'unchanged_claim',
];

const emulator = useEmulator(appendSeed(TABLES, T0));
const { config: appendConfig, compare, addRow, syncItems: ourItems } = appendTables(emulator);

async function claimKeys(table: string): Promise<string[]> {
  return (await ourItems(table))
    .map((m) => m.key)
    .filter((key) => key.startsWith('kbc-table-sync.claim.'));
}

async function watermarkOf(table: string): Promise<unknown> {
  const record = (await ourItems(table)).find((m) => m.key === 'kbc-table-sync.record');
  return (JSON.parse(record?.value ?? '{}') as { watermark?: unknown }).watermark;
}

/** Writes our items as another run (dead, or about to import) would have left them. */
async function writeItems(table: string, metadata: { key: string; value: string }[]) {
  const response = await fetch(`${emulator.url}/v2/storage/tables/in.c-copy.${table}/metadata`, {
    method: 'POST',
    headers: { 'X-StorageApi-Token': WRITER_TOKEN, 'Content-Type': 'application/json' },
    body: JSON.stringify({ provider: 'kbc-table-sync', metadata }),
  });
  expect(response.status).toBe(201);
}

/** Runs the first sync of `table` from a fresh data folder; returns that folder. */
async function firstSync(table: string): Promise<string> {
  const dir = await makeDataDir(appendConfig(table));
  const first = await runJob(emulator.url, dir);
  expect({ code: first.code, stderr: first.stderr }).toMatchObject({ code: 0 });
  return dir;
}

describe('claims on a destination table', () => {
  it('a run that found the table unchanged, but claims it only after another run imported, skips it', async () => {
    const { control } = emulator;
    control.setClock(T0_MS);
    const dirA = await firstSync('late_claim');
    const dirB = await makeDataDir(appendConfig('late_claim'));
    try {
      control.setClock(T0_MS + 10_000);
      await addRow('late_claim', '3');
      control.setClock(T0_MS + 20_000);
      // Run A has re-read the table (unchanged) and sends its claim; the claim is held unhandled.
      const held = control.whenFaultApplied('held-claim');
      control.addFault({ kind: 'hold', method: 'POST', path: '/metadata', label: 'held-claim' });
      const runA = runJob(emulator.url, dirA);
      await held;
      // Meanwhile run B syncs the same window completely.
      const b = await runJob(emulator.url, dirB);
      expect({ code: b.code, stderr: b.stderr }).toMatchObject({ code: 0 });
      control.releaseHolds();
      const a = await runA;
      expect({ code: a.code, stderr: a.stderr }).toMatchObject({ code: 0 });
      expect(a.stdout).toMatch(
        /Skipping \\?"in\.c-copy\.late_claim\\?": another run has moved its sync record/,
      );
      expect(await compare('late_claim')).toMatchObject({ ...exactlyOnce, actual: 3 });
      expect(await claimKeys('late_claim'), 'both claims released').toEqual([]);
      await expectNoLeaks(control, a, dirA);
    } finally {
      control.clearFaults();
      await removeDir(dirA);
      await removeDir(dirB);
    }
  });

  it('two claims in flight at once: the later run sees the earlier claim and skips; the earlier imports', async () => {
    const { control } = emulator;
    control.setClock(T0_MS);
    const dirA = await firstSync('twin_claims');
    const dirB = await makeDataDir(appendConfig('twin_claims'));
    try {
      control.setClock(T0_MS + 10_000);
      await addRow('twin_claims', '3');
      control.setClock(T0_MS + 20_000);
      // Run A's claim lands; its answer is held, so A has not yet decided.
      const held = control.whenFaultApplied('held-claim');
      control.addFault({
        kind: 'hold',
        afterHandling: true,
        method: 'POST',
        path: '/metadata',
        label: 'held-claim',
      });
      const runA = runJob(emulator.url, dirA, [], { KBC_RUNID: 'run-a' });
      await held;
      const b = await runJob(emulator.url, dirB, [], { KBC_RUNID: 'run-b' });
      expect({ code: b.code, stderr: b.stderr }).toMatchObject({ code: 0 });
      expect(b.stdout).toMatch(
        /Skipping \\?"in\.c-copy\.twin_claims\\?": run \\?"run-a\\?" holds a claim on it/,
      );
      control.releaseHolds();
      const a = await runA;
      expect({ code: a.code, stderr: a.stderr }).toMatchObject({ code: 0 });
      expect(await compare('twin_claims')).toMatchObject({ ...exactlyOnce, actual: 3 });
      expect(await watermarkOf('twin_claims')).toBe(T0 + 20);
      expect(await claimKeys('twin_claims')).toEqual([]);
    } finally {
      control.clearFaults();
      await removeDir(dirA);
      await removeDir(dirB);
    }
  });

  it('a run whose record write is slow holds the table: another run skips it, so the late write erases no newer intent', async () => {
    const { control } = emulator;
    control.setClock(T0_MS);
    const dirA = await firstSync('late_commit');
    const dirB = await makeDataDir(appendConfig('late_commit'));
    try {
      control.setClock(T0_MS + 10_000);
      await addRow('late_commit', '3');
      control.setClock(T0_MS + 20_000);
      // Run A's metadata writes: import claim, intent, claim for the record, record. The record
      // write is held unhandled: A holds its claim for the record meanwhile.
      const held = control.whenFaultApplied('held-record');
      control.addFault({
        kind: 'hold',
        method: 'POST',
        path: '/metadata',
        skip: 3,
        label: 'held-record',
      });
      const runA = runJob(emulator.url, dirA, [], { KBC_RUNID: 'run-a' });
      await held;
      control.setClock(T0_MS + 30_000);
      await addRow('late_commit', '4');
      control.setClock(T0_MS + 40_000);
      const b = await runJob(emulator.url, dirB, [], { KBC_RUNID: 'run-b' });
      expect({ code: b.code, stderr: b.stderr }).toMatchObject({ code: 0 });
      expect(b.stdout).toMatch(
        /Skipping \\?"in\.c-copy\.late_commit\\?": run \\?"run-a\\?" holds a claim on it/,
      );
      control.releaseHolds();
      const a = await runA;
      expect({ code: a.code, stderr: a.stderr }).toMatchObject({ code: 0 });
      expect(await watermarkOf('late_commit')).toBe(T0 + 20);
      control.setClock(T0_MS + 50_000);
      const again = await runJob(emulator.url, dirB, [], { KBC_RUNID: 'run-b2' });
      expect({ code: again.code, stderr: again.stderr }).toMatchObject({ code: 0 });
      expect(await compare('late_commit')).toMatchObject({ ...exactlyOnce, actual: 4 });
      expect(await watermarkOf('late_commit')).toBe(T0 + 50);
      expect(await claimKeys('late_commit')).toEqual([]);
    } finally {
      control.clearFaults();
      await removeDir(dirA);
      await removeDir(dirB);
    }
  });

  it('a claim grown older than a third of its lease on a slow API covers no import: skipped, then copied once', async () => {
    const { control } = emulator;
    control.setClock(T0_MS);
    const dir = await firstSync('slow_api');
    try {
      control.setClock(T0_MS + 10_000);
      await addRow('slow_api', '3');
      // A 3 s lease: the intent write (second metadata POST) answers after 1.5 s, past a third.
      control.addFault({ kind: 'latency', ms: 1_500, method: 'POST', path: '/metadata', skip: 1 });
      const env = { KBC_TABLE_SYNC_CLAIM_LEASE_MS: '3000' };
      const slow = await runJob(emulator.url, dir, [], env);
      expect({ code: slow.code, stderr: slow.stderr }).toMatchObject({ code: 0 });
      expect(slow.stdout).toMatch(/too old to start an import under it/);
      expect(control.stats().jobStarts['tableImport in.c-copy.slow_api']).toBe(1);
      expect(await watermarkOf('slow_api')).toBe(T0);
      control.clearFaults();
      control.setClock(T0_MS + 20_000);
      const next = await runJob(emulator.url, dir, [], env);
      expect({ code: next.code, stderr: next.stderr }).toMatchObject({ code: 0 });
      expect(next.stdout).toMatch(/never started: dropping it/);
      expect(await compare('slow_api')).toMatchObject({ ...exactlyOnce, actual: 3 });
      expect(await claimKeys('slow_api')).toEqual([]);
    } finally {
      control.clearFaults();
      await removeDir(dir);
    }
  });

  it('SIGTERM while the intent is being written: the claim stays until its lease (the write may still land), then the window is copied once', async () => {
    const { control } = emulator;
    control.setClock(T0_MS);
    const dir = await firstSync('stopped');
    try {
      control.setClock(T0_MS + 10_000);
      await addRow('stopped', '3');
      // The intent write (second metadata POST) is held unhandled; the signal comes meanwhile.
      const held = control.whenFaultApplied('held-intent');
      control.addFault({
        kind: 'hold',
        method: 'POST',
        path: '/metadata',
        skip: 1,
        label: 'held-intent',
      });
      const run = startCliProcess(['--data', dir], {
        env: {
          AWS_ENDPOINT_URL_S3: emulator.url,
          KBC_TABLE_SYNC_POLL_INITIAL_MS: '20',
          KBC_RUNID: 'run-stopped',
        },
        timeoutMs: 60_000,
      });
      await held;
      run.kill('SIGTERM');
      const stopped = await run.done;
      expect(stopped.code).toBe(2);
      // The run cannot know whether its intent write lands: claims-unknown-outcome.test.ts.
      expect(await claimKeys('stopped'), 'the claim outlives the stopped run').toHaveLength(1);
      expect(await watermarkOf('stopped')).toBe(T0);
      control.clearFaults();
      control.setClock(T0_MS + 20_000);
      const early = await runJob(emulator.url, dir);
      expect({ code: early.code, stderr: early.stderr }).toMatchObject({ code: 0 });
      expect(early.stdout).toMatch(/run \\?"run-stopped\\?" holds a claim on it/);
      control.setClock(T0_MS + 20_000 + LEASE_MS);
      const next = await runJob(emulator.url, dir);
      expect({ code: next.code, stderr: next.stderr }).toMatchObject({ code: 0 });
      expect(await compare('stopped')).toMatchObject({ ...exactlyOnce, actual: 3 });
      expect(await claimKeys('stopped')).toEqual([]);
    } finally {
      control.clearFaults();
      await removeDir(dir);
    }
  });

  it('a dead run’s claim holds the table until its lease has passed, then it is deleted', async () => {
    const { control } = emulator;
    control.setClock(T0_MS);
    const dir = await firstSync('dead_claim');
    try {
      control.setClock(T0_MS + 10_000);
      await addRow('dead_claim', '3');
      const deadKey = 'kbc-table-sync.claim.0123456789abcdef';
      await writeItems('dead_claim', [{ key: deadKey, value: '{"runId":"dead-run"}' }]);
      control.setClock(T0_MS + 20_000);
      const blocked = await runJob(emulator.url, dir);
      expect({ code: blocked.code, stderr: blocked.stderr }).toMatchObject({ code: 0 });
      expect(blocked.stdout).toMatch(/run \\?"dead-run\\?" holds a claim on it/);
      expect(await compare('dead_claim')).toMatchObject({ lost: 1, duplicated: 0, actual: 2 });
      expect(await watermarkOf('dead_claim'), 'the watermark did not move').toBe(T0);
      control.setClock(T0_MS + 10_000 + LEASE_MS + 5_000);
      const after = await runJob(emulator.url, dir);
      expect({ code: after.code, stderr: after.stderr }).toMatchObject({ code: 0 });
      expect(await compare('dead_claim')).toMatchObject({ ...exactlyOnce, actual: 3 });
      expect(await claimKeys('dead_claim'), 'the lapsed claim is deleted').toEqual([]);
    } finally {
      await removeDir(dir);
    }
  });

  it('a dead run’s claim on a table every later run finds unchanged is deleted once its lease has passed', async () => {
    const { control } = emulator;
    control.setClock(T0_MS);
    const dir = await firstSync('unchanged_claim');
    try {
      const deadKey = 'kbc-table-sync.claim.00112233445566aa';
      control.setClock(T0_MS + 10_000);
      await writeItems('unchanged_claim', [
        { key: deadKey, value: '{"runId":"dead-run","purpose":"import"}' },
      ]);
      control.setClock(T0_MS + 20_000);
      const within = await runJob(emulator.url, dir);
      expect({ code: within.code, stderr: within.stderr }).toMatchObject({ code: 0 });
      expect(within.stdout).toMatch(/unchanged_claim\\?" is unchanged/);
      expect(await claimKeys('unchanged_claim'), 'a live claim is left alone').toEqual([deadKey]);
      control.setClock(T0_MS + 10_000 + LEASE_MS + 5_000);
      const after = await runJob(emulator.url, dir);
      expect({ code: after.code, stderr: after.stderr }).toMatchObject({ code: 0 });
      expect(after.stdout).toMatch(/unchanged_claim\\?" is unchanged/);
      expect(after.stdout).toMatch(/Deleted 1 lapsed claim/);
      expect(await claimKeys('unchanged_claim'), 'the lapsed claim is deleted').toEqual([]);
      expect(await compare('unchanged_claim')).toMatchObject({ ...exactlyOnce, actual: 2 });
      expect(await watermarkOf('unchanged_claim'), 'the watermark did not move').toBe(T0);
    } finally {
      await removeDir(dir);
    }
  });

  it('an intent without a job is not dropped while its run still holds a live claim', async () => {
    const { control } = emulator;
    control.setClock(T0_MS);
    const dir = await firstSync('dead_intent');
    try {
      control.setClock(T0_MS + 10_000);
      await addRow('dead_intent', '3');
      const source = {
        stack: emulator.url,
        projectId: SOURCE_PROJECT,
        tableId: 'in.c-sales.dead_intent',
      };
      const intent = { source, fileId: 999_999, runId: 'starting-run', mode: 'append', rows: 1 };
      await writeItems('dead_intent', [
        { key: 'kbc-table-sync.claim.fedcba9876543210', value: '{"runId":"starting-run"}' },
        { key: 'kbc-table-sync.pending', value: JSON.stringify(intent) },
      ]);
      control.setClock(T0_MS + 20_000);
      const blocked = await runJob(emulator.url, dir);
      expect({ code: blocked.code, stderr: blocked.stderr }).toMatchObject({ code: 0 });
      expect(blocked.stdout).toMatch(/run \\?"starting-run\\?" holds a claim on it/);
      expect(
        (await ourItems('dead_intent')).some(
          (m) => m.key === 'kbc-table-sync.pending' && m.value !== 'none',
        ),
      ).toBe(true);
      control.setClock(T0_MS + 10_000 + LEASE_MS + 5_000);
      const after = await runJob(emulator.url, dir);
      expect({ code: after.code, stderr: after.stderr }).toMatchObject({ code: 0 });
      expect(after.stdout).toMatch(/never started: dropping it/);
      expect(await compare('dead_intent')).toMatchObject({ ...exactlyOnce, actual: 3 });
      expect(await claimKeys('dead_intent')).toEqual([]);
    } finally {
      await removeDir(dir);
    }
  });
});
