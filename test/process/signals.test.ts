/**
 * One SIGTERM from outside at a named moment (docs/faults.md, Interrupted runs): the built CLI as a
 * child process, signalled while a `hold` fault keeps its `export-async` or `import-async` request
 * open. The run stops cleanly: exit 2, the final sentence names the signal, the work folder and
 * the lock are gone from out/, and no watermark moved.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useEmulator } from '../helpers/emulator.js';
import { appendSeed, appendTables, exactlyOnce } from '../helpers/append-tables.js';
import { makeDataDir, removeDir, startCliProcess, type CliResult } from '../helpers/run-cli.js';
import { platformConfig, runJob } from '../helpers/standalone.js';
import { CLAIM_LEASE_MS } from '../../src/state/sync-record.js';

const T0_MS = Date.parse('2025-05-01T00:00:00Z');
const T0 = T0_MS / 1000;
const TABLES = ['stopped_export', 'stopped_import', 'repeated', 'second'];

const emulator = useEmulator(appendSeed(TABLES, T0));
const { config: appendConfig, compare, addRow, syncItems } = appendTables(emulator);

const env = (extra: Record<string, string> = {}) => ({
  AWS_ENDPOINT_URL_S3: emulator.url,
  KBC_TABLE_SYNC_POLL_INITIAL_MS: '20',
  ...extra,
});

/** Holds the first request matching `path` unhandled; resolves once it is held. */
function holdRequest(path: string, label: string, method = 'POST'): Promise<unknown> {
  const held = emulator.control.whenFaultApplied(label);
  emulator.control.addFault({ kind: 'hold', method, path, label });
  return held;
}

/** Starts the CLI on `dataDir` and sends it one SIGTERM once `held` resolves. */
async function stopOnceHeld(dataDir: string, held: Promise<unknown>): Promise<CliResult> {
  const run = startCliProcess(['--data', dataDir], { env: env(), timeoutMs: 60_000 });
  await held;
  run.kill('SIGTERM');
  return run.done;
}

function expectStoppedBySigterm(result: CliResult): void {
  expect({ code: result.code, signal: result.signal }).toEqual({ code: 2, signal: null });
  expect(result.stdout).toMatch(/Received SIGTERM: stopping; nothing new will be finished/);
  expect(result.stderr.trim().split('\n').at(-1)).toMatch(
    /^Received SIGTERM: the run was interrupted/,
  );
}

/** What the job may leave in out/ besides its output: no work folder, no lock, no owner file. */
async function jobLeftovers(dataDir: string): Promise<string[]> {
  const names = await readdir(join(dataDir, 'out'));
  return names.filter((name) => name.startsWith('.kbc-table-sync'));
}

async function claimsOf(table: string): Promise<unknown[]> {
  return (await syncItems(table)).filter((m) => m.key.includes('.claim.'));
}

async function watermarkOf(table: string): Promise<unknown> {
  const record = (await syncItems(table)).find((m) => m.key === 'kbc-table-sync.record');
  return (JSON.parse(record?.value ?? '{}') as { watermark?: unknown }).watermark;
}

describe('one SIGTERM at a named moment', () => {
  it('during export-async (platform): exit 2 naming it, out/ clean, no state written', async () => {
    const dataDir = await makeDataDir(platformConfig(emulator.url, [{ name: 'stopped_export' }]), {
      tables: { 'in.c-sales.stopped_export': { watermark: T0 - 7_200 } },
    });
    try {
      const result = await stopOnceHeld(dataDir, holdRequest('/export-async', 'held-export'));
      expectStoppedBySigterm(result);
      expect(await jobLeftovers(dataDir)).toEqual([]);
      expect(await readdir(join(dataDir, 'out', 'tables'))).toEqual([]);
      // The watermark stays where in/state.json has it: no out/state.json at all.
      expect(await readdir(join(dataDir, 'out'))).toEqual(['tables']);
    } finally {
      emulator.control.clearFaults();
      await removeDir(dataDir);
    }
  });

  it('during import-async (standalone): exit 2 naming it, out/ clean, the watermark kept', async () => {
    const { control } = emulator;
    control.setClock(T0_MS);
    const dataDir = await makeDataDir(appendConfig('stopped_import'));
    try {
      const first = await runJob(emulator.url, dataDir);
      expect({ code: first.code, stderr: first.stderr }).toMatchObject({ code: 0 });
      const stateBefore = await readFile(join(dataDir, 'out', 'state.json'), 'utf8');
      control.setClock(T0_MS + 10_000);
      await addRow('stopped_import', '3');
      control.setClock(T0_MS + 20_000);
      const result = await stopOnceHeld(dataDir, holdRequest('/import-async', 'held-import'));
      expectStoppedBySigterm(result);
      expect(await jobLeftovers(dataDir)).toEqual([]);
      expect(await watermarkOf('stopped_import'), 'the sync record did not move').toBe(T0);
      expect(await readFile(join(dataDir, 'out', 'state.json'), 'utf8')).toBe(stateBefore);
      expect(await compare('stopped_import')).toMatchObject({ lost: 1, duplicated: 0 });
      // The import POST may have reached the server: its claim stays for the lease, and a run
      // within it leaves the table alone (docs/sync-record.md, Claims).
      expect(await claimsOf('stopped_import')).toHaveLength(1);
      control.clearFaults();
      control.setClock(T0_MS + 30_000);
      const within = await runJob(emulator.url, dataDir);
      expect({ code: within.code, stderr: within.stderr }).toMatchObject({ code: 0 });
      expect(await compare('stopped_import')).toMatchObject({ lost: 1, duplicated: 0 });
      // After the lease the next run finds no job for the intent and loads the window, once.
      control.setClock(T0_MS + 20_000 + CLAIM_LEASE_MS + 60_000);
      const next = await runJob(emulator.url, dataDir);
      expect({ code: next.code, stderr: next.stderr }).toMatchObject({ code: 0 });
      expect(await compare('stopped_import')).toMatchObject({ ...exactlyOnce, actual: 3 });
    } finally {
      control.clearFaults();
      await removeDir(dataDir);
    }
  });
});

