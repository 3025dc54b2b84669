import * as z from 'zod';
import { ServiceError } from '../errors.js';
import type {
  BucketDetail,
  ColumnDefinition,
  FileDetail,
  FileProvider,
  MetadataItem,
  PreparedFile,
  StorageJob,
  TableDetail,
  TokenInfo,
} from './types.js';

/**
 * Boundary parsing of Storage API answers (pure). Lenient where PHP is quirky (docs/storage-api-notes.md, PHP answer quirks):
 * `[]` for empty maps (bucketPermissions, job results, columnMetadata, column definition), string
 * or int ids, timestamps with `+0100` offsets; unknown fields are dropped. Anything else that does
 * not fit throws a {@link StorageResponseError} naming the request and the field paths (never the
 * values, which may hold credentials).
 */

export class StorageResponseError extends ServiceError {
  override name = 'StorageResponseError';
}

/** `+0100` → `+01:00`; `2017-02-13 23:36:10` → `2017-02-13T23:36:10`. Other text is kept. */
export function normalizeTimestamp(value: string): string {
  let out = value.trim();
  if (/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}/.test(out)) out = out.replace(' ', 'T');
  return out.replace(/([+-]\d{2})(\d{2})$/, '$1:$2');
}

/**
 * Milliseconds since the epoch of a Storage timestamp; NaN when unreadable. A timestamp without a
 * time zone is read in the process's zone: only for timestamps that carry one (jobs, events,
 * tokens); metadata timestamps go through {@link parseStorageTime}.
 */
export function timestampMs(value: string): number {
  return Date.parse(normalizeTimestamp(value));
}

/**
 * The most a wall-clock time without a zone can be from the instant it stands for: UTC offsets
 * run from −12:00 to +14:00.
 */
const UNKNOWN_ZONE_MS = 14 * 3_600_000;

/**
 * A Storage timestamp read without guessing a time zone. Storage sends some metadata timestamps
 * as `2017-02-13 23:36:10`, in the server's zone, which it does not name
 * (docs/storage-api-notes.md, PHP answer quirks): such a time is not an instant, only a range of
 * {@link UNKNOWN_ZONE_MS} either side of its reading as UTC. Never read in the process's zone (a
 * container's `TZ` would move it by hours).
 */
export interface StorageTime {
  /** Epoch ms; without a zone, the wall-clock reading taken as UTC. */
  readonly ms: number;
  /** False when the text names no zone: the instant is within {@link UNKNOWN_ZONE_MS} of `ms`. */
  readonly zoned: boolean;
  /** The timestamp as Storage sent it (normalised), for messages. */
  readonly text: string;
}

const WITH_ZONE = /(?:Z|[+-]\d{2}:\d{2})$/i;
const WALL_CLOCK = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?$/;

/** A Storage timestamp as a {@link StorageTime}; undefined when absent or unreadable. */
export function parseStorageTime(value: string | null | undefined): StorageTime | undefined {
  if (typeof value !== 'string') return undefined;
  const text = normalizeTimestamp(value);
  const zoned = WITH_ZONE.test(text);
  if (!zoned && !WALL_CLOCK.test(text)) return undefined;
  const ms = Date.parse(zoned ? text : `${text}Z`);
  return Number.isFinite(ms) ? { ms, zoned, text } : undefined;
}

/** The earliest instant a Storage time can stand for (epoch ms). */
export function earliestMs(time: StorageTime): number {
  return time.zoned ? time.ms : time.ms - UNKNOWN_ZONE_MS;
}

/** The latest instant a Storage time can stand for (epoch ms). */
export function latestMs(time: StorageTime): number {
  return time.zoned ? time.ms : time.ms + UNKNOWN_ZONE_MS;
}

/** Time zones are whole quarter hours from UTC. */
const ZONE_STEP_MS = 15 * 60_000;
/** A daylight-saving change moves a zone by an hour. */
export const DAYLIGHT_SAVING_MS = 3_600_000;

/**
 * The server's zone offset (epoch ms of its wall clock minus the instant), learnt from one answer
 * that carries both a time without a zone and its `Date` header: rounded to a quarter hour, the
 * seconds between stamping and answering fall away. Undefined for a zoned time or an offset
 * beyond any zone.
 */
