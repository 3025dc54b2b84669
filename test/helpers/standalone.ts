/**
 * Shared fixture of the standalone-mode integration tests: a small two-project seed (source 101,
 * destination 202, both aws), config builders and a runner for the built CLI against the emulator.
 */
import { sortRows } from './output.js';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EmulatorControl, SeedInput } from 'keboola-storage-emulator';
import { expectNoSecrets } from './secret-scan.js';
import { runCli, type CliResult } from './run-cli.js';

export const SOURCE_PROJECT = 101;
export const DEST_PROJECT = 202;
/** Read-only on `in.c-sales`. */
export const SOURCE_TOKEN = '101-1001-5ea1e5f0c0ffee00000000000000000000000001';
/** `write` on `in.c-copy`. */
export const WRITER_TOKEN = '202-2001-a11a1e55c0ffee00000000000000000000000001';
/** `read` only on `in.c-copy`. */
export const READER_TOKEN = '202-2003-a11a1e55c0ffee00000000000000000000000003';
/** `canManageBuckets`: may create buckets. */
export const MANAGER_TOKEN = '202-2004-a11a1e55c0ffee00000000000000000000000004';

/** 2025-03-01T00:00:00Z: every test freezes the emulator clock at or after this instant. */
export const T0_MS = Date.parse('2025-03-01T00:00:00Z');
/** Seeded rows were last changed a day before T0. */
export const SEEDED_AT_SECONDS = T0_MS / 1000 - 86_400;

/**
 * Source `in.c-sales`: `orders` (PK id, 2 slices of 3 rows), `customers` (PK id, metadata of the
 * providers user, storage and system), `products` (typed), `events` (no PK). Destination
 * `in.c-copy` (empty) and `in.c-other` (no token of the tests may write it).
 */
export function standaloneSeed(): SeedInput {
  const at = SEEDED_AT_SECONDS;
  return {
    projects: [
      {
        id: SOURCE_PROJECT,
        name: 'Sales (source)',
        fileStorageProvider: 'aws',
        buckets: [
          {
            id: 'in.c-sales',
            tables: [
              {
                name: 'orders',
                columns: ['id', 'status', 'amount'],
                primaryKey: ['id'],
                rows: [
                  ['1', 'new', '10'],
                  ['2', 'new', '20'],
                  ['3', 'paid', '30'],
                  ['4', 'paid', '40'],
                  ['5', 'sent', '50'],
                ],
                sliceRows: 3,
                timestamp: at,
              },
              {
                name: 'customers',
                columns: ['id', 'name', 'email'],
                primaryKey: ['id'],
                rows: [
                  ['1', 'Ann', 'ann@example.com'],
                  ['2', 'Bob', 'bob@example.com'],
                ],
                timestamp: at,
                metadata: [
                  { key: 'KBC.description', value: 'Customers', provider: 'user' },
                  { key: 'owner', value: 'crm-team', provider: 'keboola.ex-crm' },
                  { key: 'KBC.createdBy.component.id', value: 'x', provider: 'system' },
                  { key: 'KBC.dataTypesEnabled', value: 'false', provider: 'storage' },
                ],
                columnMetadata: {
                  email: [
                    { key: 'KBC.description', value: 'Contact e-mail', provider: 'user' },
                    { key: 'KBC.datatype.type', value: 'VARCHAR', provider: 'storage' },
                  ],
                },
              },
              {
                name: 'products',
                definition: {
                  primaryKeysNames: ['id'],
                  columns: [
                    {
                      name: 'id',
                      definition: { type: 'NUMBER', length: '38,0', nullable: false },
                      basetype: 'NUMERIC',
                    },
                    {
                      name: 'name',
                      definition: { type: 'VARCHAR', length: '255', nullable: true },
                      basetype: 'STRING',
                    },
                  ],
                },
                rows: [
                  ['1', 'Keyboard'],
                  ['2', 'Mouse'],
                ],
                timestamp: at,
              },
              {
                name: 'events',
                columns: ['at', 'kind'],
                rows: [
                  ['2025-01-01', 'click'],
                  ['2025-01-02', 'view'],
                ],
                timestamp: at,
              },
            ],
          },
        ],
        tokens: [{ token: SOURCE_TOKEN, bucketPermissions: { 'in.c-sales': 'read' } }],
      },
      {
        id: DEST_PROJECT,
        name: 'Analytics (destination)',
        fileStorageProvider: 'aws',
        buckets: [
          { id: 'in.c-copy', tables: [] },
          { id: 'in.c-other', tables: [] },
        ],
        tokens: [
          { token: WRITER_TOKEN, bucketPermissions: { 'in.c-copy': 'write' } },
          { token: READER_TOKEN, bucketPermissions: { 'in.c-copy': 'read' } },
          { token: MANAGER_TOKEN, canManageBuckets: true },
        ],
      },
    ],
  };
}

