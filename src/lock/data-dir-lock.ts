/**
 * One run per data folder (docs/locking.md): an exclusive lock held for the whole `run`, so two
 * runs never share `out/` and a state file. The lock itself is `proper-lockfile`'s: an atomic
 * `mkdir` of `out/.kbc-table-sync.lock`, whose mtime the holder refreshes; a lock not refreshed for
 * {@link STALE_MS} is stale and taken over. Next to it, an owner file records who holds it (pid,
 * host, start time, process table), for the message a second run prints and to take over at once
 * the lock of a process in this process table that is gone (a SIGKILL leaves the lock behind). A
 * holder elsewhere (another host, or another container of the same host name) is judged by
 * watching for its next refresh.
 */
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { UserError } from '../errors.js';
import { errorCode } from '../fs-errors.js';

/** Inside `out/`: writable even when `in/` is mounted read-only, and never in `out/tables`. */
export const LOCK_DIR_NAME = '.kbc-table-sync.lock';
export const LOCK_OWNER_FILE_NAME = '.kbc-table-sync.lock-owner.json';

/** A lock whose mtime is older than this is stale (its holder stopped refreshing it). */
export const STALE_MS = 10_000;
/** How often the holder refreshes the lock's mtime. */
const UPDATE_MS = 2_000;
/** How often a second run looks at a lock whose holder it cannot judge. */
const WATCH_INTERVAL_MS = 200;

/** Who holds the lock, as recorded in the owner file. */
export interface LockOwner {
  readonly pid: number;
  readonly hostname: string;
  readonly startedAt: string;
  /** The holder's process table ({@link ThisProcess.processTable}); absent in older files. */
  readonly processTable?: string;
}

/** This process, as the owner check needs it (the composition root describes it). */
export interface ThisProcess {
  readonly pid: number;
  readonly hostname: string;
  /** When this process started (ms since the epoch). */
  readonly startedAtMs: number;
  /** Whether a process with this pid exists in this process table. */
  readonly isAlive: (pid: number) => boolean;
  /**
   * Which process table the pids belong to: the kernel's boot id and this process's pid namespace.
   * Containers that share a host name (`docker run --network host`, `hostNetwork: true`, a fixed
   * `--hostname`) each have their own, so a pid seen from one says nothing about the other.
   * Undefined where it cannot be read: no holder is then judged by its pid.
   */
  readonly processTable: string | undefined;
}

/**
 * Whether the recorded owner is surely gone (pure). Only a process in this process table can be
 * judged: its pid does not exist, or it is this process's pid but recorded before this process
 * started (the pid reused). Anything else may still run.
 */
export function ownerIsGone(owner: LockOwner | undefined, here: ThisProcess): boolean {
  if (!owner || !inThisProcessTable(owner, here)) return false;
  if (owner.pid === here.pid) return Date.parse(owner.startedAt) < here.startedAtMs;
  return !here.isAlive(owner.pid);
}

/** Whether the owner's pid means a process this one can look up: same host and process table. */
function inThisProcessTable(owner: LockOwner, here: ThisProcess): boolean {
  return (
    owner.hostname === here.hostname &&
    here.processTable !== undefined &&
    owner.processTable === here.processTable
  );
}

/** Another run holds the data folder. */
export class LockHeldError extends UserError {
  override name = 'LockHeldError';

  /** Who holds it (`pid … on host …, started …`), for a caller that words its own refusal. */
  readonly holder: string;

  constructor(message: string, holder: string) {
    super(message);
    this.holder = holder;
  }
}

export interface DataDirLock {
  /** Aborted when the lock is lost (its mtime was changed by someone else): stop the run. */
  readonly lost: AbortSignal;
  /** Releases the lock and removes its files; safe to call twice. */
  release(): Promise<void>;
}

export interface LockOptions {
  /** Warnings (a lock taken over) and the lost-lock error. */
  readonly warn: (message: string) => void;
  /** The process taking the lock: recorded as the owner, and judging a recorded one. */
  readonly here: ThisProcess;
}

/**
 * Takes the exclusive lock on `dataDir` at once (no waiting).
 * @throws LockHeldError naming the holder's pid and start time when another run holds it
 */
