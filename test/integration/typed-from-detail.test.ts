/**
 * A typed source table is created typed even when the bucket's table list leaves its
 * `definition` out (docs/storage-api-notes.md, Typed tables): only the table detail is sure to
 * carry it, so the job reads the detail when it must create the destination table. The emulator's
 * lists carry it by default; here they do not (`setTableListDefinitions(false)`).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { useEmulator } from '../helpers/emulator.js';
import { makeDataDir } from '../helpers/run-cli.js';
import {
  SOURCE_TOKEN,
  T0_MS,
  WRITER_TOKEN,
  destRows,
  expectNoLeaks,
  runJob,
  standaloneConfig,
  standaloneSeed,
} from '../helpers/standalone.js';

const emulator = useEmulator(standaloneSeed());

beforeAll(() => {
  emulator.control.setClock(T0_MS);
  emulator.control.setTableListDefinitions(false);
});

type Columns = Array<Record<string, unknown>>;

async function tableDetail(tableId: string, token: string): Promise<Record<string, unknown>> {
  const response = await fetch(`${emulator.url}/v2/storage/tables/${tableId}`, {
    headers: { 'X-StorageApi-Token': token },
  });
  expect(response.status).toBe(200);
  return (await response.json()) as Record<string, unknown>;
}

describe('a typed table whose definition the table list leaves out', () => {
  it('is created from the source detail, with the same definition', async () => {
    const { control, url } = emulator;
    const listed = await fetch(`${url}/v2/storage/buckets/in.c-sales/tables?include=columns`, {
      headers: { 'X-StorageApi-Token': SOURCE_TOKEN },
    });
    const products = ((await listed.json()) as Record<string, unknown>[]).find(
      (t) => t.name === 'products',
    );
    expect(products).toMatchObject({ isTyped: true });
    expect(products?.definition).toBeUndefined();

    const dataDir = await makeDataDir(
      standaloneConfig(url, [{ name: 'products', fullSync: true }]),
    );
    const result = await runJob(url, dataDir);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(
      'Created typed table \\"in.c-copy.products\\" from the source definition.',
    );
    const created = await tableDetail('in.c-copy.products', WRITER_TOKEN);
    const source = await tableDetail('in.c-sales.products', SOURCE_TOKEN);
    const typesOf = (table: Record<string, unknown>) =>
      (table.definition as { columns: Columns }).columns.map((c) => ({
        name: c.name,
        definition: c.definition,
        basetype: c.basetype,
      }));
    expect(created).toMatchObject({ isTyped: true, primaryKey: ['id'] });
    expect(typesOf(created)).toEqual(typesOf(source));
    expect(await destRows(control, 'in.c-copy.products')).toEqual([
      { id: '1', name: 'Keyboard' },
      { id: '2', name: 'Mouse' },
    ]);
    await expectNoLeaks(control, result, dataDir);
  });
});
