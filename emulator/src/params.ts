/**
 * Pure parsing of Storage API request parameters. JSON and form-urlencoded bodies both arrive here
 * as plain records (docs/storage-api-notes.md, Addresses and requests: booleans as true/false or 1/0).
 */
import { ApiError, validationError } from './api-error.js';
import type { TableInclude } from './views.js';

/** A scalar request value as text (strings, numbers, booleans); anything else → `fallback`. */
export function scalarText(value: unknown, fallback = ''): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return fallback;
}

/** `true/false`, `1/0`, `"true"/"false"`, `"1"/"0"`; anything else (or absent) → `fallback`. */
export function parseBooleanParam(value: unknown, fallback: boolean): boolean {
  if (value === true || value === 1 || value === '1' || value === 'true') return true;
  if (value === false || value === 0 || value === '0' || value === 'false' || value === '') {
    return false;
  }
  return fallback;
}

/**
 * `changedSince` / `changedUntil` of an export: only unix timestamps (int or numeric string) are
 * accepted since 2024-08 (docs/storage-api-notes.md, Exporting a table). Absent/empty → undefined.
 * @throws ApiError 400 `Invalid "<name>" parameter` for anything else.
 */
export function parseUnixTimestampParam(name: string, value: unknown): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  if (typeof value === 'string' && /^\d+$/.test(value.trim())) return Number(value.trim());
  throw new ApiError(400, 'storage.validation', `Invalid "${name}" parameter`);
}

/**
 * A column list sent as a comma-joined string (`"a,b"`) or as an array (`columns[]=a`).
 * Absent/empty → undefined.
 */
export function parseColumnsParam(value: unknown): string[] | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const items = Array.isArray(value)
    ? value.map((v) => scalarText(v))
    : scalarText(value).split(',');
  const columns = items.map((c) => c.trim()).filter((c) => c.length > 0);
  return columns.length === 0 ? undefined : columns;
}

/**
 * `primaryKey` of `tables-async`: must be a comma-separated string (docs/storage-api-notes.md, Creating a table and loading a file).
 * @throws ApiError 400 `storage.validation.primaryKey` for an array or another type.
 */
export function parsePrimaryKeyString(value: unknown): string[] {
  if (value === undefined || value === null || value === '') return [];
  if (typeof value !== 'string') {
    throw validationError(
      'storage.validation.primaryKey',
      'Primary key must be a string with comma separated column names.',
    );
  }
  return value
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c.length > 0);
}

/** A required non-empty string field. @throws ApiError 400 `storage.validation` */
export function requireString(body: Readonly<Record<string, unknown>>, name: string): string {
  const value = body[name];
  if (typeof value === 'string' && value.length > 0) return value;
  if (typeof value === 'number') return String(value);
  throw validationError('storage.validation', `Parameter "${name}" is required.`);
}

/** A required positive integer (ids arrive as numbers in JSON, strings in forms). */
export function requireInt(body: Readonly<Record<string, unknown>>, name: string): number {
  const value = body[name];
  const parsed = typeof value === 'number' ? value : Number(value);
  if (value !== undefined && value !== '' && Number.isSafeInteger(parsed) && parsed > 0) {
    return parsed;
  }
  throw validationError('storage.validation', `Parameter "${name}" must be a positive integer.`);
}

/** `limit`/`offset` query values with a default and an upper bound. */
export function parsePaging(
  query: URLSearchParams,
  defaultLimit: number,
): { limit: number; offset: number } {
  const limit = Number(query.get('limit') ?? defaultLimit);
  const offset = Number(query.get('offset') ?? 0);
  return {
    limit: Number.isInteger(limit) && limit > 0 ? Math.min(limit, 1000) : defaultLimit,
    offset: Number.isInteger(offset) && offset >= 0 ? offset : 0,
  };
}

/**
 * Decodes an `application/x-www-form-urlencoded` body into a record. `a[]=x&a[]=y` and
 * `a[0]=x` become arrays, `a[k]=v` becomes a nested record (one or more levels).
 */
export function parseFormBody(text: string): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const [rawKey, value] of new URLSearchParams(text)) {
    const path = splitFormKey(rawKey);
    assignPath(result, path, value);
  }
  return normaliseArrays(result) as Record<string, unknown>;
}

function splitFormKey(key: string): string[] {
  const head = key.split('[', 1)[0] ?? key;
  const rest = [...key.slice(head.length).matchAll(/\[([^\]]*)\]/g)].map((m) => m[1] ?? '');
  return [head, ...rest];
}

function assignPath(target: Record<string, unknown>, path: string[], value: string): void {
  let node = target;
  for (let i = 0; i < path.length; i += 1) {
    const segment = path[i] ?? '';
    const key = segment === '' ? String(Object.keys(node).length) : segment;
    if (i === path.length - 1) {
      node[key] = value;
      return;
    }
    const next = node[key];
    if (typeof next !== 'object' || next === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
}

/** Records whose keys are exactly 0..n-1 become arrays. */
function normaliseArrays(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) record[key] = normaliseArrays(record[key]);
  const keys = Object.keys(record);
  const isList = keys.length > 0 && keys.every((k, i) => k === String(i));
  return isList ? keys.map((k) => record[k]) : record;
}

/**
 * `include` of a table listing (`columns,metadata,columnMetadata,buckets`); without the
 * parameter, only metadata is included.
 */
export function parseInclude(query: URLSearchParams): TableInclude {
  const include = new Set((query.get('include') ?? '').split(',').map((s) => s.trim()));
  return {
    columns: include.has('columns'),
    metadata: include.has('metadata') || !query.has('include'),
    columnMetadata: include.has('columnMetadata'),
    bucket: include.has('buckets'),
  };
}
