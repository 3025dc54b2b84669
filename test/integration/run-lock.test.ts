/**
 * One run per data folder (docs/locking.md). These tests start the first run as a child process
 * of its own on purpose: the lock records and checks process ids, and the first run is stopped
 * with SIGTERM and SIGKILL.
 */
import { spawn, spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { mkdir, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { LOCK_DIR_NAME, LOCK_OWNER_FILE_NAME } from '../../src/lock/data-dir-lock.js';
import { readProcessTable } from '../../src/lock/process-table.js';
import { useEmulator } from '../helpers/emulator.js';
import {
  CLI,
  exists,
  listFiles,
  makeDataDir,
  removeDir,
  startCliProcess,
} from '../helpers/run-cli.js';
import {
  DEST_PROJECT,
  T0_MS,
  destRows,
  expectNoLeaks,
  exportStarts,
  runJob,
  standaloneConfig,
  standaloneSeed,
} from '../helpers/standalone.js';

const emulator = useEmulator(standaloneSeed());

const jobEnv = (url: string) => ({
  AWS_ENDPOINT_URL_S3: url,
  STORAGE_EMULATOR_HOST: url,
  KBC_TABLE_SYNC_POLL_INITIAL_MS: '20',
  KBC_TABLE_SYNC_POLL_MAX_MS: '200',
});

/** Starts the CLI as its own process (killed after 60 s at most). */
function startRun(url: string, dataDir: string) {
  return startCliProcess(['--data', dataDir], { env: jobEnv(url), timeoutMs: 60_000 });
}

/** Waits (bounded) until the export of the first run has started: it then holds the lock. */
async function untilExportStarted(dataDir: string, started: () => boolean): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (started() && (await exists(join(dataDir, 'out', LOCK_OWNER_FILE_NAME)))) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('The first run never started its export.');
}

const table = [{ name: 'orders', destination: 'orders_locked', incremental: false }] as const;

describe('one run per data folder', () => {
  it('a second run exits 1 at once naming the holder; SIGTERM releases the lock and writes no state', async () => {
    const { control, url } = emulator;
    control.setClock(T0_MS);
    control.resetStats();
    const dataDir = await makeDataDir(standaloneConfig(url, table));
    try {
      // The export job of the first run never finishes: it holds the lock until stopped.
      control.addFault({ kind: 'jobStuck', method: 'POST', path: 'export-async' });
      const first = startRun(url, dataDir);
      await untilExportStarted(dataDir, () => exportStarts(control)['in.c-sales.orders'] === 1);

      const startedMs = Date.now();
      const second = await runJob(url, dataDir);
      const elapsedMs = Date.now() - startedMs;
      expect(second.code).toBe(1);
      expect(second.stderr.trim()).toMatch(
        new RegExp(
          `^Another run holds the lock on this data folder \\(pid ${first.child.pid} on host \\S+, started \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\): wait for it to finish; a lock not refreshed for 10 s is taken over\\.$`,
        ),
      );
      expect(elapsedMs).toBeLessThan(15_000);
      expect(exportStarts(control)).toEqual({ 'in.c-sales.orders': 1 });

      first.child.kill('SIGTERM');
      const stopped = await first.done;
      expect(stopped.code).not.toBe(0);
      expect(await listFiles(join(dataDir, 'out'))).toEqual([]);
      expect(await exists(join(dataDir, 'out', LOCK_DIR_NAME))).toBe(false);
      await expectNoLeaks(control, second, dataDir);
    } finally {
      await removeDir(dataDir);
    }
  });

  it('after a SIGKILL the next run takes over the dead process lock at once and copies the table', async () => {
    const { control, url } = emulator;
    control.setClock(T0_MS + 60_000);
    control.resetStats();
    const dataDir = await makeDataDir(standaloneConfig(url, table));
    try {
      control.addFault({ kind: 'jobStuck', method: 'POST', path: 'export-async' });
      const first = startRun(url, dataDir);
      await untilExportStarted(dataDir, () => exportStarts(control)['in.c-sales.orders'] === 1);
      first.child.kill('SIGKILL');
      expect((await first.done).signal).toBe('SIGKILL');
      expect(await exists(join(dataDir, 'out', LOCK_OWNER_FILE_NAME))).toBe(true);

      const rerun = await runJob(url, dataDir);
      expect(rerun.code).toBe(0);
      expect(rerun.stdout).toContain(
        `Taking over the lock of a run that is gone (pid ${first.child.pid} on host`,
      );
      expect(await destRows(control, 'in.c-copy.orders_locked', DEST_PROJECT)).toHaveLength(5);
      expect(await listFiles(join(dataDir, 'out'))).toEqual(['state.json']);
      await expectNoLeaks(control, rerun, dataDir);
    } finally {
      await removeDir(dataDir);
    }
  });

  it('a stale lock of a pid that no longer exists is taken over', async () => {
    const { control, url } = emulator;
    control.setClock(T0_MS + 120_000);
    const dataDir = await makeDataDir(
      standaloneConfig(url, [{ name: 'customers', destination: 'customers_locked' }]),
    );
    try {
      const gone = spawn(process.execPath, ['-e', '']);
      await new Promise((resolve) => gone.once('close', resolve));
      await mkdir(join(dataDir, 'out', LOCK_DIR_NAME), { recursive: true });
      await writeFile(
        join(dataDir, 'out', LOCK_OWNER_FILE_NAME),
        JSON.stringify({
          pid: gone.pid,
          hostname: hostname(),
          startedAt: '2025-01-01T00:00:00.000Z',
          processTable: readProcessTable(),
        }),
      );
      const result = await runJob(url, dataDir);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(
        `Taking over the lock of a run that is gone (pid ${gone.pid} on host`,
      );
      expect(await listFiles(join(dataDir, 'out'))).toEqual(['state.json']);
    } finally {
      await removeDir(dataDir);
    }
  });

  // Two containers of one host name (`docker run --network host`, `hostNetwork: true`): the job is
  // pid 1 in each, and neither sees the other's pids. `unshare` (util-linux) gives each run its
  // own pid namespace; it needs the privilege to make one, which CI's machine has.
  it.runIf(canUnsharePid())(
    'runs of one host name in two pid namespaces: the second refuses the live holder instead of taking its lock',
    async () => {
      const { control, url } = emulator;
      control.setClock(T0_MS + 180_000);
      control.resetStats();
      const dataDir = await makeDataDir(
        standaloneConfig(url, [{ name: 'orders', destination: 'orders_ns', incremental: false }]),
      );
      try {
        control.addFault({ kind: 'jobStuck', method: 'POST', path: 'export-async' });
        const first = startInPidNamespace(url, dataDir);
        await untilExportStarted(dataDir, () => exportStarts(control)['in.c-sales.orders'] === 1);
        const second = await startInPidNamespace(url, dataDir).done;
        expect(second.code, second.stderr).toBe(1);
        expect(second.stderr).toMatch(
          /^Another run holds the lock on this data folder \(pid 1 on host \S+, started /,
        );
        expect(exportStarts(control)).toEqual({ 'in.c-sales.orders': 1 });
        // unshare does not pass signals on; --kill-child ends the job with it.
        first.child.kill('SIGKILL');
        await first.done;
      } finally {
        await removeDir(dataDir);
      }
    },
    90_000,
  );

  it('sync actions take no lock: they run while a run holds the folder', async () => {
    const { url } = emulator;
    const dataDir = await makeDataDir(standaloneConfig(url, table));
    try {
      await mkdir(join(dataDir, 'out', LOCK_DIR_NAME), { recursive: true });
      const list = await runJob(url, dataDir, ['action', 'list']);
      expect(list.code).toBe(0);
      expect(JSON.parse(list.stdout)).toMatchObject({ tables: expect.any(Array) as unknown });
    } finally {
      await removeDir(dataDir);
    }
  });
});

function canUnsharePid(): boolean {
  return spawnSync('unshare', ['--pid', '--fork', '--kill-child', 'true']).status === 0;
}

/** The CLI as pid 1 of a new pid namespace (killed after 60 s at most). */
function startInPidNamespace(url: string, dataDir: string) {
  const child = spawn(
    'unshare',
    ['--pid', '--fork', '--kill-child', process.execPath, CLI, '--data', dataDir],
    {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...jobEnv(url) },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
  return { child, done };
}
