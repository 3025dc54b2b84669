import type { ColumnDefinition, MetadataItem, TableDetail } from '../storage/types.js';
import type { TablePlan } from '../plan/plan-tables.js';
import { RECORD_PROVIDER } from '../state/sync-record.js';

/** Legacy output-mapping manifest (docs/storage-api-notes.md, The Common Interface); only set fields appear. */
export interface TableManifest {
  readonly destination?: string;
  readonly columns: readonly string[];
  readonly primary_key: readonly string[];
  readonly incremental: boolean;
  readonly metadata?: readonly KeyValue[];
  readonly column_metadata?: Readonly<Record<string, readonly KeyValue[]>>;
}

export interface KeyValue {
  readonly key: string;
  readonly value: string;
}

/**
 * Providers whose metadata is never copied: `storage` and `system` belong to the source project's
 * Storage; ours is the sync record of a source table that is itself a copy (A to B, then B to C).
 * Copied, B's record would overwrite C's own after C's commit, and every later run into C would
 * refuse it as synced from A (docs/sync-record.md).
 */
const SKIPPED_METADATA_PROVIDERS: ReadonlySet<string> = new Set([
  'storage',
  'system',
  RECORD_PROVIDER,
]);

/**
 * The manifest for a sliced, headerless table in out/tables (docs/architecture.md, The two modes): `columns` makes the
 * slices headerless, `destination` only when the item named a full id (short names go to the
 * default bucket, as ex-storage does), metadata only with `extractMetadata`.
 */
export function buildTableManifest(plan: TablePlan): TableManifest {
  const metadata = plan.extractMetadata ? copyableMetadata(plan.source, plan.columns) : undefined;
  return {
    ...(plan.destinationId ? { destination: plan.destinationId } : {}),
    columns: plan.columns,
    primary_key: plan.primaryKey,
    incremental: plan.incremental,
    ...(metadata && metadata.table.length > 0 ? { metadata: metadata.table } : {}),
    ...(metadata && Object.keys(metadata.columns).length > 0
      ? { column_metadata: metadata.columns }
      : {}),
  };
}

/**
 * Native-types output manifest (docs/output-manifests.md): `schema` replaces
 * `columns`, `primary_key`, `metadata` and `column_metadata`, which the output mapping refuses
 * alongside it; only set fields appear.
 */
export interface NativeTableManifest {
  readonly manifest_type: 'output';
  readonly destination?: string;
  readonly incremental: boolean;
  /** The slices are headless, as in the legacy manifest. */
  readonly has_header: false;
  readonly description?: string;
  readonly table_metadata?: Readonly<Record<string, string>>;
  readonly schema: readonly SchemaColumn[];
}

interface SchemaColumn {
  readonly name: string;
  readonly data_type: { readonly base: BaseDataType };
  readonly nullable: boolean;
  readonly primary_key: boolean;
  readonly description?: string;
  readonly metadata?: Readonly<Record<string, string>>;
}

interface BaseDataType {
  readonly type: BaseType;
  readonly length?: string;
  readonly default?: string;
}

const BASE_TYPES = [
  'STRING',
  'INTEGER',
  'NUMERIC',
  'FLOAT',
  'BOOLEAN',
  'DATE',
  'TIMESTAMP',
] as const;
type BaseType = (typeof BASE_TYPES)[number];

/** Column metadata key of an untyped table's base type, as extractors set it. */
const BASETYPE_KEY = 'KBC.datatype.basetype';
/** Table or column metadata key the native manifest carries as `description`. */
const DESCRIPTION_KEY = 'KBC.description';

/**
 * The native-types manifest for a sliced, headless table in out/tables (pure). `source` is the
 * source table's detail, the only answer sure to carry a typed table's `definition`. Every
 * column gets `data_type.base` (the `authoritative` support needs it): a typed source's
 * `basetype`, with its `length` and `default`; an untyped source's `KBC.datatype.basetype` column
 * metadata; else `STRING`. Key columns are not nullable (a key value is never null, and BigQuery
 * refuses a nullable key); other columns are nullable unless the typed definition says otherwise.
 * `destination` and `incremental` as in {@link buildTableManifest}; with `extractMetadata` the
 * copied metadata goes into `table_metadata` and each column's `metadata`, `KBC.description` into
 * `description`.
 */
