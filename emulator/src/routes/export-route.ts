/**
 * `POST tables/{id}/export-async` (docs/storage-api-notes.md, Exporting a table): validates parameters at once,
 * then a `tableExport` job streams the rows from DuckDB into gzip slices plus a manifest, or
 * answers from the export cache (same parameters, table unchanged → same file, `cacheHit: true`).
 */
import { ApiError, validationError } from '../api-error.js';
import type { EmulatorCore } from '../core.js';
import { fileLocation, manifestEntryUrl } from '../file-locations.js';
import type { FileState, TableState, TokenState } from '../model.js';
import { parseBooleanParam, parseColumnsParam, parseUnixTimestampParam } from '../params.js';
import { json, route, type Route, type RouteContext } from '../router.js';
import { writeSlices } from '../slice-writer.js';
import type { WhereFilter } from '../sql.js';
import { jobView } from '../views.js';

export const exportRoutes: readonly Route[] = [
  route('POST', '/v2/storage/tables/{tableId}/export-async', startExport),
];

interface ExportRequest {
  readonly columns: readonly string[];
  readonly changedSince: number | undefined;
  readonly changedUntil: number | undefined;
  readonly gzip: boolean;
  readonly where: readonly WhereFilter[];
  readonly limit: number | undefined;
}

/** Parses and validates export parameters against the table. @throws ApiError 400 */
function parseExportRequest(
  body: Readonly<Record<string, unknown>>,
  table: TableState,
): ExportRequest {
  const columns = parseColumnsParam(body.columns) ?? table.columns;
  const unknown = columns.filter((c) => !table.columns.includes(c));
  if (unknown.length > 0) {
    throw validationError(
      'storage.tables.validation.columnNotExists',
      `Columns "${unknown.join(', ')}" not found in the table "${table.id}".`,
    );
  }
  const format = body.format;
  if (format !== undefined && format !== 'rfc') {
    throw validationError(
      'storage.tables.validation.invalidFormat',
      'Invalid export format. Only "rfc" is supported.',
    );
  }
  return {
    columns,
    changedSince: parseUnixTimestampParam('changedSince', body.changedSince),
    changedUntil: parseUnixTimestampParam('changedUntil', body.changedUntil),
    gzip: parseBooleanParam(body.gzip, false),
    where: parseWhere(body, table),
    limit: parseLimit(body.limit),
  };
}

/**
 * The value filters: `whereFilters: [{column, operator, values}]` and the deprecated single
 * `whereColumn` / `whereValues[]` / `whereOperator` (Python's client still sends them). Only
 * `eq` and `ne` exist outside Snowflake; other operators answer 501.
 * @throws ApiError 400 for a column the table lacks or a malformed filter, 501 for `gt`…`le`
 */
export function parseWhere(
  body: Readonly<Record<string, unknown>>,
  table: TableState,
): WhereFilter[] {
  const filters: WhereFilter[] = [];
  const add = (column: unknown, operator: unknown, values: unknown): void => {
    if (typeof column !== 'string' || column === '') {
      throw validationError('storage.tables.validation', 'A where filter needs a column.');
    }
    if (!table.columns.includes(column)) {
      throw validationError(
        'storage.tables.validation.columnNotExists',
        `Column "${column}" not found in the table "${table.id}".`,
      );
    }
    const op =
      operator === undefined || operator === ''
        ? 'eq'
        : typeof operator === 'string'
          ? operator
          : JSON.stringify(operator);
    if (op !== 'eq' && op !== 'ne') {
      if (['gt', 'ge', 'lt', 'le'].includes(op)) {
        throw new ApiError(
          501,
          'notImplemented',
          `The where operator "${op}" (Snowflake only) is not emulated by keboola-storage-emulator.`,
        );
      }
      throw validationError('storage.tables.validation', `Invalid where operator "${op}".`);
    }
    const list = values === undefined ? [] : Array.isArray(values) ? values : [values];
    filters.push({ column, operator: op, values: list.map((v) => String(v)) });
  };
  if (body.whereColumn !== undefined && body.whereColumn !== '') {
    add(body.whereColumn, body.whereOperator, body.whereValues);
  }
  if (body.whereFilters !== undefined) {
    if (!Array.isArray(body.whereFilters)) {
      throw validationError('storage.tables.validation', 'whereFilters must be an array.');
    }
    for (const item of body.whereFilters as unknown[]) {
      const filter = (item ?? {}) as Record<string, unknown>;
      add(filter.column, filter.operator, filter.values);
    }
  }
  return filters;
}

