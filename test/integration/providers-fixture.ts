/**
 * Shared fixture of the provider tests (`providers-*.test.ts`): one emulator seed with a source
 * and a destination project on each file storage provider, small tables with several export
 * slices, and helpers to run the built CLI against it and read what it produced.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parse } from 'csv-parse/sync';
import type { SeedInput } from 'keboola-storage-emulator';
import { makeDataDir, runCli, type CliResult } from '../helpers/run-cli.js';

export type Provider = 'aws' | 'azure' | 'gcp';
export const PROVIDERS: readonly Provider[] = ['aws', 'azure', 'gcp'];

const SOURCE_IDS: Record<Provider, number> = { aws: 301, azure: 302, gcp: 303 };
const DESTINATION_IDS: Record<Provider, number> = { aws: 401, azure: 402, gcp: 403 };

export const SOURCE_BUCKET = 'in.c-src';
export const DESTINATION_BUCKET = 'in.c-copy';
export const COLUMNS = ['id', 'name', 'note'] as const;

/** 8 rows in slices of 3 → 3 export slices; values with quotes, commas, line breaks, UTF-8. */
export const ROWS: readonly (readonly string[])[] = [
  ['1', 'Alice', 'plain'],
  ['2', 'Bob "the builder"', 'quote "inside"'],
  ['3', 'Čeněk Žluťoučký', 'comma, inside'],
  ['4', 'Dana', 'line\nbreak'],
  ['5', 'Eve', ''],
  ['6', '日本語', 'emoji 🚀'],
  ['7', 'Frank', 'tab\there'],
  ['8', 'Gina', 'last; row'],
];
export const SLICE_ROWS = 3;

const hex40 = (n: number) => n.toString(16).padStart(40, '0');

/** `<project>-<tokenId>-<40 hex>`: read on the source bucket. */
export function sourceToken(provider: Provider): string {
  const id = SOURCE_IDS[provider];
  return `${id}-${id}1-${hex40(id)}`;
}

/** Write on the destination bucket. */
export function destinationToken(provider: Provider): string {
  const id = DESTINATION_IDS[provider];
  return `${id}-${id}1-${hex40(id)}`;
}

export function sourceProjectId(provider: Provider): number {
  return SOURCE_IDS[provider];
}

export function destinationProjectId(provider: Provider): number {
  return DESTINATION_IDS[provider];
}

/**
 * Six projects: a source (`in.c-src.items`, 3 slices, and `in.c-src.more`, 2 slices) and an empty
 * destination (`in.c-copy`) on each of aws, azure and gcp.
 */
export function providersSeed(): SeedInput {
  const projects = PROVIDERS.flatMap((provider) => [
    {
      id: SOURCE_IDS[provider],
      name: `Source on ${provider}`,
      fileStorageProvider: provider,
      buckets: [
        {
          id: SOURCE_BUCKET,
          tables: [
            {
              name: 'items',
              columns: [...COLUMNS],
              primaryKey: ['id'],
              rows: ROWS.map((r) => [...r]),
              sliceRows: SLICE_ROWS,
            },
            {
              name: 'more',
              columns: ['k', 'v'],
              generate: { rows: 5 },
              sliceRows: SLICE_ROWS,
            },
          ],
        },
      ],
      tokens: [{ token: sourceToken(provider), bucketPermissions: { [SOURCE_BUCKET]: 'read' } }],
    },
    {
      id: DESTINATION_IDS[provider],
      name: `Destination on ${provider}`,
      fileStorageProvider: provider,
      buckets: [{ id: DESTINATION_BUCKET, tables: [] }],
      tokens: [
        { token: destinationToken(provider), bucketPermissions: { [DESTINATION_BUCKET]: 'write' } },
      ],
    },
  ]);
  return { projects } as SeedInput;
}

/** The child env that points every object store at the emulator; small, fast tuning. */
function cliEnv(emulatorUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_S3: emulatorUrl,
    STORAGE_EMULATOR_HOST: emulatorUrl,
    KBC_TABLE_SYNC_PROGRESS_MS: '60000',
    KBC_TABLE_SYNC_POLL_INITIAL_MS: '20',
    ...extra,
  };
}

export interface TableItem {
  readonly name: string;
  readonly destination?: string;
  readonly primaryKey?: readonly string[];
  readonly incremental?: boolean;
}

/** A data folder whose config copies `tables` from the source on `provider` (platform mode). */
export function platformConfig(
  emulatorUrl: string,
  provider: Provider,
  tables: readonly TableItem[],
): unknown {
  return {
    parameters: { '#token': sourceToken(provider), url: emulatorUrl, tables },
  };
}

/** Standalone mode: into `in.c-copy` of the destination project on `to`. */
export function standaloneConfig(
  emulatorUrl: string,
  from: Provider,
  to: Provider,
  tables: readonly TableItem[],
): unknown {
  return {
    parameters: {
      '#token': sourceToken(from),
      url: emulatorUrl,
      tables,
      destination: { '#token': destinationToken(to), url: emulatorUrl, bucket: DESTINATION_BUCKET },
    },
  };
}

export interface CliRun {
  readonly dataDir: string;
  readonly result: CliResult;
}

/** Writes the config into a fresh data folder and runs the built CLI on it. */
export async function runJob(
  emulatorUrl: string,
  config: unknown,
  env: Record<string, string> = {},
): Promise<CliRun> {
  const dataDir = await makeDataDir(config);
  const result = await runCli(['--data', dataDir], {
    env: cliEnv(emulatorUrl, env),
    timeoutMs: 60_000,
  });
  return { dataDir, result };
}

/** Rows of a platform-mode output table: its gzip slices, gunzipped and parsed, in file order. */
export async function outputRows(dataDir: string, fileName: string): Promise<string[][]> {
  const folder = join(dataDir, 'out', 'tables', fileName);
  const names = (await readdir(folder)).sort();
  const rows: string[][] = [];
  for (const name of names) {
    const text = gunzipSync(await readFile(join(folder, name))).toString('utf8');
    const parsed: unknown = parse(text);
    rows.push(...(parsed as string[][]));
  }
  return rows;
}

/** Rows as `columns` value arrays, sorted by their first value (numeric ids). */
export function rowsOf(
  records: readonly Record<string, unknown>[],
  columns: readonly string[],
): string[][] {
  return sortRows(records.map((record) => columns.map((c) => textOf(record[c]))));
}

function textOf(value: unknown): string {
  if (value === null || value === undefined) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export function sortRows(rows: readonly (readonly string[])[]): string[][] {
  return rows.map((r) => [...r]).sort((a, b) => Number(a[0]) - Number(b[0]));
}

/** Fails with the run's last log lines when it did not exit with `code`. */
export function expectExitCode(run: CliRun, code: number): void {
  if (run.result.code === code) return;
  const tail = (text: string) => text.split('\n').slice(-15).join('\n');
  throw new Error(
    `Expected exit code ${code}, got ${run.result.code}\nstdout:\n${tail(run.result.stdout)}\nstderr:\n${tail(run.result.stderr)}`,
  );
}