export function serverZoneOffsetMs(
  wallClock: StorageTime,
  dateHeaderMs: number,
): number | undefined {
  if (wallClock.zoned) return undefined;
  const offsetMs = Math.round((wallClock.ms - dateHeaderMs) / ZONE_STEP_MS) * ZONE_STEP_MS;
  return Math.abs(offsetMs) <= UNKNOWN_ZONE_MS ? offsetMs : undefined;
}

/**
 * The earliest instant a time without a zone can stand for, once the server's current zone offset
 * is known: an hour earlier still, for a daylight-saving change since it was written. A zoned
 * time, or an unknown offset, stays as it is.
 */
export function earliestWithOffset(time: StorageTime, offsetMs: number | undefined): StorageTime {
  if (time.zoned || offsetMs === undefined) return time;
  return instantTime(time.ms - offsetMs - DAYLIGHT_SAVING_MS);
}

/** An instant as a Storage time (a `Date` header, a local clock reading). */
export function instantTime(ms: number): StorageTime {
  return { ms, zoned: true, text: new Date(ms).toISOString() };
}

/** A Storage time for messages: an ISO instant, or the text as sent and that its zone is unknown. */
export function describeStorageTime(time: StorageTime): string {
  return time.zoned ? new Date(time.ms).toISOString() : `${time.text} (time zone unknown)`;
}

const id = z.union([z.string(), z.number()]).transform(String);
const intId = z.union([z.number().int(), z.string().regex(/^\d+$/)]).transform(Number);
const timestamp = z.string().transform(normalizeTimestamp);
const nullableTimestamp = timestamp
  .nullable()
  .optional()
  .transform((v) => v ?? null);
const nullableNumber = z
  .number()
  .nullable()
  .optional()
  .transform((v) => v ?? null);
const emptyPhpArray = z
  .array(z.unknown())
  .length(0)
  .transform(() => ({}));

/** A JSON object map that PHP sends as `[]` when empty. */
function phpMap<T extends z.ZodType>(value: T) {
  return z.union([emptyPhpArray, z.record(z.string(), value)]) as unknown as z.ZodType<
    Record<string, z.output<T>>
  >;
}

const provider = z.enum(['aws', 'azure', 'gcp']);

const metadataItemSchema = z.object({
  id: id.optional(),
  key: z.string(),
  value: z.union([z.string(), z.number(), z.boolean(), z.null()]).transform((v) => String(v ?? '')),
  provider: z.string(),
  timestamp: z.string().optional(),
});

function toMetadataItem(item: z.output<typeof metadataItemSchema>): MetadataItem {
  return {
    key: item.key,
    value: item.value,
    provider: item.provider,
    ...(item.id !== undefined && { id: item.id }),
    ...(item.timestamp !== undefined && { timestamp: normalizeTimestamp(item.timestamp) }),
  };
}

/**
 * The `tokens/verify` fields the job only warns about (docs/tokens.md, Run-time checks), for the
 * run's check and the token commands alike: absent (older stacks) or of an odd shape counts as not
 * granted, so these fields can fail neither.
 */
export const warningOnlyTokenFields = {
  componentAccess: z.array(z.string()).optional().catch(undefined),
  canCreateJobs: z.boolean().optional().catch(undefined),
  canManageDevBranches: z.boolean().optional().catch(undefined),
  canReadAllProjectEvents: z.boolean().optional().catch(undefined),
  canPurgeTrash: z.boolean().optional().catch(undefined),
  canManageProtectedDefaultBranch: z.boolean().optional().catch(undefined),
};

const tokenSchema = z.object({
  id,
  description: z.string().nullable().optional(),
  isMasterToken: z.boolean().optional(),
  canManageBuckets: z.boolean().optional(),
  canManageTokens: z.boolean().optional(),
  canReadAllFileUploads: z.boolean().optional(),
  ...warningOnlyTokenFields,
  expires: nullableTimestamp,
  isExpired: z.boolean().optional(),
  isDisabled: z.boolean().optional(),
  bucketPermissions: phpMap(z.string()).optional(),
  owner: z.object({
    id: intId,
    name: z.string(),
    region: z.string().optional(),
    fileStorageProvider: provider,
    defaultBackend: z.string().nullable().optional(),
    // Only consulted when a bucket is created: an odd value counts as no features.
    features: z.array(z.string()).optional().catch(undefined),
  }),
  admin: z.unknown().optional(),
});

