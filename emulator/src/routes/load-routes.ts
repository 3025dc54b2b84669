/**
 * Job-starting write routes: `tables-async` (create from a file), `tables-definition` (typed
 * table) and `import-async` (docs/storage-api-notes.md, Creating a table and loading a file). Parameters are validated before
 * the job exists; data-dependent failures end the job in `error`.
 */
import { JobError, fileNotFound, validationError } from '../api-error.js';
import { invalidPrimaryKey, tableExists, type EmulatorCore } from '../core.js';
import { resolveFilePaths, resolveLoadSource, runImport } from '../import-work.js';
import type { BucketState, FileState, TableState } from '../model.js';
import {
  parseBooleanParam,
  parseColumnsParam,
  parsePrimaryKeyString,
  requireInt,
  requireString,
  scalarText,
} from '../params.js';
import { json, route, type Route, type RouteContext } from '../router.js';
import type { SeedTableDefinition } from '../seed.js';
import { basetypeOf, typeForBasetype, typeProblem } from '../backend-types.js';
import { jobView, tableView } from '../views.js';

export const loadRoutes: readonly Route[] = [
  route('POST', '/v2/storage/buckets/{bucketId}/tables-async', startTableCreate),
  route('POST', '/v2/storage/buckets/{bucketId}/tables-definition', startTableDefinitionCreate),
  route('POST', '/v2/storage/tables/{tableId}/import-async', startImport),
];

function jobFault(ctx: RouteContext) {
  return ctx.core.faults.take(ctx.method, ctx.path, ['jobStuck', 'jobError']);
}

/** A file of the token's project the token may read. @throws ApiError 404 / 403 */
function readableFile(ctx: RouteContext, fileId: number): FileState {
  const file = ctx.core.state.files.get(fileId);
  if (!file || file.projectId !== ctx.project.id) throw fileNotFound(String(fileId));
  return file;
}

function checkCsvDialect(body: Readonly<Record<string, unknown>>): void {
  const delimiter = body.delimiter ?? ',';
  const enclosure = body.enclosure ?? '"';
  if (delimiter !== ',' || enclosure !== '"' || (body.escapedBy ?? '') !== '') {
    throw validationError(
      'invalidCsv',
      'The emulator supports only delimiter "," and enclosure \'"\'.',
    );
  }
}

function checkTableName(bucket: BucketState, name: string): void {
  if (!/^[A-Za-z0-9_-]+$/.test(name)) {
    throw validationError('storage.tables.validation.invalidName', `Invalid table name "${name}".`);
  }
  if (bucket.tables.has(name)) throw tableExists(name);
}

/**
 * The jobs of one table run one after another (Storage queues them): its create job first, then
 * its imports. A table is registered (visible) as soon as its create job has claimed the name, so
 * an import started meanwhile must wait until the create has made the table and loaded its file;
 * else the create's load (a full load: truncate, then insert) would erase the imported rows.
 */
const tableQueues = new WeakMap<TableState, Promise<unknown>>();

function enqueue<T>(table: TableState, work: () => Promise<T>): Promise<T> {
  const run = (tableQueues.get(table) ?? Promise.resolve()).then(work);
  tableQueues.set(
    table,
    run.catch(() => undefined),
  );
  return run;
}

function startTableCreate(ctx: RouteContext) {
  const core = ctx.core;
  const bucket = core.bucketFor(ctx.token, ctx.params.bucketId ?? '', 'write');
  const name = requireString(ctx.body, 'name');
  checkTableName(bucket, name);
  const primaryKey = parsePrimaryKeyString(ctx.body.primaryKey);
  checkCsvDialect(ctx.body);
  const file = readableFile(ctx, requireInt(ctx.body, 'dataFileId'));
  const columns = parseColumnsParam(ctx.body.columns);
  const job = core.jobs.start(
    {
      projectId: ctx.project.id,
      operationName: 'tableCreate',
      // As the real service's job: no table id, and only the file and its dialect in the
      // parameters (docs/storage-api-notes.md, Jobs list).
      tableId: null,
      countedTableId: `${bucket.id}.${name}`,
      operationParams: {
        params: { delimiter: ',', enclosure: '"', escapedBy: '' },
        source: { type: 'file', fileId: file.id },
      },
      token: ctx.token,
      runId: ctx.runId,
      fault: jobFault(ctx),
    },
    () => createFromFile(ctx, bucket, name, primaryKey, file, columns),
  );
  return json(202, jobView(job, core.baseUrl));
}

async function createFromFile(
  ctx: RouteContext,
  bucket: BucketState,
  name: string,
  primaryKey: readonly string[],
  file: FileState,
  columns: readonly string[] | undefined,
): Promise<Record<string, unknown>> {
  const core = ctx.core;
  const paths = resolveFilePaths(core, file);
  const source = await resolveLoadSource(
    file,
    paths,
    { columns, withoutHeaders: false, incremental: false },
    [],
  );
  const missingKey = primaryKey.filter((c) => !source.fileColumns.includes(c));
  if (missingKey.length > 0) {
    const error = invalidPrimaryKey(missingKey);
    throw new JobError(error.code, error.message);
  }
  if (bucket.tables.has(name))
    throw new JobError(tableExists(name).code, tableExists(name).message);
  const table = core.registerTable(ctx.project, bucket, name, source.fileColumns, primaryKey);
  return enqueue(table, async () => {
    await core.db.createTable(table.physical, table.columns);
    await core.db.load(
      table.physical,
      table.columns,
      primaryKey,
      source,
      'full',
      core.clock.nowSeconds(),
    );
    core.markChanged(table);
    await core.refreshStats(table);
    return tableView(table, bucket, ctx.project, core.baseUrl);
  });
}

