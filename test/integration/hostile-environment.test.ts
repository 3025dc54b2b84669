/**
 * Environment faults and hostile names (issue 14), each against the well-behaved hostile stack
 * and as a real child process: one sentence naming the path or key, exit 1, no stack trace, no
 * request sent when the fault is found in the config, nothing left in out/tables.
 *
 * Read-only folders, other filesystems and a full disk need mounts: a read-only bind mount and
 * tiny tmpfs mounts. Tests run as root in CI and here, where permission bits do not bite but
 * mounts work; without root (or without mount permission) those cases are skipped with a reason.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { watch } from 'node:fs';
import { mkdir, mkdtemp, readdir, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  fileJson,
  HOSTILE_TOKEN,
  SLICE_PATH,
  STORAGE,
  startHostileStack,
  type HostileStack,
} from '../helpers/hostile-stack.js';
import { runJobProcess, type JobProcessResult } from '../helpers/job-process.js';
import { listFiles, makeDataDir, removeDir, startCliProcess } from '../helpers/run-cli.js';
import { expectNoSecrets } from '../helpers/secret-scan.js';

const PEAK_RSS_LIMIT_BYTES = 200_000_000;

let stack: HostileStack;
const dirs: string[] = [];
const mounts: string[] = [];

beforeEach(async () => {
  stack = await startHostileStack();
});
afterEach(async () => {
  await stack.close();
  while (mounts.length > 0) unmount(mounts.pop() ?? '');
});
afterAll(async () => {
  for (const dir of dirs) await removeDir(dir);
});

/** Whether this process may mount (root, and the kernel lets it): probed once with a tiny tmpfs. */
const mountSkipReason = probeMounts();

function probeMounts(): string | undefined {
  if (process.platform !== 'linux') return 'mounts are Linux only';
  if (process.getuid?.() !== 0) return 'not root: cannot mount a read-only bind or a tmpfs';
  const probe = join(tmpdir(), `kts-mount-probe-${process.pid}`);
  try {
    execFileSync('mkdir', ['-p', probe]);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'mount is not permitted here (no CAP_SYS_ADMIN)';
  } finally {
    execFileSync('rm', ['-rf', probe]);
  }
}

function mountTmpfs(path: string, size: string): void {
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', path]);
  mounts.push(path);
}

function bindReadOnly(path: string): void {
  execFileSync('mount', ['--bind', path, path]);
  mounts.push(path);
  execFileSync('mount', ['-o', 'remount,bind,ro', path]);
}

function unmount(path: string): void {
  try {
    execFileSync('umount', [path], { stdio: 'ignore' });
  } catch {
    // Already gone.
  }
}

interface Outcome extends JobProcessResult {
  readonly dataDir: string;
}

async function dataDir(config: unknown = stack.config()): Promise<string> {
  const dir = await makeDataDir(config);
  dirs.push(dir);
  return dir;
}

async function run(dir: string): Promise<Outcome> {
  const result = await runJobProcess(['--data', dir], { env: stack.env, timeoutMs: 60_000 });
  return { ...result, dataDir: dir };
}

/** Exit 1, one sentence matching `sentence`, no stack trace, bounded memory and time. */
async function expectUserSentence(
  outcome: Outcome,
  sentence: RegExp,
  /** A table failure also logs its error line before the final sentence. */
  lines = 1,
): Promise<void> {
  expect(outcome.stderr, outcome.stdout.slice(-2000)).toMatch(sentence);
  expect(outcome.code).toBe(1);
  expect(outcome.stderr.trim().split('\n')).toHaveLength(lines);
  expect(outcome.stderr).not.toMatch(/^\s+at /m);
  expect(outcome.peakRssBytes).toBeLessThan(PEAK_RSS_LIMIT_BYTES);
  expect(outcome.wallMs).toBeLessThan(30_000);
  // Outputs only: the data folder may hold the symlinks under test (the token case scans it).
  await expectNoSecrets(stack.secrets, outcome);
}

