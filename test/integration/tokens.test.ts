/**
 * The `token` commands and the run-time token checks, through the built CLI against the emulator
 * (docs/tokens.md). Every test scans all outputs for KBC_MASTER_TOKEN and every token the emulator
 * ever issued (created and refreshed ones included): a token string may appear only where the
 * command promised it (stdout alone on its line, or config.json).
 */
import { execFileSync } from 'node:child_process';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { FaultKind, SeedInput } from 'keboola-storage-emulator';
import { lockDataDir } from '../../src/lock/data-dir-lock.js';
import { thisTestProcess } from '../helpers/this-process.js';
import { useEmulator } from '../helpers/emulator.js';
import {
  exists,
  listFiles,
  makeDataDir,
  removeDir,
  runCli,
  type CliResult,
} from '../helpers/run-cli.js';
import { expectNoSecrets } from '../helpers/secret-scan.js';

const MASTERS = {
  admin: '101-1101-5ea1e5f0c0ffee00000000000000000000001101',
  share: '101-1102-5ea1e5f0c0ffee00000000000000000000001102',
  guest: '101-1103-5ea1e5f0c0ffee00000000000000000000001103',
  readOnly: '101-1104-5ea1e5f0c0ffee00000000000000000000001104',
} as const;
const READ_TOKEN = '101-1001-5ea1e5f0c0ffee00000000000000000000000001';

/** One bucket only: a read-only master then shows `read` on exactly one bucket. */
const seed: SeedInput = {
  projects: [
    {
      id: 101,
      name: 'Sales',
      buckets: [
        {
          id: 'in.c-sales',
          tables: [
            {
              name: 'orders',
              columns: ['id', 'status'],
              primaryKey: ['id'],
              rows: [
                ['1', 'new'],
                ['2', 'paid'],
              ],
            },
          ],
        },
      ],
      tokens: [
        { token: READ_TOKEN, bucketPermissions: { 'in.c-sales': 'read' } },
        ...Object.entries(MASTERS).map(([role, token]) => ({
          token,
          description: `${role} master`,
          isMasterToken: true,
          role: role as keyof typeof MASTERS,
        })),
      ],
    },
  ],
};

const emulator = useEmulator(seed);
const dirs: string[] = [];
const cleanups: Array<() => void> = [];
afterEach(async () => {
  emulator.control.clearFaults();
  for (const undo of cleanups.splice(0)) undo();
  await Promise.all(dirs.splice(0).map(removeDir));
});

async function dataDir(parameters: Record<string, unknown> = {}): Promise<string> {
  const dir = await makeDataDir({
    parameters: { url: emulator.url, tables: [{ name: 'orders' }], ...parameters },
    storage: { input: { keep: 'me' } },
  });
  dirs.push(dir);
  return dir;
}

/** A fresh read token on in.c-sales (so tests never share one). */
function newReadToken(): string {
  return emulator.control.createToken(101, { bucketPermissions: { 'in.c-sales': 'read' } });
}

function token(args: readonly string[], master?: string): Promise<CliResult> {
  return runCli(['token', ...args], master ? { env: { KBC_MASTER_TOKEN: master } } : {});
}

/**
 * No secret anywhere but where promised: stderr and the data folder (config.json aside) hold none;
 * stdout holds none or exactly `promisedOnStdout` alone on its one line.
 */
async function expectSecretsOnlyWherePromised(
  result: CliResult,
  options: { dataDir?: string; promisedOnStdout?: string } = {},
): Promise<void> {
  const secrets = [...Object.values(MASTERS), READ_TOKEN, ...emulator.control.issuedSecrets()];
  await expectNoSecrets(secrets, { stderr: result.stderr }, options.dataDir);
  const promised = options.promisedOnStdout;
  await expectNoSecrets(
    secrets.filter((s) => s !== promised),
    { stdout: promised ? result.stdout.replace(`${promised}\n`, '') : result.stdout },
  );
  if (promised) expect(result.stdout).toBe(`${promised}\n`);
}

/** A real run of the job (platform mode) against the emulator's object store. */
function syncRun(dir: string): Promise<CliResult> {
  return runCli(['--data', dir], { env: { AWS_ENDPOINT_URL_S3: emulator.url } });
}

async function configOf(dir: string): Promise<{ parameters: Record<string, unknown> }> {
  return JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as {
    parameters: Record<string, unknown>;
  };
}

async function verifyStatus(tokenString: string): Promise<number> {
  const response = await fetch(`${emulator.url}/v2/storage/tokens/verify`, {
    headers: { 'X-StorageApi-Token': tokenString },
  });
  await response.arrayBuffer();
  return response.status;
}

/**
 * config.json text whose `parameters.extra.deep` nests arrays 100,000 levels deep: JSON.parse reads
 * it, JSON.stringify runs out of stack on it.
 */
function deeplyNested(parameters: Record<string, unknown>): string {
  const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
  const head = JSON.stringify({ parameters: { url: emulator.url, ...parameters } }).slice(0, -2);
  return `${head},"extra":{"deep":${deep}}}}`;
}

/** `text` as a literal part of a regular expression. */
function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

async function verifyBody(tokenString: string): Promise<Record<string, unknown>> {
  const response = await fetch(`${emulator.url}/v2/storage/tokens/verify`, {
    headers: { 'X-StorageApi-Token': tokenString },
  });
  return (await response.json()) as Record<string, unknown>;
}

/** How {@link makeUnwritable}'s folder refuses a new file, in the commands' words. */
const UNWRITABLE_REASON =
  process.getuid?.() === 0
    ? 'the operation is not permitted (check the owner and mode) (EPERM)'
    : 'permission denied (check the owner and mode, or run with --user) (EACCES)';

/**
 * Makes `dir` refuse new entries, so config.json can be read but not replaced: `chattr +i` as
 * root (root ignores permission bits), else a read-only mode. Undone after the test.
 */
async function makeUnwritable(dir: string): Promise<void> {
  if (process.getuid?.() === 0) {
    execFileSync('chattr', ['+i', dir]);
    cleanups.push(() => execFileSync('chattr', ['-i', dir]));
  } else {
    await chmod(dir, 0o555);
    cleanups.push(() => execFileSync('chmod', ['755', dir]));
  }
}