export function parseTokenInfo(raw: unknown, where: string): TokenInfo {
  const t = parseWith(tokenSchema, raw, where);
  return {
    id: t.id,
    description: t.description ?? '',
    isMasterToken: t.isMasterToken ?? false,
    canManageBuckets: t.canManageBuckets ?? false,
    canManageTokens: t.canManageTokens ?? false,
    canReadAllFileUploads: t.canReadAllFileUploads ?? false,
    componentAccess: t.componentAccess ?? [],
    canCreateJobs: t.canCreateJobs ?? false,
    canManageDevBranches: t.canManageDevBranches ?? false,
    canReadAllProjectEvents: t.canReadAllProjectEvents ?? false,
    canPurgeTrash: t.canPurgeTrash ?? false,
    canManageProtectedDefaultBranch: t.canManageProtectedDefaultBranch ?? false,
    expires: t.expires,
    isExpired: t.isExpired ?? false,
    isDisabled: t.isDisabled ?? false,
    bucketPermissions: t.bucketPermissions ?? {},
    owner: {
      id: t.owner.id,
      name: t.owner.name,
      region: t.owner.region ?? '',
      fileStorageProvider: t.owner.fileStorageProvider,
      ...(t.owner.defaultBackend != null && { defaultBackend: t.owner.defaultBackend }),
      features: t.owner.features ?? [],
    },
    ...(t.admin != null && { admin: t.admin }),
  };
}

const bucketSchema = z.object({
  id: z.string(),
  name: z.string(),
  stage: z.string(),
  backend: z.string().nullable().optional(),
  isReadOnly: z.boolean().optional(),
  isLinkedBucket: z.boolean().optional(),
});

function toBucket(b: z.output<typeof bucketSchema>): BucketDetail {
  return {
    id: b.id,
    name: b.name,
    stage: b.stage,
    ...(b.backend != null && { backend: b.backend }),
    ...(b.isReadOnly !== undefined && { isReadOnly: b.isReadOnly }),
    ...(b.isLinkedBucket !== undefined && { isLinkedBucket: b.isLinkedBucket }),
  };
}

export function parseBucket(raw: unknown, where: string): BucketDetail {
  return toBucket(parseWith(bucketSchema, raw, where));
}

/** A column `definition` that PHP may send as absent, null, `[]` or `{}` on untyped tables. */
const columnTypeSchema = z.union([
  z.null(),
  emptyPhpArray.transform(() => null),
  z
    .object({
      type: z.string().optional(),
      nullable: z.boolean().optional(),
      length: z.union([z.string(), z.number()]).nullable().optional(),
      default: z.union([z.string(), z.number()]).nullable().optional(),
    })
    .transform((d) => (d.type === undefined ? null : d)),
]);

const columnDefinitionSchema = z.object({
  name: z.string(),
  definition: columnTypeSchema.optional(),
  basetype: z.string().nullable().optional(),
});

function toColumnDefinition(c: z.output<typeof columnDefinitionSchema>): ColumnDefinition {
  const d = c.definition;
  return {
    name: c.name,
    ...(d != null &&
      d.type !== undefined && {
        definition: {
          type: d.type,
          ...(d.nullable !== undefined && { nullable: d.nullable }),
          ...(d.length !== undefined && { length: d.length === null ? null : String(d.length) }),
          ...(d.default !== undefined && {
            default: d.default === null ? null : String(d.default),
          }),
        },
      }),
    ...(c.basetype != null && { basetype: c.basetype }),
  };
}

const tableSchema = z.object({
  id: z.string(),
  name: z.string(),
  primaryKey: z.array(z.string()).optional(),
  columns: z.array(z.string()).optional(),
  rowsCount: nullableNumber,
  dataSizeBytes: nullableNumber,
  isTyped: z.boolean().optional(),
  definition: z
    .union([
      z.null(),
      emptyPhpArray.transform(() => null),
      z.object({
        primaryKeysNames: z.array(z.string()).optional(),
        columns: z.array(columnDefinitionSchema).optional(),
      }),
    ])
    .optional(),
  lastImportDate: nullableTimestamp,
  lastChangeDate: nullableTimestamp,
  // Only compared, never required: an answer without a readable one reads as unknown.
  created: z
    .unknown()
    .optional()
    .transform((v) => (typeof v === 'string' ? v : null)),
  metadata: z.array(metadataItemSchema).optional(),
  columnMetadata: phpMap(z.array(metadataItemSchema)).optional(),
  bucket: z.object({ id: z.string() }).optional(),
});

