/**
 * The emulator's in-memory catalogue: projects, buckets, table descriptions, tokens, files and
 * jobs. Table rows are not here: they live in DuckDB (table-db.ts). Plain mutable records owned by
 * {@link EmulatorState}; routes read and change them, views.ts renders them as API JSON.
 */
import type { Provider } from './objects/object-store.js';
import type { SeedTableDefinition } from './seed.js';

type BucketPermissionLevel = 'read' | 'write' | 'manage';

/** The project role of a master token's admin (`admin.role`); decides what it may do with tokens. */
type MasterRole = 'admin' | 'share' | 'guest' | 'readOnly';

export interface MetadataRecord {
  readonly id: string;
  readonly key: string;
  value: string;
  readonly provider: string;
  timestampMs: number;
}

export interface TableState {
  readonly id: string;
  readonly name: string;
  readonly bucketId: string;
  readonly projectId: number;
  /** Quoted DuckDB table name. */
  readonly physical: string;
  columns: string[];
  primaryKey: string[];
  readonly definition: SeedTableDefinition | undefined;
  readonly metadata: MetadataRecord[];
  readonly columnMetadata: Map<string, MetadataRecord[]>;
  readonly sliceRows: number | undefined;
  readonly createdMs: number;
  lastImportMs: number | undefined;
  lastChangeMs: number | undefined;
  /** Bumped on every data change; part of the export cache key. */
  version: number;
  rowsCount: number;
  dataSizeBytes: number;
}

export interface BucketState {
  readonly id: string;
  readonly name: string;
  readonly stage: string;
  readonly description: string;
  readonly createdMs: number;
  readonly tables: Map<string, TableState>;
}

export interface ProjectState {
  readonly id: number;
  readonly name: string;
  readonly region: string;
  readonly provider: Provider;
  readonly defaultBackend: string;
  readonly sliceRows: number | undefined;
  readonly features: readonly string[];
  readonly createdMs: number;
  readonly buckets: Map<string, BucketState>;
}

export interface TokenState {
  /** Numeric id as a string (the middle part of the token string). */
  readonly id: string;
  token: string;
  readonly projectId: number;
  readonly description: string;
  readonly isMasterToken: boolean;
  /** Master tokens only: the admin's project role (default `admin`). */
  readonly role: MasterRole | undefined;
  readonly canManageBuckets: boolean;
  readonly canReadAllFileUploads: boolean;
  /** Components the token may use (`componentAccess`); empty for none. */
  readonly componentAccess: readonly string[];
  readonly canCreateJobs: boolean;
  readonly canPurgeTrash: boolean;
  /** Undefined: the flag is left out of the token's views, as stacks that predate it do. */
  readonly canManageDevBranches: boolean | undefined;
  readonly canReadAllProjectEvents: boolean | undefined;
  readonly bucketPermissions: Readonly<Record<string, 'read' | 'write'>>;
  expiresMs: number | null;
  readonly isDisabled: boolean;
  revoked: boolean;
  readonly createdMs: number;
  /** Last refresh (creation until the first refresh). */
  refreshedMs: number;
  /** `creatorToken` of the detail: who created it (`emulator` for seeded tokens). */
  readonly creator: { readonly id: number; readonly description: string };
}

/** One event of a token (`GET tokens/{id}/events`), newest last in the state. */
export interface TokenEventRecord {
  readonly id: number;
  readonly tokenId: string;
  readonly projectId: number;
  readonly event: string;
  readonly message: string;
  readonly createdMs: number;
  readonly runId: string | null;
}

export interface FileState {
  readonly id: number;
  readonly projectId: number;
  readonly name: string;
  /** Object location: the key is a prefix for sliced files. */
  readonly bucket: string;
  readonly key: string;
  readonly isSliced: boolean;
  readonly isEncrypted: boolean;
  sizeBytes: number;
  readonly createdMs: number;
  readonly creatorTokenId: string;
  readonly creatorDescription: string;
  /** Other tokens allowed to read it (exports served to them from the cache). */
  readonly readerTokenIds: Set<string>;
  readonly tags: string[];
  readonly runId: string | null;
}

type JobStatus = 'waiting' | 'processing' | 'success' | 'error';

export interface JobOutcome {
  readonly results: unknown;
  readonly error?: {
    readonly code: string;
    readonly message: string;
    readonly exceptionId: string;
  };
}

