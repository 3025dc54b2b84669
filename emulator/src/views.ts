/**
 * Pure renderers: emulator state → the Storage API's JSON shapes (docs/storage-api-notes.md),
 * with the PHP quirks (`[]` for empty maps, `+0000` timestamps, string token ids, int file/job ids).
 */
import type {
  BucketState,
  FileState,
  JobState,
  MetadataRecord,
  ProjectState,
  TableState,
  TokenEventRecord,
  TokenState,
} from './model.js';
import type { EmulatorCore } from './core.js';
import { canManageTokens } from './model.js';
import { formatOptionalTimestamp, formatPhpTimestamp, phpMap } from './php-format.js';

export function metadataView(item: MetadataRecord): Record<string, unknown> {
  return {
    id: item.id,
    key: item.key,
    value: item.value,
    provider: item.provider,
    timestamp: formatPhpTimestamp(item.timestampMs),
  };
}

export function columnMetadataView(table: TableState): Record<string, unknown> | [] {
  const out: Record<string, unknown> = {};
  for (const [column, items] of table.columnMetadata) {
    if (items.length > 0) out[column] = items.map(metadataView);
  }
  return phpMap(out);
}

function projectOwnerView(project: ProjectState): Record<string, unknown> {
  return {
    id: project.id,
    name: project.name,
    type: 'production',
    region: project.region,
    created: formatPhpTimestamp(project.createdMs),
    expires: null,
    features: ['queuev2', ...project.features],
    dataSizeBytes: 0,
    rowsCount: 0,
    hasMysql: false,
    hasSynapse: false,
    hasRedshift: false,
    hasSnowflake: project.defaultBackend === 'snowflake',
    hasExasol: false,
    hasTeradata: false,
    hasBigquery: project.defaultBackend === 'bigquery',
    defaultBackend: project.defaultBackend,
    assignedBackends: [project.defaultBackend],
    fileStorageProvider: project.provider,
    hasTryModeOn: '0',
    isDisabled: false,
    billedMonthlyPrice: null,
    dataRetentionTimeInDays: 7,
    limits: [],
    metrics: [],
  };
}

/** `GET tokens/verify`: the token's own view with the full project `owner`. */
export function tokenView(
  token: TokenState,
  project: ProjectState,
  baseUrl: string,
  nowMs: number,
): Record<string, unknown> {
  return { ...managedTokenView(token, project, baseUrl, nowMs), owner: projectOwnerView(project) };
}

/**
 * A token as the tokens endpoints show it (list, detail, create, refresh), `owner` short:
 * master tokens get `admin` with their role; admin/share/guest masters `manage` on every bucket, a
 * read-only master `read` on every bucket (reference: read-only role permissions).
 * @param withSecret include the token string (create and refresh answers, verify)
 */
