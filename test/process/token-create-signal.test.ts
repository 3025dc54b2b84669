/**
 * SIGTERM while `token create` waits for the answer to its create request (docs/tokens.md, A stop
 * during token create): the built CLI as a child process, since the bootstrap's forced exit 1.5 s
 * after a signal and its handling of a second signal are the process's own. The emulator creates
 * the token and holds the answer; the signal comes while it is held. The command waits for the
 * answer (past the 1.5 s), delivers the token and exits 2 saying it was created before the stop;
 * when the answer never comes it names the token that may exist by its description.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { useEmulator } from '../helpers/emulator.js';
import { listFiles, makeDataDir, startCliProcess, type CliResult } from '../helpers/run-cli.js';
import { expectNoSecrets } from '../helpers/secret-scan.js';
import { verifiedTokenId } from '../helpers/token-check.js';

const MASTER = '101-1101-5ea1e5f0c0ffee00000000000000000000001101';

const emulator = useEmulator({
  projects: [
    {
      id: 101,
      name: 'Sales',
      buckets: [{ id: 'in.c-sales', tables: [{ name: 'orders', columns: ['id'], rows: [['1']] }] }],
      tokens: [{ token: MASTER, description: 'admin master', isMasterToken: true, role: 'admin' }],
    },
  ],
});

afterEach(() => emulator.control.clearFaults());

/** Longer than the 1.5 s after which a stopped process is forced to exit. */
const PAST_GRACE_MS = 2_000;

interface ListedToken {
  readonly id: string;
  readonly description: string;
}

/** The project's live tokens, as the master token lists them. */
async function listTokens(): Promise<ListedToken[]> {
  const response = await fetch(`${emulator.url}/v2/storage/tokens`, {
    headers: { 'X-StorageApi-Token': MASTER },
  });
  return ((await response.json()) as Array<{ id: string | number; description: string }>).map(
    (t) => ({ id: String(t.id), description: t.description }),
  );
}

/** The tokens in `after` that are not in `before`. */
function added(before: readonly ListedToken[], after: readonly ListedToken[]): ListedToken[] {
  const known = new Set(before.map((t) => t.id));
  return after.filter((t) => !known.has(t.id));
}

/** The token's id by `tokens/verify`, or the status when it does not work. */
const verifiedId = (tokenString: string) => verifiedTokenId(emulator.url, tokenString);

/**
 * Starts `token create … --description <description>` with the create request's answer held
 * after the emulator created the token, and sends SIGTERM once it is held.
 */
async function createStoppedWhileHeld(
  description: string,
  extraArgs: readonly string[] = [],
  env: Record<string, string> = {},
): Promise<{ done: Promise<CliResult>; kill: (signal: NodeJS.Signals) => void }> {
  const label = `held-create-${description}`;
  const held = emulator.control.whenFaultApplied(label);
  emulator.control.addFault({
    kind: 'hold',
    afterHandling: true,
    method: 'POST',
    path: '/\\/v2\\/storage\\/tokens$/',
    label,
  });
  const run = startCliProcess(
    [
      'token',
      'create',
      '--bucket',
      'in.c-sales',
      '--url',
      emulator.url,
      '--expires-in',
      '1d',
      '--description',
      description,
      ...extraArgs,
    ],
    { env: { KBC_MASTER_TOKEN: MASTER, ...env }, timeoutMs: 30_000 },
  );
  await held;
  run.kill('SIGTERM');
  return run;
}

const unseen = (description: string) =>
  `a token described "${description}" may have been created, and its string was never shown: find it by that description in the project's API token settings (or in the list from curl -H "X-StorageApi-Token: $KBC_MASTER_TOKEN" ${emulator.url}/v2/storage/tokens), revoke it, and create another.`;