export interface JobState {
  readonly id: number;
  readonly projectId: number;
  readonly operationName: string;
  readonly tableId: string | null;
  readonly operationParams: Record<string, unknown>;
  readonly createdMs: number;
  readonly runId: string | null;
  readonly creatorTokenId: string;
  readonly creatorDescription: string;
  status: JobStatus;
  startMs: number | undefined;
  endMs: number | undefined;
  /** Set when the background work finished; applied at the next poll. */
  outcome: JobOutcome | undefined;
  /** A `jobStuck` fault: never leaves `processing`. */
  readonly stuck: boolean;
  results: unknown;
  error: JobOutcome['error'];
}

/** `in.c-sales.orders` → `{bucketId: "in.c-sales", name: "orders"}`; undefined when malformed. */
export function splitTableId(tableId: string): { bucketId: string; name: string } | undefined {
  const match = /^([^.]+\.[^.]+)\.([^.]+)$/.exec(tableId);
  if (!match?.[1] || !match[2]) return undefined;
  return { bucketId: match[1], name: match[2] };
}

/** Every mutable collection of the emulator plus id sequences. */
export class EmulatorState {
  readonly projects = new Map<number, ProjectState>();
  /** Keyed by token string; revoked tokens stay (the string then answers 401). */
  readonly tokens = new Map<string, TokenState>();
  readonly files = new Map<number, FileState>();
  readonly jobs = new Map<number, JobState>();
  /** Export cache: parameter key → file id. */
  readonly exportCache = new Map<string, number>();
  readonly requestCounts = new Map<string, number>();
  readonly jobStarts = new Map<string, number>();
  /** Events of every token, oldest first. */
  readonly tokenEvents: TokenEventRecord[] = [];
  #nextEventId = 800_001;
  #nextFileId = 100_001;
  #nextJobId = 500_001;
  #nextMetadataId = 700_001;
  #nextTokenId = 9_001;

  nextFileId(): number {
    return this.#nextFileId++;
  }
  nextJobId(): number {
    return this.#nextJobId++;
  }
  nextMetadataId(): string {
    return String(this.#nextMetadataId++);
  }
  nextTokenId(): number {
    return this.#nextTokenId++;
  }

  /** Records an event of `token` (its own history, readable by the token itself). */
  addTokenEvent(
    token: Pick<TokenState, 'id' | 'projectId'>,
    event: string,
    message: string,
    atMs: number,
    runId: string | null = null,
  ): void {
    this.tokenEvents.push({
      id: this.#nextEventId++,
      tokenId: token.id,
      projectId: token.projectId,
      event,
      message,
      createdMs: atMs,
      runId,
    });
  }

  /** The live (not revoked) token with this id in the project, if any. */
  findTokenById(projectId: number, tokenId: string): TokenState | undefined {
    for (const token of this.tokens.values()) {
      if (token.projectId === projectId && token.id === tokenId && !token.revoked) return token;
    }
    return undefined;
  }

  countRequest(key: string): void {
    this.requestCounts.set(key, (this.requestCounts.get(key) ?? 0) + 1);
  }

  countJobStart(operationName: string, tableId: string | null): void {
    const key = `${operationName} ${tableId ?? '-'}`;
    this.jobStarts.set(key, (this.jobStarts.get(key) ?? 0) + 1);
  }

  project(projectId: number): ProjectState | undefined {
    return this.projects.get(projectId);
  }

  findTable(projectId: number, tableId: string): TableState | undefined {
    const parts = splitTableId(tableId);
    if (!parts) return undefined;
    return this.projects.get(projectId)?.buckets.get(parts.bucketId)?.tables.get(parts.name);
  }
}

/** Admin and share masters manage tokens; guest and read-only masters (and limited tokens) do not. */
export function canManageTokens(token: TokenState): boolean {
  return token.isMasterToken && (token.role === 'admin' || token.role === 'share');
}

/**
 * The token's level on a bucket: `manage` for master / canManageBuckets tokens, `read` on every
 * bucket for a read-only master (also buckets created later).
 */
function permissionFor(token: TokenState, bucketId: string): BucketPermissionLevel | undefined {
  if (token.isMasterToken && token.role === 'readOnly') return 'read';
  if (token.isMasterToken || token.canManageBuckets) return 'manage';
  return token.bucketPermissions[bucketId];
}

export function canRead(token: TokenState, bucketId: string): boolean {
  return permissionFor(token, bucketId) !== undefined;
}

export function canWrite(token: TokenState, bucketId: string): boolean {
  const level = permissionFor(token, bucketId);
  return level === 'write' || level === 'manage';
}
