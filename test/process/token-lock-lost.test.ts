/**
 * `token create --write-config` and `token rotate` whose data-folder lock is lost while the server
 * is making the token (docs/tokens.md, The lock): another run may then be using the folder, so
 * config.json is left as it was and the new token is printed as the only copy, exit 1. The built
 * CLI as a child process: the lock's holder notices the loss on its own timer. The emulator holds
 * the answer that carries the new token; meanwhile the test removes the lock, as a run that took
 * it over would, and waits past the holder's next update.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { LOCK_DIR_NAME } from '../../src/lock/data-dir-lock.js';
import { useEmulator } from '../helpers/emulator.js';
import { makeDataDir, startCliProcess, type CliResult } from '../helpers/run-cli.js';
import { expectNoSecrets } from '../helpers/secret-scan.js';
import { verifiedTokenId } from '../helpers/token-check.js';

const MASTER = '101-1101-5ea1e5f0c0ffee00000000000000000000001101';
const READ_TOKEN = '101-1001-5ea1e5f0c0ffee00000000000000000000000001';

const emulator = useEmulator({
  projects: [
    {
      id: 101,
      name: 'Sales',
      buckets: [{ id: 'in.c-sales', tables: [{ name: 'orders', columns: ['id'], rows: [['1']] }] }],
      tokens: [
        { token: MASTER, description: 'admin master', isMasterToken: true, role: 'admin' },
        {
          token: READ_TOKEN,
          description: 'reader',
          bucketPermissions: { 'in.c-sales': 'read' },
          expires: new Date(Date.now() + 86_400_000).toISOString(),
        },
      ],
    },
  ],
});

afterEach(() => emulator.control.clearFaults());

/** Past the lock holder's next update of its lock (every 2 s, src/lock/data-dir-lock.ts). */
const PAST_LOCK_UPDATE_MS = 3_500;

/** The token's id by `tokens/verify`, or the status when it does not work. */
const verifiedId = (tokenString: string) => verifiedTokenId(emulator.url, tokenString);

/**
 * Runs the command with the answer to `path` (a POST) held after the emulator acted on it,
 * removes the data folder's lock while it is held, and then lets the answer go.
 */
async function runWithLockLost(
  dir: string,
  path: string,
  args: readonly string[],
): Promise<CliResult> {
  const label = `lock-lost-${path}`;
  const held = emulator.control.whenFaultApplied(label);
  emulator.control.addFault({ kind: 'hold', afterHandling: true, method: 'POST', path, label });
  const run = startCliProcess(args, { env: { KBC_MASTER_TOKEN: MASTER }, timeoutMs: 30_000 });
  await held;
  await rm(join(dir, 'out', LOCK_DIR_NAME), { recursive: true, force: true });
  await sleep(PAST_LOCK_UPDATE_MS);
  emulator.control.releaseHolds();
  return run.done;
}

const notWritten = (dir: string, what: string, tail = '') =>
  `The token ${what}, but ${dir}/config.json could not be written (the lock on the data folder was lost, so another run may be using it): the new token printed on stdout is the only copy${tail}; put it into parameters.#token yourself.`;

/**
 * Exit 1 with the new token alone on stdout, config.json as it was `before`, and no other secret
 * anywhere. Returns the printed token.
 */
async function expectPrintedOnly(
  result: Awaited<ReturnType<typeof runWithLockLost>>,
  dir: string,
  before: string,
): Promise<string> {
  expect({ code: result.code, signal: result.signal }).toEqual({ code: 1, signal: null });
  const printed = result.stdout.replace(/\n$/, '');
  expect(result.stdout).toBe(`${printed}\n`);
  expect(await readFile(join(dir, 'config.json'), 'utf8')).toBe(before);
  await expectNoSecrets(
    [MASTER, ...emulator.control.issuedSecrets().filter((s) => s !== printed)],
    result,
    dir,
  );
  return printed;
}

describe('a data-folder lock lost while the token is being made', () => {
  it('token create --write-config prints the new token and leaves config.json alone: exit 1', async () => {
    const config = { parameters: { url: emulator.url, tables: [{ name: 'orders' }] } };
    const dir = await makeDataDir(config);
    const before = await readFile(join(dir, 'config.json'), 'utf8');
    const result = await runWithLockLost(dir, '/\\/v2\\/storage\\/tokens$/', [
      'token',
      'create',
      '--bucket',
      'in.c-sales',
      '--url',
      emulator.url,
      '--expires-in',
      '1d',
      '--description',
      'lock lost',
      '--write-config',
      dir,
    ]);
    const printed = await expectPrintedOnly(result, dir, before);
    expect(await verifiedId(printed)).toEqual(expect.any(String));
    expect(result.stderr).toContain('The lock on the data folder was lost');
    expect(result.stderr.trim().split('\n').at(-1)).toBe(notWritten(dir, 'was created'));
  });

  it('token rotate prints the refreshed token and leaves config.json alone: exit 1', async () => {
    const dir = await makeDataDir({
      parameters: { url: emulator.url, '#token': READ_TOKEN, tables: [{ name: 'orders' }] },
    });
    const before = await readFile(join(dir, 'config.json'), 'utf8');
    const result = await runWithLockLost(dir, '/\\/v2\\/storage\\/tokens\\/\\d+\\/refresh$/', [
      'token',
      'rotate',
      '--data',
      dir,
    ]);
    const printed = await expectPrintedOnly(result, dir, before);
    expect(await verifiedId(printed)).toBe('1001');
    expect(await verifiedId(READ_TOKEN)).toBe(401);
    expect(result.stderr.trim().split('\n').at(-1)).toBe(
      notWritten(dir, 'was refreshed', ' and the old one no longer works'),
    );
  });
});
