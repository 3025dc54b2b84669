import type { MetadataItem, TableDetail } from '../storage/types.js';
import type { TablePlan } from '../plan/plan-tables.js';

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

/** Providers whose metadata belongs to the source project's Storage and is never copied. */
export const SKIPPED_METADATA_PROVIDERS: ReadonlySet<string> = new Set(['storage', 'system']);

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
 * Table and column metadata without the `storage`/`system` providers, as key/value pairs; column
 * metadata only of the copied columns, since the destination table has no others.
 */
export function copyableMetadata(
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
