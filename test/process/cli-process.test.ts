/**
 * The few tests where the process itself matters (docs/architecture.md, Tests): the built CLI
 * (`dist/main.js`) as a child process, for the exit codes the shell sees, signals sent from
 * outside, and one smoke run per mode. Everything else drives `main(io)` in process (`runCli`).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useEmulator } from '../helpers/emulator.js';
import {
  CLI,
  exists,
  listFiles,
  makeDataDir,
  removeDir,
  runCliProcess,
  startCliProcess,
} from '../helpers/run-cli.js';
import {
  destRows,
  expectNoLeaks,
  platformConfig as platformConfigAt,
  readOutState,
  standaloneConfig,
  standaloneSeed,
} from '../helpers/standalone.js';

const emulator = useEmulator(standaloneSeed());

const env = () => ({
  AWS_ENDPOINT_URL_S3: emulator.url,
  STORAGE_EMULATOR_HOST: emulator.url,
  KBC_TABLE_SYNC_POLL_INITIAL_MS: '20',
});

const platformConfig = (tables: readonly { name: string }[]) =>
  platformConfigAt(emulator.url, tables);

describe('the built CLI as a process', () => {
  it('platform mode: exit 0, the sliced table, its manifest and the state', async () => {
    const dataDir = await makeDataDir(platformConfig([{ name: 'orders' }]));
    try {
      const result = await runCliProcess(['--data', dataDir], { env: env(), timeoutMs: 60_000 });
      expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
      expect(await listFiles(join(dataDir, 'out', 'tables'))).toContain('orders.csv.manifest');
      expect(Object.keys((await readOutState(dataDir)).tables)).toEqual(['in.c-sales.orders']);
      await expectNoLeaks(emulator.control, result, dataDir);
    } finally {
      await removeDir(dataDir);
    }
  });

  it('a reader that goes away (| head -1) does not stop the run: exit 0, the table complete', async () => {
    const dataDir = await makeDataDir(platformConfig([{ name: 'orders' }]));
    try {
      const child = spawn(process.execPath, [CLI, '--data', dataDir], {
        env: { PATH: process.env.PATH, ...env() },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      // The first line read, the pipe is closed: every later write of the job meets EPIPE.
      child.stdout.once('data', () => child.stdout.destroy());
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      const [code] = (await once(child, 'close')) as [number | null];
      clearTimeout(timer);
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
      expect(await listFiles(join(dataDir, 'out', 'tables'))).toContain('orders.csv.manifest');
      expect(Object.keys((await readOutState(dataDir)).tables)).toEqual(['in.c-sales.orders']);
    } finally {
      await removeDir(dataDir);
    }
  });

  /** The CLI with stdout on /dev/full (every write fails with ENOSPC): its exit code and stderr. */
  async function withStdoutOnFullDisk(args: readonly string[]) {
    const full = await open('/dev/full', 'w');
    try {
      const child = spawn(process.execPath, [CLI, ...args], {
        env: { PATH: process.env.PATH, ...env() },
        stdio: ['ignore', full.fd, 'pipe'],
      });
      let stderr = '';
      child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      const [code] = (await once(child, 'close')) as [number | null];
      clearTimeout(timer);
      return { code, stderr };
    } finally {
      await full.close();
    }
  }
  const LOST = 'Writing to stdout failed (ENOSPC): what was written there since is lost.\n';

  it('a log on a full disk (stdout to /dev/full) does not stop the run: said once on stderr, exit 0', async () => {
    const dataDir = await makeDataDir(platformConfig([{ name: 'orders' }]));
    try {
      expect(await withStdoutOnFullDisk(['--data', dataDir])).toEqual({ code: 0, stderr: LOST });
      expect((await listFiles(join(dataDir, 'out'))).sort()).toEqual([
        'state.json',
        'tables/orders.csv.manifest',
        'tables/orders.csv/part-00000.csv.gz',
        'tables/orders.csv/part-00001.csv.gz',
      ]);
    } finally {
      await removeDir(dataDir);
    }
  });

  it('a sync action whose document cannot be written (stdout to /dev/full) exits 1', async () => {
    const dataDir = await makeDataDir(platformConfig([{ name: 'orders' }]));
    try {
      const result = await withStdoutOnFullDisk(['action', 'list', '--data', dataDir]);
      expect(result).toEqual({ code: 1, stderr: LOST });
    } finally {
      await removeDir(dataDir);
    }
  });

  it('standalone mode: exit 0 and the rows in the destination table', async () => {
    const dataDir = await makeDataDir(
      standaloneConfig(emulator.url, [{ name: 'orders', destination: 'orders_process' }]),
    );
    try {
      const result = await runCliProcess(['--data', dataDir], { env: env(), timeoutMs: 60_000 });
      expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
      expect(await destRows(emulator.control, 'in.c-copy.orders_process')).toHaveLength(5);
      await expectNoLeaks(emulator.control, result, dataDir);
    } finally {
      await removeDir(dataDir);
    }
  });

  it('a sync action: exit 0 and exactly one JSON document on stdout', async () => {
    const dataDir = await makeDataDir(platformConfig([{ name: 'orders' }]));
    try {
      const result = await runCliProcess(['action', 'list', '--data', dataDir], { env: env() });
      expect(result.code).toBe(0);
      expect(result.stdout.trim().split('\n')).toHaveLength(1);
      expect(JSON.parse(result.stdout)).toMatchObject({ tables: expect.any(Array) as unknown });
    } finally {
      await removeDir(dataDir);
    }
  });

  it('a sync action past its deadline exits right after its sentence, though its request still hangs', async () => {
    const { control } = emulator;
    control.addFault({ kind: 'hold', method: 'GET', path: '/v2/storage/tokens/verify' });
    const dataDir = await makeDataDir(platformConfig([{ name: 'orders' }]));
    try {
      const run = startCliProcess(['action', 'testConnection', '--data', dataDir], {
        env: { ...env(), KBC_TABLE_SYNC_ACTION_DEADLINE_MS: '500' },
        timeoutMs: 30_000,
      });
      let sentenceAtMs: number | undefined;
      run.child.stderr?.on('data', () => (sentenceAtMs ??= performance.now()));
      const result = await run.done;
      const exitedAfterMs = performance.now() - (sentenceAtMs ?? Number.NaN);
      expect({ code: result.code, stdout: result.stdout }).toEqual({ code: 1, stdout: '' });
      expect(result.stderr).toMatch(/did not answer verifyToken\(\)\.\n$/);
      // Keboola gives a sync action 30 s in all; the held socket used to keep the process for
      // the 2 s exit grace after the 25 s deadline.
      expect(exitedAfterMs).toBeLessThan(1_000);
    } finally {
      control.releaseHolds();
      control.clearFaults();
      await removeDir(dataDir);
    }
  });

  it('exit 1 for a user fault: one sentence on stderr, no stack trace, nothing written', async () => {
    const dataDir = await makeDataDir(platformConfig([{ name: 'ghost' }]));
    try {
      const result = await runCliProcess(['--data', dataDir], { env: env() });
      expect(result.code).toBe(1);
      expect(result.stderr.trim()).toBe(
        'The table "ghost" was not found in the bucket "in.c-sales".',
      );
      // The data-folder lock lives in out/ and is gone again: no file is left.
      expect(await listFiles(join(dataDir, 'out'))).toEqual([]);
    } finally {
      await removeDir(dataDir);
    }
  });

  it('exit 1 for an action the component never registered, naming the valid ones', async () => {
    const config = { ...platformConfig([{ name: 'orders' }]), action: 'export' };
    const dataDir = await makeDataDir(config);
    try {
      const result = await runCliProcess(['--data', dataDir], { env: env() });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('Unknown action "export"');
      expect(result.stderr).toContain('testConnection');
    } finally {
      await removeDir(dataDir);
    }
  });

  it('SIGTERM from outside: exit 2, the reason on stderr, no table written, no state', async () => {
    const { control } = emulator;
    control.addFault({
      method: 'GET',
      path: '/_part_\\d+\\.gz$/',
      kind: 'latency',
      ms: 3000,
      count: 10,
    });
    const dataDir = await makeDataDir(platformConfig([{ name: 'orders' }]));
    try {
      const result = await runCliProcess(['--data', dataDir], {
        env: env(),
        killWhen: { pattern: /Exporting .*in\.c-sales\.orders/, signal: 'SIGTERM' },
        timeoutMs: 60_000,
      });
      expect({ code: result.code, signal: result.signal }).toEqual({ code: 2, signal: null });
      // The stop is logged as it happens (stdout); the final sentence on stderr names it too.
      expect(result.stdout).toMatch(/Received SIGTERM: stopping/);
      expect(result.stderr).toMatch(/Received SIGTERM: the run was interrupted/);
      expect(await listFiles(join(dataDir, 'out', 'tables'))).toEqual([]);
      expect(await exists(join(dataDir, 'out', 'state.json'))).toBe(false);
    } finally {
      control.clearFaults();
      await removeDir(dataDir);
    }
  });
});
