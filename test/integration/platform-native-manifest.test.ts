/**
 * Platform mode's manifest format (docs/output-manifests.md): the legacy manifest by
 * default, the native-types manifest (`manifest_type`, `schema`) when the effective data-type
 * support is `authoritative` or `hints` (`storage.output.data_type_support` of config.json, else
 * `KBC_DATA_TYPE_SUPPORT`). The emulator's table lists leave typed definitions out here, as the
 * real list may: the types must come from the table detail.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { SeedInput } from 'keboola-storage-emulator';
import { useEmulator } from '../helpers/emulator.js';
import { readSliceRecords } from '../helpers/output.js';
import { logLines, makeDataDir, type CliResult } from '../helpers/run-cli.js';
import {
  SOURCE_PROJECT,
  T0_MS,
  platformConfig,
  runJob,
  standaloneSeed,
  type TableItem,
} from '../helpers/standalone.js';

/** The standalone seed, with an extractor's `KBC.datatype.basetype` on `customers.id`. */
function seed(): SeedInput {
  const base = standaloneSeed();
  return {
    projects: base.projects.map((project) =>
      project.id !== SOURCE_PROJECT
        ? project
        : {
            ...project,
            buckets: project.buckets?.map((bucket) => ({
              ...bucket,
              tables: bucket.tables?.map((table) =>
                table.name !== 'customers'
                  ? table
                  : {
                      ...table,
                      columnMetadata: {
                        ...table.columnMetadata,
                        id: [
                          { key: 'KBC.datatype.basetype', value: 'INTEGER', provider: 'ex-crm' },
                        ],
                      },
                    },
              ),
            })),
          },
    ),
  };
}

const emulator = useEmulator(seed());

beforeAll(() => {
  emulator.control.setClock(T0_MS);
  emulator.control.setTableListDefinitions(false);
});

const TABLES: readonly TableItem[] = [
  { name: 'products', fullSync: true },
  { name: 'customers', primaryKey: ['id'], incremental: true, extractMetadata: true },
];

/** Keys the output mapping refuses next to `schema` (common-interface §4.2). */
const LEGACY_KEYS = ['columns', 'primary_key', 'metadata', 'column_metadata'];

async function runPlatform(
  storage: Record<string, unknown>,
  env: Record<string, string>,
): Promise<CliResult & { dataDir: string }> {
  const dataDir = await makeDataDir({ ...platformConfig(emulator.url, TABLES), storage });
  const result = await runJob(emulator.url, dataDir, ['--log-format', 'json'], env);
  return { ...result, dataDir };
}

async function readManifest(dataDir: string, fileName: string): Promise<Record<string, unknown>> {
  return JSON.parse(
    await readFile(join(dataDir, 'out', 'tables', `${fileName}.manifest`), 'utf8'),
  ) as Record<string, unknown>;
}

function manifestLog(stdout: string): string[] {
  return logLines(stdout)
    .map((line) => String(line.msg))
    .filter((msg) => msg.startsWith('Manifests: '));
}

describe('platform mode manifests', () => {
  it('writes the native-types manifest with KBC_DATA_TYPE_SUPPORT=authoritative, typed from the detail', async () => {
    const result = await runPlatform({}, { KBC_DATA_TYPE_SUPPORT: 'authoritative' });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(manifestLog(result.stdout)).toEqual([
      'Manifests: the native-types format (manifest_type, schema with base types), as KBC_DATA_TYPE_SUPPORT is "authoritative".',
    ]);
    const products = await readManifest(result.dataDir, 'products.csv');
    expect(products).toEqual({
      manifest_type: 'output',
      incremental: false,
      has_header: false,
      schema: [
        {
          name: 'id',
          data_type: { base: { type: 'NUMERIC', length: '38,0' } },
          nullable: false,
          primary_key: true,
        },
        {
          name: 'name',
          data_type: { base: { type: 'STRING', length: '255' } },
          nullable: true,
          primary_key: false,
        },
      ],
    });
    const customers = await readManifest(result.dataDir, 'customers.csv');
    expect(customers).toEqual({
      manifest_type: 'output',
      incremental: true,
      has_header: false,
      description: 'Customers',
      table_metadata: { owner: 'crm-team' },
      schema: [
        {
          name: 'id',
          data_type: { base: { type: 'INTEGER' } },
          nullable: false,
          primary_key: true,
          metadata: { 'KBC.datatype.basetype': 'INTEGER' },
        },
        {
          name: 'name',
          data_type: { base: { type: 'STRING' } },
          nullable: true,
          primary_key: false,
        },
        {
          name: 'email',
          data_type: { base: { type: 'STRING' } },
          nullable: true,
          primary_key: false,
          description: 'Contact e-mail',
        },
      ],
    });
    for (const manifest of [products, customers]) {
      for (const key of LEGACY_KEYS) expect(manifest).not.toHaveProperty(key);
    }
    // The slices are the same headless gzip CSV as with the legacy manifest.
    const records = await readSliceRecords(join(result.dataDir, 'out', 'tables', 'products.csv'));
    expect(records).toEqual([
      ['1', 'Keyboard'],
      ['2', 'Mouse'],
    ]);
  });

  it('lets storage.output.data_type_support "hints" choose it without the variable', async () => {
    const result = await runPlatform({ output: { data_type_support: 'hints' } }, {});
    expect(result.code).toBe(0);
    expect(manifestLog(result.stdout)).toEqual([
      'Manifests: the native-types format (manifest_type, schema with base types), as config.json storage.output.data_type_support is "hints".',
    ]);
    expect(await readManifest(result.dataDir, 'products.csv')).toMatchObject({
      manifest_type: 'output',
    });
  });

  it('writes the legacy manifest by default, as before', async () => {
    const result = await runPlatform({}, {});
    expect(result.code).toBe(0);
    expect(manifestLog(result.stdout)).toEqual([
      'Manifests: the legacy format (columns, primary_key): neither storage.output.data_type_support in config.json nor KBC_DATA_TYPE_SUPPORT is set.',
    ]);
    expect(await readManifest(result.dataDir, 'products.csv')).toEqual({
      columns: ['id', 'name'],
      primary_key: ['id'],
      incremental: false,
    });
  });

  it('lets storage.output.data_type_support "none" override KBC_DATA_TYPE_SUPPORT', async () => {
    const result = await runPlatform(
      { output: { data_type_support: 'none' } },
      { KBC_DATA_TYPE_SUPPORT: 'authoritative' },
    );
    expect(result.code).toBe(0);
    expect(manifestLog(result.stdout)).toEqual([
      'Manifests: the legacy format (columns, primary_key), as config.json storage.output.data_type_support is "none".',
    ]);
    expect(await readManifest(result.dataDir, 'customers.csv')).toHaveProperty('columns');
  });

  it('refuses an unknown storage.output.data_type_support with exit 1, naming the key', async () => {
    const result = await runPlatform({ output: { data_type_support: 'all' } }, {});
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      'storage.output.data_type_support: "all" is not a data type support; use one of authoritative, hints, none, or leave it out',
    );
  });
});