/**
 * Validates a `tables-definition` body for a bucket of `backend` into a definition with both
 * `definition` and `basetype`: types must be the backend's own (emulator/src/backend-types.ts).
 */
export function parseDefinition(
  body: Readonly<Record<string, unknown>>,
  backend: string,
): SeedTableDefinition {
  const rawColumns = Array.isArray(body.columns) ? (body.columns as unknown[]) : [];
  const keyInput = body.primaryKeysNames;
  const primaryKeysNames = Array.isArray(keyInput) ? keyInput.map(String) : [];
  if (rawColumns.length === 0) {
    throw validationError(
      'storage.tables.validation',
      'Parameter "columns" must be a non-empty array.',
    );
  }
  const columns = rawColumns.map((raw) => {
    const column = (raw ?? {}) as Record<string, unknown>;
    const name = typeof column.name === 'string' ? column.name : '';
    if (!/^[A-Za-z0-9_]+$/.test(name)) {
      throw validationError('storage.tables.validation', `Invalid column name "${name}".`);
    }
    const def = column.definition as Record<string, unknown> | undefined;
    const basetype =
      typeof column.basetype === 'string' ? column.basetype.toUpperCase() : undefined;
    const type =
      typeof def?.type === 'string' ? def.type : typeForBasetype(backend, basetype ?? 'STRING');
    const length = def?.length === undefined || def.length === null ? null : scalarText(def.length);
    const problem = typeProblem(backend, type, length);
    if (problem) {
      throw validationError('storage.tables.validation', `Column "${name}": ${problem}`);
    }
    const isKey = primaryKeysNames.includes(name);
    const nullable = def?.nullable === undefined ? !isKey : parseBooleanParam(def.nullable, true);
    if (isKey && nullable) {
      throw validationError(
        'storage.tables.validation',
        `Primary key column "${name}" cannot be nullable.`,
      );
    }
    return {
      name,
      definition: { type, nullable, length },
      basetype: basetype ?? basetypeOf(type),
    };
  });
  const names = columns.map((c) => c.name);
  if (new Set(names).size !== names.length) {
    throw validationError('storage.tables.validation', 'Duplicate column names.');
  }
  const missing = primaryKeysNames.filter((c) => !names.includes(c));
  if (missing.length > 0) throw invalidPrimaryKey(missing);
  return { primaryKeysNames, columns };
}

function startTableDefinitionCreate(ctx: RouteContext) {
  const core = ctx.core;
  const bucket = core.bucketFor(ctx.token, ctx.params.bucketId ?? '', 'write');
  const name = requireString(ctx.body, 'name');
  checkTableName(bucket, name);
  const definition = parseDefinition(ctx.body, ctx.project.defaultBackend);
  const job = core.jobs.start(
    {
      projectId: ctx.project.id,
      operationName: 'tableDefinitionCreate',
      tableId: null,
      countedTableId: `${bucket.id}.${name}`,
      operationParams: { name, primaryKeysNames: definition.primaryKeysNames },
      token: ctx.token,
      runId: ctx.runId,
      fault: jobFault(ctx),
    },
    async () => {
      if (bucket.tables.has(name))
        throw new JobError(tableExists(name).code, tableExists(name).message);
      const columns = definition.columns.map((c) => c.name);
      const table = core.registerTable(
        ctx.project,
        bucket,
        name,
        columns,
        definition.primaryKeysNames,
        {
          definition,
        },
      );
      return enqueue(table, async () => {
        await core.db.createTable(table.physical, columns);
        return tableView(table, bucket, ctx.project, core.baseUrl);
      });
    },
  );
  return json(202, jobView(job, core.baseUrl));
}

function startImport(ctx: RouteContext) {
  const core: EmulatorCore = ctx.core;
  const table = core.tableFor(ctx.token, ctx.params.tableId ?? '', 'write');
  checkCsvDialect(ctx.body);
  const file = readableFile(ctx, requireInt(ctx.body, 'dataFileId'));
  const options = {
    columns: parseColumnsParam(ctx.body.columns),
    withoutHeaders: parseBooleanParam(ctx.body.withoutHeaders, false),
    incremental: parseBooleanParam(ctx.body.incremental, false),
  };
  const job = core.jobs.start(
    {
      projectId: ctx.project.id,
      operationName: 'tableImport',
      tableId: table.id,
      operationParams: {
        source: { type: 'file', fileId: file.id },
        params: {
          columns: options.columns ?? [],
          incremental: options.incremental,
          withoutHeaders: options.withoutHeaders,
          delimiter: ',',
          enclosure: '"',
          escapedBy: '',
        },
      },
      token: ctx.token,
      runId: ctx.runId,
      fault: jobFault(ctx),
    },
    () => enqueue(table, () => runImport(core, table, file, options)),
  );
  return json(202, jobView(job, core.baseUrl));
}
