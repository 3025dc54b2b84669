/**
 * Storage API routes the official clients use around the copy flow: the API index (no token),
 * the global table list, the file list (tags, paging, runId), the data preview, and the DELETEs
 * of tables, buckets (`force`, `async`), files and metadata items. Known real routes that are not
 * emulated answer 501 naming themselves (see `notEmulatedRoutes`), never a 404 that a client
 * would read as "already deleted".
 */
import { ApiError, accessDenied, fileNotFound, validationError } from '../api-error.js';
import type { EmulatorCore } from '../core.js';
import { canRead, type BucketState, type ProjectState, type TableState } from '../model.js';
import { parseBooleanParam, parseInclude, parsePaging } from '../params.js';
import { json, route, type ApiResponse, type Route, type RouteContext } from '../router.js';
import { fileView, jobView, tableListItemView } from '../views.js';
import { parseLimit, parseWhere } from './export-route.js';
import { canReadFile } from './file-job-routes.js';

export const moreRoutes: readonly Route[] = [
  route('GET', '/v2/storage/tables', listAllTables),
  route('GET', '/v2/storage/tables/{tableId}/data-preview', dataPreview),
  route('DELETE', '/v2/storage/tables/{tableId}', deleteTable),
  route('DELETE', '/v2/storage/tables/{tableId}/metadata/{metadataId}', deleteTableMetadata),
  route('DELETE', '/v2/storage/buckets/{bucketId}', deleteBucket),
  route('GET', '/v2/storage/files', listFiles),
  route('DELETE', '/v2/storage/files/{fileId}', deleteFile),
];

/** `GET /v2/storage`: the index (no token needed): API name, services and components. */
export function indexResponse(baseUrl: string): ApiResponse {
  return json(200, {
    host: new URL(baseUrl).host,
    api: 'storage',
    documentation: 'https://keboola.docs.apiary.io/',
    services: [{ id: 'storage', url: baseUrl }],
    features: [],
    components: [],
  });
}

/** Real routes (method, template) the emulator does not serve: 501 with their name. */
const NOT_EMULATED: readonly (readonly [string, string])[] = [
  ['POST', '/v2/storage/tables/{tableId}/import'],
  ['POST', '/v2/storage/buckets/{bucketId}/tables'],
  ['POST', '/v2/storage/tables/{tableId}/rows'],
  ['DELETE', '/v2/storage/tables/{tableId}/rows'],
  ['POST', '/v2/storage/tables/{tableId}/delete-rows'],
  ['POST', '/v2/storage/tables/{tableId}/columns'],
  ['DELETE', '/v2/storage/tables/{tableId}/columns/{column}'],
  ['POST', '/v2/storage/tables/{tableId}/primary-key'],
  ['DELETE', '/v2/storage/tables/{tableId}/primary-key'],
  ['POST', '/v2/storage/tables/{tableId}/snapshots'],
  ['GET', '/v2/storage/tables/{tableId}/snapshots'],
  ['POST', '/v2/storage/tables/{tableId}/truncate'],
  ['DELETE', '/v2/storage/tables/{tableId}/truncate'],
  ['POST', '/v2/storage/buckets/{bucketId}/table-aliases'],
  ['POST', '/v2/storage/buckets/{bucketId}/tables-definition-async'],
  ['PUT', '/v2/storage/buckets/{bucketId}'],
  ['PUT', '/v2/storage/tables/{tableId}'],
  ['GET', '/v2/storage/buckets/{bucketId}/metadata'],
  ['POST', '/v2/storage/buckets/{bucketId}/metadata'],
  ['DELETE', '/v2/storage/buckets/{bucketId}/metadata/{metadataId}'],
  ['GET', '/v2/storage/columns/{columnId}/metadata'],
  ['POST', '/v2/storage/columns/{columnId}/metadata'],
  ['DELETE', '/v2/storage/columns/{columnId}/metadata/{metadataId}'],
  ['GET', '/v2/storage/events'],
  ['GET', '/v2/storage/tables/{tableId}/events'],
  ['GET', '/v2/storage/tokens'],
  ['POST', '/v2/storage/tokens'],
  ['GET', '/v2/storage/tokens/{tokenId}'],
  ['DELETE', '/v2/storage/tokens/{tokenId}'],
  ['POST', '/v2/storage/tokens/{tokenId}/refresh'],
  ['POST', '/v2/storage/tokens/{tokenId}/share'],
  ['POST', '/v2/storage/files'],
  ['POST', '/v2/storage/files/{fileId}/tags'],
  ['DELETE', '/v2/storage/files/{fileId}/tags/{tag}'],
  ['GET', '/v2/storage/workspaces'],
  ['POST', '/v2/storage/workspaces'],
  ['GET', '/v2/storage/dev-branches'],
  ['POST', '/v2/storage/dev-branches'],
  ['GET', '/v2/storage/components'],
  ['GET', '/v2/storage/stats'],
  ['POST', '/v2/storage/buckets/{bucketId}/share'],
  ['POST', '/v2/storage/buckets/{bucketId}/link'],
];

