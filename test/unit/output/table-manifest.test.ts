import { describe, expect, it } from 'vitest';
import { planTables } from '../../../src/plan/plan-tables.js';
import { buildTableManifest, metadataByProvider } from '../../../src/output/table-manifest.js';
import { tableDetail } from '../../helpers/fixtures.js';

const source = tableDetail('orders', {
  metadata: [
    { key: 'KBC.description', value: 'Orders', provider: 'user' },
    { key: 'KBC.createdBy.component.id', value: 'x', provider: 'system' },
  ],
  columnMetadata: {
    id: [
      { key: 'KBC.datatype.basetype', value: 'INTEGER', provider: 'keboola.ex-db' },
      { key: 'KBC.datatype.type', value: 'NUMBER', provider: 'storage' },
    ],
  },
});

function plan(item: Record<string, unknown>) {
  const [p] = planTables(
    {
      tables: [
        {
          name: 'orders',
          incremental: false,
          primaryKey: [],
          fullSync: false,
          extractMetadata: false,
          enabled: true,
          ...item,
        },
      ],
    },
    'in.c-sales',
    [source],
  );
  return p!;
}

describe('buildTableManifest', () => {
  it('writes columns, key and mode, and no destination for short names (default bucket)', () => {
    expect(buildTableManifest(plan({ incremental: true, primaryKey: ['id'] }))).toEqual({
      columns: ['id', 'name', 'amount'],
      primary_key: ['id'],
      incremental: true,
    });
  });

  it('names a full destination id and copies metadata without storage/system providers', () => {
    expect(
      buildTableManifest(plan({ destination: 'out.c-copy.orders', extractMetadata: true })),
    ).toEqual({
      destination: 'out.c-copy.orders',
      columns: ['id', 'name', 'amount'],
      primary_key: [],
      incremental: false,
      metadata: [{ key: 'KBC.description', value: 'Orders' }],
      column_metadata: { id: [{ key: 'KBC.datatype.basetype', value: 'INTEGER' }] },
    });
  });

  it('keeps column metadata of the copied columns only (the destination has no others)', () => {
    const manifest = buildTableManifest(plan({ columns: ['name'], extractMetadata: true }));
    expect(manifest.columns).toEqual(['name']);
    expect(manifest.metadata).toEqual([{ key: 'KBC.description', value: 'Orders' }]);
    expect(manifest.column_metadata).toBeUndefined();
    expect([...metadataByProvider(source, ['name']).keys()]).toEqual(['user']);
  });

  it('groups metadata by provider for direct writes', () => {
    const groups = metadataByProvider(source, ['id', 'name']);
    expect([...groups.keys()]).toEqual(['user', 'keboola.ex-db']);
    expect(groups.get('keboola.ex-db')?.columns).toEqual({
      id: [{ key: 'KBC.datatype.basetype', value: 'INTEGER' }],
    });
  });
});
