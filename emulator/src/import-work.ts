/**
 * Import and create-from-file work (docs/storage-api-notes.md, Creating a table and loading a file): locate the uploaded file's
 * slices on disk through the object store, decide the file's columns (`columns`, `withoutHeaders`
 * or the header row), check them against the table, and load with truncate / append / upsert.
 */
import { JobError, missingColumnsMessage } from './api-error.js';
import type { EmulatorCore } from './core.js';
import { readCsvHeader, sanitizeColumnName, sharedLineEnding } from './csv-format.js';
import { locationFromEntryUrl } from './file-locations.js';
import type { FileState, TableState } from './model.js';
import { scalarText } from './params.js';
import type { LoadMode, LoadSource } from './table-db.js';
import { readFileSync } from 'node:fs';

export interface ImportOptions {
  /** Columns of a headerless file, in file order. */
  readonly columns: readonly string[] | undefined;
  readonly withoutHeaders: boolean;
  readonly incremental: boolean;
}

/**
 * Paths of the file's data on disk: the manifest's slices in order for sliced files.
 * @throws JobError `storage.fileNotUploaded`, `storage.manifestFileMissing`, `storage.importFileMissing`
 */
export function resolveFilePaths(core: EmulatorCore, file: FileState): string[] {
  const store = core.objectStore;
  if (!file.isSliced) {
    const path = store.objectPath({ bucket: file.bucket, key: file.key });
    if (!path) throw new JobError('storage.fileNotUploaded', `File "${file.id}" was not uploaded.`);
    return [path];
  }
  const manifestPath = store.objectPath({ bucket: file.bucket, key: `${file.key}manifest` });
  if (!manifestPath) {
    throw new JobError(
      'storage.manifestFileMissing',
      `Manifest file "${file.key}manifest" of the sliced file "${file.id}" is missing.`,
    );
  }
  return manifestUrls(manifestPath, file).map((url) => {
    const loc = locationFromEntryUrl(url);
    const path = loc && store.objectPath(loc);
    if (!path) throw new JobError('storage.importFileMissing', `Import file "${url}" is missing.`);
    return path;
  });
}

function manifestUrls(manifestPath: string, file: FileState): string[] {
  try {
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { entries?: unknown };
    const entries = Array.isArray(manifest.entries) ? manifest.entries : [];
    return entries.map((entry) => scalarText((entry as { url?: unknown }).url));
  } catch {
    throw new JobError(
      'storage.manifestFileMissing',
      `Manifest of the file "${file.id}" is invalid.`,
    );
  }
}

/**
 * The file's columns and whether the first line is a header. A sliced file needs `columns` or
 * `withoutHeaders` (`csvImport.columnsNotMatch` otherwise, as in Storage).
 */
export async function resolveLoadSource(
  file: FileState,
  paths: readonly string[],
  options: ImportOptions,
  tableColumns: readonly string[],
): Promise<LoadSource> {
  const newLine = await sharedLineEnding(paths);
  if (options.columns) return { paths, fileColumns: options.columns, header: false, newLine };
  if (options.withoutHeaders) return { paths, fileColumns: tableColumns, header: false, newLine };
  const header = paths[0] ? (await readCsvHeader(paths[0])).map(sanitizeColumnName) : [];
  if (file.isSliced) {
    const missing = tableColumns.filter((c) => !header.includes(c));
    throw new JobError(
      'csvImport.columnsNotMatch',
      `${missingColumnsMessage(missing, tableColumns)} Sliced files must be imported with "columns" or "withoutHeaders".`,
      { missingColumns: missing, expectedColumns: tableColumns },
    );
  }
  return { paths, fileColumns: header, header: true, newLine };
}

function checkDuplicateColumns(columns: readonly string[]): void {
  const duplicate = columns.find((c, i) => columns.indexOf(c) !== i);
  if (duplicate !== undefined) {
    throw new JobError(
      'csvImport.duplicateColumnNames',
      `There are duplicate columns in CSV file: ${duplicate}`,
    );
  }
}

/** Import job work: returns the `results` of a successful `tableImport`. */
export async function runImport(
  core: EmulatorCore,
  table: TableState,
  file: FileState,
  options: ImportOptions,
): Promise<Record<string, unknown>> {
  const paths = resolveFilePaths(core, file);
  const source = await resolveLoadSource(file, paths, options, table.columns);
  checkDuplicateColumns(source.fileColumns);
  const missing = table.columns.filter((c) => !source.fileColumns.includes(c));
  if (missing.length > 0) {
    throw new JobError('csvImport.columnsNotMatch', missingColumnsMessage(missing, table.columns), {
      missingColumns: missing,
      expectedColumns: table.columns,
    });
  }
  await addExtraColumns(core, table, source.fileColumns);
  const mode: LoadMode = !options.incremental
    ? 'full'
    : table.primaryKey.length > 0
      ? 'upsert'
      : 'append';
  await core.db.load(
    table.physical,
    table.columns,
    table.primaryKey,
    source,
    mode,
    core.clock.nowSeconds(),
    // On typed tables an upsert stamps every row of the file, changed or not (untyped: only
    // changed ones).
    { alwaysBump: table.definition !== undefined },
  );
  core.markChanged(table);
  await core.refreshStats(table);
  return {
    importedColumns: source.fileColumns,
    warnings: [],
    transaction: null,
    totalRowsCount: table.rowsCount,
    totalDataSizeBytes: table.dataSizeBytes,
  };
}

/** Extra file columns are added to untyped tables; typed tables refuse them. */
async function addExtraColumns(
  core: EmulatorCore,
  table: TableState,
  fileColumns: readonly string[],
): Promise<void> {
  const extra = fileColumns.filter((c) => !table.columns.includes(c));
  if (extra.length === 0) return;
  if (table.definition) {
    throw new JobError(
      'csvImport.columnsNotMatch',
      `Columns "${extra.join(',')}" are not in the typed table "${table.id}". Expected columns: ${table.columns.join(',')}.`,
      { extraColumns: extra, expectedColumns: table.columns },
    );
  }
  await core.db.addColumns(table.physical, extra);
  table.columns.push(...extra);
}
