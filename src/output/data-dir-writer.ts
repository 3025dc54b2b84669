import { createWriteStream } from 'node:fs';
import { lstat, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { UserError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { SecretMasker } from '../secrets.js';
import { explainMissingTable, type TablePlan } from '../plan/plan-tables.js';
import type { TableDetail } from '../storage/types.js';
import { copySlices, type CopyOptions } from '../transfer/copy-slices.js';
import type { ExportedTable, OutputWriter, TableWriteResult } from './output-writer.js';
import { describeFsError, EnvironmentError, errorCode } from '../fs-errors.js';
import { checkDataFolder, checkManifestPaths, removeTableLeftovers } from './data-dir-check.js';
import { LEGACY_MANIFESTS, type ManifestChoice } from './manifest-format.js';
import {
  buildNativeTableManifest,
  buildTableManifest,
  type NativeTableManifest,
  type TableManifest,
} from './table-manifest.js';

/**
 * Work folder for tables being written. It sits in `out/` but outside `out/tables` (the output
 * mapping reads only `out/tables`, `out/files` and `out/state.json`), on the same filesystem so
 * that finished tables move into place with a rename.
 */
export const WORK_DIR_NAME = '.kbc-table-sync-tmp';

/**
 * Platform mode (docs/architecture.md, The two modes): each table becomes a sliced folder `out/tables/<name>.csv/` holding
 * the export's gzip slices unchanged, plus `out/tables/<name>.csv.manifest`. A table is written in
 * the work folder and moved in only when complete.
 */
export class DataDirWriter implements OutputWriter {
  #tablesDir: string;
  #workDir: string;

  /**
   * `masker`: the run's secret masker. A manifest is written through it (metadata may hold
   * anything); a table whose output names would need it is refused (see
   * {@link refuseRevealingNames}).
   */
  constructor(
    private readonly dataDir: string,
    private readonly masker: Pick<SecretMasker, 'maskedJson' | 'reveals'>,
    private readonly logger?: Pick<Logger, 'info' | 'warn'>,
    private readonly manifests: ManifestSettings = LEGACY_ONLY,
  ) {
    this.#tablesDir = join(dataDir, 'out', 'tables');
    this.#workDir = join(dataDir, 'out', WORK_DIR_NAME);
  }

  /**
   * Checks the data folder (docs/configuration.md), then removes what a killed run left: its work
   * folder, and a table folder or manifest in `out/tables` without its other half. Last, no
   * planned table's manifest path may be a folder.
   * @throws EnvironmentError naming the path at fault
   */
  async prepare(plans: readonly TablePlan[] = []): Promise<void> {
    // The source does not matter here: out/tables takes any table.
    for (const plan of plans) refuseRevealingNames(plan, this.masker);
    this.logger?.info(this.manifests.choice.reason);
    const layout = await checkDataFolder(this.dataDir, {
      tables: true,
      workDirName: WORK_DIR_NAME,
    });
    this.#tablesDir = layout.tablesDir;
    // Next to the real out/tables: a finished table moves in with a rename, never across devices.
    this.#workDir = layout.workDir;
    if (await pathExists(this.#workDir)) {
      await rm(this.#workDir, { recursive: true, force: true });
      this.logger?.warn(
        `Removed the work folder out/${WORK_DIR_NAME} of an interrupted run (tables it had not finished).`,
      );
    }
    const removed = await removeTableLeftovers(this.#tablesDir);
    if (removed.length > 0) {
      this.logger?.warn(
        `Removed ${removed.length} leftover(s) of an interrupted run from out/tables: ${removed.map((name) => JSON.stringify(name)).join(', ')}.`,
      );
    }
    await checkManifestPaths(
      this.#tablesDir,
      plans.map((plan) => plan.fileName),
    );
  }

  async writeTable(
    plan: TablePlan,
    exported: ExportedTable,
    copy: CopyOptions,
  ): Promise<TableWriteResult> {
    if (basename(plan.fileName) !== plan.fileName || plan.fileName.startsWith('.')) {
      // Names are checked in the config; this guards the folder against any other path.
      throw new Error(`The output name ${JSON.stringify(plan.fileName)} is not a plain file name.`);
    }
    // Again: the export registered the file's credentials, and no name may hold one either.
    refuseRevealingNames(plan, this.masker);
    // Before any slice moves: a source that cannot be read fails the table at once.
    const manifest = await this.#manifestFor(plan);
    const workTable = join(this.#workDir, plan.fileName);
    await rm(workTable, { recursive: true, force: true });
    await mkdir(workTable, { recursive: true }).catch((error: unknown) => {
      throw describeFsError(error, `The work folder ${workTable} cannot be created`) ?? error;
    });
    copy.progress.phase = 'transfer';
    const tallies = await copySlices(exported.source, writeSliceTo(workTable), copy);
    if (exported.source.slices.length === 0) {
      // An empty export: one empty gzip slice keeps the sliced folder loadable by every runner.
      const emptySlice = join(workTable, sliceFileName(0));
      await writeFile(emptySlice, gzipSync('')).catch((error: unknown) => {
        throw describeFsError(error, `The slice ${emptySlice} cannot be written`) ?? error;
      });
    }
    const manifestPath = `${workTable}.manifest`;
    // Metadata values are copied from the source as they are; a secret or a token among them is
    // written as [hidden], value by value so the manifest stays valid JSON (docs/output-manifests.md,
    // Secrets). Names were refused above.
    const text = this.masker.maskedJson(manifest, 2);
    await writeFile(manifestPath, `${text}\n`).catch((error: unknown) => {
      throw describeFsError(error, `The manifest ${manifestPath} cannot be written`) ?? error;
    });
    await this.#moveIn(plan.fileName, workTable, manifestPath);
    return {
      rows: tallies.reduce((sum, t) => sum + t.rows, 0),
      bytes: tallies.reduce((sum, t) => sum + t.compressedBytes, 0),
    };
  }

  async cleanup(): Promise<void> {
    await rm(this.#workDir, { recursive: true, force: true });
  }

  /**
   * The table's manifest in the chosen format. The native-types one takes the column types from
   * the source table's detail: the bucket's table list the plan came from need not carry a typed
   * table's `definition` (docs/storage-api-notes.md, Typed tables).
   */
  async #manifestFor(plan: TablePlan): Promise<TableManifest | NativeTableManifest> {
    if (this.manifests.choice.format === 'legacy') return buildTableManifest(plan);
    const source = await this.manifests.readSourceTable(plan.sourceId).catch((error: unknown) => {
      throw explainMissingTable(error, plan.sourceId);
    });
    return buildNativeTableManifest(plan, source);
  }

  /**
   * Replaces an earlier output of the same name. The earlier folder leaves at once (a rename into
   * the work folder, removed there afterwards), the manifest moves in next and the folder last, so a
   * kill at any point leaves a manifest without a folder (removed by the next run), never a folder
   * without its manifest, nor a half-removed folder beside one, that the output mapping could pick
   * up. Removing the earlier folder in place took long enough for a kill to land in the middle.
   */
  async #moveIn(fileName: string, workTable: string, manifestPath: string): Promise<void> {
    const target = join(this.#tablesDir, fileName);
    const replaced = join(this.#workDir, `.replaced-${fileName}`);
    const tableContext = `The table ${target} cannot be moved into place`;
    await withFsContext(tableContext, async () => {
      await rm(replaced, { recursive: true, force: true });
      await rename(target, replaced).catch((error: unknown) => {
        if (errorCode(error) !== 'ENOENT') throw error;
      });
    });
    await withFsContext(`The manifest ${target}.manifest cannot be replaced`, async () => {
      await rm(`${target}.manifest`, { force: true });
      await rename(manifestPath, `${target}.manifest`);
    });
    await withFsContext(tableContext, () => rename(workTable, target));
    await rm(replaced, { recursive: true, force: true });
  }
}

/**
 * Refuses a table whose output names (its file name, its columns and key columns) hold a secret
 * the masker knows or look like a token: they are the names of files and manifest entries, and a
 * masked name would load the wrong column, so the table is a user error rather than masked
 * (docs/output-manifests.md, Secrets).
 * @throws UserError naming the table (the masker hides what it must)
 */
function refuseRevealingNames(
  plan: Pick<TablePlan, 'sourceId' | 'fileName' | 'columns' | 'primaryKey'>,
  masker: Pick<SecretMasker, 'reveals'>,
): void {
  if (masker.reveals(plan.fileName)) {
    throw new UserError(
      `The table "${plan.sourceId}" would be written as out/tables/${plan.fileName}, a name that holds a secret or looks like a token: give it a plain "destination".`,
    );
  }
  if ([...plan.columns, ...plan.primaryKey].some((column) => masker.reveals(column))) {
    throw new UserError(
      `The table "${plan.sourceId}" has a column whose name holds a secret or looks like a token, which the manifest would show: rename the column in the source project, or leave it out with "columns".`,
    );
  }
}

/** The manifest format of a {@link DataDirWriter} and what the native one reads. */
export interface ManifestSettings {
  readonly choice: ManifestChoice;
  /** The source table's detail (`GET tables/{id}` of the source project). */
  readonly readSourceTable: (tableId: string) => Promise<TableDetail>;
}

const LEGACY_ONLY: ManifestSettings = {
  choice: { format: 'legacy', reason: `${LEGACY_MANIFESTS}.` },
  readSourceTable: () => Promise.reject(new Error('The legacy manifest reads no table detail.')),
};

/** Slices are named by manifest position, so the folder lists them in manifest order. */
function sliceFileName(index: number): string {
  return `part-${String(index).padStart(5, '0')}.csv.gz`;
}

function writeSliceTo(folder: string) {
  return async (
    slice: { index: number },
    body: Readable,
    contentLength: number | undefined,
    signal: AbortSignal,
  ): Promise<void> => {
    const path = join(folder, sliceFileName(slice.index));
    const file = createWriteStream(path);
    try {
      await pipeline(body, file, { signal });
    } catch (error) {
      await rm(path, { force: true });
      const code = (error as NodeJS.ErrnoException | null)?.code;
      if (code === 'ENOSPC' || code === 'EDQUOT') {
        const of = contentLength === undefined ? '' : ` of ${contentLength}`;
        throw new EnvironmentError(
          `No space left on the device of ${path}: ${file.bytesWritten} bytes${of} of slice ${slice.index + 1} were written (${code}); free space or give the data folder a larger disk.`,
          { cause: error },
        );
      }
      throw describeFsError(error, `The slice file ${path} cannot be written`) ?? error;
    }
  };
}

/** Runs a filesystem step; its environment faults become one sentence starting with `context`. */
async function withFsContext(context: string, step: () => Promise<void>): Promise<void> {
  try {
    await step();
  } catch (error) {
    throw describeFsError(error, context) ?? error;
  }
}

async function pathExists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}