/** The 501 routes (matched after every emulated route). */
export const notEmulatedRoutes: readonly Route[] = NOT_EMULATED.map(([method, template]) =>
  route(method, template, () => {
    throw new ApiError(
      501,
      'notImplemented',
      `${method} ${template} is a Storage API route that keboola-storage-emulator does not emulate.`,
    );
  }),
);

/** `GET tables`: every table of every bucket the token may read (no paging, as in Storage). */
function listAllTables(ctx: RouteContext) {
  const include = parseInclude(ctx.query);
  const tables = [...ctx.project.buckets.values()]
    .filter((bucket) => canRead(ctx.token, bucket.id))
    .flatMap((bucket) =>
      [...bucket.tables.values()].map((table) =>
        tableListItemView(table, bucket, ctx.project, ctx.core, include),
      ),
    );
  return json(200, tables);
}

/** CSV (RFC 4180) of rows with a header, every value quoted, as the preview's `rfc` format. */
function quotedCsv(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (values: readonly string[]) =>
    values.map((v) => `"${v.replace(/"/g, '""')}"`).join(',');
  return [line(header), ...rows.map(line)].map((l) => `${l}\n`).join('');
}

/**
 * `GET tables/{id}/data-preview?limit&columns&format=rfc|json&whereColumn…`: at most 1000 rows.
 * `rfc` (default) is a `text/csv` body with a header row; `json` is `{columns, rows}`.
 */
async function dataPreview(ctx: RouteContext): Promise<ApiResponse> {
  const table = ctx.core.tableFor(ctx.token, ctx.params.tableId ?? '', 'read');
  const query = Object.fromEntries(
    [...new Set(ctx.query.keys())].map((key) => {
      const values = ctx.query.getAll(key);
      return [key.replace(/\[\]$/, ''), key.endsWith('[]') ? values : values[0]];
    }),
  );
  const columns = query.columns ? String(query.columns).split(',') : table.columns;
  const missing = columns.filter((c) => !table.columns.includes(c));
  if (missing.length > 0) {
    throw validationError(
      'storage.tables.validation.columnNotExists',
      `Columns "${missing.join(', ')}" not found in the table "${table.id}".`,
    );
  }
  const format = query.format ?? 'rfc';
  if (format !== 'rfc' && format !== 'json') {
    throw validationError('storage.tables.validation.invalidFormat', 'Invalid format.');
  }
  const limit = Math.min(parseLimit(query.limit) ?? 100, 1000);
  const rows: string[][] = [];
  for await (const chunk of ctx.core.db.streamRows(table.physical, columns, {
    where: parseWhere(query, table),
    limit,
  })) {
    rows.push(...chunk);
  }
  if (format === 'json') {
    return json(200, {
      columns,
      rows: rows.map((row) => row.map((value, i) => ({ columnName: columns[i], value }))),
    });
  }
  return {
    status: 200,
    body: Buffer.from(quotedCsv(columns, rows)),
    headers: { 'Content-Type': 'text/csv' },
  };
}

async function dropTable(core: EmulatorCore, bucket: BucketState, table: TableState) {
  bucket.tables.delete(table.name);
  await core.db.dropTable(table.physical);
}