describe('SIGTERM while token create waits for its answer', () => {
  it('the answer that comes after the grace time is printed: exit 2, one new token', async () => {
    const before = await listTokens();
    const run = await createStoppedWhileHeld('stopped, printed');
    await sleep(PAST_GRACE_MS);
    emulator.control.releaseHolds();
    const result = await run.done;
    const created = added(before, await listTokens());
    expect(created).toEqual([
      { id: expect.any(String) as string, description: 'stopped, printed' },
    ]);
    expect({ code: result.code, signal: result.signal }).toEqual({ code: 2, signal: null });
    const printed = result.stdout.replace(/\n$/, '');
    expect(result.stdout).toBe(`${printed}\n`);
    expect(await verifiedId(printed)).toBe(created[0]?.id);
    const lines = result.stderr.trim().split('\n');
    expect(lines.at(-2)).toMatch(
      new RegExp(`^Created token ${created[0]?.id ?? ''} "stopped, printed": read on in\\.c-sales`),
    );
    expect(lines.at(-1)).toBe(
      'Received SIGTERM while the token was being created; it was created before the stop took effect and is on stdout.',
    );
    await expectNoSecrets(
      [MASTER, ...emulator.control.issuedSecrets().filter((s) => s !== printed)],
      result,
    );
  });

  it('with --write-config the answer goes into config.json: exit 2, the lock gone', async () => {
    const dir = await makeDataDir({
      parameters: { url: emulator.url, tables: [{ name: 'orders' }] },
    });
    const before = await listTokens();
    const run = await createStoppedWhileHeld('stopped, written', ['--write-config', dir]);
    await sleep(PAST_GRACE_MS);
    emulator.control.releaseHolds();
    const result = await run.done;
    const created = added(before, await listTokens());
    expect(created).toEqual([
      { id: expect.any(String) as string, description: 'stopped, written' },
    ]);
    expect({ code: result.code, signal: result.signal }).toEqual({ code: 2, signal: null });
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n').at(-1)).toBe(
      `Received SIGTERM while the token was being created; it was created before the stop took effect and is in ${dir}/config.json (parameters.#token).`,
    );
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as {
      parameters: { '#token': string };
    };
    expect(await verifiedId(config.parameters['#token'])).toBe(created[0]?.id);
    await expectNoSecrets([MASTER, ...emulator.control.issuedSecrets()], result, dir);
    expect((await readdir(dir)).sort()).toEqual(['config.json', 'out']);
    expect(await listFiles(join(dir, 'out'))).toEqual([]);
  });

  it('an answer that never comes names the token that may exist by its description: exit 1', async () => {
    const before = await listTokens();
    const run = await createStoppedWhileHeld('stopped, unanswered', [], {
      KBC_TABLE_SYNC_REQUEST_TIMEOUT_S: '3',
    });
    const result = await run.done;
    expect(added(before, await listTokens())).toEqual([
      { id: expect.any(String) as string, description: 'stopped, unanswered' },
    ]);
    expect({ code: result.code, signal: result.signal }).toEqual({ code: 1, signal: null });
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      `Received SIGTERM while the token was being created, and the create request then failed (Storage API POST /v2/storage/tokens did not finish within 3 s (KBC_TABLE_SYNC_REQUEST_TIMEOUT_S)): ${unseen('stopped, unanswered')}\n`,
    );
    await expectNoSecrets([MASTER, ...emulator.control.issuedSecrets()], result);
  });

  it('a second signal still ends the command at once (130), naming the token that may exist', async () => {
    const before = await listTokens();
    const run = await createStoppedWhileHeld('stopped twice', [], {
      KBC_TABLE_SYNC_REPEAT_SIGNAL_MS: '100',
    });
    await sleep(300);
    run.kill('SIGTERM');
    const result = await run.done;
    expect({ code: result.code, signal: result.signal }).toEqual({ code: 130, signal: null });
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      `Stopped at once by a second signal while the token was being created: ${unseen('stopped twice')}\n`,
    );
    expect(added(before, await listTokens())).toEqual([
      { id: expect.any(String) as string, description: 'stopped twice' },
    ]);
    await expectNoSecrets([MASTER, ...emulator.control.issuedSecrets()], result);
  });

  it('a stop during the check of the new token checks it again and prints it: exit 2', async () => {
    const before = await listTokens();
    // The create is answered at once; the new token's verify (the master's came first) is held.
    const held = emulator.control.whenFaultApplied('held-check');
    emulator.control.addFault({
      kind: 'hold',
      method: 'GET',
      path: 'tokens/verify',
      skip: 1,
      label: 'held-check',
    });
    const run = startCliProcess(
      ['token', 'create', '--bucket', 'in.c-sales', '--url', emulator.url, '--expires-in', '1d'],
      { env: { KBC_MASTER_TOKEN: MASTER }, timeoutMs: 30_000 },
    );
    await held;
    run.kill('SIGTERM');
    const result = await run.done;
    const created = added(before, await listTokens());
    expect(created).toHaveLength(1);
    expect({ code: result.code, signal: result.signal }).toEqual({ code: 2, signal: null });
    const printed = result.stdout.replace(/\n$/, '');
    expect(await verifiedId(printed)).toBe(created[0]?.id);
    expect(result.stderr.trim().split('\n').at(-1)).toBe(
      'Received SIGTERM while the token was being created; it was created before the stop took effect and is on stdout.',
    );
  });

  it('a stop during the wait before a retry of the create ends it at once: exit 2, nothing created', async () => {
    const before = await listTokens();
    const answered = emulator.control.whenFaultApplied('rate-limited');
    emulator.control.addFault({
      kind: 'status',
      status: 429,
      retryAfterSeconds: 30,
      method: 'POST',
      path: '/\\/v2\\/storage\\/tokens$/',
      label: 'rate-limited',
    });
    const run = startCliProcess(
      ['token', 'create', '--bucket', 'in.c-sales', '--url', emulator.url, '--expires-in', '1d'],
      { env: { KBC_MASTER_TOKEN: MASTER }, timeoutMs: 30_000 },
    );
    await answered;
    await sleep(200);
    const stoppedAtMs = Date.now();
    run.kill('SIGTERM');
    const result = await run.done;
    expect(Date.now() - stoppedAtMs).toBeLessThan(1_500);
    expect({ code: result.code, signal: result.signal }).toEqual({ code: 2, signal: null });
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n').at(-1)).toMatch(
      /^Received SIGTERM before the create request reached the Storage API \(Storage API POST \/v2\/storage\/tokens answered 429.*\): nothing was created\.$/,
    );
    expect(added(before, await listTokens())).toEqual([]);
  });

  it('a new token that fails the rules after the stop is still deleted: exit 1, no new token', async () => {
    const before = await listTokens();
    // The new token's verify (the master's own came first) shows a second bucket.
    const view = await fetch(`${emulator.url}/v2/storage/tokens/verify`, {
      headers: {
        'X-StorageApi-Token': emulator.control.createToken(101, {
          bucketPermissions: { 'in.c-sales': 'read' },
        }),
      },
    }).then((response) => response.json() as Promise<Record<string, unknown>>);
    const baseline = await listTokens();
    emulator.control.addFault({
      kind: 'status',
      status: 200,
      body: { ...view, bucketPermissions: { 'in.c-sales': 'read', 'in.c-more': 'read' } },
      method: 'GET',
      path: 'tokens/verify',
      skip: 1,
    });
    const run = await createStoppedWhileHeld('stopped, failing');
    await sleep(PAST_GRACE_MS);
    emulator.control.releaseHolds();
    const result = await run.done;
    expect(before.length + 1).toBe(baseline.length);
    expect(added(baseline, await listTokens())).toEqual([]);
    expect({ code: result.code, signal: result.signal }).toEqual({ code: 1, signal: null });
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(
      /^The new token \d+ failed the job's token rules and was deleted again: The token must have read-only permissions to a single bucket only \(it has 2: in\.c-sales, in\.c-more\)\.\n$/,
    );
  });
});
