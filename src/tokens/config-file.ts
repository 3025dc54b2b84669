/**
 * Writes config.json atomically (adapter): a new file next to it with the old file's mode (and
 * owner, where allowed), flushed to disk, then renamed over it. A reader sees the old document or
 * the new one, never half of one; on failure the old file is untouched and the temporary one
 * removed. A config.json that is a symlink is written through: the file it points at is replaced
 * and the link stays, so no other path to that file keeps an old token.
 */
import { randomBytes } from 'node:crypto';
import { open, realpath, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** Mode of a config.json that did not exist: it holds secrets, so only its owner reads it. */
const NEW_FILE_MODE = 0o600;

/** @throws the fs error (the caller names the file and what it means) */
export async function writeConfigAtomically(dataDir: string, document: unknown): Promise<void> {
  const target = await realTarget(join(dataDir, 'config.json'));
  const existing = await stat(target).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  const mode = existing ? existing.mode & 0o7777 : NEW_FILE_MODE;
  // In the target's folder: a rename is atomic only within one filesystem.
  const temp = join(dirname(target), `.config.json.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', mode);
  try {
    try {
      await handle.writeFile(`${JSON.stringify(document, null, 2)}\n`);
      await handle.chmod(mode); // the umask may have narrowed the mode given to open
      if (existing) await handle.chown(existing.uid, existing.gid).catch(() => undefined);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/** The file behind `path` when it exists (symlinks resolved), else `path` itself. */
async function realTarget(path: string): Promise<string> {
  return realpath(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return path;
    throw error;
  });
}