/** `DELETE tables/{id}` → 204 (`async=1`: a `tableDelete` job). */
async function deleteTable(ctx: RouteContext): Promise<ApiResponse> {
  const table = ctx.core.tableFor(ctx.token, ctx.params.tableId ?? '', 'write');
  const bucket = ctx.core.bucketOf(table);
  return deleteMaybeAsync(ctx, 'tableDelete', table.id, () => dropTable(ctx.core, bucket, table));
}

/**
 * `DELETE buckets/{id}?force=1&async=1` → 204, or a `bucketDelete` job. A bucket with tables
 * needs `force` (400 `buckets.deleteNotEmpty` otherwise).
 */
async function deleteBucket(ctx: RouteContext): Promise<ApiResponse> {
  const bucket = ctx.core.bucketFor(ctx.token, ctx.params.bucketId ?? '', 'write');
  const force = parseBooleanParam(ctx.query.get('force') ?? undefined, false);
  if (bucket.tables.size > 0 && !force) {
    throw validationError(
      'buckets.deleteNotEmpty',
      `The bucket "${bucket.id}" is not empty. Use "force" to delete it with its tables.`,
    );
  }
  return deleteMaybeAsync(ctx, 'bucketDelete', null, async () => {
    for (const table of [...bucket.tables.values()]) await dropTable(ctx.core, bucket, table);
    removeBucket(ctx.project, bucket);
  });
}

function removeBucket(project: ProjectState, bucket: BucketState): void {
  project.buckets.delete(bucket.id);
}

async function deleteMaybeAsync(
  ctx: RouteContext,
  operationName: string,
  tableId: string | null,
  work: () => Promise<void>,
): Promise<ApiResponse> {
  if (!parseBooleanParam(ctx.query.get('async') ?? undefined, false)) {
    await work();
    return { status: 204, body: undefined };
  }
  const job = ctx.core.jobs.start(
    {
      projectId: ctx.project.id,
      operationName,
      tableId,
      operationParams: {},
      token: ctx.token,
      runId: ctx.runId,
      fault: ctx.core.faults.take(ctx.method, ctx.path, ['jobStuck', 'jobError']),
    },
    async () => {
      await work();
      return null;
    },
  );
  return json(202, jobView(job, ctx.core.baseUrl));
}

/** `DELETE tables/{id}/metadata/{metadataId}` → 204; 404 for an unknown id. */
function deleteTableMetadata(ctx: RouteContext): ApiResponse {
  const table = ctx.core.tableFor(ctx.token, ctx.params.tableId ?? '', 'write');
  const id = ctx.params.metadataId ?? '';
  const index = table.metadata.findIndex((item) => String(item.id) === id);
  if (index < 0) {
    throw new ApiError(404, 'storage.metadata.notFound', `Metadata "${id}" not found.`);
  }
  table.metadata.splice(index, 1);
  return { status: 204, body: undefined };
}

/**
 * `GET files?tags[]=…&limit&offset&runId`: files the token may read, newest first; a file with any
 * one of the given tags is listed (OR, as in Storage).
 */
function listFiles(ctx: RouteContext) {
  const { limit, offset } = parsePaging(ctx.query, 100);
  const tags = [...ctx.query.getAll('tags[]'), ...ctx.query.getAll('tags')];
  const runId = ctx.query.get('runId');
  const files = [...ctx.core.state.files.values()]
    .filter((file) => file.projectId === ctx.project.id && canReadFile(ctx.token, file))
    // Tags match with OR, as in Storage: a file with any one of them is listed.
    .filter((file) => tags.length === 0 || tags.some((tag) => file.tags.includes(tag)))
    .filter((file) => runId === null || file.runId === runId)
    .sort((a, b) => b.id - a.id)
    .slice(offset, offset + limit);
  return json(
    200,
    files.map((file) => fileView(file, ctx.project)),
  );
}

/** `DELETE files/{id}` → 204; its objects are kept (Storage removes them later). */
function deleteFile(ctx: RouteContext): ApiResponse {
  const id = Number(ctx.params.fileId);
  const file = Number.isSafeInteger(id) ? ctx.core.state.files.get(id) : undefined;
  if (!file || file.projectId !== ctx.project.id) throw fileNotFound(ctx.params.fileId ?? '');
  if (!canReadFile(ctx.token, file)) throw accessDenied();
  ctx.core.state.files.delete(id);
  return { status: 204, body: undefined };
}
