/**
 * Writes config.json atomically (adapter), in steps so that a command can learn that the file
 * cannot be replaced before it changes anything (docs/tokens.md): {@link renderConfig} serialises
 * the document with a placeholder for the token that does not exist yet;
 * {@link prepareConfigWrite} creates the new file next to the target at once; `commit` fills it
 * with that text, the token put in, and the old file's mode (and owner, where allowed), flushes it
 * to disk, renames it over the target and flushes the folder, so the rename itself survives a
 * crash. A reader sees the old document or the new one, never half of one; on failure the old
 * file is untouched and the new one removed (or emptied, where the folder refuses the removal). A
 * config.json that is a symlink is written through: the file it points at is replaced and the
 * link stays, so no other path to that file keeps an old token.
 */
import { randomBytes } from 'node:crypto';
import * as nodeFs from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { errorCode } from '../fs-errors.js';
import { editConfigText } from './config-edit.js';

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
type ConfigFs = Pick<typeof nodeFs, 'open' | 'realpath' | 'rename' | 'rm' | 'stat' | 'truncate'>;

/** A config.json about to be replaced: its new file exists, empty, next to it. */
export interface ConfigWrite {
  /** Writes `text` into the new file and renames it over the target; once only. */
  commit(text: string): Promise<void>;
  /** Removes the new file unless it was committed; safe to call more than once. */
  discard(): Promise<void>;
}

/** The folder that must take the new file could not: it is named with the fs error as cause. */
export class ConfigFolderError extends Error {
  override name = 'ConfigFolderError';
  constructor(
    /** The folder the new file goes into (the symlink target's folder for a symlink). */
    readonly folder: string,
    cause: unknown,
  ) {
    super(`${folder} does not take a new file (${errorCode(cause) ?? 'error'})`, { cause });
  }
}

/** config.json's text, serialised before the token it holds exists ({@link renderConfig}). */
export interface ConfigText {
  /** The text with `token` where the document had the placeholder: no serialising left to fail. */
  withToken(token: string): string;
}

/**
 * The document could not be serialised: JSON.stringify ran out of stack on arrays and objects
 * nested thousands of levels deep (JSON.parse, which read them, has no such limit).
 */
export class ConfigTooDeepError extends Error {
  override name = 'ConfigTooDeepError';
}

/**
 * Renders `documentFor(placeholder)` now as config.json's text, so that a document that cannot be
 * written is refused before a token is created or refreshed; the write then only puts the token
 * in place of the placeholder, a random string that no document holds by chance. With the
 * file's current text, that text is edited in place ({@link editConfigText}); without it, or when
 * it cannot be edited faithfully, the document is serialised (indented JSON and a newline).
 * @throws ConfigTooDeepError when JSON.stringify runs out of stack on the document
 */
export function renderConfig(
  documentFor: (token: string) => unknown,
  existingText?: string,
): ConfigText {
  const placeholder = `kbc-table-sync-new-token-${randomBytes(12).toString('hex')}`;
  const document = documentFor(placeholder);
  const edited = existingText === undefined ? undefined : editConfigText(existingText, document);
  let text: string;
  try {
    text = edited ?? `${JSON.stringify(document, null, 2)}\n`;
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    throw new ConfigTooDeepError('config.json is nested too deep to be serialised', {
      cause: error,
    });
  }
  // The placeholder's hex needs no escaping: its JSON form is its text in quotes.
  return { withToken: (token) => text.replace(`"${placeholder}"`, () => JSON.stringify(token)) };
}

/**
 * Creates the new file for `<dataDir>/config.json` at once, so a folder that does not take one is
 * known before anything is changed.
 * @throws ConfigFolderError naming the folder, with the fs error as cause
 */
export async function prepareConfigWrite(
  dataDir: string,
  fs: ConfigFs = nodeFs,
): Promise<ConfigWrite> {
  let folder = dataDir;
  try {
    const target = await realTarget(fs, join(dataDir, 'config.json'));
    // In the target's folder: a rename is atomic only within one filesystem.
    folder = dirname(target);
    const existing = await fs.stat(target).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    const mode = existing ? existing.mode & 0o7777 : NEW_FILE_MODE;
    const temp = join(folder, `.config.json.${randomBytes(6).toString('hex')}.tmp`);
    const handle = await fs.open(temp, 'wx', mode);
    return pendingWrite(fs, { handle, temp, target, folder, mode, existing });
  } catch (error) {
    throw new ConfigFolderError(folder, error);
  }
}

function pendingWrite(
  fs: ConfigFs,
  file: {
    readonly handle: FileHandle;
    readonly temp: string;
    readonly target: string;
    readonly folder: string;
    readonly mode: number;
    readonly existing: { readonly uid: number; readonly gid: number } | undefined;
  },
): ConfigWrite {
  const { handle, temp, target, folder, mode, existing } = file;
  let handleOpen = true;
  let settled = false;
  const close = async () => {
    if (!handleOpen) return;
    handleOpen = false;
    await handle.close();
  };
  return {
    async commit(text) {
      if (settled) throw new Error('config.json was already written or discarded');
      settled = true;
      try {
        try {
          await handle.writeFile(text);
          await handle.chmod(mode); // the umask may have narrowed the mode given to open
          if (existing) await handle.chown(existing.uid, existing.gid).catch(() => undefined);
          await handle.sync();
        } finally {
          await close();
        }
        await fs.rename(temp, target);
      } catch (error) {
        await removeOrEmpty(fs, temp);
        throw error;
      }
      await syncFolder(fs, folder);
    },
    async discard() {
      await close().catch(() => undefined);
      if (settled) return;
      settled = true;
      await removeOrEmpty(fs, temp);
    },
  };
}

/**
 * Removes the new file; when the folder refuses that too (it refused the rename), empties it, so
 * no second copy of the config's secrets stays behind. Never throws: the write's own error, if
 * any, is the one to tell.
 */
async function removeOrEmpty(fs: ConfigFs, temp: string): Promise<void> {
  await fs.rm(temp, { force: true }).catch(() => fs.truncate(temp, 0).catch(() => undefined));
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