export async function lockDataDir(dataDir: string, options: LockOptions): Promise<DataDirLock> {
  const { here } = options;
  const outDir = join(dataDir, 'out');
  const paths = {
    lock: join(outDir, LOCK_DIR_NAME),
    owner: join(outDir, LOCK_OWNER_FILE_NAME),
  };
  await mkdir(outDir, { recursive: true });
  const lost = new AbortController();
  const lockOptions = {
    lockfilePath: paths.lock,
    realpath: false,
    stale: STALE_MS,
    update: UPDATE_MS,
    retries: 0,
    onCompromised: (error: Error) => {
      options.warn(
        `The lock on the data folder was lost (${error.message}): stopping, as another run may now use it.`,
      );
      lost.abort(error);
    },
  };
  const tryLock = async (): Promise<(() => Promise<void>) | undefined> => {
    try {
      return await lockfile.lock(dataDir, lockOptions);
    } catch (error) {
      if (errorCode(error) === 'ELOCKED') return undefined;
      throw error;
    }
  };
  let releaseLock = await tryLock();
  if (!releaseLock) {
    const owner = await readOwner(paths.owner);
    if (ownerIsGone(owner, here)) {
      options.warn(
        `Taking over the lock of a run that is gone (${describeOwner(owner)}), left by a killed process.`,
      );
      await rm(paths.lock, { recursive: true, force: true });
      releaseLock = await tryLock();
    } else if (!owner || !inThisProcessTable(owner, here)) {
      releaseLock = await watchForeignLock(paths, tryLock);
    }
  }
  if (!releaseLock) throw heldError(await readOwner(paths.owner));
  await writeOwner(paths.owner, {
    pid: here.pid,
    hostname: here.hostname,
    startedAt: new Date().toISOString(),
    ...(here.processTable === undefined ? {} : { processTable: here.processTable }),
  });
  let released = false;
  return {
    lost: lost.signal,
    release: async () => {
      if (released) return;
      released = true;
      await rm(paths.owner, { force: true });
      // A lost lock is no longer ours to remove.
      if (!lost.signal.aborted) await releaseLock().catch(() => undefined);
    },
  };
}

/**
 * A lock whose holder cannot be judged from here (another host, process table or container, or no
 * owner file):
 * its holder refreshes the mtime every {@link UPDATE_MS}, so a refresh seen within a few seconds
 * proves it alive (undefined: held). A lock never refreshed becomes stale after {@link STALE_MS}
 * and `proper-lockfile` takes it over. Bounded by the stale time plus two refreshes.
 */
async function watchForeignLock(
  paths: { readonly lock: string },
  tryLock: () => Promise<(() => Promise<void>) | undefined>,
): Promise<(() => Promise<void>) | undefined> {
  const firstMtimeMs = await mtimeMs(paths.lock);
  const rounds = Math.ceil((STALE_MS + 2 * UPDATE_MS) / WATCH_INTERVAL_MS);
  for (let round = 0; round < rounds; round++) {
    const current = await mtimeMs(paths.lock);
    if (current !== undefined && firstMtimeMs !== undefined && current !== firstMtimeMs) {
      return undefined;
    }
    const released = await tryLock();
    if (released) return released;
    await new Promise((resolve) => setTimeout(resolve, WATCH_INTERVAL_MS));
  }
  return undefined;
}

async function mtimeMs(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).mtimeMs;
  } catch {
    return undefined;
  }
}

function heldError(owner: LockOwner | undefined): LockHeldError {
  const holder = owner ? describeOwner(owner) : 'owner not yet recorded';
  return new LockHeldError(
    `Another run holds the lock on this data folder (${holder}): wait for it to finish; a lock not refreshed for ${STALE_MS / 1000} s is taken over.`,
    holder,
  );
}

function describeOwner(owner: LockOwner | undefined): string {
  if (!owner) return 'owner unknown';
  return `pid ${owner.pid} on host ${owner.hostname}, started ${owner.startedAt}`;
}

async function readOwner(path: string): Promise<LockOwner | undefined> {
  try {
    const raw: unknown = JSON.parse(await readFile(path, 'utf8'));
    if (
      raw &&
      typeof raw === 'object' &&
      'pid' in raw &&
      typeof raw.pid === 'number' &&
      'hostname' in raw &&
      typeof raw.hostname === 'string' &&
      'startedAt' in raw &&
      typeof raw.startedAt === 'string'
    ) {
      const processTable =
        'processTable' in raw && typeof raw.processTable === 'string'
          ? { processTable: raw.processTable }
          : {};
      return { pid: raw.pid, hostname: raw.hostname, startedAt: raw.startedAt, ...processTable };
    }
    return undefined;
  } catch {
    return undefined;
  }
}

/** Written whole (temp file, then rename) so a second run never reads half of it. */
async function writeOwner(path: string, owner: LockOwner): Promise<void> {
  const temp = `${path}.tmp-${owner.pid}`;
  await writeFile(temp, `${JSON.stringify(owner)}\n`);
  await rename(temp, path);
}