describe('token create', () => {
  it('prints a least-privilege read token once on stdout; it passes a real run', async () => {
    const result = await token(
      ['create', '--bucket', 'in.c-sales', '--url', emulator.url, '--expires-in', '90d'],
      MASTERS.admin,
    );
    expect(result.code, result.stderr).toBe(0);
    const created = result.stdout.trim();
    await expectSecretsOnlyWherePromised(result, { promisedOnStdout: created });
    expect(result.stderr).toMatch(
      /Created token \d+ .*read on in\.c-sales, expires .*in about 90 days/,
    );
    const view = await verifyBody(created);
    expect(view).toMatchObject({
      isMasterToken: false,
      canManageBuckets: false,
      canManageTokens: false,
      canReadAllFileUploads: false,
      bucketPermissions: { 'in.c-sales': 'read' },
    });
    const expiresMs = Date.parse(String(view.expires).replace(/(\d\d)(\d\d)$/, '$1:$2'));
    expect(Math.round((expiresMs - Date.now()) / 86_400_000)).toBe(90);
    const dir = await dataDir({ '#token': created });
    const run = await syncRun(dir);
    expect(run.code, run.stderr).toBe(0);
  });

  it('shows a --description with line breaks and bidi characters escaped, in create and inspect', async () => {
    const description = 'line1\nline2\u202e';
    const result = await token(
      [
        'create',
        '--bucket',
        'in.c-sales',
        '--url',
        emulator.url,
        '--description',
        description,
        '--expires-in',
        '90d',
      ],
      MASTERS.admin,
    );
    expect(result.code, result.stderr).toBe(0);
    const created = result.stdout.trim();
    await expectSecretsOnlyWherePromised(result, { promisedOnStdout: created });
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain('"line1\\u{a}line2\\u{202e}"');
    const dir = await dataDir({ '#token': created });
    const text = await token(['inspect', '--data', dir]);
    expect(text.stdout).toMatch(/^Source token \d+ "line1\\u\{a\}line2\\u\{202e\}"\n {2}project:/);
    const json = await token(['inspect', '--data', dir, '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ description });
    for (const output of [text.stdout, json.stdout]) expect(output).not.toContain('\u202e');
  });

  it('--expires-in 1d reads as about 24 hours in the summary and in the expiry warning', async () => {
    const result = await token(
      ['create', '--bucket', 'in.c-sales', '--url', emulator.url, '--expires-in', '1d'],
      MASTERS.admin,
    );
    expect(result.code, result.stderr).toBe(0);
    const created = result.stdout.trim();
    await expectSecretsOnlyWherePromised(result, { promisedOnStdout: created });
    const lines = result.stderr.trim().split('\n');
    expect(lines[0]).toMatch(
      /^Warning: The source token expires in about 24 hour\(s\) \(.*\): create a new one with "kbc-table-sync token create" before scheduled runs fail, as token rotate may keep the expiry\.$/,
    );
    expect(lines[1]).toMatch(/, expires .* \(in about 24 hour\(s\)\)\. It passes/);
    expect(result.stderr).not.toMatch(/0 day/);
    const dir = await dataDir({ '#token': created });
    const inspect = await token(['inspect', '--data', dir]);
    expect(inspect.stdout).toMatch(/expires: +\S+ \(less than a day left\)/);
  });

  it('--write makes a write token (for a destination), held to the destination rule', async () => {
    const result = await token(
      ['create', '--bucket', 'in.c-sales', '--url', emulator.url, '--write'],
      MASTERS.share,
    );
    expect(result.code, result.stderr).toBe(0);
    const created = result.stdout.trim();
    await expectSecretsOnlyWherePromised(result, { promisedOnStdout: created });
    expect(await verifyBody(created)).toMatchObject({
      bucketPermissions: { 'in.c-sales': 'write' },
      canManageBuckets: false,
    });
  });

  it('--write-config writes config.json atomically, keeps every other key and the mode, prints no secret', async () => {
    const dir = await dataDir({ '#token': 'placeholder-to-replace' });
    await chmod(join(dir, 'config.json'), 0o640);
    const before = await configOf(dir);
    const result = await token(
      ['create', '--bucket', 'in.c-sales', '--write-config', dir],
      MASTERS.admin,
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('');
    await expectSecretsOnlyWherePromised(result, { dataDir: dir });
    const after = await configOf(dir);
    const created = String(after.parameters['#token']);
    expect(created).toMatch(/^101-\d+-[0-9a-f]{40}$/);
    expect(after).toEqual({ ...before, parameters: { ...before.parameters, '#token': created } });
    expect((await stat(join(dir, 'config.json'))).mode & 0o777).toBe(0o640);
    // No temporary file is left; out/ holds the folder's lock while the command runs.
    expect((await readdir(dir)).sort()).toEqual(['config.json', 'out']);
    expect(await listFiles(join(dir, 'out'))).toEqual([]);
    const configText = await readFile(join(dir, 'config.json'), 'utf8');
    for (const master of Object.values(MASTERS)) expect(configText).not.toContain(master);
    const run = await syncRun(dir);
    expect(run.code, run.stderr).toBe(0);
  });

  it('--write-config over a working token names the replaced token and how to revoke it, never its value', async () => {
    const old = newReadToken();
    const oldId = String((await verifyBody(old)).id);
    const dir = await dataDir({ '#token': old });
    const result = await token(
      ['create', '--bucket', 'in.c-sales', '--write-config', dir, '--expires-in', '90d'],
      MASTERS.admin,
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('');
    await expectSecretsOnlyWherePromised(result, { dataDir: dir });
    expect(result.stderr).toMatch(
      /^Created token \d+ "kbc-table-sync: read on in\.c-sales, created \d{4}-\d\d-\d\dT\d\d:\d\dZ"/,
    );
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toBe(
      `It replaced the token ${oldId} "token" in parameters.#token, which still works: once no run uses it, revoke it with curl -X DELETE -H "X-StorageApi-Token: $KBC_MASTER_TOKEN" ${emulator.url}/v2/storage/tokens/${oldId}`,
    );
    expect(await verifyStatus(old)).toBe(200);
    const revoke = await fetch(`${emulator.url}/v2/storage/tokens/${oldId}`, {
      method: 'DELETE',
      headers: { 'X-StorageApi-Token': MASTERS.admin },
    });
    expect(revoke.status).toBe(204);
    expect(await verifyStatus(old)).toBe(401);
  });

  it('--write-config over a dead token says the replaced value did not work', async () => {
    const dir = await dataDir({ '#token': '101-9999-00000000000000000000000000000000deadbeef' });
    const result = await token(
      ['create', '--bucket', 'in.c-sales', '--write-config', dir, '--expires-in', '90d'],
      MASTERS.admin,
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr.trim().split('\n')[1]).toBe(
      `The value it replaced in parameters.#token is not a working token at ${emulator.url} (tokens/verify answered 401).`,
    );
    await expectSecretsOnlyWherePromised(result, { dataDir: dir });
    expect(result.stderr).not.toContain('deadbeef');
  });

  it('--write-config into a folder without config.json writes the stack too, so inspect works next; no --expires-in warns', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kbc-new-'));
    dirs.push(dir);
    const result = await token(
      ['create', '--bucket', 'in.c-sales', '--url', emulator.url, '--write-config', dir],
      MASTERS.admin,
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('');
    await expectSecretsOnlyWherePromised(result, { dataDir: dir });
    expect(result.stderr).toContain(
      'Warning: without --expires-in the token never expires, so a leaked copy works until it is revoked; next time give --expires-in 90d',
    );
    const written = await configOf(dir);
    expect(Object.keys(written.parameters).sort()).toEqual(['#token', 'url']);
    expect(written.parameters.url).toBe(emulator.url);
    const inspect = await token(['inspect', '--data', dir]);
    expect(inspect.code, inspect.stderr).toBe(0);
    expect(inspect.stdout).toMatch(/verdict: +passes/);
    await expectSecretsOnlyWherePromised(inspect, { dataDir: dir });
  });

  it('--destination --write-config puts a write token into parameters.destination.#token', async () => {
    const dir = await dataDir({
      '#token': READ_TOKEN,
      destination: { url: emulator.url, bucket: 'in.c-sales', '#token': 'old' },
    });
    const result = await token(
      ['create', '--bucket', 'in.c-sales', '--destination', '--write-config', dir],
      MASTERS.admin,
    );
    expect(result.code, result.stderr).toBe(0);
    await expectSecretsOnlyWherePromised(result, { dataDir: dir });
    const after = await configOf(dir);
    expect(after.parameters['#token']).toBe(READ_TOKEN);
    const destination = after.parameters.destination as Record<string, string>;
    expect(destination).toMatchObject({ url: emulator.url, bucket: 'in.c-sales' });
    expect(await verifyBody(destination['#token'] ?? '')).toMatchObject({
      bucketPermissions: { 'in.c-sales': 'write' },
    });
  });

  it('--destination --write-config into a config without destination writes the bucket too: inspect and rotate --destination pass', async () => {
    const dir = await dataDir({ '#token': READ_TOKEN });
    const result = await token(
      [
        'create',
        '--bucket',
        'in.c-sales',
        '--destination',
        '--expires-in',
        '1d',
        '--url',
        emulator.url,
        '--write-config',
        dir,
      ],
      MASTERS.admin,
    );
    expect(result.code, result.stderr).toBe(0);
    await expectSecretsOnlyWherePromised(result, { dataDir: dir });
    const destination = (await configOf(dir)).parameters.destination as Record<string, string>;
    expect(Object.keys(destination).sort()).toEqual(['#token', 'bucket', 'url']);
    expect(destination).toMatchObject({ url: emulator.url, bucket: 'in.c-sales' });
    const inspect = await token(['inspect', '--data', dir, '--destination']);
    expect(inspect.code, inspect.stderr).toBe(0);
    expect(inspect.stdout).toMatch(/verdict: +passes/);
    const rotate = await token(['rotate', '--data', dir, '--destination']);
    expect(rotate.code, rotate.stderr).toBe(0);
    expect(rotate.stderr).not.toMatch(/fails/);
    await expectSecretsOnlyWherePromised(inspect, { dataDir: dir });
    await expectSecretsOnlyWherePromised(rotate, { dataDir: dir });
  });

  it('--destination --write-config refuses a config whose destination bucket is another one, before anything is created', async () => {
    const dir = await dataDir({
      '#token': READ_TOKEN,
      destination: { url: emulator.url, bucket: 'in.c-other', '#token': 'old' },
    });
    const before = await readFile(join(dir, 'config.json'), 'utf8');
    const issuedBefore = emulator.control.issuedSecrets().length;
    const result = await token(
      ['create', '--bucket', 'in.c-sales', '--destination', '--write-config', dir],
      MASTERS.admin,
    );
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      `--bucket "in.c-sales" is not the parameters.destination.bucket "in.c-other" of ${dir}/config.json: a token for "in.c-sales" could not write there, so nothing was created; give --bucket "in.c-other", or change parameters.destination.bucket first.`,
    );
    expect(emulator.control.issuedSecrets()).toHaveLength(issuedBefore);
    expect(await readFile(join(dir, 'config.json'), 'utf8')).toBe(before);
    await expectSecretsOnlyWherePromised(result, { dataDir: dir });
  });

  describe('--write-config: no # value of the config is shown', () => {
    const destSecret = 'NotTokenShapedDestSecret1';
    const nestedSecret = 'NestedSecretInBucket9';

    async function createInto(destination: Record<string, unknown>): Promise<CliResult> {
      const dir = await dataDir({
        '#token': READ_TOKEN,
        destination: { url: emulator.url, '#token': destSecret, ...destination },
      });
      const result = await token(
        ['create', '--bucket', 'in.c-sales', '--destination', '--write-config', dir],
        MASTERS.admin,
      );
      expect(result.code).toBe(1);
      await expectNoSecrets([destSecret, nestedSecret], result, dir);
      await expectSecretsOnlyWherePromised(result, { dataDir: dir });
      return result;
    }

    it('a destination bucket that is an object is named by its type, not its content', async () => {
      const result = await createInto({
        bucket: { '#apiKey': nestedSecret, note: destSecret },
      });
      expect(result.stderr).toMatch(
        /^parameters\.destination\.bucket of \S+\/config\.json is an object, not the bucket id "in\.c-sales": a token for "in\.c-sales" could not write there, so nothing was created; set it to "in\.c-sales" or remove it first\.\n$/,
      );
    });

    it('a destination bucket that holds a # value is a hidden value', async () => {
      const result = await createInto({ bucket: `in.c-${destSecret}` });
      expect(result.stderr).toMatch(/destination\.bucket of \S+ is a hidden value, not the bucket/);
    });

    it('a region that is a # value is quoted as a hidden value', async () => {
      const result = await createInto({ url: undefined, region: destSecret, bucket: 'in.c-sales' });
      expect(result.stderr).toMatch(
        /^Invalid stack in \S+\/config\.json: parameters\.destination\.region: a hidden value is not a known region/,
      );
    });
  });

  it.each([
    ['a limited token', READ_TOKEN, /^KBC_MASTER_TOKEN is not a master token/],
    [
      'a readOnly master',
      MASTERS.readOnly,
      /^KBC_MASTER_TOKEN belongs to a user with the readOnly role/,
    ],
    ['a guest master', MASTERS.guest, /^KBC_MASTER_TOKEN belongs to a user with the guest role/],
    ['no KBC_MASTER_TOKEN', undefined, /^Set the environment variable KBC_MASTER_TOKEN/],
    [
      'a bearer token',
      'kbc_pat_9f3c2a71be5d4c0e8a6b',
      /^KBC_MASTER_TOKEN is a Keboola Connection bearer token \(kbc_pat_… or kbc_at_…\), but token create needs a Storage API master token/,
    ],
  ])('refuses %s with one sentence and creates nothing', async (_name, master, message) => {
    const issuedBefore = emulator.control.issuedSecrets().length;
    const result = await token(['create', '--bucket', 'in.c-sales', '--url', emulator.url], master);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr.trim()).toMatch(message);
    expect(emulator.control.issuedSecrets()).toHaveLength(issuedBefore);
    await expectSecretsOnlyWherePromised(result);
  });

  it('refuses a bucket that does not exist', async () => {
    const issuedBefore = emulator.control.issuedSecrets().length;
    const result = await token(
      ['create', '--bucket', 'in.c-nope', '--url', emulator.url],
      MASTERS.admin,
    );
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim()).toMatch(
      /^The bucket "in\.c-nope" does not exist in the project "Sales" \(101\): check --bucket against the project's buckets\.$/,
    );
    expect(emulator.control.issuedSecrets()).toHaveLength(issuedBefore);
    await expectSecretsOnlyWherePromised(result);
  });

  it('a KBC_MASTER_TOKEN too long for any request header (431) is one sentence, exit 1', async () => {
    const result = await token(
      ['create', '--bucket', 'in.c-sales', '--url', emulator.url],
      'h'.repeat(20_000),
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'KBC_MASTER_TOKEN is too long to be sent (tokens/verify answered 431, request header too large): set it to the master token itself, nothing else.\n',
    );
  });

  it('never takes the master token from argv', async () => {
    const result = await runCli([
      'token',
      'create',
      '--bucket',
      'in.c-sales',
      '--master-token',
      MASTERS.admin,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/Unknown argument/);
    await expectSecretsOnlyWherePromised(result);
  });
});

describe('token inspect', () => {
  it('reports id, permissions, flags, dates, expiry, last activity and the verdict as human text', async () => {
    const dir = await dataDir({ '#token': newReadToken() });
    const result = await token(['inspect', '--data', dir]);
    expect(result.code, result.stderr).toBe(0);
    await expectSecretsOnlyWherePromised(result, { dataDir: dir });
    expect(result.stdout).toMatch(/^Source token \d+ "token"\n/);
    expect(result.stdout).toMatch(/buckets: +in\.c-sales: read/);
    expect(result.stdout).toMatch(/flags: +none/);
    expect(result.stdout).toMatch(/created: +\d{4}-/);
    expect(result.stdout).toMatch(/refreshed: +\d{4}-/);
    expect(result.stdout).toMatch(/expires: +never/);
    expect(result.stdout).toMatch(/last activity: \S+ \(storage\.tokenCreated\)/);
    expect(result.stdout).toMatch(/verdict: +passes the job's token rules/);
  });

  it('--json: one document; last activity follows the token’s newest event; warnings listed', async () => {
    const tokenString = emulator.control.createToken(101, {
      bucketPermissions: { 'in.c-sales': 'read' },
      expires: new Date(Date.now() + 5 * 86_400_000).toISOString(),
      canReadAllFileUploads: true,
    });
    const dir = await dataDir({ '#token': tokenString });
    expect((await syncRun(dir)).code).toBe(0);
    const result = await token(['inspect', '--data', dir, '--json']);
    expect(result.code, result.stderr).toBe(0);
    await expectSecretsOnlyWherePromised(result, { dataDir: dir });
    const report = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(report).toMatchObject({
      which: 'source',
      isMasterToken: false,
      bucketPermissions: { 'in.c-sales': 'read' },
      flags: { canReadAllFileUploads: true, canManageTokens: false },
      daysLeft: 4,
      lastActivity: { event: 'storage.tableExport' },
      verdict: { passes: true },
    });
    const verdict = report.verdict as { warnings: string[] };
    expect(verdict.warnings).toEqual([
      expect.stringMatching(
        /expires in about 5 days .*: create a new one with "kbc-table-sync token create"/,
      ),
      expect.stringMatching(/read all file uploads/),
    ]);
  });

  it('a 401 names the stack asked and says to check region/url, never the token', async () => {
    const dead = newReadToken();
    const dir = await dataDir({ '#token': dead });
    await fetch(`${emulator.url}/v2/storage/tokens/${String((await verifyBody(dead)).id)}`, {
      method: 'DELETE',
      headers: { 'X-StorageApi-Token': MASTERS.admin },
    });
    for (const result of [await token(['inspect', '--data', dir]), await syncRun(dir)]) {
      expect(result.code).toBe(1);
      expect(result.stderr.trim()).toContain(
        `The source Storage API token is unknown, expired or revoked at ${emulator.url} (tokens/verify answered 401): set a valid token in "#token", or check "region"/"url" if the token belongs to another stack.`,
      );
      await expectSecretsOnlyWherePromised(result, { dataDir: dir });
    }
    const master = await token(
      ['create', '--bucket', 'in.c-sales', '--url', emulator.url],
      '101-9999-00000000000000000000000000000000deadbeef',
    );
    expect(master.code).toBe(1);
    expect(master.stderr.trim()).toBe(
      `KBC_MASTER_TOKEN is unknown, expired or revoked at ${emulator.url} (tokens/verify answered 401): set a valid master token of the project, or check --region/--url if it belongs to another stack.`,
    );
    await expectSecretsOnlyWherePromised(master);
    // A placeholder master token that is an ordinary word is masked, and the sentence keeps its words.
    const placeholder = await token(
      ['create', '--bucket', 'in.c-sales', '--url', emulator.url],
      'invalid',
    );
    expect(placeholder.code).toBe(1);
    expect(placeholder.stderr).not.toContain('[hidden]');
  });
});

describe('token commands on a config that lacks what they read', () => {
  it('inspect --destination on a config without destination says so', async () => {
    const dir = await dataDir({ '#token': READ_TOKEN });
    const result = await token(['inspect', '--data', dir, '--destination']);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      'The config has no parameters.destination (it copies into out/tables): drop --destination, or add a destination with "#token", "bucket" and "region" or "url".',
    );
    await expectSecretsOnlyWherePromised(result, { dataDir: dir });
  });

  it.each(['inspect', 'rotate'])(
    '%s with "token" instead of "#token" suggests "#token"',
    async (action) => {
      const tokenString = newReadToken();
      const dir = await dataDir({ token: tokenString });
      const result = await token([action, '--data', dir]);
      expect(result.code).toBe(1);
      expect(result.stderr.trim()).toBe(
        'Invalid configuration: parameters.token: is not a known key (did you mean "#token"?)',
      );
      await expectSecretsOnlyWherePromised(result, { dataDir: dir });
      await expectNoSecrets([tokenString], result);
      expect(await verifyStatus(tokenString)).toBe(200);
    },
  );
});

describe('token inspect --destination', () => {
  it('judges the destination token by write on the destination bucket', async () => {
    const writer = emulator.control.createToken(101, {
      bucketPermissions: { 'in.c-sales': 'write' },
    });
    const dir = await dataDir({
      '#token': READ_TOKEN,
      destination: { url: emulator.url, bucket: 'in.c-sales', '#token': writer },
    });
    const result = await token(['inspect', '--data', dir, '--destination', '--json']);
    expect(result.code, result.stderr).toBe(0);
    await expectSecretsOnlyWherePromised(result, { dataDir: dir });
    expect(JSON.parse(result.stdout)).toMatchObject({
      which: 'destination',
      bucketPermissions: { 'in.c-sales': 'write' },
      componentAccess: [],
      verdict: {
        passes: true,
        warnings: [
          'The destination token never expires, so a leaked copy works until it is revoked: replace it with one from "kbc-table-sync token create --expires-in 90d" (or another duration).',
        ],
      },
    });
  });
});

describe('token inspect and rotate --destination without parameters.destination.bucket', () => {
  it.each(['inspect', 'rotate'])('%s names the missing key, not a bucket ""', async (action) => {
    const writer = emulator.control.createToken(101, {
      bucketPermissions: { 'in.c-sales': 'write' },
    });
    const dir = await dataDir({
      '#token': READ_TOKEN,
      destination: { url: emulator.url, '#token': writer },
    });
    const result = await token([action, '--data', dir, '--destination']);
    const said = action === 'inspect' ? result.stdout : result.stderr;
    expect(said).toContain(
      'parameters.destination.bucket is not set, so the destination rule (write permission to that bucket) cannot be checked',
    );
    expect(`${result.stdout}${result.stderr}`).not.toContain('bucket ""');
    expect(result.code).toBe(action === 'inspect' ? 0 : 1);
    await expectSecretsOnlyWherePromised(result, { dataDir: dir });
  });
});

describe('token create --write-config refusals, before anything is created', () => {
  it.each([
    [
      'a folder that does not exist',
      async () => join(await dataDir(), 'nope'),
      [],
      /^--write-config ".*nope" is not an existing folder/,
    ],
    [
      'a config.json that is not an object',
      async () => {
        const dir = await dataDir();
        await writeFile(join(dir, 'config.json'), '[1,2]');
        return dir;
      },
      [],
      /config\.json is not a JSON object: writing the token there would drop it, so nothing was created/,
    ],
    [
      'a write token for the source key (--write without --destination)',
      () => dataDir({ '#token': READ_TOKEN }),
      ['--write'],
      /^--write with --write-config would put a write token into parameters\.#token, where the source token must be read-only: add --destination/,
    ],
    [
      'a row whose destination is a table name',
      () => dataDir({ destination: 'in.c-x.y' }),
      ['--destination'],
      /config\.json has a "parameters\.destination" that is not an object .*so nothing was created/,
    ],
    [
      'a config.json nested deeper than JSON.stringify can write back',
      async () => {
        const dir = await dataDir();
        await writeFile(join(dir, 'config.json'), deeplyNested({ '#token': newReadToken() }));
        return dir;
      },
      [],
      /^\S+\/config\.json nests arrays and objects 100003 levels deep \(under parameters\.extra\.deep\), too deep to be written back with the new token, so nothing was created; flatten or remove that value first\.$/,
    ],
  ] as const)('%s', async (_name, makeDir, extra, message) => {
    const dir = await makeDir();
    const before = await readFile(join(dir, 'config.json'), 'utf8').catch(() => undefined);
    const issuedBefore = emulator.control.issuedSecrets().length;
    const result = await token(
      ['create', '--bucket', 'in.c-sales', '--url', emulator.url, '--write-config', dir, ...extra],
      MASTERS.admin,
    );
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim()).toMatch(message);
    expect(emulator.control.issuedSecrets()).toHaveLength(issuedBefore);
    expect(await readFile(join(dir, 'config.json'), 'utf8').catch(() => undefined)).toBe(before);
    await expectSecretsOnlyWherePromised(result, { dataDir: dir });
  });
});

describe('token rotate', () => {
  it.each(['rotate', 'revoke'])(
    'token %s of a folder without config.json says so and leaves nothing behind',
    async (command) => {
      const missing = join(await dataDir({ '#token': newReadToken() }), 'typo');
      const yes = command === 'revoke' ? ['--yes'] : [];
      const result = await token([command, '--data', missing, ...yes]);
      expect(result.code).toBe(1);
      expect(result.stderr.trim()).toMatch(/^The data folder .*typo does not exist/);
      expect(await readdir(missing).catch(() => 'absent')).toBe('absent');
    },
  );

  it('refuses a config.json nested deeper than JSON.stringify can write back, before refreshing', async () => {
    const old = newReadToken();
    const dir = await dataDir();
    await writeFile(join(dir, 'config.json'), deeplyNested({ '#token': old }));
    const before = await readFile(join(dir, 'config.json'), 'utf8');
    const issuedBefore = emulator.control.issuedSecrets().length;
    const result = await token(['rotate', '--data', dir]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      `${dir}/config.json nests arrays and objects 100003 levels deep (under parameters.extra.deep), too deep to be written back with the new token, so nothing was refreshed; flatten or remove that value first.\n`,
    );
    expect(await verifyStatus(old)).toBe(200);
    expect(emulator.control.issuedSecrets()).toHaveLength(issuedBefore);
    expect(await readFile(join(dir, 'config.json'), 'utf8')).toBe(before);
    await expectSecretsOnlyWherePromised(result, { dataDir: dir });
  });

  it('refuses a master token before refreshing it', async () => {
    const dir = await dataDir({ '#token': MASTERS.admin });
    const result = await token(['rotate', '--data', dir]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toMatch(
      /^Refusing to rotate the source token \d+ from .*config\.json: it is a master token; create a limited one/,
    );
    expect(await verifyStatus(MASTERS.admin)).toBe(200);
    expect((await configOf(dir)).parameters['#token']).toBe(MASTERS.admin);
    await expectSecretsOnlyWherePromised(result, { dataDir: dir });
  });

  it('refreshes, writes config.json and verifies: the old string gets 401, the new one passes a real run', async () => {
    const old = newReadToken();
    const dir = await dataDir({ '#token': old });
    await chmod(join(dir, 'config.json'), 0o600);
    const before = await configOf(dir);
    const result = await token(['rotate', '--data', dir]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('');
    await expectSecretsOnlyWherePromised(result, { dataDir: dir });
    expect(result.stderr).toMatch(
      /Rotated token \d+ .*holds the new token, which works; the old one no longer does/,
    );
    const after = await configOf(dir);
    const rotated = String(after.parameters['#token']);
    expect(rotated).not.toBe(old);
    expect(after).toEqual({ ...before, parameters: { ...before.parameters, '#token': rotated } });
    expect((await stat(join(dir, 'config.json'))).mode & 0o777).toBe(0o600);
    expect(await verifyStatus(old)).toBe(401);
    const run = await syncRun(dir);
    expect(run.code, run.stderr).toBe(0);
    expect(await exists(join(dir, 'out', 'tables', 'orders.csv.manifest'))).toBe(true);
    await expectSecretsOnlyWherePromised(run, { dataDir: dir });
  });

  it('changes only the token in config.json’s text: numbers JSON.parse cannot hold and the layout stay', async () => {
    const old = newReadToken();
    const dir = await dataDir();
    const text = `{\n    "parameters": {"url": ${JSON.stringify(emulator.url)}, "#token": ${JSON.stringify(old)},\n        "tables": [{"name": "orders"}], "note": {"id": 12345678901234567891, "limit": 1e400, "rate": 1.50}}\n}\n`;
    await writeFile(join(dir, 'config.json'), text);
    const result = await token(['rotate', '--data', dir]);
    expect(result.code, result.stderr).toBe(0);
    const rotated = String((await configOf(dir)).parameters['#token']);
    expect(await readFile(join(dir, 'config.json'), 'utf8')).toBe(
      text.replace(JSON.stringify(old), JSON.stringify(rotated)),
    );
    expect(await verifyStatus(rotated)).toBe(200);
    await expectSecretsOnlyWherePromised(result, { dataDir: dir });
  });

  it('refuses a folder that does not take a new config.json before refreshing: the old token keeps working', async () => {
    const old = newReadToken();
    const dir = await dataDir({ '#token': old });
    const before = await readFile(join(dir, 'config.json'), 'utf8');
    // out/ stays writable, so the run lock is taken and only config.json cannot be replaced.
    await mkdir(join(dir, 'out'));
    await makeUnwritable(dir);
    const result = await token(['rotate', '--data', dir]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      `token rotate replaces ${dir}/config.json by renaming a new file over it, and the folder ${dir} does not take a new file, so nothing was refreshed: ${UNWRITABLE_REASON}.\n`,
    );
    await expectSecretsOnlyWherePromised(result, { dataDir: dir });
    expect(await readFile(join(dir, 'config.json'), 'utf8')).toBe(before);
    expect((await readdir(dir)).sort()).toEqual(['config.json', 'out']);
    expect(await verifyStatus(old)).toBe(200);
  });

  it('with a config.json that cannot be replaced after the refresh prints the new token once as the only copy; the old one is dead', async () => {
    const old = newReadToken();
    const dir = await dataDir({ '#token': old });
    const before = await readFile(join(dir, 'config.json'), 'utf8');
    await mkdir(join(dir, 'out'));
    // The refresh is handled and its answer held: the folder stops taking the rename meanwhile.
    const held = emulator.control.whenFaultApplied('rotate-refresh');
    emulator.control.addFault({
      kind: 'hold',
      afterHandling: true,
      method: 'POST',
      path: '/refresh',
      label: 'rotate-refresh',
    });
    const running = token(['rotate', '--data', dir]);
    await held;
    await makeUnwritable(dir);
    emulator.control.releaseHolds();
    const result = await running;
    expect(result.code).toBe(1);
    const printed = result.stdout.trim();
    expect(printed).toMatch(/^101-\d+-[0-9a-f]{40}$/);
    await expectSecretsOnlyWherePromised(result, { dataDir: dir, promisedOnStdout: printed });
    expect(result.stderr.trim()).toMatch(
      /config\.json could not be written \(\w+\): the new token printed on stdout is the only copy and the old one no longer works; put it into parameters\.#token yourself\.$/,
    );
    expect(await readFile(join(dir, 'config.json'), 'utf8')).toBe(before);
    expect(await verifyStatus(old)).toBe(401);
    expect(await verifyStatus(printed)).toBe(200);
  });

  it('writes through a config.json that is a symlink: the link stays, its target gets the new token and keeps its mode', async () => {
    const old = newReadToken();
    const dir = await dataDir({ '#token': old });
    const secrets = await mkdtemp(join(tmpdir(), 'kbc-secrets-'));
    dirs.push(secrets);
    const target = join(secrets, 'config.json');
    await writeFile(target, await readFile(join(dir, 'config.json'), 'utf8'), { mode: 0o640 });
    await rm(join(dir, 'config.json'));
    await symlink(target, join(dir, 'config.json'));
    const result = await token(['rotate', '--data', dir]);
    expect(result.code, result.stderr).toBe(0);
    await expectSecretsOnlyWherePromised(result, { dataDir: dir });
    expect((await lstat(join(dir, 'config.json'))).isSymbolicLink()).toBe(true);
    expect(await readlink(join(dir, 'config.json'))).toBe(target);
    const rotated = String((await configOf(dir)).parameters['#token']);
    expect(rotated).not.toBe(old);
    expect(await verifyStatus(rotated)).toBe(200);
    expect((await stat(target)).mode & 0o777).toBe(0o640);
    expect(await readdir(secrets)).toEqual(['config.json']);
  });
});

describe('token rotate and revoke --yes respect the run lock of the data folder', () => {
  it.each([
    ['rotate', []],
    ['revoke', ['--yes']],
  ] as const)(
    'token %s refuses while a run holds the lock; the token keeps working',
    async (action, extra) => {
      const tokenString = newReadToken();
      const dir = await dataDir({ '#token': tokenString });
      const before = await readFile(join(dir, 'config.json'), 'utf8');
      const lock = await lockDataDir(dir, { warn: () => undefined, here: thisTestProcess() });
      try {
        const result = await token([action, '--data', dir, ...extra]);
        expect(result.code).toBe(1);
        expect(result.stdout).toBe('');
        expect(result.stderr.trim().split('\n')).toHaveLength(1);
        expect(result.stderr.trim()).toMatch(
          new RegExp(
            `^A run holds the lock on the data folder ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(pid ${process.pid} on host .*\\): token ${action} would end the token that run uses, so nothing was changed`,
          ),
        );
        await expectSecretsOnlyWherePromised(result, { dataDir: dir });
      } finally {
        await lock.release();
      }
      expect(await verifyStatus(tokenString)).toBe(200);
      expect(await readFile(join(dir, 'config.json'), 'utf8')).toBe(before);
      const after = await token([action, '--data', dir, ...extra]);
      expect(after.code, after.stderr).toBe(0);
      expect(await listFiles(join(dir, 'out'))).toEqual([]);
    },
  );
});

describe('token revoke', () => {
  it('without --yes says what would be revoked, exits 1 and revokes nothing', async () => {
    const tokenString = newReadToken();
    const dir = await dataDir({ '#token': tokenString });
    const result = await token(['revoke', '--data', dir]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toMatch(
      /^Would revoke the source token \d+ "token" of the project "Sales" \(101\) from .*config\.json: .*Run again with --yes to revoke it\.$/,
    );
    await expectSecretsOnlyWherePromised(result, { dataDir: dir });
    expect(await verifyStatus(tokenString)).toBe(200);
  });

  it('with --yes the configured token deletes itself', async () => {
    const tokenString = newReadToken();
    const dir = await dataDir({ '#token': tokenString });
    const result = await token(['revoke', '--data', dir, '--yes']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/^Revoked the source token \d+/);
    await expectSecretsOnlyWherePromised(result, { dataDir: dir });
    expect(await verifyStatus(tokenString)).toBe(401);
  });

  it('reports the token revoked when the answer to its DELETE is lost and the retry finds it gone', async () => {
    const tokenString = newReadToken();
    const dir = await dataDir({ '#token': tokenString });
    const injectedBefore = emulator.control.injectedCount;
    emulator.control.addFault({
      kind: 'reset',
      afterBytes: 0,
      afterHandling: true,
      method: 'DELETE',
      path: '/v2/storage/tokens/',
    });
    const result = await token(['revoke', '--data', dir, '--yes']);
    expect(emulator.control.injectedCount).toBe(injectedBefore + 1);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/DELETE \/v2\/storage\/tokens\/\d+ failed .*; retrying\n/);
    expect(result.stderr).toMatch(/^Revoked the source token \d+/m);
    await expectSecretsOnlyWherePromised(result, { dataDir: dir });
    expect(await verifyStatus(tokenString)).toBe(401);
  });
});

describe('token rotate when the refresh fails', () => {
  const lost = (dir: string) =>
    `; it did happen: the token in parameters.#token of ${dir}/config.json no longer works and its new string is lost, so create a new one with "kbc-table-sync token create".`;
  const kept = (dir: string) =>
    `; it did not happen: the token in parameters.#token of ${dir}/config.json still works and nothing was changed, so running token rotate again is safe.`;

  it.each([
    ['a 502 after the server refreshed', { kind: 'status', status: 502, afterHandling: true }, 401],
    ['a 504 before the server acted', { kind: 'status', status: 504 }, 200],
    [
      'an answer lost after the server refreshed',
      { kind: 'reset', afterBytes: 0, afterHandling: true },
      401,
    ],
  ] as const satisfies ReadonlyArray<readonly [string, FaultKind, number]>)(
    '%s: the old string is checked and one sentence says what became of the token',
    async (_name, fault, oldStatus) => {
      const old = newReadToken();
      const dir = await dataDir({ '#token': old });
      const before = await readFile(join(dir, 'config.json'), 'utf8');
      emulator.control.addFault({ ...fault, method: 'POST', path: '/refresh' });
      const result = await token(['rotate', '--data', dir]);
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(
        new RegExp(
          `^The refresh of the source token failed with an unknown outcome \\(Storage API POST /v2/storage/tokens/\\d+/refresh .+\\)${literal(oldStatus === 401 ? lost(dir) : kept(dir))}\\n$`,
        ),
      );
      await expectSecretsOnlyWherePromised(result, { dataDir: dir });
      expect(await verifyStatus(old)).toBe(oldStatus);
      expect(await readFile(join(dir, 'config.json'), 'utf8')).toBe(before);
      expect((await readdir(dir)).sort()).toEqual(['config.json', 'out']);
      expect(await listFiles(join(dir, 'out'))).toEqual([]);
    },
  );

  it('a 401 to the refresh says the configured token stopped working before it, naming the key', async () => {
    const old = newReadToken();
    const dir = await dataDir({ '#token': old });
    emulator.control.addFault({ kind: 'revokeToken', method: 'POST', path: '/refresh' });
    const result = await token(['rotate', '--data', dir]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      `The source token in parameters.#token of ${dir}/config.json stopped working before it could be refreshed (refresh answered 401): create a new one with "kbc-table-sync token create".\n`,
    );
    await expectSecretsOnlyWherePromised(result, { dataDir: dir });
    expect((await readdir(dir)).sort()).toEqual(['config.json', 'out']);
  });
});

describe('token create --write-config and the data folder', () => {
  it('refuses while a run holds the folder’s lock, before anything is created', async () => {
    const dir = await dataDir({ '#token': READ_TOKEN });
    const before = await readFile(join(dir, 'config.json'), 'utf8');
    const issuedBefore = emulator.control.issuedSecrets().length;
    const lock = await lockDataDir(dir, { warn: () => undefined, here: thisTestProcess() });
    try {
      const result = await token(
        ['create', '--bucket', 'in.c-sales', '--write-config', dir, '--expires-in', '1d'],
        MASTERS.admin,
      );
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(
        new RegExp(
          `^A run holds the lock on the data folder ${literal(dir)} \\(pid ${process.pid} on host .*\\): token create --write-config writes config\\.json only while no run, token rotate or token revoke holds that lock, so nothing was created; run it again when the run has finished\\.\\n$`,
        ),
      );
      await expectSecretsOnlyWherePromised(result, { dataDir: dir });
    } finally {
      await lock.release();
    }
    expect(emulator.control.issuedSecrets()).toHaveLength(issuedBefore);
    expect(await readFile(join(dir, 'config.json'), 'utf8')).toBe(before);
  });

  it('refuses a folder that does not take a new config.json, before anything is created', async () => {
    const dir = await dataDir({ '#token': READ_TOKEN });
    const before = await readFile(join(dir, 'config.json'), 'utf8');
    await mkdir(join(dir, 'out'));
    await makeUnwritable(dir);
    const issuedBefore = emulator.control.issuedSecrets().length;
    const result = await token(
      ['create', '--bucket', 'in.c-sales', '--write-config', dir, '--expires-in', '1d'],
      MASTERS.admin,
    );
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      `token create --write-config replaces ${dir}/config.json by renaming a new file over it, and the folder ${dir} does not take a new file, so nothing was created: ${UNWRITABLE_REASON}.\n`,
    );
    await expectSecretsOnlyWherePromised(result, { dataDir: dir });
    expect(emulator.control.issuedSecrets()).toHaveLength(issuedBefore);
    expect(await readFile(join(dir, 'config.json'), 'utf8')).toBe(before);
  });

  it('refuses --url naming another stack than the config’s region, naming both, before anything is created', async () => {
    const dir = await makeDataDir({
      parameters: { region: 'eu-central-1', tables: [{ name: 'orders' }] },
    });
    dirs.push(dir);
    const before = await readFile(join(dir, 'config.json'), 'utf8');
    const issuedBefore = emulator.control.issuedSecrets().length;
    const result = await token(
      ['create', '--bucket', 'in.c-sales', '--url', emulator.url, '--write-config', dir],
      MASTERS.admin,
    );
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      `--url names the stack ${emulator.url}, but parameters.region of ${dir}/config.json names https://connection.eu-central-1.keboola.com: the token would be created on one stack and written next to the other, so nothing was created; drop --region/--url to use the config's stack, or change the config first.\n`,
    );
    expect(emulator.control.issuedSecrets()).toHaveLength(issuedBefore);
    expect(await readFile(join(dir, 'config.json'), 'utf8')).toBe(before);
    await expectSecretsOnlyWherePromised(result, { dataDir: dir });
  });

  it('takes --url naming the config’s own stack, written differently', async () => {
    const dir = await dataDir();
    const result = await token(
      [
        'create',
        '--bucket',
        'in.c-sales',
        '--url',
        `${emulator.url.replace('http://', 'HTTP://')}/`,
        '--write-config',
        dir,
        '--expires-in',
        '1d',
      ],
      MASTERS.admin,
    );
    expect(result.code, result.stderr).toBe(0);
    expect((await configOf(dir)).parameters.url).toBe(emulator.url);
  });
});

describe('token commands and the limits of a run', () => {
  it('a create request that gets no answer ends at KBC_TABLE_SYNC_REQUEST_TIMEOUT_S, as every request does', async () => {
    // Held once handled: a request held before would be handled when the holds are released
    // after the test, and could take the next test's fault.
    emulator.control.addFault({
      kind: 'hold',
      afterHandling: true,
      method: 'POST',
      path: '/\\/v2\\/storage\\/tokens$/',
    });
    const startedMs = Date.now();
    const result = await runCli(
      ['token', 'create', '--bucket', 'in.c-sales', '--url', emulator.url, '--expires-in', '1d'],
      {
        env: { KBC_MASTER_TOKEN: MASTERS.admin, KBC_TABLE_SYNC_REQUEST_TIMEOUT_S: '1' },
        timeoutMs: 30_000,
      },
    );
    expect(Date.now() - startedMs).toBeLessThan(10_000);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(
      /Storage API POST \/v2\/storage\/tokens did not finish within 1 s \(KBC_TABLE_SYNC_REQUEST_TIMEOUT_S\)/,
    );
    await expectSecretsOnlyWherePromised(result);
  });
});

describe('token create when its create request has an unknown outcome', () => {
  /** The project's live tokens with this description, as the master token lists them. */
  async function tokensDescribed(description: string): Promise<unknown[]> {
    const response = await fetch(`${emulator.url}/v2/storage/tokens`, {
      headers: { 'X-StorageApi-Token': MASTERS.admin },
    });
    const tokens = (await response.json()) as Array<{ description: string }>;
    return tokens.filter((t) => t.description === description);
  }

  it.each([
    ['a 502 after the server created it', { kind: 'status', status: 502, afterHandling: true }, 1],
    [
      'an answer lost after the server created it',
      { kind: 'reset', afterBytes: 0, afterHandling: true },
      1,
    ],
    ['a 504 before the server acted', { kind: 'status', status: 504 }, 0],
  ] as const satisfies ReadonlyArray<readonly [string, FaultKind, number]>)(
    '%s: exit 1, one sentence names the token that may exist by its description',
    async (name, fault, created) => {
      const description = `unknown outcome: ${name}`;
      emulator.control.addFault({ ...fault, method: 'POST', path: '/\\/v2\\/storage\\/tokens$/' });
      const result = await token(
        [
          'create',
          '--bucket',
          'in.c-sales',
          '--url',
          emulator.url,
          '--expires-in',
          '1d',
          '--description',
          description,
        ],
        MASTERS.admin,
      );
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(
        new RegExp(
          `^The create request failed with an unknown outcome \\(Storage API POST /v2/storage/tokens .+\\): ${literal(
            `a token described "${description}" may have been created, and its string was never shown: find it by that description in the project's API token settings (or in the list from curl -H "X-StorageApi-Token: $KBC_MASTER_TOKEN" ${emulator.url}/v2/storage/tokens), revoke it, and create another.`,
          )}\\n$`,
        ),
      );
      expect(await tokensDescribed(description)).toHaveLength(created);
      await expectSecretsOnlyWherePromised(result);
    },
  );
});

describe('token create when a check of its own fails', () => {
  /** Retries within milliseconds, so an outage that outlasts them ends the command at once. */
  const fastRetries = { KBC_TABLE_SYNC_RETRY_BASE_MS: '1', KBC_TABLE_SYNC_RETRY_MAX_MS: '2' };

  function create(): Promise<CliResult> {
    return runCli(['token', 'create', '--bucket', 'in.c-sales', '--url', emulator.url], {
      env: { KBC_MASTER_TOKEN: MASTERS.admin, ...fastRetries },
    });
  }

  /** The created token's id from the sentence, and that it exists (the master reads it). */
  async function expectTokenExists(id: string | undefined): Promise<void> {
    const response = await fetch(`${emulator.url}/v2/storage/tokens/${id ?? ''}`, {
      headers: { 'X-StorageApi-Token': MASTERS.admin },
    });
    await response.arrayBuffer();
    expect(response.status).toBe(200);
  }

  const revoke = (id: string) =>
    `revoke it in the project's API token settings (or with curl -X DELETE -H "X-StorageApi-Token: $KBC_MASTER_TOKEN" ${emulator.url}/v2/storage/tokens/${id}) and create another`;

  it('a new token that cannot be verified is named by its id, never shown, with how to revoke it', async () => {
    // The master's own verify passes; the new token's verify meets an outage.
    emulator.control.addFault({
      kind: 'status',
      status: 500,
      method: 'GET',
      path: 'tokens/verify',
      skip: 1,
      count: 100,
    });
    const result = await create();
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    const last = result.stderr.trim().split('\n').at(-1) ?? '';
    const id = /^The new token (\d+) was created/.exec(last)?.[1] ?? '';
    expect(last).toMatch(
      new RegExp(
        `^The new token ${id} was created but could not be checked \\(Storage API GET /v2/storage/tokens/verify answered 500: .*\\), so its string is not shown: ${literal(revoke(id))}\\.$`,
      ),
    );
    await expectTokenExists(id);
    await expectSecretsOnlyWherePromised(result);
  });

  it('a new token that fails the rules and cannot be deleted is named by its id, with how to revoke it', async () => {
    // The new token's verify shows a second bucket (it fails the source rule); its delete meets an outage.
    const view = await verifyBody(newReadToken());
    emulator.control.addFault({
      kind: 'status',
      status: 200,
      body: { ...view, bucketPermissions: { 'in.c-sales': 'read', 'in.c-more': 'read' } },
      method: 'GET',
      path: 'tokens/verify',
      skip: 1,
    });
    emulator.control.addFault({
      kind: 'status',
      status: 500,
      method: 'DELETE',
      path: '/v2/storage/tokens/',
      count: 100,
    });
    const result = await create();
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    const last = result.stderr.trim().split('\n').at(-1) ?? '';
    const id = /^The new token (\d+) could not be deleted/.exec(last)?.[1] ?? '';
    expect(last).toMatch(
      new RegExp(
        `^The new token ${id} could not be deleted after it failed the job's token rules \\(Storage API DELETE /v2/storage/tokens/${id} answered 500: .*\\), so its string is not shown: ${literal(revoke(id))}; the rules said: The token must have read-only permissions to a single bucket only \\(it has 2: in\\.c-sales, in\\.c-more\\)\\.$`,
      ),
    );
    await expectTokenExists(id);
    await expectSecretsOnlyWherePromised(result);
  });

  it('a 403 on the bucket says what KBC_MASTER_TOKEN lacks, and creates nothing', async () => {
    emulator.control.addFault({
      kind: 'status',
      status: 403,
      method: 'GET',
      path: '/v2/storage/buckets/in.c-sales',
    });
    const issuedBefore = emulator.control.issuedSecrets().length;
    const result = await create();
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      'KBC_MASTER_TOKEN lacks read access to the bucket "in.c-sales" in the project "Sales" (101) (the bucket\'s detail answered 403), so nothing was created: use the master token of an admin or share user of the project that holds the bucket.\n',
    );
    expect(emulator.control.issuedSecrets()).toHaveLength(issuedBefore);
    await expectSecretsOnlyWherePromised(result);
  });
});

describe('token inspect and the privileges the job never uses', () => {
  it('shows componentAccess and warns about it, the privilege flags the job never uses and no expiry', async () => {
    const tokenString = newReadToken();
    const dir = await dataDir({ '#token': tokenString });
    const view = await verifyBody(tokenString);
    const wider = {
      ...view,
      componentAccess: ['keboola.ex-db-mysql', 'keboola.wr-google-drive'],
      canCreateJobs: true,
      canManageDevBranches: true,
      canReadAllProjectEvents: true,
      canPurgeTrash: true,
      canManageProtectedDefaultBranch: true,
    };
    const warnings = [
      'The source token may use the components "keboola.ex-db-mysql", "keboola.wr-google-drive" (componentAccess): the job uses none, so a token without component access is safer.',
      'The source token can create jobs (canCreateJobs): the job never does, so a token without that privilege is safer.',
      'The source token can manage development branches (canManageDevBranches): the job never does, so a token without that privilege is safer.',
      'The source token can read all events of the project (canReadAllProjectEvents): the job never does, so a token without that privilege is safer.',
      'The source token can delete configurations from the trash for good (canPurgeTrash): the job never does, so a token without that privilege is safer.',
      'The source token can manage the protected default branch (canManageProtectedDefaultBranch): the job never does, so a token without that privilege is safer.',
      'The source token never expires, so a leaked copy works until it is revoked: replace it with one from "kbc-table-sync token create --expires-in 90d" (or another duration).',
    ];
    const verifyAnswers = () =>
      emulator.control.addFault({
        kind: 'status',
        status: 200,
        body: wider,
        method: 'GET',
        path: 'tokens/verify',
      });
    verifyAnswers();
    const json = await token(['inspect', '--data', dir, '--json']);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({
      componentAccess: ['keboola.ex-db-mysql', 'keboola.wr-google-drive'],
      flags: {
        canPurgeTrash: true,
        canCreateJobs: true,
        canManageDevBranches: true,
        canReadAllProjectEvents: true,
        canManageProtectedDefaultBranch: true,
      },
      verdict: { passes: true, warnings },
    });
    verifyAnswers();
    const text = await token(['inspect', '--data', dir]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(
      /\n {2}components: {4}keboola\.ex-db-mysql, keboola\.wr-google-drive\n/,
    );
    expect(text.stdout).toMatch(
      /flags: +canPurgeTrash, canCreateJobs, canManageDevBranches, canReadAllProjectEvents, canManageProtectedDefaultBranch\n/,
    );
    expect(text.stdout.split('\n').filter((line) => line.startsWith('  warning:'))).toEqual(
      warnings.map((w) => `  warning:       ${w}`),
    );
    for (const result of [json, text]) {
      await expectSecretsOnlyWherePromised(result, { dataDir: dir });
    }
  });
});

describe('run-time token checks', () => {
  it.each(['kbc_pat_', 'kbc_at_'])(
    'a %s… bearer token in #token gets one clear sentence',
    async (prefix) => {
      const bearer = `${prefix}9f3c2a71be5d4c0e8a6b`;
      const dir = await dataDir({ '#token': bearer });
      const result = await syncRun(dir);
      expect(result.code).toBe(1);
      expect(result.stderr.trim()).toMatch(
        /parameters\.#token: is a Keboola Connection bearer token .* the job needs a Storage API token: create one with "kbc-table-sync token create --bucket BUCKET"/,
      );
      await expectSecretsOnlyWherePromised(result, { dataDir: dir });
      await expectNoSecrets([bearer], result, dir);
    },
  );

  it('rejects a readOnly master token, though it shows read on the one bucket of the project', async () => {
    expect(await verifyBody(MASTERS.readOnly)).toMatchObject({
      bucketPermissions: { 'in.c-sales': 'read' },
    });
    const dir = await dataDir({ '#token': MASTERS.readOnly });
    const result = await syncRun(dir);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toMatch(/The token is a master token: use a limited token/);
    // The data folder was checked (out/tables exists), but no table was written.
    expect(await listFiles(join(dir, 'out', 'tables'))).toEqual([]);
    await expectSecretsOnlyWherePromised(result, { dataDir: dir });
  });

  it('testConnection and plan show the warnings about privileges the job never uses, as a run logs them', async () => {
    const wide = emulator.control.createToken(101, {
      bucketPermissions: { 'in.c-sales': 'read' },
      componentAccess: ['keboola.ex-db-mysql'],
      canCreateJobs: true,
    });
    const dir = await dataDir({ '#token': wide });
    const warnings = [
      'The source token may use the components "keboola.ex-db-mysql" (componentAccess): the job uses none, so a token without component access is safer.',
      'The source token can create jobs (canCreateJobs): the job never does, so a token without that privilege is safer.',
    ];
    const test = await runCli(['action', 'testConnection', '--data', dir]);
    expect(test.code, test.stderr).toBe(0);
    const connection = JSON.parse(test.stdout) as { type: string; message: string };
    expect(connection.type).toBe('warning');
    expect(connection.message.split('\n').slice(1)).toEqual(warnings.map((w) => `- ${w}`));
    const plan = await runCli(['--data', dir, '--dry-run']);
    expect(plan.code, plan.stderr).toBe(0);
    expect((JSON.parse(plan.stdout) as { warnings: string[] }).warnings).toEqual(warnings);
    const run = await runCli(['--data', dir, '--log-format', 'text'], {
      env: { AWS_ENDPOINT_URL_S3: emulator.url },
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.split('\n').filter((line) => line.startsWith('Warning: '))).toEqual(
      warnings.map((w) => `Warning: ${w}`),
    );
    for (const result of [test, plan, run]) {
      await expectSecretsOnlyWherePromised(result, { dataDir: dir });
    }
  });

  it('testConnection and plan report the token’s last activity', async () => {
    const dir = await dataDir({ '#token': newReadToken() });
    const test = await runCli(['action', 'testConnection', '--data', dir]);
    expect(test.code, test.stderr).toBe(0);
    expect(JSON.parse(test.stdout)).toEqual({
      status: 'success',
      type: 'success',
      message: expect.stringContaining('The token reads the bucket `in.c-sales`') as unknown,
      lastActivity: {
        at: expect.stringMatching(/^\d{4}-/) as unknown,
        event: 'storage.tokenCreated',
      },
    });
    const plan = await runCli(['--data', dir, '--dry-run']);
    expect(plan.code, plan.stderr).toBe(0);
    expect(JSON.parse(plan.stdout)).toMatchObject({
      mode: 'platform',
      tokenLastActivity: { event: 'storage.tokenCreated' },
    });
    await expectSecretsOnlyWherePromised(test, { dataDir: dir });
    await expectSecretsOnlyWherePromised(plan, { dataDir: dir });
  });
});