function toTable(t: z.output<typeof tableSchema>, bucketIdHint?: string): TableDetail {
  const columnMetadata: Record<string, readonly MetadataItem[]> = {};
  for (const [column, items] of Object.entries(t.columnMetadata ?? {})) {
    columnMetadata[column] = items.map(toMetadataItem);
  }
  const definition = t.definition;
  return {
    id: t.id,
    name: t.name,
    primaryKey: t.primaryKey ?? [],
    columns: t.columns ?? [],
    rowsCount: t.rowsCount,
    dataSizeBytes: t.dataSizeBytes,
    isTyped: t.isTyped ?? false,
    ...(definition != null && {
      definition: {
        primaryKeysNames: definition.primaryKeysNames ?? [],
        columns: (definition.columns ?? []).map(toColumnDefinition),
      },
    }),
    lastImportDate: t.lastImportDate,
    lastChangeDate: t.lastChangeDate,
    created: t.created,
    metadata: (t.metadata ?? []).map(toMetadataItem),
    columnMetadata,
    bucketId: t.bucket?.id ?? bucketIdHint ?? bucketIdOf(t.id),
  };
}

/** `in.c-main.users` → `in.c-main`. */
export function bucketIdOf(tableId: string): string {
  const lastDot = tableId.lastIndexOf('.');
  return lastDot > 0 ? tableId.slice(0, lastDot) : tableId;
}

export function parseTable(raw: unknown, where: string): TableDetail {
  return toTable(parseWith(tableSchema, raw, where));
}

export function parseTableList(raw: unknown, where: string, bucketId: string): TableDetail[] {
  return parseWith(z.array(tableSchema), raw, where).map((t) => toTable(t, bucketId));
}

const jobSchema = z.object({
  id: intId,
  status: z.enum(['waiting', 'processing', 'success', 'error']),
  operationName: z.string(),
  tableId: z.string().nullable().optional(),
  createdTime: timestamp,
  startTime: nullableTimestamp,
  endTime: nullableTimestamp,
  runId: z
    .union([z.string(), z.number()])
    .nullable()
    .optional()
    .transform((v) => (v == null ? null : String(v))),
  results: z
    .union([z.null(), z.array(z.unknown()), z.record(z.string(), z.unknown())])
    .optional()
    .transform((v) => (v == null || Array.isArray(v) ? null : v)),
  error: z
    .object({
      code: z.string().nullable().optional(),
      message: z.string(),
      exceptionId: z.string().nullable().optional(),
    })
    .nullable()
    .optional(),
  operationParams: z
    .union([z.array(z.unknown()), z.record(z.string(), z.unknown())])
    .nullable()
    .optional(),
});

export function parseJob(raw: unknown, where: string): StorageJob {
  return toJob(parseWith(jobSchema, raw, where));
}

export function parseJobList(raw: unknown, where: string): StorageJob[] {
  return parseWith(z.array(jobSchema), raw, where).map(toJob);
}

function toJob(j: z.output<typeof jobSchema>): StorageJob {
  const params = j.operationParams;
  return {
    id: j.id,
    status: j.status,
    operationName: j.operationName,
    tableId: j.tableId ?? null,
    createdTime: j.createdTime,
    startTime: j.startTime,
    endTime: j.endTime,
    runId: j.runId,
    results: j.results,
    ...(j.error != null && {
      error: {
        message: j.error.message,
        ...(j.error.code != null && { code: j.error.code }),
        ...(j.error.exceptionId != null && { exceptionId: j.error.exceptionId }),
      },
    }),
    ...(params != null && !Array.isArray(params) && { operationParams: params }),
  };
}

const s3Credentials = z.object({
  AccessKeyId: z.string(),
  SecretAccessKey: z.string(),
  SessionToken: z.string(),
  Expiration: z.string(),
});
const absCredentials = z.object({ SASConnectionString: z.string(), expiration: z.string() });
const gcsToken = {
  access_token: z.string(),
  expires_in: z.number(),
  token_type: z.string(),
  projectId: z.string().optional(),
};

const fileCommon = {
  id: intId,
  name: z.string(),
  isSliced: z.boolean().optional(),
  isEncrypted: z.boolean().optional(),
  sizeBytes: z.number().nullable().optional(),
  provider,
  region: z.string().nullable().optional(),
  url: z.string().optional(),
};

