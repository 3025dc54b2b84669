/**
 * Read/describe routes: token verify, buckets (list, detail, create), tables (list, detail) and
 * table metadata (docs/storage-api-notes.md, Buckets, tables and the token's view).
 */
import { ApiError, accessDenied, validationError } from '../api-error.js';
import { canRead, type MetadataRecord, type TableState } from '../model.js';
import { parseInclude, scalarText } from '../params.js';
import { json, route, type Route, type RouteContext } from '../router.js';
import {
  FULL_TABLE_INCLUDE,
  bucketView,
  columnMetadataView,
  metadataView,
  tableListItemView,
  tableView,
  tokenView,
} from '../views.js';

export const catalogRoutes: readonly Route[] = [
  route('GET', '/v2/storage/tokens/verify', verifyToken),
  route('GET', '/v2/storage/buckets', listBuckets),
  route('POST', '/v2/storage/buckets', createBucket),
  route('GET', '/v2/storage/buckets/{bucketId}', getBucket),
  route('GET', '/v2/storage/buckets/{bucketId}/tables', listTables),
  route('GET', '/v2/storage/tables/{tableId}', getTable),
  route('GET', '/v2/storage/tables/{tableId}/metadata', getTableMetadata),
  route('POST', '/v2/storage/tables/{tableId}/metadata', postTableMetadata),
];

function verifyToken(ctx: RouteContext) {
  return json(200, tokenView(ctx.token, ctx.project, ctx.core.baseUrl, ctx.core.clock.nowMs()));
}

function listBuckets(ctx: RouteContext) {
  const visible = [...ctx.project.buckets.values()].filter((b) => canRead(ctx.token, b.id));
  return json(
    200,
    visible.map((b) => bucketView(b, ctx.project, ctx.core.baseUrl)),
  );
}

function getBucket(ctx: RouteContext) {
  const bucket = ctx.core.bucketFor(ctx.token, ctx.params.bucketId ?? '', 'read');
  return json(200, bucketView(bucket, ctx.project, ctx.core.baseUrl));
}

/**
 * `POST buckets` `{name, stage}`: adds the legacy `c-` prefix unless the project has the feature
 * `disable-legacy-bucket-prefix`; master or canManageBuckets only.
 */
function createBucket(ctx: RouteContext) {
  const master = ctx.token.isMasterToken && ctx.token.role !== 'readOnly';
  if (!master && !ctx.token.canManageBuckets) throw accessDenied();
  const name = scalarText(ctx.body.name).trim();
  const stage = scalarText(ctx.body.stage, 'in');
  if (!/^[A-Za-z0-9_-]+$/.test(name) || !['in', 'out'].includes(stage)) {
    throw validationError('storage.buckets.validation', 'Invalid bucket name or stage.');
  }
  const legacyPrefix = !ctx.project.features.includes('disable-legacy-bucket-prefix');
  const bucketName = !legacyPrefix || name.startsWith('c-') ? name : `c-${name}`;
  const bucketId = `${stage}.${bucketName}`;
  if (ctx.project.buckets.has(bucketId)) {
    throw validationError(
      'storage.buckets.alreadyExists',
      `The bucket "${bucketId}" already exists.`,
    );
  }
  const description = typeof ctx.body.description === 'string' ? ctx.body.description : '';
  const bucket = ctx.core.addBucket(ctx.project, bucketId, description);
  return json(201, bucketView(bucket, ctx.project, ctx.core.baseUrl));
}

function listTables(ctx: RouteContext) {
  const bucket = ctx.core.bucketFor(ctx.token, ctx.params.bucketId ?? '', 'read');
  const include = parseInclude(ctx.query);
  return json(
    200,
    [...bucket.tables.values()].map((t) =>
      tableListItemView(t, bucket, ctx.project, ctx.core, include),
    ),
  );
}

