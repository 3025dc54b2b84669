import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, isAbsolute } from 'node:path';
import { describeFsError, EnvironmentError } from '../fs-errors.js';

/**
 * Checks of the data folder, run before any data moves (docs/configuration.md, "The data
 * folder"): every environment fault becomes one sentence naming the path, exit 1, no stack trace.
 */

export interface DataFolderLayout {
  /** Where finished tables go: the real path of `out/tables` (platform mode). */
  readonly tablesDir: string;
  /** The work folder next to `tablesDir`, on the same filesystem, so moves are renames. */
  readonly workDir: string;
}

/**
 * Checks the data folder for a run: it exists and is a writable folder, `out` is a folder (or
 * absent), `out/state.json` is not a folder. In platform mode (`tables`) also `out/tables`: a
 * folder (or absent), and when a symlink, one that resolves inside the data folder. Creates `out`
 * and `out/tables` when missing and proves both writable with a probe file.
 * @throws EnvironmentError naming the path at fault
 */
export async function checkDataFolder(
  dataDir: string,
  options: { readonly tables: boolean; readonly workDirName: string },
): Promise<DataFolderLayout> {
  await expectFolder(dataDir, 'The data folder', 'mount it or pass --data DIR');
  const realData = await realpath(dataDir);
  const out = join(dataDir, 'out');
  await ensureFolder(out, realData);
  await expectNotFolder(join(out, 'state.json'));
  await probeWritable(out);
  const tables = join(out, 'tables');
  if (!options.tables) return { tablesDir: tables, workDir: join(out, options.workDirName) };
  await ensureFolder(tables, realData);
  const realTables = await realpath(tables);
  // The work folder goes next to out/tables: with out/tables the data folder itself (a link to
  // `..`), it would be made, and removed, outside the data folder.
  if (realTables === realData || realTables === (await realpath(out))) {
    throw new EnvironmentError(
      `${tables} is a symlink to ${realTables === realData ? 'the data folder itself' : 'out/'}: the tables need a folder of their own; make out/tables a real folder.`,
    );
  }
  await probeWritable(realTables);
  // The work folder must share out/tables' filesystem so tables move in with a rename: next to
  // it normally, inside it when out/tables is a mount point of its own.
  const ownDevice = (await stat(realTables)).dev !== (await stat(dirname(realTables))).dev;
  const workParent = ownDevice ? realTables : dirname(realTables);
  return { tablesDir: realTables, workDir: join(workParent, options.workDirName) };
}

async function expectFolder(path: string, what: string, fix: string): Promise<void> {
  let kind;
  try {
    kind = await stat(path);
  } catch (error) {
    throw describeFsError(error, `${what} ${path} cannot be used`) ?? error;
  }
  if (!kind.isDirectory()) throw new EnvironmentError(`${what} ${path} is not a folder: ${fix}.`);
}

/**
 * `path` must be a folder inside `realData`, or absent (then it is created). When something
 * appears between the check and the mkdir (another run starting on the same new folder), it is
 * checked once more like any existing entry, so the run meets the lock, not a false error.
 */
async function ensureFolder(path: string, realData: string, checkAgain = true): Promise<void> {
  let link;
  try {
    link = await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw describeFsError(error, `${path} cannot be used`) ?? error;
    }
    try {
      await mkdir(path);
    } catch (mkdirError) {
      if (checkAgain && (mkdirError as NodeJS.ErrnoException).code === 'EEXIST') {
        return ensureFolder(path, realData, false);
      }
      throw describeFsError(mkdirError, `The folder ${path} cannot be created`) ?? mkdirError;
    }
    return;
  }
  if (link.isSymbolicLink()) {
    const target = await realpath(path).catch(() => undefined);
    if (target === undefined) {
      throw new EnvironmentError(
        `${path} is a symlink to a path that does not exist: remove the link or make it a folder.`,
      );
    }
    if (!isInside(target, realData)) {
      throw new EnvironmentError(
        `${path} is a symlink that leaves the data folder (to ${target}): the job writes only inside the data folder; make it a real folder.`,
      );
    }
  }
  const kind = await stat(path);
  if (!kind.isDirectory()) {
    throw new EnvironmentError(
      `${path} is not a folder: remove or rename it, the job needs a folder there.`,
    );
  }
}

/**
 * No planned table's manifest path in `out/tables` is a folder: the job replaces the manifest, a
 * file, and never removes a folder it did not write.
 * @throws EnvironmentError naming the first such folder
 */
export async function checkManifestPaths(
  tablesDir: string,
  fileNames: readonly string[],
): Promise<void> {
  // One listing rather than one lstat per table, which a run over 200 tables waited for in turn
  // (docs/performance.md, Skipping unchanged tables). A symbolic link is no folder here, as for lstat.
  const entries = await readdir(tablesDir, { withFileTypes: true }).catch(() => []);
  const folders = new Set(entries.filter((e) => e.isDirectory()).map((e) => e.name));
  for (const fileName of fileNames) {
    if (folders.has(`${fileName}.manifest`)) {
      throw new EnvironmentError(
        `${join(tablesDir, `${fileName}.manifest`)} is a folder: the job writes the manifest of the table ${fileName} to that file; remove or rename the folder.`,
      );
    }
  }
}

async function expectNotFolder(path: string): Promise<void> {
  const kind = await stat(path).catch(() => undefined);
  if (kind?.isDirectory()) {
    throw new EnvironmentError(
      `${path} is a folder: the job writes its state to that file; remove the folder.`,
    );
  }
}

/** Writes and removes a small file: proves the folder writable (also for root on a read-only mount). */
async function probeWritable(folder: string): Promise<void> {
  const probe = join(folder, `.kbc-table-sync-probe-${randomBytes(4).toString('hex')}`);
  try {
    await writeFile(probe, '');
  } catch (error) {
    throw describeFsError(error, `The folder ${folder} is not writable`) ?? error;
  } finally {
    await rm(probe, { force: true }).catch(() => undefined);
  }
}

function isInside(path: string, folder: string): boolean {
  const rel = relative(folder, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/**
 * Removes what a killed run can leave in `out/tables`: a table folder without its manifest, or a
 * manifest without its folder (the writer moves the manifest in first, then the folder).
 * Returns the names removed.
 */
export async function removeTableLeftovers(tablesDir: string): Promise<string[]> {
  const entries = await readdir(tablesDir, { withFileTypes: true });
  const names = new Set(entries.map((entry) => entry.name));
  const removed: string[] = [];
  for (const entry of entries) {
    const orphanFolder =
      entry.isDirectory() && entry.name.endsWith('.csv') && !names.has(`${entry.name}.manifest`);
    const orphanManifest =
      entry.isFile() && entry.name.endsWith('.csv.manifest') && !names.has(entry.name.slice(0, -9));
    if (!orphanFolder && !orphanManifest) continue;
    await rm(join(tablesDir, entry.name), { recursive: true, force: true });
    removed.push(entry.name);
  }
  return removed;
}
