import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import type { TablePlan } from '../plan/plan-tables.js';
import { copySlices, type CopyOptions } from '../transfer/copy-slices.js';
import type { ExportedTable, OutputWriter, TableWriteResult } from './output-writer.js';
import { buildTableManifest } from './table-manifest.js';

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
  readonly #tablesDir: string;
  readonly #workDir: string;

  constructor(dataDir: string) {
    this.#tablesDir = join(dataDir, 'out', 'tables');
    this.#workDir = join(dataDir, 'out', WORK_DIR_NAME);
  }

  async prepare(): Promise<void> {
    // A killed run may have left its work folder: remove it before anything else.
    await rm(this.#workDir, { recursive: true, force: true });
    await mkdir(this.#tablesDir, { recursive: true });
  }

  async writeTable(
    plan: TablePlan,
    exported: ExportedTable,
    copy: CopyOptions,
  ): Promise<TableWriteResult> {
    const workTable = join(this.#workDir, plan.fileName);
    await rm(workTable, { recursive: true, force: true });
    await mkdir(workTable, { recursive: true });
    copy.progress.phase = 'transfer';
    const tallies = await copySlices(exported.source, writeSliceTo(workTable), copy);
    if (exported.source.slices.length === 0) {
      // An empty export: one empty gzip slice keeps the sliced folder loadable by every runner.
      await writeFile(join(workTable, sliceFileName(0)), gzipSync(''));
    }
    const manifestPath = `${workTable}.manifest`;
    await writeFile(manifestPath, `${JSON.stringify(buildTableManifest(plan), null, 2)}\n`);
    await this.#moveIn(plan.fileName, workTable, manifestPath);
    return {
      rows: tallies.reduce((sum, t) => sum + t.rows, 0),
      bytes: tallies.reduce((sum, t) => sum + t.compressedBytes, 0),
    };
  }

  async cleanup(): Promise<void> {
    await rm(this.#workDir, { recursive: true, force: true });
  }

  /** Replaces an earlier output of the same name, folder first, manifest last. */
  async #moveIn(fileName: string, workTable: string, manifestPath: string): Promise<void> {
    const target = join(this.#tablesDir, fileName);
    await rm(`${target}.manifest`, { force: true });
    await rm(target, { recursive: true, force: true });
    await rename(workTable, target);
    await rename(manifestPath, `${target}.manifest`);
  }
}

/** Slices are named by manifest position, so the folder lists them in manifest order. */
export function sliceFileName(index: number): string {
  return `part-${String(index).padStart(5, '0')}.csv.gz`;
}

function writeSliceTo(folder: string) {
  return async (
    slice: { index: number },
    body: Readable,
    _contentLength: number | undefined,
    signal: AbortSignal,
  ): Promise<void> => {
    const path = join(folder, sliceFileName(slice.index));
    try {
      await pipeline(body, createWriteStream(path), { signal });
    } catch (error) {
      await rm(path, { force: true });
      throw error;
    }
  };
}
