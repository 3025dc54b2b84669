import type { TablePlan } from '../plan/plan-tables.js';
import type { SliceSource } from '../objects/types.js';
import type { FileDetail } from '../storage/types.js';
import type { CopyOptions } from '../transfer/copy-slices.js';

/** An exported table, ready to be read slice by slice. */
export interface ExportedTable {
  readonly file: FileDetail;
  readonly source: SliceSource;
}

export interface TableWriteResult {
  readonly rows: number;
  /** Compressed bytes moved. */
  readonly bytes: number;
}

/**
 * Where tables go: the Keboola data folder (platform mode) or a destination project (standalone).
 * Selected once from the config (docs/architecture.md, The two modes).
 */
export interface OutputWriter {
  /** Before any table: remove what an interrupted earlier run left, check the destination. */
  prepare(): Promise<void>;
  /**
   * Optional, before the table's export starts: checks that the table can be written
   * (standalone: destination bucket permission, primary key and columns of an existing
   * destination table), so a table that would fail does not export anything.
   * @throws UserError naming what is wrong
   */
  checkTable?(plan: TablePlan): Promise<void>;
  /**
   * Writes one table completely or not at all: nothing of a failed table stays visible.
   * @returns what was written, once it is fully written (platform) or imported (standalone)
   */
  writeTable(
    plan: TablePlan,
    exported: ExportedTable,
    copy: Omit<CopyOptions, 'progress'> & { progress: CopyOptions['progress'] },
  ): Promise<TableWriteResult>;
  /** After the run, also after a failure or an interruption: remove temporary files. */
  cleanup(): Promise<void>;
}
