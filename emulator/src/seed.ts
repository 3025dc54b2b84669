/**
 * The emulator's seed file: projects, buckets, tables (CSV, inline rows, generated or typed) and
 * tokens. {@link parseSeed} validates the whole document at once and reports every problem as
 * `path: what is wrong`. Format documented in docs/storage-api.md.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { DEFAULT_BACKEND, typeProblem } from './backend-types.js';

const metadataItem = z.object({
  key: z.string().min(1),
  value: z.string(),
  provider: z.string().min(1),
});

const columnDefinition = z.object({
  name: z.string().min(1),
  definition: z
    .object({
      type: z.string().min(1),
      length: z.string().nullable().optional(),
      nullable: z.boolean().optional(),
      default: z.string().nullable().optional(),
    })
    .optional(),
  basetype: z.string().optional(),
});

const tableDefinition = z.object({
  primaryKeysNames: z.array(z.string()).default([]),
  columns: z.array(columnDefinition).min(1),
});

const seedTable = z.object({
  name: z.string().regex(/^[A-Za-z0-9_-]+$/, 'table names use letters, digits, _ and - only'),
  columns: z.array(z.string().min(1)).optional(),
  primaryKey: z.array(z.string().min(1)).optional(),
  csv: z.string().min(1).optional(),
  rows: z.array(z.array(z.string())).optional(),
  generate: z.object({ rows: z.number().int().min(0) }).optional(),
  definition: tableDefinition.optional(),
  metadata: z.array(metadataItem).optional(),
  columnMetadata: z.record(z.string(), z.array(metadataItem)).optional(),
  sliceRows: z.number().int().positive().optional(),
  timestamp: z.number().int().min(0).optional(),
});

const seedBucket = z.object({
  id: z
    .string()
    .regex(/^(in|out)\.[A-Za-z0-9_-]+$/, 'bucket ids look like in.c-name or out.c-name'),
  description: z.string().optional(),
  tables: z.array(seedTable).default([]),
});

const seedToken = z.object({
  token: z
    .string()
    .regex(/^\d+-\d+-[0-9a-f]{40}$/, 'tokens look like <projectId>-<tokenId>-<40 hex>'),
  description: z.string().optional(),
  bucketPermissions: z.record(z.string(), z.enum(['read', 'write'])).optional(),
  isMasterToken: z.boolean().optional(),
  /** Master tokens: the admin's project role (default admin). */
  role: z.enum(['admin', 'share', 'guest', 'readOnly']).optional(),
  canManageBuckets: z.boolean().optional(),
  canReadAllFileUploads: z.boolean().optional(),
  /** Components the token may use; verify shows the list only when it is not empty. */
  componentAccess: z.array(z.string()).optional(),
  canCreateJobs: z.boolean().optional(),
  /** Permanently delete configurations from the trash (create option of any token). */
  canPurgeTrash: z.boolean().optional(),
  /** Shown by verify only when set, as stacks from before these flags omit them. */
  canManageDevBranches: z.boolean().optional(),
  canReadAllProjectEvents: z.boolean().optional(),
  expires: z.string().nullable().optional(),
  isDisabled: z.boolean().optional(),
});

const seedProject = z.object({
  id: z.number().int().positive(),
  name: z.string().min(1),
  region: z.string().default('us-east-1'),
  fileStorageProvider: z.enum(['aws', 'azure', 'gcp']).default('aws'),
  defaultBackend: z.string().optional(),
  sliceRows: z.number().int().positive().optional(),
  /** Project features besides `queuev2`; `disable-legacy-bucket-prefix` changes bucket creation. */
  features: z.array(z.string()).default([]),
  buckets: z.array(seedBucket).default([]),
  tokens: z.array(seedToken).default([]),
});

const seedSchema = z.object({ projects: z.array(seedProject) });

export type Seed = z.infer<typeof seedSchema>;
export type SeedProject = Seed['projects'][number];
type SeedBucket = SeedProject['buckets'][number];
export type SeedTable = SeedBucket['tables'][number];
export type SeedToken = SeedProject['tokens'][number];
export type SeedTableDefinition = z.infer<typeof tableDefinition>;
/** Input shape (defaults optional), e.g. for tests building seeds in code. */
export type SeedInput = z.input<typeof seedSchema>;
export type SeedTableInput = z.input<typeof seedTable>;
export type SeedTokenInput = z.input<typeof seedToken>;

/** A seed that failed validation; `problems` lists every `path: message`. */
export class SeedError extends Error {
  override name = 'SeedError';
  constructor(readonly problems: readonly string[]) {
    super(`Invalid emulator seed: ${problems.join('; ')}`);
  }
}

/**
 * Validates a seed document (schema plus cross-references: unique ids, primary keys inside the
 * columns, one data source per table, token project ids, permissions on existing buckets).
 * @throws SeedError listing every problem.
 */
export function parseSeed(value: unknown): Seed {
  const parsed = seedSchema.safeParse(value);
  if (!parsed.success) {
    throw new SeedError(issuesToProblems(parsed.error.issues, ''));
  }
  const problems = crossCheckSeed(parsed.data);
  if (problems.length > 0) throw new SeedError(problems);
  return parsed.data;
}

function issuesToProblems(issues: readonly z.core.$ZodIssue[], at: string): string[] {
  return issues.map(
    (issue) =>
      `${[at, ...issue.path.map(String)].filter(Boolean).join('.') || '(root)'}: ${issue.message}`,
  );
}