function exportsStarted(): number {
  return stack.server.count('POST', `${STORAGE}/tables/in.c-src.t/export-async`);
}

describe('environment faults: one sentence naming the path, before the export', () => {
  it('`out` is a file', async () => {
    const dir = await dataDir();
    await writeFile(join(dir, 'out'), 'not a folder');
    await expectUserSentence(await run(dir), new RegExp(`${dir}/out is not a folder`));
    expect(stack.server.requests).toHaveLength(0);
  });

  it('`out/state.json` is a folder (and no temp file is left)', async () => {
    const dir = await dataDir();
    await mkdir(join(dir, 'out', 'state.json'), { recursive: true });
    await expectUserSentence(await run(dir), new RegExp(`${dir}/out/state.json is a folder`));
    expect((await readdir(join(dir, 'out'))).filter((n) => n.includes('.tmp-'))).toEqual([]);
    expect(exportsStarted()).toBe(0);
  });

  it('a folder where a table manifest goes (`out/tables/t.csv.manifest/`)', async () => {
    const dir = await dataDir();
    await mkdir(join(dir, 'out', 'tables', 't.csv.manifest'), { recursive: true });
    await expectUserSentence(
      await run(dir),
      new RegExp(
        `^${dir}/out/tables/t\\.csv\\.manifest is a folder: .*remove or rename the folder\\.$`,
        'm',
      ),
    );
    expect(exportsStarted()).toBe(0);
  });

  it('a dangling `out/tables` symlink', async () => {
    const dir = await dataDir();
    await mkdir(join(dir, 'out'));
    await symlink(join(dir, 'nowhere'), join(dir, 'out', 'tables'));
    await expectUserSentence(
      await run(dir),
      new RegExp(`${dir}/out/tables is a symlink to a path that does not exist`),
    );
    expect(exportsStarted()).toBe(0);
  });

  it('`out/tables` symlinked out of the data folder, same filesystem', async () => {
    const dir = await dataDir();
    const outside = await mkdtemp(join(tmpdir(), 'kts-outside-'));
    dirs.push(outside);
    await mkdir(join(dir, 'out'));
    await symlink(outside, join(dir, 'out', 'tables'));
    await expectUserSentence(
      await run(dir),
      new RegExp(`${dir}/out/tables is a symlink that leaves the data folder`),
    );
    expect(await listFiles(outside)).toEqual([]);
    expect(exportsStarted()).toBe(0);
  });

  it.each([
    ['..', 'the data folder itself'],
    ['.', 'out/'],
  ])(
    '`out/tables` a symlink to %s: refused before any request, nothing made outside',
    async (target, says) => {
      const dir = await dataDir();
      await mkdir(join(dir, 'out'));
      await symlink(target, join(dir, 'out', 'tables'));
      await expectUserSentence(
        await run(dir),
        new RegExp(
          `${dir}/out/tables is a symlink to ${says.replace('/', '\\/')}: the tables need a folder of their own`,
        ),
      );
      // Its work folder would have been made next to the data folder.
      expect(await readdir(dirname(dir))).not.toContain('.kbc-table-sync-tmp');
      expect(stack.server.requests).toHaveLength(0);
    },
  );

  it('a SIGKILL while an earlier output of the table is replaced leaves no half-removed folder beside its manifest', async () => {
    const dir = await dataDir();
    const tables = join(dir, 'out', 'tables');
    const old = join(tables, 't.csv');
    await mkdir(old, { recursive: true });
    // Enough slices that removing them in place takes long enough for the kill to land in it.
    const oldSlices = 20_000;
    for (let start = 0; start < oldSlices; start += 1_000) {
      const names = Array.from(
        { length: 1_000 },
        (_, i) => `part-${String(start + i).padStart(5, '0')}.csv.gz`,
      );
      await Promise.all(names.map((name) => writeFile(join(old, name), '')));
    }
    await writeFile(join(tables, 't.csv.manifest'), '{"columns":["id","name"],"primary_key":[]}');
    const child = startCliProcess(['--data', dir], { env: stack.env, timeoutMs: 60_000 });
    // The first change to the earlier folder, or to anything in it, is the moment to kill.
    const watcher = watch(old, () => child.kill('SIGKILL'));
    try {
      await child.done;
    } finally {
      watcher.close();
    }
    for (const name of await readdir(tables)) {
      if (name.endsWith('.manifest')) continue;
      // Every folder has its manifest and is whole: the earlier output, or the new one.
      expect(await readdir(tables)).toContain(`${name}.manifest`);
      expect([oldSlices, 1]).toContain((await readdir(join(tables, name))).length);
    }
    const rerun = await run(dir);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(await listFiles(join(dir, 'out', 'tables'))).toEqual([
      't.csv.manifest',
      't.csv/part-00000.csv.gz',
    ]);
  }, 90_000);

  it('leftovers of a killed run are removed, and the run says so', async () => {
    const dir = await dataDir();
    await mkdir(join(dir, 'out', 'tables', 't.csv'), { recursive: true });
    await writeFile(join(dir, 'out', 'tables', 't.csv', 'part-00000.csv.gz'), 'half');
    await writeFile(join(dir, 'out', 'tables', 'gone.csv.manifest'), '{}');
    await writeFile(join(dir, 'out', 'state.json.tmp-4242'), '{');
    await mkdir(join(dir, 'out', '.kbc-table-sync-tmp', 't.csv'), { recursive: true });
    const outcome = await run(dir);
    expect(outcome.code).toBe(0);
    // Warnings are log lines on stdout (a successful run writes nothing to stderr).
    expect(outcome.stderr).toBe('');
    expect(outcome.stdout).toMatch(
      /Removed 2 leftover\(s\) of an interrupted run from out\/tables/,
    );
    expect(outcome.stdout).toMatch(/Removed 1 leftover state file\(s\).*state\.json\.tmp-4242/);
    expect(outcome.stdout).toMatch(
      /Removed the work folder out\/\.kbc-table-sync-tmp of an interrupted run/,
    );
    expect(await listFiles(join(dir, 'out'))).toEqual([
      'state.json',
      'tables/t.csv.manifest',
      'tables/t.csv/part-00000.csv.gz',
    ]);
  });

  describe.skipIf(mountSkipReason !== undefined)(
    `with mounts${mountSkipReason ? ` (skipped: ${mountSkipReason})` : ''}`,
    () => {
      it('a read-only data folder', async () => {
        const dir = await dataDir();
        bindReadOnly(dir);
        await expectUserSentence(
          await run(dir),
          new RegExp(
            `The folder ${dir}/out cannot be created: the filesystem is read-only \\(EROFS\\)`,
          ),
        );
        expect(stack.server.requests).toHaveLength(0);
      });

      it('`out/tables` symlinked to another filesystem', async () => {
        const dir = await dataDir();
        const other = await mkdtemp(join(tmpdir(), 'kts-otherfs-'));
        dirs.push(other);
        mountTmpfs(other, '1m');
        await mkdir(join(dir, 'out'));
        await symlink(other, join(dir, 'out', 'tables'));
        await expectUserSentence(
          await run(dir),
          new RegExp(`${dir}/out/tables is a symlink that leaves the data folder`),
        );
        expect(exportsStarted()).toBe(0);
      });

      it('`out/tables` a mount point of its own: no EXDEV, the table lands', async () => {
        const dir = await dataDir();
        await mkdir(join(dir, 'out', 'tables'), { recursive: true });
        mountTmpfs(join(dir, 'out', 'tables'), '1m');
        const outcome = await run(dir);
        expect(outcome.stderr).toBe('');
        expect(outcome.code).toBe(0);
        expect(await listFiles(join(dir, 'out', 'tables'))).toEqual([
          't.csv.manifest',
          't.csv/part-00000.csv.gz',
        ]);
      });

      it('a full disk: ENOSPC is not retried and names the path and the bytes', async () => {
        const slice = gzipSync(randomBytes(300 * 1024).toString('hex'), { level: 1 });
        stack.route('GET', SLICE_PATH, { status: 200, raw: slice });
        stack.route('GET', `${STORAGE}/files/7`, {
          status: 200,
          body: fileJson(stack.url, slice.length),
        });
        const dir = await dataDir();
        await mkdir(join(dir, 'out', 'tables'), { recursive: true });
        mountTmpfs(join(dir, 'out', 'tables'), '64k');
        const outcome = await run(dir);
        await expectUserSentence(
          outcome,
          /No space left on the device of \S+part-00000\.csv\.gz: \d+ bytes of \d+ of slice 1 were written \(ENOSPC\)/,
          1,
        );
        expect(outcome.stdout).not.toMatch(/Restarting it/);
        expect(await listFiles(join(dir, 'out', 'tables'))).toEqual([]);
      });
    },
  );
});