/** `limit`: a non-negative integer, or absent. @throws ApiError 400 */
export function parseLimit(value: unknown): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const limit = Number(value);
  if (!Number.isSafeInteger(limit) || limit < 0) {
    throw validationError('storage.tables.validation', 'Invalid "limit" parameter.');
  }
  return limit;
}

function startExport(ctx: RouteContext) {
  const core = ctx.core;
  const table = core.tableFor(ctx.token, ctx.params.tableId ?? '', 'read');
  const request = parseExportRequest(ctx.body, table);
  const job = core.jobs.start(
    {
      projectId: ctx.project.id,
      operationName: 'tableExport',
      tableId: table.id,
      operationParams: {
        export: {
          tableName: null,
          columns: request.columns,
          limit: request.limit ?? null,
          changedSince: request.changedSince ?? null,
          changedUntil: request.changedUntil ?? null,
          gzipOutput: request.gzip,
          format: 'rfc',
          whereFilters: request.where,
          fileType: 'csv',
          timezone: null,
        },
        queue: 'main_fast',
      },
      token: ctx.token,
      runId: ctx.runId,
      fault: core.faults.take(ctx.method, ctx.path, ['jobStuck', 'jobError']),
    },
    () => runExport(core, table, ctx.token, request, ctx.runId),
  );
  return json(202, jobView(job, core.baseUrl));
}

function cacheKey(table: TableState, request: ExportRequest, version: number): string {
  return JSON.stringify([table.projectId, table.id, version, request]);
}

/** The export job's work: cached file, or a new sliced file. Returns the job `results`. */
async function runExport(
  core: EmulatorCore,
  table: TableState,
  token: TokenState,
  request: ExportRequest,
  runId: string | null,
): Promise<Record<string, unknown>> {
  const key = cacheKey(table, request, table.version);
  const cachedId = core.state.exportCache.get(key);
  const cached = cachedId === undefined ? undefined : core.state.files.get(cachedId);
  if (cached) {
    cached.readerTokenIds.add(token.id);
    return { file: { id: cached.id }, cacheHit: true };
  }
  const file = await writeExportFile(core, table, token, request, runId);
  core.state.exportCache.set(key, file.id);
  return { file: { id: file.id }, cacheHit: false };
}

async function writeExportFile(
  core: EmulatorCore,
  table: TableState,
  token: TokenState,
  request: ExportRequest,
  runId: string | null,
): Promise<FileState> {
  const project = core.requireProject(table.projectId);
  const id = core.state.nextFileId();
  const extension = request.gzip ? '.csv.gz' : '.csv';
  const [stage = 'in', bucketName = ''] = table.bucketId.split('.');
  const relative = `table-exports/${stage}/${bucketName}/${table.name}/${id}${extension}`;
  const loc = fileLocation(project.provider, project.id, relative);
  const rows = core.db.streamRows(table.physical, request.columns, request);
  const written = await writeSlices(rows, core.sliceRowsFor(table), request.gzip, (suffix, body) =>
    core.objectStore.putObject({ bucket: loc.bucket, key: loc.key + suffix }, body),
  );
  const entries = written.suffixes.map((suffix) => ({
    url: manifestEntryUrl(project.provider, { bucket: loc.bucket, key: loc.key + suffix }),
    mandatory: true,
  }));
  await core.objectStore.putObject(
    { bucket: loc.bucket, key: `${loc.key}manifest` },
    JSON.stringify({ entries }),
  );
  const file: FileState = {
    id,
    projectId: project.id,
    name: `${table.id}${extension}`,
    bucket: loc.bucket,
    key: loc.key,
    isSliced: true,
    isEncrypted: true,
    sizeBytes: written.bytes,
    createdMs: core.clock.nowMs(),
    creatorTokenId: token.id,
    creatorDescription: token.description,
    readerTokenIds: new Set([token.id]),
    tags: ['table-export'],
    runId,
  };
  core.state.files.set(id, file);
  return file;
}