/** Validates one token spec (control API). @throws SeedError */
export function parseSeedToken(value: unknown): SeedToken {
  const parsed = seedToken.safeParse(value);
  if (!parsed.success) throw new SeedError(issuesToProblems(parsed.error.issues, 'token'));
  return parsed.data;
}

/** Validates one table spec including its per-table rules (control API). @throws SeedError */
export function parseSeedTable(value: unknown): SeedTable {
  const parsed = seedTable.safeParse(value);
  if (!parsed.success) throw new SeedError(issuesToProblems(parsed.error.issues, 'table'));
  const problems = checkTable(parsed.data, 'table');
  if (problems.length > 0) throw new SeedError(problems);
  return parsed.data;
}

/** The table's column names: `columns`, else the definition's, else empty (CSV header decides). */
export function seedTableColumns(table: SeedTable): string[] {
  return table.columns ?? table.definition?.columns.map((c) => c.name) ?? [];
}

/** The table's primary key: `primaryKey`, else the definition's `primaryKeysNames`. */
export function seedTablePrimaryKey(table: SeedTable): string[] {
  return table.primaryKey ?? table.definition?.primaryKeysNames ?? [];
}

function crossCheckSeed(seed: Seed): string[] {
  const problems: string[] = [];
  const projectIds = new Set<number>();
  const tokens = new Set<string>();
  seed.projects.forEach((project, p) => {
    const at = `projects.${p}`;
    if (projectIds.has(project.id)) problems.push(`${at}.id: duplicate project id ${project.id}`);
    projectIds.add(project.id);
    const bucketIds = new Set<string>();
    project.buckets.forEach((bucket, b) => {
      if (bucketIds.has(bucket.id)) problems.push(`${at}.buckets.${b}.id: duplicate bucket id`);
      bucketIds.add(bucket.id);
      const backend = project.defaultBackend ?? DEFAULT_BACKEND;
      problems.push(...checkBucketTables(bucket, `${at}.buckets.${b}`, backend));
    });
    project.tokens.forEach((token, t) => {
      problems.push(...checkToken(token, project.id, bucketIds, `${at}.tokens.${t}`));
      if (tokens.has(token.token)) problems.push(`${at}.tokens.${t}.token: duplicate token`);
      tokens.add(token.token);
    });
  });
  return problems;
}

function checkBucketTables(bucket: SeedBucket, at: string, backend: string): string[] {
  const problems: string[] = [];
  const names = new Set<string>();
  bucket.tables.forEach((table, i) => {
    if (names.has(table.name)) problems.push(`${at}.tables.${i}.name: duplicate table name`);
    names.add(table.name);
    problems.push(...checkTable(table, `${at}.tables.${i}`, backend));
  });
  return problems;
}

/**
 * Per-table rules; exported for unit tests and for `createTable` of the control API. Given the
 * project's `backend`, a typed table's column types must be that backend's, as
 * `tables-definition` requires (emulator/src/backend-types.ts).
 */
export function checkTable(table: SeedTable, at: string, backend?: string): string[] {
  const problems: string[] = [];
  table.definition?.columns.forEach((column, c) => {
    if (!column.definition || backend === undefined) return;
    const problem = typeProblem(backend, column.definition.type, column.definition.length ?? null);
    if (problem) problems.push(`${at}.definition.columns.${c}.definition: ${problem}`);
  });
  const sources = [table.csv, table.rows, table.generate].filter((s) => s !== undefined);
  if (sources.length > 1) problems.push(`${at}: use only one of csv, rows, generate`);
  const columns = seedTableColumns(table);
  if (table.csv === undefined && columns.length === 0) {
    problems.push(`${at}.columns: required unless the table comes from a csv file`);
  }
  if (new Set(columns).size !== columns.length) problems.push(`${at}.columns: duplicate names`);
  if (columns.includes('_timestamp')) problems.push(`${at}.columns: "_timestamp" is reserved`);
  if (table.csv === undefined) {
    for (const key of seedTablePrimaryKey(table)) {
      if (!columns.includes(key)) problems.push(`${at}.primaryKey: unknown column "${key}"`);
    }
  }
  table.rows?.forEach((row, r) => {
    if (row.length !== columns.length) {
      problems.push(`${at}.rows.${r}: ${row.length} values for ${columns.length} columns`);
    }
  });
  return problems;
}

function checkToken(
  token: SeedToken,
  projectId: number,
  bucketIds: ReadonlySet<string>,
  at: string,
): string[] {
  const problems: string[] = [];
  if (!token.token.startsWith(`${projectId}-`)) {
    problems.push(`${at}.token: must start with the project id "${projectId}-"`);
  }
  for (const bucketId of Object.keys(token.bucketPermissions ?? {})) {
    if (!bucketIds.has(bucketId)) {
      problems.push(`${at}.bucketPermissions: unknown bucket "${bucketId}"`);
    }
  }
  if (token.role !== undefined && token.isMasterToken !== true) {
    problems.push(`${at}.role: only master tokens have a role (set "isMasterToken": true)`);
  }
  if (token.expires && Number.isNaN(Date.parse(token.expires))) {
    problems.push(`${at}.expires: not an ISO date`);
  }
  return problems;
}

/** A parsed seed plus the directory its relative CSV paths are resolved against. */
export interface LoadedSeed {
  readonly seed: Seed;
  readonly baseDir: string;
}

/** Reads and validates a seed file. @throws SeedError, or the fs/JSON error. */
export async function loadSeedFile(path: string): Promise<LoadedSeed> {
  const text = await readFile(path, 'utf8');
  return { seed: parseSeed(JSON.parse(text) as unknown), baseDir: dirname(resolve(path)) };
}
