/**
 * Writes config.json atomically (adapter): a new file next to it with the old file's mode (and
 * owner, where allowed), flushed to disk, then renamed over it, and the folder flushed so the
 * rename itself survives a crash. A reader sees the old document or the new one, never half of
 * one; on failure the old file is untouched and the temporary one removed. A config.json that is
 * a symlink is written through: the file it points at is replaced and the link stays, so no other
 * path to that file keeps an old token.
 */
import { randomBytes } from 'node:crypto';
import * as nodeFs from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { errorCode } from '../fs-errors.js';

/** Mode of a config.json that did not exist: it holds secrets, so only its owner reads it. */
const NEW_FILE_MODE = 0o600;

/**
 * What a platform answers when a folder cannot be opened or flushed like a file (Windows: EISDIR
 * or EPERM on open; some filesystems: EINVAL or ENOTSUP on fsync): the rename is then as durable
 * as the platform makes it, and the write still succeeded.
 */
const FOLDER_SYNC_UNSUPPORTED: ReadonlySet<string> = new Set([
  'EISDIR',
  'EINVAL',
  'ENOTSUP',
  'EOPNOTSUPP',
  'EPERM',
]);

/** The file operations of the write: node:fs/promises itself, or a wrapper of it in a test. */
type ConfigFs = Pick<typeof nodeFs, 'open' | 'realpath' | 'rename' | 'rm' | 'stat'>;

/** @throws the fs error (the caller names the file and what it means) */
export async function writeConfigAtomically(
  dataDir: string,
  document: unknown,
  fs: ConfigFs = nodeFs,
): Promise<void> {
  const target = await realTarget(fs, join(dataDir, 'config.json'));
  const existing = await fs.stat(target).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  const mode = existing ? existing.mode & 0o7777 : NEW_FILE_MODE;
  // In the target's folder: a rename is atomic only within one filesystem.
  const temp = join(dirname(target), `.config.json.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await fs.open(temp, 'wx', mode);
  try {
    try {
      await handle.writeFile(`${JSON.stringify(document, null, 2)}\n`);
      await handle.chmod(mode); // the umask may have narrowed the mode given to open
      if (existing) await handle.chown(existing.uid, existing.gid).catch(() => undefined);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, target);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
  await syncFolder(fs, dirname(target));
}

/** Flushes a folder's entries (the rename) to disk, where the platform can. */
async function syncFolder(fs: ConfigFs, folder: string): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await fs.open(folder, 'r');
  } catch (error) {
    if (FOLDER_SYNC_UNSUPPORTED.has(errorCode(error) ?? '')) return;
    throw error;
  }
  try {
    await handle.sync();
  } catch (error) {
    if (!FOLDER_SYNC_UNSUPPORTED.has(errorCode(error) ?? '')) throw error;
  } finally {
    await handle.close();
  }
}

/** The file behind `path` when it exists (symlinks resolved), else `path` itself. */
async function realTarget(fs: ConfigFs, path: string): Promise<string> {
  return fs.realpath(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return path;
    throw error;
  });
}