export function buildNativeTableManifest(
  plan: TablePlan,
  source: TableDetail,
): NativeTableManifest {
  const metadata = plan.extractMetadata ? copyableMetadata(source, plan.columns) : undefined;
  const table = metadata ? describedMap(metadata.table) : {};
  return {
    manifest_type: 'output',
    ...(plan.destinationId ? { destination: plan.destinationId } : {}),
    incremental: plan.incremental,
    has_header: false,
    ...(table.description === undefined ? {} : { description: table.description }),
    ...(table.map === undefined ? {} : { table_metadata: table.map }),
    schema: plan.columns.map((name) => {
      const typed = source.isTyped
        ? source.definition?.columns.find((c) => c.name === name)
        : undefined;
      const column = metadata ? describedMap(metadata.columns[name] ?? []) : {};
      const primaryKey = plan.primaryKey.includes(name);
      return {
        name,
        data_type: {
          base: typed ? typedBase(typed) : { type: untypedBase(source.columnMetadata[name] ?? []) },
        },
        nullable: !primaryKey && (typed?.definition?.nullable ?? true),
        primary_key: primaryKey,
        ...(column.description === undefined ? {} : { description: column.description }),
        ...(column.map === undefined ? {} : { metadata: column.map }),
      };
    }),
  };
}

function typedBase(column: ColumnDefinition): BaseDataType {
  const { length, default: defaultValue } = column.definition ?? {};
  return {
    type: baseType(column.basetype),
    ...(length ? { length } : {}),
    ...(defaultValue !== undefined && defaultValue !== null ? { default: defaultValue } : {}),
  };
}

/** The first `KBC.datatype.basetype` item naming a base type, of any provider; else STRING. */
function untypedBase(items: readonly MetadataItem[]): BaseType {
  const named = items.find(
    (item) => item.key === BASETYPE_KEY && isBaseType(item.value.toUpperCase()),
  );
  return baseType(named?.value);
}

function baseType(value: string | undefined): BaseType {
  const upper = value?.toUpperCase();
  return upper !== undefined && isBaseType(upper) ? upper : 'STRING';
}

function isBaseType(value: string): value is BaseType {
  return (BASE_TYPES as readonly string[]).includes(value);
}

/**
 * Key/value items as the native manifest's `{key: value}` map (a later item of the same key wins)
 * and `KBC.description` as the description; each absent when empty.
 */
function describedMap(items: readonly KeyValue[]): {
  description?: string;
  map?: Record<string, string>;
} {
  const map: Record<string, string> = {};
  let description: string | undefined;
  for (const item of items) {
    if (item.key === DESCRIPTION_KEY) description = item.value;
    else map[item.key] = item.value;
  }
  return {
    ...(description === undefined ? {} : { description }),
    ...(Object.keys(map).length === 0 ? {} : { map }),
  };
}

/**
 * Table and column metadata without the skipped providers, as key/value pairs; column
 * metadata only of the copied columns, since the destination table has no others.
 */
function copyableMetadata(
  source: TableDetail,
  copiedColumns: readonly string[],
): {
  table: KeyValue[];
  columns: Record<string, KeyValue[]>;
} {
  const columns: Record<string, KeyValue[]> = {};
  for (const [column, items] of copiedColumnMetadata(source, copiedColumns)) {
    const kept = keyValues(items);
    if (kept.length > 0) columns[column] = kept;
  }
  return { table: keyValues(source.metadata), columns };
}

function keyValues(items: readonly MetadataItem[]): KeyValue[] {
  return items
    .filter((item) => !SKIPPED_METADATA_PROVIDERS.has(item.provider))
    .map((item) => ({ key: item.key, value: item.value }));
}

/** Metadata grouped by provider (standalone mode writes each group with its own provider). */
export function metadataByProvider(
  source: TableDetail,
  copiedColumns: readonly string[],
): Map<string, { table: KeyValue[]; columns: Record<string, KeyValue[]> }> {
  const groups = new Map<string, { table: KeyValue[]; columns: Record<string, KeyValue[]> }>();
  const group = (provider: string) => {
    let g = groups.get(provider);
    if (!g) groups.set(provider, (g = { table: [], columns: {} }));
    return g;
  };
  for (const item of source.metadata) {
    if (SKIPPED_METADATA_PROVIDERS.has(item.provider)) continue;
    group(item.provider).table.push({ key: item.key, value: item.value });
  }
  for (const [column, items] of copiedColumnMetadata(source, copiedColumns)) {
    for (const item of items) {
      if (SKIPPED_METADATA_PROVIDERS.has(item.provider)) continue;
      (group(item.provider).columns[column] ??= []).push({ key: item.key, value: item.value });
    }
  }
  return groups;
}

/** The source's column metadata of the copied columns only. */
function copiedColumnMetadata(
  source: TableDetail,
  copiedColumns: readonly string[],
): [string, readonly MetadataItem[]][] {
  const copied = new Set(copiedColumns);
  return Object.entries(source.columnMetadata).filter(([column]) => copied.has(column));
}