export interface TableItem {
  readonly name: string;
  readonly destination?: string;
  readonly changedSince?: string | number;
  readonly incremental?: boolean;
  readonly primaryKey?: readonly string[];
  readonly fullSync?: boolean;
  readonly columns?: readonly string[];
  readonly extractMetadata?: boolean;
  readonly enabled?: boolean;
}

/** A standalone config.json: source and destination in the same emulator. */
export function standaloneConfig(
  url: string,
  tables: readonly TableItem[],
  destination: { token?: string; bucket?: string } = {},
): Record<string, unknown> {
  return {
    parameters: {
      '#token': SOURCE_TOKEN,
      url,
      // Exact windows: the tests move the emulator clock themselves; the default lag has its own
      // tests (window-lag.test.ts).
      lagSeconds: 0,
      tables,
      destination: {
        url,
        '#token': destination.token ?? WRITER_TOKEN,
        bucket: destination.bucket ?? 'in.c-copy',
      },
    },
  };
}

/** A platform-mode config.json (no destination) reading the source project of the seed. */
export function platformConfig(url: string, tables: readonly TableItem[]): Record<string, unknown> {
  return { parameters: { '#token': SOURCE_TOKEN, url, lagSeconds: 0, tables } };
}

/** Runs the CLI on `dataDir` against the emulator, with fast job polling. */
export function runJob(
  url: string,
  dataDir: string,
  args: readonly string[] = [],
  env: Record<string, string> = {},
): Promise<CliResult> {
  return runCli(['--data', dataDir, ...args], {
    env: {
      AWS_ENDPOINT_URL_S3: url,
      STORAGE_EMULATOR_HOST: url,
      KBC_TABLE_SYNC_POLL_INITIAL_MS: '20',
      ...env,
    },
    timeoutMs: 60_000,
  });
}

/** Destination rows without `_timestamp`, sorted by their JSON text (order-free comparison). */
export async function destRows(
  control: EmulatorControl,
  tableId: string,
  projectId = DEST_PROJECT,
): Promise<Record<string, unknown>[]> {
  const rows = await control.tableRows(projectId, tableId);
  return sortRows(rows.map(({ _timestamp, ...rest }) => rest));
}

/** `out/state.json` of a data folder. */
export async function readOutState(dataDir: string): Promise<{
  tables: Record<
    string,
    { watermark?: number; rows?: number; mode?: string; destination?: string }
  >;
}> {
  return JSON.parse(await readFile(join(dataDir, 'out', 'state.json'), 'utf8')) as {
    tables: Record<
      string,
      { watermark?: number; rows?: number; mode?: string; destination?: string }
    >;
  };
}

/** Export jobs started per source table id (`control.stats().jobStarts`). */
export function exportStarts(control: EmulatorControl): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, count] of Object.entries(control.stats().jobStarts)) {
    const [operation, tableId] = key.split(' ');
    if (operation === 'tableExport' && tableId) out[tableId] = count;
  }
  return out;
}

/** No token and no object-store credential the emulator issued appears in output or data folder. */
export async function expectNoLeaks(
  control: EmulatorControl,
  result: CliResult,
  dataDir: string,
): Promise<void> {
  await expectNoSecrets(
    [SOURCE_TOKEN, WRITER_TOKEN, READER_TOKEN, MANAGER_TOKEN, ...control.objectStoreSecrets()],
    result,
    dataDir,
  );
}

export { sortRows };