function getTable(ctx: RouteContext) {
  const table = ctx.core.tableFor(ctx.token, ctx.params.tableId ?? '', 'read');
  const bucket = ctx.core.bucketOf(table);
  return json(200, tableView(table, bucket, ctx.project, ctx.core.baseUrl, FULL_TABLE_INCLUDE));
}

function getTableMetadata(ctx: RouteContext) {
  const table = ctx.core.tableFor(ctx.token, ctx.params.tableId ?? '', 'read');
  return json(200, table.metadata.map(metadataView));
}

interface MetadataInput {
  readonly key: string;
  readonly value: string;
  readonly columnName?: string;
}

/**
 * `POST tables/{id}/metadata` `{provider, metadata:[{key,value}], columnsMetadata}`: upsert by
 * (provider, key). `storage` provider on a typed table → 403 `storage.metadata.invalidProvider`.
 */
function postTableMetadata(ctx: RouteContext) {
  const table = ctx.core.tableFor(ctx.token, ctx.params.tableId ?? '', 'write');
  const provider = ctx.body.provider;
  if (typeof provider !== 'string' || provider === '') {
    throw validationError('storage.metadata.invalidProvider', 'Provider is required.');
  }
  if (!/^[A-Za-z0-9._-]+$/.test(provider)) {
    throw validationError('storage.metadata.invalidProvider', 'Invalid metadata provider.');
  }
  if (provider === 'storage' && table.definition) {
    throw new ApiError(
      403,
      'storage.metadata.invalidProvider',
      'Metadata with "storage" provider cannot be edited by user.',
    );
  }
  const nowMs = ctx.core.clock.nowMs();
  const upsert = (list: MetadataRecord[], item: MetadataInput) =>
    upsertMetadata(list, provider, item, nowMs, () => ctx.core.state.nextMetadataId());
  for (const item of metadataItems(ctx.body.metadata)) upsert(table.metadata, item);
  for (const [column, item] of columnMetadataItems(ctx.body.columnsMetadata, table)) {
    const list = table.columnMetadata.get(column) ?? [];
    table.columnMetadata.set(column, list);
    upsert(list, item);
  }
  return json(201, {
    metadata: table.metadata.map(metadataView),
    columnsMetadata: columnMetadataView(table),
  });
}

function upsertMetadata(
  list: MetadataRecord[],
  provider: string,
  item: MetadataInput,
  nowMs: number,
  nextId: () => string,
): void {
  const existing = list.find((m) => m.provider === provider && m.key === item.key);
  if (existing) {
    existing.value = item.value;
    existing.timestampMs = nowMs;
    return;
  }
  list.push({ id: nextId(), key: item.key, value: item.value, provider, timestampMs: nowMs });
}

function metadataItems(value: unknown): MetadataInput[] {
  const items = Array.isArray(value) ? value : Object.values(value ?? {});
  return items.map((raw) => {
    const item = (raw ?? {}) as Record<string, unknown>;
    if (typeof item.key !== 'string' || item.key === '') {
      throw validationError('storage.metadata.validation', 'Metadata key is required.');
    }
    const entry: MetadataInput = { key: item.key, value: scalarText(item.value) };
    return typeof item.columnName === 'string' ? { ...entry, columnName: item.columnName } : entry;
  });
}

/** `columnsMetadata` keyed by column name (deprecated) or by index with `columnName` per item. */
function columnMetadataItems(value: unknown, table: TableState): [string, MetadataInput][] {
  if (value === undefined || value === null) return [];
  const out: [string, MetadataInput][] = [];
  const groups: [string, unknown][] = Array.isArray(value)
    ? value.map((v, i) => [String(i), v])
    : Object.entries(value as Record<string, unknown>);
  for (const [groupKey, items] of groups) {
    for (const item of metadataItems(items)) {
      const column = item.columnName ?? groupKey;
      if (!table.columns.includes(column)) {
        throw validationError(
          'storage.tables.validation.columnNotExists',
          `Column "${column}" does not exist in the table "${table.id}".`,
        );
      }
      out.push([column, item]);
    }
  }
  return out;
}