describe('names are checked before any data moves', () => {
  const token = `${HOSTILE_TOKEN}`;
  const badDestinations: Array<[string, string]> = [
    ['a/b', 'a slash'],
    ['/tmp/x', 'an absolute path'],
    ['in.c-x/y.z', 'a slash inside a full id'],
    ['x'.repeat(300), 'a 300-character name'],
    ['x?y=1', 'a query'],
    ['a b\tc\u0001', 'spaces and control characters'],
  ];
  it.each(badDestinations)(
    'destination %j (%s): exit 1 naming the key, no request',
    async (name) => {
      const dir = await dataDir(stack.config({ destination: name }));
      const outcome = await run(dir);
      await expectUserSentence(outcome, /parameters\.tables\[0\]\.destination: /);
      expect(stack.server.requests).toHaveLength(0);
      expect(await listFiles(join(dir, 'out'))).toEqual([]);
    },
  );

  it('a name with a newline and a right-to-left override cannot forge a log line', async () => {
    const dir = await dataDir(stack.config({ name: 't\n{"level":"error","msg":"forged"}\u202e' }));
    const outcome = await run(dir);
    await expectUserSentence(outcome, /parameters\.tables\[0\]\.name: /);
    expect(outcome.stderr).toContain('\\n');
    expect(outcome.stderr).toContain('\\u{202e}');
    expect(outcome.stderr).not.toContain('\u202e');
  });

  it('a token pasted into the destination is never shown nor used as a file name', async () => {
    const pasted = '9876-54321-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789ABCD';
    const dir = await dataDir(stack.config({ destination: pasted }));
    const outcome = await run(dir);
    await expectUserSentence(outcome, /looks like a Storage API token/);
    await expectNoSecrets([pasted, token], outcome, dir);
  });
});

describe('a huge config is reported in bounded output and memory', () => {
  async function configWithItems(count: number): Promise<string> {
    const items = `[${Array.from({ length: count }, () => '{"x":1}').join(',')}]`;
    const dir = await dataDir({});
    await writeFile(
      join(dir, 'config.json'),
      `{"parameters":{"#token":"${HOSTILE_TOKEN}","url":"${stack.url}","tables":${items}}}`,
    );
    return dir;
  }

  it('a million bad table items: refused by the size cap before parsing', async () => {
    const outcome = await run(await configWithItems(1_000_000));
    await expectUserSentence(
      outcome,
      /config\.json is \d+ bytes, more than the 4 MiB a configuration may have/,
    );
    expect(stack.server.requests).toHaveLength(0);
  });

  it('a hundred thousand bad table items: the first 50 problems, then "and N more"', async () => {
    const outcome = await run(await configWithItems(100_000));
    await expectUserSentence(
      outcome,
      /^Invalid configuration \(\d+ problems\): .*; and \d+ more problems$/m,
    );
    expect(outcome.stderr.length).toBeLessThan(20_000);
    expect(stack.server.requests).toHaveLength(0);
  });
});