export function managedTokenView(
  token: TokenState,
  project: ProjectState,
  baseUrl: string,
  nowMs: number,
  withSecret = true,
): Record<string, unknown> {
  const allBuckets = (level: string) =>
    Object.fromEntries([...project.buckets.keys()].map((id) => [id, level]));
  const readOnlyMaster = token.isMasterToken && token.role === 'readOnly';
  const manageAll = (token.isMasterToken && !readOnlyMaster) || token.canManageBuckets;
  const permissions: Record<string, string> = readOnlyMaster
    ? allBuckets('read')
    : manageAll
      ? allBuckets('manage')
      : { ...token.bucketPermissions };
  const fullMaster = token.isMasterToken && !readOnlyMaster;
  const view: Record<string, unknown> = {
    id: token.id,
    ...(withSecret && { token: token.token }),
    description: token.description,
    created: formatPhpTimestamp(token.createdMs),
    refreshed: formatPhpTimestamp(token.refreshedMs),
    uri: `${baseUrl}/v2/storage/tokens/${token.id}`,
    isMasterToken: token.isMasterToken,
    canManageBuckets: manageAll,
    canManageTokens: canManageTokens(token),
    canReadAllFileUploads: token.isMasterToken || token.canReadAllFileUploads,
    canPurgeTrash: fullMaster || token.canPurgeTrash,
    canManageProtectedDefaultBranch: false,
    canCreateJobs: fullMaster || token.canCreateJobs,
    ...optionalFlag('canManageDevBranches', token.canManageDevBranches),
    ...optionalFlag('canReadAllProjectEvents', token.canReadAllProjectEvents),
    expires: token.expiresMs === null ? null : formatPhpTimestamp(token.expiresMs),
    isExpired: token.expiresMs !== null && token.expiresMs <= nowMs,
    isDisabled: token.isDisabled,
    isBYODB: false,
    dailyCapacity: 0,
    bucketPermissions: phpMap(permissions),
    // The real API leaves an empty list out (reference: token create, default options).
    ...(token.componentAccess.length > 0 && { componentAccess: [...token.componentAccess] }),
    creatorToken: { id: token.creator.id, description: token.creator.description },
    organization: { id: '1' },
    owner: { id: project.id, name: project.name },
  };
  if (token.isMasterToken) {
    view.admin = {
      id: Number(token.id),
      name: token.description,
      role: token.role ?? 'admin',
      features: [],
      isOrganizationMember: true,
      isActivated: true,
    };
  }
  return view;
}

/** A flag newer than some stacks: present only when the token's state sets it. */
function optionalFlag(name: string, value: boolean | undefined): Record<string, boolean> {
  return value === undefined ? {} : { [name]: value };
}

/** One event of `GET tokens/{id}/events`. */
export function tokenEventView(
  event: TokenEventRecord,
  token: TokenState | undefined,
): Record<string, unknown> {
  return {
    id: String(event.id),
    event: event.event,
    component: 'storage',
    message: event.message,
    description: '',
    type: 'info',
    runId: event.runId,
    created: formatPhpTimestamp(event.createdMs),
    objectType: 'token',
    objectId: event.tokenId,
    objectName: token?.description ?? '',
    params: [],
    results: [],
    performance: [],
    token: { id: event.tokenId, name: token?.description ?? '' },
  };
}

export function bucketView(
  bucket: BucketState,
  project: ProjectState,
  baseUrl: string,
): Record<string, unknown> {
  const tables = [...bucket.tables.values()];
  const lastChange = Math.max(0, ...tables.map((t) => t.lastChangeMs ?? 0));
  return {
    uri: `${baseUrl}/v2/storage/buckets/${bucket.id}`,
    id: bucket.id,
    name: bucket.name,
    displayName: bucket.name.replace(/^c-/, ''),
    idBranch: 1,
    stage: bucket.stage,
    description: bucket.description,
    tables: `${baseUrl}/v2/storage/buckets/${bucket.id}/tables`,
    created: formatPhpTimestamp(bucket.createdMs),
    lastChangeDate: lastChange > 0 ? formatPhpTimestamp(lastChange) : null,
    updated: formatPhpTimestamp(bucket.createdMs),
    isReadOnly: false,
    dataSizeBytes: tables.reduce((sum, t) => sum + t.dataSizeBytes, 0),
    rowsCount: tables.reduce((sum, t) => sum + t.rowsCount, 0),
    isMaintenance: false,
    backend: project.defaultBackend,
    sharing: null,
    hasExternalSchema: false,
    databaseName: null,
    path: bucket.id,
    backendPath: [`KBC_PRJ_${project.id}`, bucket.id],
    bucketSharingAllowed: true,
    isLinkedBucket: false,
    color: null,
    owner: { id: 1, name: 'Emulator', email: 'emulator@example.com' },
    metadata: [],
    linkedBy: [],
  };
}

/** Which optional parts a table list asks for (`include=columns,metadata,columnMetadata`). */
export interface TableInclude {
  readonly columns: boolean;
  readonly metadata: boolean;
  readonly columnMetadata: boolean;
  readonly bucket: boolean;
}

export const FULL_TABLE_INCLUDE: TableInclude = {
  columns: true,
  metadata: true,
  columnMetadata: true,
  bucket: true,
};

