import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  LOCK_DIR_NAME,
  LOCK_OWNER_FILE_NAME,
  LockHeldError,
  STALE_MS,
  lockDataDir,
  ownerIsGone,
  type ThisProcess,
} from '../../../src/lock/data-dir-lock.js';
import { thisTestProcess } from '../../helpers/this-process.js';

const PROCESS_TABLE = 'boot-1 pid:[4026531836]';
const here: ThisProcess = {
  pid: 4242,
  hostname: 'host-a',
  startedAtMs: Date.parse('2026-01-01T10:00:00Z'),
  isAlive: (pid) => pid === 4242 || pid === 7,
  processTable: PROCESS_TABLE,
};
/** Recorded by a process of this host and process table. */
const table = { processTable: PROCESS_TABLE };

describe('ownerIsGone', () => {
  it('judges only owners on this host', () => {
    const owner = { pid: 99, hostname: 'host-b', startedAt: '2026-01-01T09:00:00Z', ...table };
    expect(ownerIsGone(owner, here)).toBe(false);
    expect(ownerIsGone(undefined, here)).toBe(false);
  });

  it('judges only owners of this process table: a container of the same host name has its own pids', () => {
    // `docker run --network host` twice: one host name, pid 1 in each container.
    const sameHost = { hostname: 'host-a', startedAt: '2026-01-01T09:00:00Z' };
    const otherContainer = { ...sameHost, processTable: 'boot-1 pid:[4026532000]' };
    expect(ownerIsGone({ pid: 99, ...otherContainer }, here)).toBe(false);
    expect(ownerIsGone({ pid: 4242, ...otherContainer }, here)).toBe(false);
    expect(
      ownerIsGone({ pid: 99, ...sameHost, processTable: 'boot-2 pid:[4026531836]' }, here),
    ).toBe(false);
    // An owner file of an earlier version, or a process table that cannot be read here.
    expect(ownerIsGone({ pid: 99, ...sameHost }, here)).toBe(false);
    expect(
      ownerIsGone({ pid: 99, ...sameHost, ...table }, { ...here, processTable: undefined }),
    ).toBe(false);
  });

  it('a pid that does not exist here is gone; one that exists is not', () => {
    expect(
      ownerIsGone(
        { pid: 99, hostname: 'host-a', startedAt: '2026-01-01T09:00:00Z', ...table },
        here,
      ),
    ).toBe(true);
    expect(
      ownerIsGone(
        { pid: 7, hostname: 'host-a', startedAt: '2026-01-01T09:00:00Z', ...table },
        here,
      ),
    ).toBe(false);
  });

  it('our own pid recorded before this process started is an earlier process of that pid', () => {
    expect(
      ownerIsGone(
        { pid: 4242, hostname: 'host-a', startedAt: '2026-01-01T09:59:00Z', ...table },
        here,
      ),
    ).toBe(true);
    expect(
      ownerIsGone(
        { pid: 4242, hostname: 'host-a', startedAt: '2026-01-01T10:00:01Z', ...table },
        here,
      ),
    ).toBe(false);
  });
});

describe('lockDataDir', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('holds the folder against a second lock and names the holder; release removes every lock file', async () => {
    dir = await mkdtemp(join(tmpdir(), 'kts-lock-'));
    const warnings: string[] = [];
    const lock = await lockDataDir(dir, { warn: (m) => warnings.push(m), here: thisTestProcess() });
    const second = lockDataDir(dir, { warn: (m) => warnings.push(m), here: thisTestProcess() });
    await expect(second).rejects.toThrow(LockHeldError);
    await expect(second).rejects.toThrow(
      new RegExp(
        `^Another run holds the lock on this data folder \\(pid ${process.pid} on host .+, started \\d{4}-\\d\\d-\\d\\dT`,
      ),
    );
    await lock.release();
    await lock.release();
    expect(await readdir(join(dir, 'out'))).toEqual([]);
    const again = await lockDataDir(dir, {
      warn: (m) => warnings.push(m),
      here: thisTestProcess(),
    });
    await again.release();
    expect(warnings).toEqual([]);
  });

  it('takes over at once the lock of a process on this host that is gone', async () => {
    dir = await mkdtemp(join(tmpdir(), 'kts-lock-'));
    await mkdir(join(dir, 'out', LOCK_DIR_NAME), { recursive: true });
    const dead = { pid: 99, hostname: here.hostname, startedAt: '2026-01-01T09:00:00Z', ...table };
    await writeFile(join(dir, 'out', LOCK_OWNER_FILE_NAME), JSON.stringify(dead));
    const warnings: string[] = [];
    const lock = await lockDataDir(dir, { warn: (m) => warnings.push(m), here });
    expect(warnings).toEqual([
      'Taking over the lock of a run that is gone (pid 99 on host host-a, started 2026-01-01T09:00:00Z), left by a killed process.',
    ]);
    await lock.release();
    expect(await readdir(join(dir, 'out'))).toEqual([]);
  });

  it('does not take over the lock of a live process on this host', async () => {
    dir = await mkdtemp(join(tmpdir(), 'kts-lock-'));
    await mkdir(join(dir, 'out', LOCK_DIR_NAME), { recursive: true });
    const live = { pid: 7, hostname: here.hostname, startedAt: '2026-01-01T09:00:00Z', ...table };
    await writeFile(join(dir, 'out', LOCK_OWNER_FILE_NAME), JSON.stringify(live));
    await expect(lockDataDir(dir, { warn: () => undefined, here })).rejects.toThrow(
      /\(pid 7 on host host-a, started 2026-01-01T09:00:00Z\)/,
    );
  });

  it('a holder it cannot judge (another host, no owner file) is proved alive by its next refresh', async () => {
    dir = await mkdtemp(join(tmpdir(), 'kts-lock-'));
    const holder = await lockDataDir(dir, { warn: () => undefined, here: thisTestProcess() });
    try {
      const ownerFile = join(dir, 'out', LOCK_OWNER_FILE_NAME);
      await writeFile(
        ownerFile,
        JSON.stringify({ pid: 1, hostname: 'host-b', startedAt: '2026-01-01T09:00:00Z' }),
      );
      const started = Date.now();
      await expect(lockDataDir(dir, { warn: () => undefined, here })).rejects.toThrow(
        /\(pid 1 on host host-b, started 2026-01-01T09:00:00Z\)/,
      );
      await rm(ownerFile);
      await expect(lockDataDir(dir, { warn: () => undefined, here })).rejects.toThrow(
        /\(owner not yet recorded\)/,
      );
      // A refresh comes within UPDATE_MS: far sooner than the stale time.
      expect(Date.now() - started).toBeLessThan(STALE_MS);
    } finally {
      await holder.release();
    }
  }, 30_000);

  it('takes over a lock of another host once it has not been refreshed for the stale time', async () => {
    dir = await mkdtemp(join(tmpdir(), 'kts-lock-'));
    const lockDir = join(dir, 'out', LOCK_DIR_NAME);
    await mkdir(lockDir, { recursive: true });
    const other = { pid: 1, hostname: 'host-b', startedAt: '2026-01-01T09:00:00Z' };
    await writeFile(join(dir, 'out', LOCK_OWNER_FILE_NAME), JSON.stringify(other));
    const longAgo = new Date(Date.now() - STALE_MS - 60_000);
    await utimes(lockDir, longAgo, longAgo);
    const lock = await lockDataDir(dir, { warn: () => undefined, here });
    await lock.release();
    expect(await readdir(join(dir, 'out'))).toEqual([]);
  });
});
