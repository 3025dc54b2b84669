import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parse } from 'csv-parse/sync';

export interface SlicedTable {
  readonly manifest: Record<string, unknown> & { columns: string[] };
  readonly slices: string[];
  readonly rows: Record<string, string>[];
}

/** Reads `out/tables/<fileName>` (sliced folder + manifest) back as rows keyed by column. */
export async function readSlicedTable(dataDir: string, fileName: string): Promise<SlicedTable> {
  const folder = join(dataDir, 'out', 'tables', fileName);
  const manifest = JSON.parse(
    await readFile(`${folder}.manifest`, 'utf8'),
  ) as SlicedTable['manifest'];
  const slices = (await readdir(folder)).sort();
  const rows = (await readSliceRecords(folder)).map((record) =>
    Object.fromEntries(manifest.columns.map((c, i) => [c, record[i] ?? ''])),
  );
  return { manifest, slices, rows };
}

/**
 * Records of every gzip slice in a sliced folder, in file-name (manifest) order, parsed as
 * headerless RFC 4180 CSV. Throws on a slice that does not gunzip.
 */
export async function readSliceRecords(folder: string): Promise<string[][]> {
  const records: string[][] = [];
  for (const slice of (await readdir(folder)).sort()) {
    const text = gunzipSync(await readFile(join(folder, slice))).toString('utf8');
    if (text === '') continue;
    const parsed: string[][] = parse(text);
    records.push(...parsed);
  }
  return records;
}

/** Source rows from the emulator, without `_timestamp`, values as strings. */
export function withoutTimestamp(
  rows: readonly Record<string, unknown>[],
): Record<string, string>[] {
  return rows.map((row) =>
    Object.fromEntries(
      Object.entries(row)
        .filter(([key]) => key !== '_timestamp')
        .map(([key, value]) => [key, String(value)]),
    ),
  );
}

/** Rows sorted by their JSON form, for order-independent comparison. */
export function sortRows<T>(rows: readonly T[]): T[] {
  return [...rows].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}
