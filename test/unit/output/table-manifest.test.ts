import { describe, expect, it } from 'vitest';
import { planTables } from '../../../src/plan/plan-tables.js';
import {
  buildNativeTableManifest,
  buildTableManifest,
  metadataByProvider,
} from '../../../src/output/table-manifest.js';
import { tableDetail } from '../../helpers/fixtures.js';

const source = tableDetail('orders', {
  metadata: [
    { key: 'KBC.description', value: 'Orders', provider: 'user' },
    { key: 'KBC.createdBy.component.id', value: 'x', provider: 'system' },
    // The source is itself a copy: its own sync record is never copied on.
    { key: 'kbc-table-sync.record', value: '{"v":1}', provider: 'kbc-table-sync' },
  ],
  columnMetadata: {
    id: [
      { key: 'KBC.datatype.basetype', value: 'INTEGER', provider: 'keboola.ex-db' },
      { key: 'KBC.datatype.type', value: 'NUMBER', provider: 'storage' },
      { key: 'kbc-table-sync.note', value: 'x', provider: 'kbc-table-sync' },
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

  it('names a full destination id and copies metadata without the storage, system and kbc-table-sync providers', () => {
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

/** The source as its detail describes it: typed, with native definitions and base types. */
const typedSource = tableDetail('orders', {
  isTyped: true,
  definition: {
    primaryKeysNames: ['id'],
    columns: [
      {
        name: 'id',
        definition: { type: 'NUMBER', nullable: false, length: '38,0' },
        basetype: 'NUMERIC',
      },
      {
        name: 'name',
        definition: { type: 'VARCHAR', nullable: true, length: '255', default: 'n/a' },
        basetype: 'STRING',
      },
      { name: 'amount', definition: { type: 'FLOAT', nullable: false }, basetype: 'FLOAT' },
    ],
  },
});

/** Keys the output mapping refuses next to `schema` (common-interface §4.2). */
const LEGACY_KEYS = ['columns', 'primary_key', 'metadata', 'column_metadata'];

describe('buildNativeTableManifest', () => {
  it('types a typed source from its definition: base type, length, default, nullable, key', () => {
    const manifest = buildNativeTableManifest(
      plan({ incremental: true, primaryKey: ['id'] }),
      typedSource,
    );
    expect(manifest).toEqual({
      manifest_type: 'output',
      incremental: true,
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
          data_type: { base: { type: 'STRING', length: '255', default: 'n/a' } },
          nullable: true,
          primary_key: false,
        },
        {
          name: 'amount',
          data_type: { base: { type: 'FLOAT' } },
          nullable: false,
          primary_key: false,
        },
      ],
    });
    for (const key of LEGACY_KEYS) expect(manifest).not.toHaveProperty(key);
  });

  it('types an untyped source from KBC.datatype.basetype metadata, else STRING; keys not nullable', () => {
    const manifest = buildNativeTableManifest(
      plan({ primaryKey: ['id', 'name'], destination: 'out.c-copy.orders' }),
      source,
    );
    expect(manifest.destination).toBe('out.c-copy.orders');
    expect(manifest.incremental).toBe(false);
    expect(
      manifest.schema.map((c) => [c.name, c.data_type.base, c.nullable, c.primary_key]),
    ).toEqual([
      ['id', { type: 'INTEGER' }, false, true],
      ['name', { type: 'STRING' }, false, true],
      ['amount', { type: 'STRING' }, true, false],
    ]);
  });

  it('reads an unknown or lower-case basetype leniently, any provider', () => {
    const odd = tableDetail('orders', {
      columnMetadata: {
        id: [
          { key: 'KBC.datatype.basetype', value: 'WEIRD', provider: 'a' },
          { key: 'KBC.datatype.basetype', value: 'date', provider: 'b' },
        ],
        name: [{ key: 'KBC.datatype.basetype', value: 'BLOB', provider: 'a' }],
      },
    });
    const manifest = buildNativeTableManifest(plan({}), odd);
    expect(manifest.schema.map((c) => c.data_type.base.type)).toEqual(['DATE', 'STRING', 'STRING']);
  });

  it('puts a column without a definition in a typed source down as STRING', () => {
    const partial = tableDetail('orders', {
      isTyped: true,
      definition: { primaryKeysNames: [], columns: [{ name: 'id', basetype: 'INTEGER' }] },
    });
    const manifest = buildNativeTableManifest(plan({}), partial);
    expect(manifest.schema.map((c) => [c.data_type.base, c.nullable])).toEqual([
      [{ type: 'INTEGER' }, true],
      [{ type: 'STRING' }, true],
      [{ type: 'STRING' }, true],
    ]);
  });

  it('with extractMetadata: table_metadata, column metadata and descriptions, no storage/system items', () => {
    const described = tableDetail('orders', {
      metadata: [
        { key: 'KBC.description', value: 'Orders', provider: 'user' },
        { key: 'owner', value: 'sales', provider: 'user' },
        { key: 'KBC.createdBy.component.id', value: 'x', provider: 'system' },
      ],
      columnMetadata: {
        id: [
          { key: 'KBC.datatype.basetype', value: 'INTEGER', provider: 'keboola.ex-db' },
          { key: 'KBC.description', value: 'The key', provider: 'user' },
          { key: 'KBC.datatype.type', value: 'NUMBER', provider: 'storage' },
        ],
      },
    });
    const manifest = buildNativeTableManifest(plan({ extractMetadata: true }), described);
    expect(manifest.description).toBe('Orders');
    expect(manifest.table_metadata).toEqual({ owner: 'sales' });
    expect(manifest.schema[0]).toEqual({
      name: 'id',
      data_type: { base: { type: 'INTEGER' } },
      nullable: true,
      primary_key: false,
      description: 'The key',
      metadata: { 'KBC.datatype.basetype': 'INTEGER' },
    });
    expect(manifest.schema[1]).not.toHaveProperty('metadata');
    for (const key of LEGACY_KEYS) expect(manifest).not.toHaveProperty(key);
  });

  it('copies no metadata without extractMetadata, and only the copied columns, in their order', () => {
    const manifest = buildNativeTableManifest(plan({ columns: ['amount', 'id'] }), typedSource);
    expect(manifest.schema.map((c) => c.name)).toEqual(['amount', 'id']);
    expect(manifest).not.toHaveProperty('table_metadata');
    expect(manifest).not.toHaveProperty('description');
  });
});