const fileSchema = z.object({
  ...fileCommon,
  s3Path: z.object({ bucket: z.string(), key: z.string() }).optional(),
  credentials: s3Credentials.optional(),
  absPath: z.object({ container: z.string(), name: z.string() }).optional(),
  absCredentials: absCredentials.optional(),
  gcsPath: z.object({ bucket: z.string(), key: z.string() }).optional(),
  gcsCredentials: z.object(gcsToken).optional(),
});

export function parseFileDetail(raw: unknown, where: string): FileDetail {
  const f = parseWith(fileSchema, raw, where);
  return {
    id: f.id,
    name: f.name,
    isSliced: f.isSliced ?? false,
    isEncrypted: f.isEncrypted ?? false,
    sizeBytes: f.sizeBytes ?? 0,
    provider: f.provider,
    region: f.region ?? '',
    url: f.url ?? '',
    ...(f.s3Path && { s3Path: f.s3Path }),
    ...(f.credentials && { credentials: f.credentials }),
    ...(f.absPath && { absPath: f.absPath }),
    ...(f.absCredentials && { absCredentials: f.absCredentials }),
    ...(f.gcsPath && { gcsPath: f.gcsPath }),
    ...(f.gcsCredentials && {
      gcsCredentials: { ...f.gcsCredentials, projectId: f.gcsCredentials.projectId ?? '' },
    }),
  };
}

const preparedSchema = z.object({
  ...fileCommon,
  uploadParams: z
    .object({
      key: z.string(),
      bucket: z.string(),
      acl: z.string().optional(),
      'x-amz-server-side-encryption': z.string().nullable().optional(),
      credentials: s3Credentials,
    })
    .optional(),
  absUploadParams: z
    .object({
      blobName: z.string(),
      accountName: z.string(),
      container: z.string(),
      absCredentials,
    })
    .optional(),
  gcsUploadParams: z.object({ ...gcsToken, bucket: z.string(), key: z.string() }).optional(),
});

export function parsePreparedFile(raw: unknown, where: string): PreparedFile {
  const p = parseWith(preparedSchema, raw, where);
  const s3 = p.uploadParams;
  const gcs = p.gcsUploadParams;
  return {
    id: p.id,
    name: p.name,
    provider: p.provider,
    region: p.region ?? '',
    isSliced: p.isSliced ?? false,
    ...(s3 && {
      uploadParams: {
        key: s3.key,
        bucket: s3.bucket,
        acl: s3.acl ?? 'private',
        credentials: s3.credentials,
        ...(s3['x-amz-server-side-encryption'] != null && {
          'x-amz-server-side-encryption': s3['x-amz-server-side-encryption'],
        }),
      },
    }),
    ...(p.absUploadParams && { absUploadParams: p.absUploadParams }),
    ...(gcs && { gcsUploadParams: { ...gcs, projectId: gcs.projectId ?? '' } }),
  };
}

/** Checks that the file detail carries the path and credentials of its provider. */
export function providerBlockPresent(file: {
  provider: FileProvider;
  s3Path?: unknown;
  credentials?: unknown;
  absPath?: unknown;
  absCredentials?: unknown;
  gcsPath?: unknown;
  gcsCredentials?: unknown;
}): boolean {
  switch (file.provider) {
    case 'aws':
      return file.s3Path !== undefined && file.credentials !== undefined;
    case 'azure':
      return file.absPath !== undefined && file.absCredentials !== undefined;
    case 'gcp':
      return file.gcsPath !== undefined && file.gcsCredentials !== undefined;
  }
}

/**
 * The answer to `POST tables/{id}/metadata`: the table's metadata after the write, as
 * `{metadata: [...], columnsMetadata}` (or a bare array, as older stacks answer).
 */
export function parseMetadataAnswer(raw: unknown, where: string): MetadataItem[] {
  const items = z.union([
    z.array(metadataItemSchema),
    z.object({ metadata: z.array(metadataItemSchema) }),
  ]);
  const parsed = parseWith(items, raw, where);
  return (Array.isArray(parsed) ? parsed : parsed.metadata).map(toMetadataItem);
}

function parseWith<T extends z.ZodType>(schema: T, raw: unknown, where: string): z.output<T> {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const problems = result.error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.code}`)
    .join('; ');
  throw new StorageResponseError(`Unexpected Storage API answer to ${where}: ${problems}`);
}
