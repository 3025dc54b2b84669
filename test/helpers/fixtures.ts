import type { TableConfig } from '../../src/config/types.js';
import type { TableDetail, TokenInfo } from '../../src/storage/types.js';

/** A limited read-only token on one bucket, as tokens/verify answers it. */
export function tokenInfo(overrides: Partial<TokenInfo> = {}): TokenInfo {
  return {
    id: '67319',
    description: 'copy-job source token',
    isMasterToken: false,
    canManageBuckets: false,
    canManageTokens: false,
    canReadAllFileUploads: false,
    componentAccess: [],
    canCreateJobs: false,
    canPurgeTrash: false,
    canManageProtectedDefaultBranch: false,
    canManageDevBranches: false,
    canReadAllProjectEvents: false,
    expires: null,
    isExpired: false,
    isDisabled: false,
    bucketPermissions: { 'in.c-sales': 'read' },
    owner: {
      id: 578,
      name: 'Sales',
      region: 'us-east-1',
      fileStorageProvider: 'aws',
      features: [],
    },
    ...overrides,
  };
}

/** A table as the table list answers it. */
export function tableDetail(name: string, overrides: Partial<TableDetail> = {}): TableDetail {
  return {
    id: `in.c-sales.${name}`,
    name,
    primaryKey: ['id'],
    columns: ['id', 'name', 'amount'],
    rowsCount: 10,
    dataSizeBytes: 1024,
    isTyped: false,
    lastImportDate: null,
    lastChangeDate: null,
    metadata: [],
    columnMetadata: {},
    bucketId: 'in.c-sales',
    ...overrides,
  };
}

/** A table item of a parsed config, with the parser's defaults. */
export function tableConfig(name: string, overrides: Partial<TableConfig> = {}): TableConfig {
  return {
    name,
    incremental: false,
    primaryKey: [],
    fullSync: false,
    extractMetadata: false,
    enabled: true,
    ...overrides,
  };
}