export function tableView(
  table: TableState,
  bucket: BucketState,
  project: ProjectState,
  baseUrl: string,
  include: TableInclude = FULL_TABLE_INCLUDE,
): Record<string, unknown> {
  const view: Record<string, unknown> = {
    uri: `${baseUrl}/v2/storage/tables/${table.id}`,
    id: table.id,
    name: table.name,
    displayName: table.name,
    transactional: false,
    primaryKey: table.primaryKey,
    created: formatPhpTimestamp(table.createdMs),
    lastImportDate: formatOptionalTimestamp(table.lastImportMs),
    lastChangeDate: formatOptionalTimestamp(table.lastChangeMs),
    rowsCount: table.rowsCount,
    dataSizeBytes: table.dataSizeBytes,
    isAlias: false,
    isAliasable: true,
    isTyped: table.definition !== undefined,
    timestampType: 'MANAGED',
    tableType: 'table',
    path: table.id,
  };
  if (table.definition) view.definition = definitionView(table.definition);
  if (include.columns) view.columns = table.columns;
  if (include.metadata) view.metadata = table.metadata.map(metadataView);
  if (include.columnMetadata) view.columnMetadata = columnMetadataView(table);
  if (include.bucket) view.bucket = bucketView(bucket, project, baseUrl);
  return view;
}

/**
 * A table as the bucket's and the global table list show it: the detail's fields per `include`,
 * without `definition` when the list is switched to leave it out
 * ({@link EmulatorCore.tableListDefinitions}).
 */
export function tableListItemView(
  table: TableState,
  bucket: BucketState,
  project: ProjectState,
  core: Pick<EmulatorCore, 'baseUrl' | 'tableListDefinitions'>,
  include: TableInclude,
): Record<string, unknown> {
  const view = tableView(table, bucket, project, core.baseUrl, include);
  if (!core.tableListDefinitions) delete view.definition;
  return view;
}

function definitionView(
  definition: NonNullable<TableState['definition']>,
): Record<string, unknown> {
  return {
    primaryKeysNames: definition.primaryKeysNames,
    columns: definition.columns.map((column) => ({
      name: column.name,
      definition: column.definition ?? { type: 'VARCHAR', nullable: true, length: null },
      basetype: column.basetype ?? 'STRING',
      canBeFiltered: true,
    })),
  };
}

export function jobView(job: JobState, baseUrl: string): Record<string, unknown> {
  const view: Record<string, unknown> = {
    id: job.id,
    status: job.status,
    url: `${baseUrl}/v2/storage/jobs/${job.id}`,
    tableId: job.tableId,
    operationName: job.operationName,
    operationParams: job.operationParams,
    createdTime: formatPhpTimestamp(job.createdMs),
    startTime: formatOptionalTimestamp(job.startMs),
    endTime: formatOptionalTimestamp(job.endMs),
    runId: job.runId,
    results: job.results ?? null,
    creatorToken: { id: job.creatorTokenId, description: job.creatorDescription },
    metrics: {
      inCompressed: false,
      inBytes: 0,
      inBytesUncompressed: 0,
      outCompressed: false,
      outBytes: 0,
      outBytesUncompressed: 0,
    },
  };
  if (job.error) view.error = job.error;
  return view;
}

/** Common file fields; the caller adds the provider block (`readFields` / `uploadFields`). */
export function fileView(file: FileState, project: ProjectState): Record<string, unknown> {
  return {
    id: file.id,
    created: formatPhpTimestamp(file.createdMs),
    isPublic: false,
    isSliced: file.isSliced,
    isEncrypted: file.isEncrypted,
    name: file.name,
    fileType: 'csv',
    provider: project.provider,
    region: project.region,
    sizeBytes: file.sizeBytes,
    tags: file.tags,
    maxAgeDays: 15,
    runId: file.runId,
    runIds: file.runId === null ? [] : [file.runId],
    creatorToken: { id: Number(file.creatorTokenId), description: file.creatorDescription },
  };
}
