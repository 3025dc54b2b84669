import type { TablePlan } from '../plan/plan-tables.js';
import type { SliceSource } from '../objects/types.js';
import type { FileDetail } from '../storage/types.js';
import type { CopyOptions } from '../transfer/copy-slices.js';
import type { ExportWindow, TableState } from '../state/cursor.js';
import type { SourceIdentity, SourceProject } from '../state/sync-record.js';

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

/** What the destination says about a table before its export (standalone mode). */
export interface ResumePoint {
  /** False: the destination table does not exist, so the table is copied in full. */
  readonly tableExists: boolean;
  /** It exists with no rows and no sync record: copied in full too (docs/sync-record.md). */
  readonly emptyWithoutRecord?: boolean;
  /** The committed watermark entry of the destination's sync record, when it has one. */
  readonly committed?: TableState;
  /** Compared just before the import, to notice another run on the same table. */
  readonly revision: string;
  /**
   * What a window from the watermark would leave empty in the rows the destination holds: the
   * columns the export adds to it ({@link newColumnsWarning}'s sentence), when any.
   */
  readonly newColumnsWarning?: string;
}

/** What the writer needs to record the sync at the destination (standalone mode). */
export interface SyncContext {
  readonly source: SourceIdentity;
  readonly window: ExportWindow;
  readonly revision: string;
}

/**
 * Where tables go: the Keboola data folder (platform mode) or a destination project (standalone).
 * Selected once from the config (docs/architecture.md, The two modes).
 */
export interface OutputWriter {
  /**
   * Before any table: remove what an interrupted earlier run left, check the destination
   * (standalone: write permission on every bucket the planned tables go to, and no table copied
   * onto itself), so a table that cannot be written fails the run before any data moves.
   * @throws UserError naming the bucket or table at fault
   */
  prepare(plans: readonly TablePlan[], source: SourceProject): Promise<void>;
  /**
   * Optional, before the table's export starts: checks that the table can be written
   * (standalone: destination bucket permission, primary key and columns of an existing
   * destination table), so a table that would fail does not export anything.
   * @throws UserError naming what is wrong
   */
  checkTable?(plan: TablePlan): Promise<void>;
  /**
   * Optional, replaces `checkTable` when present (standalone): checks the table, refuses one
   * synced from another source, settles an import an earlier run left pending, and returns the
   * destination's committed watermark, the source of truth for the window.
   * @throws UserError naming what is wrong
   */
  resume?(plan: TablePlan, source: SourceIdentity): Promise<ResumePoint>;
  /**
   * Optional, for a table skipped as unchanged (standalone): deletes the claims that runs which
   * stopped on it left past their lease; a failure is only logged, the table stays unchanged.
   */
  tableUnchanged?(plan: TablePlan, serverNowMs: number): Promise<void>;
  /**
   * Writes one table completely or not at all: nothing of a failed table stays visible.
   * @returns what was written, once it is fully written (platform) or imported (standalone)
   */
  writeTable(
    plan: TablePlan,
    exported: ExportedTable,
    copy: Omit<CopyOptions, 'progress'> & { progress: CopyOptions['progress'] },
    sync?: SyncContext,
  ): Promise<TableWriteResult>;
  /** After the run, also after a failure or an interruption: remove temporary files. */
  cleanup(): Promise<void>;
}
