/**
 * A typed table copied into a destination project of another backend (docs/storage-api-notes.md,
 * Typed tables across backends): the source's native types (Snowflake `NUMBER(38,0)`, `VARCHAR`)
 * are no BigQuery types, so the table is created from the source's base types and the destination
 * picks its own native types. Within one backend the native definition is kept (standalone-modes).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { SeedInput } from 'keboola-storage-emulator';
import { useEmulator } from '../helpers/emulator.js';
import { makeDataDir } from '../helpers/run-cli.js';
import {
  DEST_PROJECT,
  T0_MS,
  WRITER_TOKEN,
  destRows,
  expectNoLeaks,
  runJob,
  standaloneConfig,
  standaloneSeed,
} from '../helpers/standalone.js';

/** The standalone seed with a BigQuery destination project (the source stays Snowflake). */
function bigQueryDestinationSeed(): SeedInput {
  const seed = standaloneSeed();
  return {
    projects: seed.projects.map((project) =>
      project.id === DEST_PROJECT ? { ...project, defaultBackend: 'bigquery' } : project,
    ),
  };
}

const emulator = useEmulator(bigQueryDestinationSeed());

beforeAll(() => {
  emulator.control.setClock(T0_MS);
});

interface DefinedColumn {
  name: string;
  definition: { type: string; length: string | null };
  basetype: string;
}

async function destDefinition(tableId: string): Promise<DefinedColumn[]> {
  const response = await fetch(`${emulator.url}/v2/storage/tables/${tableId}`, {
    headers: { 'X-StorageApi-Token': WRITER_TOKEN },
  });
  expect(response.status).toBe(200);
  const table = (await response.json()) as { definition: { columns: DefinedColumn[] } };
  return table.definition.columns;
}

describe('a typed table into a project of another backend', () => {
  it('is created from the base types (Snowflake NUMBER/VARCHAR → BigQuery NUMERIC/STRING) and its rows arrive', async () => {
    const { control, url } = emulator;
    const dataDir = await makeDataDir(standaloneConfig(url, [{ name: 'products' }]));
    const result = await runJob(url, dataDir);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(
      'Created typed table \\"in.c-copy.products\\" with the source\'s base types (snowflake → bigquery).',
    );
    const columns = await destDefinition('in.c-copy.products');
    expect(columns.map((c) => [c.name, c.definition.type, c.basetype])).toEqual([
      ['id', 'NUMERIC', 'NUMERIC'],
      ['name', 'STRING', 'STRING'],
    ]);
    expect(await destRows(control, 'in.c-copy.products')).toEqual([
      { id: '1', name: 'Keyboard' },
      { id: '2', name: 'Mouse' },
    ]);
    await expectNoLeaks(control, result, dataDir);
  });
});
