/**
 * A SIGTERM while Node is still loading the job (docs/faults.md, Interrupted runs): the built CLI
 * as a child process, with a preload (`node --import`) that delivers the signal at a named moment
 * of the bundle's evaluation. src/early-signals.ts, the bundle's first module, handles it from
 * there on: the run stops before any work, exit 2 with its sentence, nothing in the data folder.
 * Without it the signal found no handler: exit 143 from Node's default action, and with node as
 * PID 1 (a container's exec-form entrypoint) no effect at all, the run went on.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, makeDataDir, removeDir, runCliProcess } from '../helpers/run-cli.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'early-signal');
/** Raises a real SIGTERM inside the first `require` the bundle makes while it is evaluated. */
const SIGNAL_ON_FIRST_REQUIRE = join(FIXTURES, 'signal-on-first-require.mjs');
/** Hands the first SIGTERM listener a signal, as a loop turn before the bootstrap would. */
const RECORD_ON_FIRST_LISTENER = join(FIXTURES, 'record-on-first-listener.mjs');

const STOPPED = 'Received SIGTERM: the run was interrupted; nothing new was finished.';

/** A configuration whose stack refuses connections: any request would fail the run with exit 1. */
const config = {
  parameters: {
    '#token': '1-2-abcdefghijabcdefghijabcdefghijabcdefghij',
    url: 'http://127.0.0.1:9',
    tables: [{ name: 'orders' }],
  },
};

/** Whether this machine lets the test start a process as PID 1 of a new PID namespace. */
const canBePidOne = spawnSync('unshare', ['-fp', '--mount-proc', 'true']).status === 0;

describe('a SIGTERM while Node loads the job', () => {
  it.each([
    ['a real signal while the modules are evaluated', SIGNAL_ON_FIRST_REQUIRE],
    ['a signal recorded before the bootstrap', RECORD_ON_FIRST_LISTENER],
  ])('%s: stopped before any work, exit 2 with the sentence', async (_name, preload) => {
    const dataDir = await makeDataDir(config);
    try {
      const result = await runCliProcess(['--data', dataDir], {
        nodeArgs: ['--import', preload],
        timeoutMs: 30_000,
      });
      expect({ code: result.code, signal: result.signal, stderr: result.stderr }).toEqual({
        code: 2,
        signal: null,
        stderr: `${STOPPED}\n`,
      });
      expect(result.stdout).toBe('');
      expect(await readdir(dataDir)).toEqual(['config.json']);
    } finally {
      await removeDir(dataDir);
    }
  });

  it.skipIf(!canBePidOne)(
    'as PID 1 (a container without an init): the signal is not lost',
    async () => {
      const dataDir = await makeDataDir(config);
      try {
        const child = spawn(
          'unshare',
          ['-fp', '--mount-proc', process.execPath, '--import', SIGNAL_ON_FIRST_REQUIRE, CLI],
          {
            env: { PATH: process.env.PATH, HOME: process.env.HOME, KBC_DATADIR: dataDir },
            stdio: ['ignore', 'pipe', 'pipe'],
            timeout: 30_000,
            killSignal: 'SIGKILL',
          },
        );
        let stderr = '';
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        const [code] = (await once(child, 'close')) as [number | null];
        expect({ code, stderr }).toEqual({ code: 2, stderr: `${STOPPED}\n` });
        expect(await readdir(dataDir)).toEqual(['config.json']);
      } finally {
        await removeDir(dataDir);
      }
    },
  );
});