/**
 * A second signal while the stopped run still deletes its claim (docs/faults.md). A first run is
 * killed (SIGKILL) while its import POST is held, leaving an intent. After the claim's lease the
 * next run settles it under a claim of its own and lists the jobs: that GET is held, the first
 * SIGTERM comes, nothing is in flight that could still land, so the claim's DELETE goes out; it
 * is held too, which the stop does not abort, and the second SIGTERM comes then.
 * `KBC_TABLE_SYNC_REPEAT_SIGNAL_MS` decides whether it counts as the same stop or a second one.
 */
async function signalTwice(table: string, repeatMs: string): Promise<CliResult> {
  const { control } = emulator;
  control.setClock(T0_MS);
  const dataDir = await makeDataDir(appendConfig(table));
  const first = await runJob(emulator.url, dataDir);
  expect({ code: first.code, stderr: first.stderr }).toMatchObject({ code: 0 });
  control.setClock(T0_MS + 10_000);
  await addRow(table, '3');
  control.setClock(T0_MS + 20_000);
  const killedHeld = holdRequest('/import-async', `${table}-killed-import`);
  const killed = startCliProcess(['--data', dataDir], { env: env(), timeoutMs: 60_000 });
  await killedHeld;
  killed.kill('SIGKILL');
  await killed.done;
  control.clearFaults();
  control.setClock(T0_MS + 20_000 + CLAIM_LEASE_MS + 60_000);
  const jobsHeld = holdRequest('/v2/storage/jobs', `${table}-settle`, 'GET');
  const run = startCliProcess(['--data', dataDir], {
    env: env({ KBC_TABLE_SYNC_REPEAT_SIGNAL_MS: repeatMs }),
    timeoutMs: 60_000,
  });
  try {
    await jobsHeld;
    const releaseHeld = holdRequest('/metadata/', `${table}-release`, 'DELETE');
    run.kill('SIGTERM');
    await releaseHeld;
    run.kill('SIGTERM');
    // The label fires as the fault is taken, a few microtasks before the hold is in place: one
    // turn of the event loop later, releasing it lets the DELETE through.
    await new Promise((resolve) => setImmediate(resolve));
    control.releaseHolds();
    return await run.done;
  } finally {
    control.clearFaults();
  }
}

describe('a second signal', () => {
  it('within the repeat window is the same stop (one stop delivered twice): exit 2, clean', async () => {
    const result = await signalTwice('repeated', '60000');
    expectStoppedBySigterm(result);
    expect(await watermarkOf('repeated')).toBe(T0);
    expect(await claimsOf('repeated'), 'the claim was deleted').toEqual([]);
  });

  it('after the repeat window exits at once with 130', async () => {
    const result = await signalTwice('second', '0');
    expect({ code: result.code, signal: result.signal }).toEqual({ code: 130, signal: null });
    expect(await watermarkOf('second')).toBe(T0);
  });
});

describe('a signal after the outcome is decided', () => {
  it('keeps the exit code: a sync action past its deadline, signalled while its request still hangs, exits 1', async () => {
    // tokens/verify answers only after 4 s; the action's deadline ends main() after 0.3 s, and the
    // signal comes while the process drains its output and exits, the request still hanging.
    emulator.control.addFault({ kind: 'latency', ms: 4_000, path: 'tokens/verify', count: 1 });
    const dataDir = await makeDataDir(platformConfig(emulator.url, [{ name: 'second' }]));
    try {
      const run = startCliProcess(['action', 'testConnection', '--data', dataDir], {
        env: env({ KBC_TABLE_SYNC_ACTION_DEADLINE_MS: '300' }),
        killWhen: { pattern: /did not finish within 0\.3 s/, signal: 'SIGTERM' },
        timeoutMs: 60_000,
      });
      const result = await run.done;
      expect(run.signalledAtMs, 'the signal was sent after the sentence').toBeDefined();
      expect({ code: result.code, signal: result.signal }).toEqual({ code: 1, signal: null });
      expect(result.stderr).toMatch(/did not answer verifyToken\(\)\.\n$/);
    } finally {
      emulator.control.clearFaults();
      await removeDir(dataDir);
    }
  });
});
